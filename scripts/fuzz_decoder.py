#!/usr/bin/env python
"""Fuzz the decoder with mutated real bitstreams.

Every input must end in one of three ways: rejected by the parser
(``bitstream.loads`` raises a one-line ZooError), refused by the decoder
(``coding.decode_stream`` raises a one-line ZooError), or decoded to a clip of
the declared size whose frames are finite and in [0, 1] (and then only if the
stream is canonical, i.e. its checksums pass and ``dumps(loads(data)) == data``).
Anything else is a failure: another exception, a bad clip, a case that runs past
``--case-timeout`` (a Python-level hang is interrupted by SIGALRM; one stuck in C
is killed by faulthandler's watchdog, with the case left in ``--crash-dir``), or a
crash of the process (which is why CI runs this in a subprocess).

The inputs start from real streams: a tiny clip of the bundled carphone sample
(56x40, 3 frames, intra period 2, so I and P records) coded by the untrained
default model, plus two variants. Mutations: truncations, bit flips, byte
insertions and deletions, splices, random bytes, header field edits with and
without the header CRC recomputed (so the parser goes deeper), record reorders and
drops, record body edits with the record CRC recomputed, and CRC-valid records
whose rANS strings are truncated, extended, replaced by garbage or swapped, so
the entropy decoder itself sees hostile strings. Where each field lies comes from
``zoo.io.bitstream`` (its structs and :func:`~zoo.io.bitstream.layout`), never from
offsets written here.

Usage::

    python scripts/fuzz_decoder.py --cases 2100 --seed 0          # what CI runs (tests/test_fuzz.py)
    python scripts/fuzz_decoder.py --seconds 3600 --seed 7 --crash-dir fuzz-crashes
    python scripts/fuzz_decoder.py --replay fuzz-crashes/failure-000123.bin
    python scripts/fuzz_decoder.py --atheris -- -max_total_time=3600   # if atheris is installed

``--json PATH`` writes the figures (cases, rejected, refused, decoded, failures,
slowest case, peak memory). ``--max-pixels`` (default 65536) keeps every decode
small and fast; 0 fuzzes under the decoder's own limit. The exit status is 1 if
any case failed.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib.util
import json
import os
import random
import resource
import signal
import struct
import sys
import time
import traceback
import zlib
from collections import Counter, defaultdict
from copy import deepcopy
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Callable

import torch

import zoo
from zoo.core import coding
from zoo.core.build import ModelSpec
from zoo.errors import ZooError
from zoo.io import bitstream
from zoo.io.bitstream import FrameRecord, Header
from zoo.io.video import Clip, read_clip
from zoo.slots import Payload

SAMPLE = Path(zoo.__file__).parent / "samples" / "carphone_176x144.mp4"
#: The first bytes of a version-1 stream (its magic and version fields).
OLD_PRELUDE = bitstream.MAGIC + struct.pack("<" + bitstream.PRELUDE_FIELDS["version"], 1)


# ------------------------------------------------------------------ the corpus


def crop(clip: Clip, width: int, height: int, frames: int) -> Clip:
    planes = [(y[:height, :width].copy(), u[:height // 2, :width // 2].copy(),
               v[:height // 2, :width // 2].copy()) for y, u, v in clip.frames[:frames]]
    return Clip(frames=planes, width=width, height=height, fps=clip.fps)


class Corpus:
    """Real streams of one opened model, and that model's reconstruction of the first."""

    def __init__(self, source: Path | None = None) -> None:
        from zoo.core.models import open_model
        self.model = open_model(spec=ModelSpec(()), untrained=True)
        clip = read_clip(source or SAMPLE, 3)
        if source is None:
            clip = crop(clip, 56, 40, 3)
        self.streams: dict[str, bytes] = {}
        self.recon: list[torch.Tensor] = []
        for name, c, quality, period in (
                ("main", clip, 1, 2),  # I P I
                ("q0-p0", clip, 0, 0),  # I P P
                ("small", crop(clip, 40, 24, 2) if source is None else clip, 3, 0)):
            header, records, recon = coding.encode_clip(self.model, c, quality, period)
            self.streams[name] = bitstream.dumps(header, records)
            if name == "main":
                self.recon = recon
        self.main = self.streams["main"]


# ------------------------------------------------------------------ decoding, with the model reused


class ModelCache:
    """``coding.model_for_spec`` memoised per model spec, so the decode path under test is
    ``coding.decode_stream`` itself (its weights and implementations checks included)
    without rebuilding the model for every case; a spec that does not build is refused
    again with the same message."""

    def __init__(self, corpus: Corpus) -> None:
        self.real = coding.model_for_spec
        header, _ = bitstream.loads(corpus.main)
        self.cache: dict[str, object] = {self._key(header.model): corpus.model}

    @staticmethod
    def _key(spec: dict) -> str:
        return json.dumps(spec, sort_keys=True)

    def __call__(self, spec: dict, device: str = "cpu"):
        key = self._key(spec)
        if key not in self.cache:
            try:
                self.cache[key] = self.real(spec, device)
            except ZooError as e:
                self.cache[key] = e
        model = self.cache[key]
        if isinstance(model, ZooError):
            raise ZooError(str(model))
        return model

    def __enter__(self) -> "ModelCache":
        coding.model_for_spec = self
        return self

    def __exit__(self, *exc) -> None:
        coding.model_for_spec = self.real


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


def one_line(e: BaseException) -> str | None:
    """None if ``e`` is a proper user-facing error, else what is wrong with it."""
    text = str(e)
    if not text:
        return "empty ZooError message"
    if "\n" in text:
        return f"multi-line ZooError message: {text[:200]!r}"
    return None


def run_case(data: bytes, corpus: Corpus) -> tuple[str, str]:
    """(outcome, detail): outcome is rejected, refused, decoded or FAIL."""
    try:
        header, records = bitstream.loads(data)
    except ZooError as e:
        bad = one_line(e)
        return ("FAIL", f"loads: {bad}") if bad else ("rejected", str(e))
    if bitstream.dumps(header, records) != data:
        return "FAIL", "loads accepted a stream that does not re-serialise to the same bytes"
    try:
        frames = coding.decode_stream(header, records)
        clip = coding.to_clip(frames, header.width, header.height, header.fps)
    except ZooError as e:
        bad = one_line(e)
        return ("FAIL", f"decode: {bad}") if bad else ("refused", str(e))
    if len(frames) != header.frame_count or len(clip.frames) != header.frame_count:
        return "FAIL", f"{len(frames)} frames decoded, the header says {header.frame_count}"
    for i, x in enumerate(frames):
        if tuple(x.shape) != (1, 3, header.height, header.width):
            return "FAIL", f"frame {i} has shape {tuple(x.shape)}"
        if not bool(torch.isfinite(x).all()):
            return "FAIL", f"frame {i} has non-finite values"
        if float(x.min()) < 0 or float(x.max()) > 1:
            return "FAIL", f"frame {i} is outside [0, 1]"
    if data == corpus.main and not all(torch.equal(a, b) for a, b in zip(frames, corpus.recon)):
        return "FAIL", "the unmodified stream does not decode to the encoder's reconstruction"
    return "decoded", f"{header.frame_count} frames {header.width}x{header.height}"


def guarded(data: bytes, corpus: Corpus, timeout: float) -> tuple[str, str]:
    """run_case under a per-case time limit; any unexpected exception is a failure."""
    faulthandler.dump_traceback_later(timeout + 30, exit=True)  # stuck in C: kill the process
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return run_case(data, corpus)
    except CaseTimeout:
        return "FAIL", f"took more than {timeout} s"
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return "FAIL", f"{type(e).__name__}: {str(e)[:200]} (at {tb.filename}:{tb.lineno})"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()


# ------------------------------------------------------------------ mutations


def fix_header_crc(data: bytearray) -> bytearray:
    start, end = bitstream.layout(data).header
    if end + bitstream.CRC.size <= len(data):
        data[end:end + bitstream.CRC.size] = bitstream.CRC.pack(zlib.crc32(data[start:end]))
    return data


def field_value(rng: random.Random, fmt: str) -> int:
    bits = 8 * struct.calcsize(fmt)
    return rng.choice([0, 1, 2, 3, 4, 5, 7, 16, 63, 64, 65, 255, 16384, 16385, 2**bits - 1,
                       rng.randrange(2**bits), rng.randrange(300)]) % 2**bits


def raw_field_edit(rng: random.Random, data: bytes, fix_crc: bool) -> bytes:
    """A fixed header field (a number) set to a hostile value."""
    out = bytearray(data)
    fields = bitstream.layout(data).fields
    pos, fmt = fields[rng.choice([n for n in bitstream.FIXED_FIELDS if n != "weights sha256"])]
    if pos + struct.calcsize(fmt) > len(out):
        return bytes(out)
    struct.pack_into(fmt, out, pos, field_value(rng, fmt))
    return bytes(fix_header_crc(out) if fix_crc else out)


def raw_prelude_edit(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    fields = bitstream.layout(data).fields
    what = rng.choice(["magic", "version", "header length", "model spec length",
                       "implementations length"])
    pos, fmt = fields[what]
    if what == "magic":
        out[pos + rng.randrange(len(bitstream.MAGIC))] = rng.randrange(256)
    elif what == "version":
        struct.pack_into(fmt, out, pos, rng.choice([0, 1, bitstream.VERSION, 255, rng.randrange(256)]))
    elif what == "header length":
        length = struct.unpack_from(fmt, out, pos)[0]
        struct.pack_into(fmt, out, pos, rng.choice([0, bitstream.MIN_HEADER - 1, bitstream.MIN_HEADER,
                                                    bitstream.MAX_HEADER, bitstream.MAX_HEADER + 1,
                                                    2**32 - 1, length + rng.randint(-3, 3)]) % 2**32)
    else:
        struct.pack_into(fmt, out, pos, rng.choice([0, 1, 4096, 65535, rng.randrange(200)]))
        fix_header_crc(out)
    return bytes(out)


#: Model specs a hostile header may carry (written with the CRC recomputed).
MODEL_EDITS: list[object] = [
    {},
    {"name": None, "plugins": ["cmfr"], "preset": "lite", "options": {}, "untrained": True},
    {"name": None, "plugins": ["cmfr", "sff", "refiner"], "preset": "full", "options": {}, "untrained": True},
    {"name": None, "plugins": ["no-such-plugin"], "preset": "lite", "options": {}, "untrained": True},
    {"name": "cmfr2025", "plugins": [], "preset": "lite", "options": {}, "untrained": False},
    {"name": "no-such-model", "plugins": [], "preset": "lite", "options": {}, "untrained": True},
    {"name": None, "plugins": [], "preset": "lite", "options": {}, "untrained": False},
    {"name": None, "plugins": [], "preset": "huge", "options": {}, "untrained": True},
    {"name": 5, "plugins": "cmfr", "preset": ["lite"], "options": [], "untrained": "yes"},
    {"name": None, "plugins": [1, 2], "preset": "lite", "options": {"x": 1}, "untrained": True},
    {"name": None, "plugins": ["refiner"], "preset": "lite",
     "options": {"refiner": {"channels": 12000}}, "untrained": True},  # ~1.3e9 weights
    {"name": None, "plugins": ["refiner"], "preset": "lite",
     "options": {"refiner": {"channels": "many", "blocks": -1}}, "untrained": True},
    {"name": None, "plugins": ["gmm"], "preset": "lite", "options": {"gmm": {"components": 0}}, "untrained": True},
    {"name": None, "plugins": ["ensemble"], "preset": "lite",
     "options": {"ensemble": {"members": ["feng2020-m1", "nope"]}}, "untrained": True},
    {"name": None, "plugins": ["ensemble", "cmfr"], "preset": "lite", "options": {}, "untrained": True},
    {"name": None, "plugins": ["cmfr", "masked-residual"], "preset": "lite", "options": {}, "untrained": True},
    {"name": None, "plugins": ["refiner"], "preset": "lite",
     "options": {"refiner": {"channels": 512, "blocks": 40}}, "untrained": True},  # 189M MACs/pixel
]

#: Implementations a hostile header may claim.
IMPLEMENTATION_EDITS: list[object] = [
    {}, {"*": "codec-zoo 0.0.1"}, {"*": "codec-zoo 0.1.0", "hyperprior": "evil 6.6.6"},
    {"spynet": "codec-zoo 0.1.0"}, {"*": 5}, {"*": "codec-zoo 0.1.0", "x" * 40: "y" * 40},
]


def json_edit(rng: random.Random, data: bytes) -> bytes:
    """Replace the model spec or the implementations JSON (canonical, or raw bytes), fixing
    lengths and the CRC."""
    lay = bitstream.layout(data)
    what = rng.choice([bitstream.JSON_FIELDS[0], *bitstream.JSON_FIELDS])  # the model spec twice as often
    (start, end), (json_start, json_end) = lay.header, lay.json[what]
    choice = rng.random()
    if choice < 0.6:
        edits = MODEL_EDITS if what == "model spec" else IMPLEMENTATION_EDITS
        raw = json.dumps(rng.choice(edits), separators=(",", ":")).encode()
    elif choice < 0.8:  # non-canonical or invalid JSON
        raw = rng.choice([b'{ }', b'[]', b'{"a":NaN}', b'{"a":1,"a":2}', b"\xff\xfe", b"{" * 2000,
                          b'{"name":"\\u00e9"}', b"null", b'{"a":1e999}', b""])
    else:  # a byte of the original JSON changed
        raw = bytearray(data[json_start:json_end])
        if raw:
            raw[rng.randrange(len(raw))] = rng.randrange(32, 127)
        raw = bytes(raw)
    length = bitstream.JSON_LENGTH
    body = (data[start:json_start - length.size] + length.pack(len(raw) % 2 ** (8 * length.size))
            + raw + data[json_end:end])
    prelude = bytearray(data[:start])
    pos, fmt = lay.fields["header length"]
    struct.pack_into(fmt, prelude, pos, len(body))
    return bytes(prelude) + body + bitstream.CRC.pack(zlib.crc32(body)) + data[end + bitstream.CRC.size:]


def header_object_edit(rng: random.Random, header: Header, records: list[FrameRecord],
                       max_side: int) -> bytes | None:
    """A header with one field changed, written by ``dumps`` (so every CRC is valid)."""
    h = deepcopy(header)
    what = rng.choice(["quality", "size", "size", "fps", "intra", "sha", "extreme size"])
    if what == "quality":
        h.quality = rng.choice([0, 2, 3, 4, 255, rng.randrange(256)])
    elif what == "size":
        h.width, h.height = rng.randint(1, max_side), rng.randint(1, max_side)
    elif what == "extreme size":  # past the decoder's pixel limit
        h.width, h.height = rng.choice([(16384, 16384), (4096, 4096), (16384, 1024)])
    elif what == "fps":
        h.fps = Fraction(rng.randint(1, 2**32 - 1), rng.randint(1, 2**32 - 1))
    elif what == "intra":
        h.intra_period = rng.randrange(65536)
    else:
        sha = bytearray(bytes.fromhex(h.weights_sha256))
        sha[rng.randrange(8)] ^= 1 << rng.randrange(8)
        h.weights_sha256 = sha.hex()
    try:
        return bitstream.dumps(h, records)
    except ValueError:
        return None


def record_edit(rng: random.Random, header: Header, records: list[FrameRecord],
                corpus: Corpus) -> bytes | None:
    """Records reordered, dropped, duplicated, re-kinded or taken from another stream;
    the header's frame count follows, so every CRC is valid."""
    recs = list(records)
    what = rng.choice(["swap", "drop", "duplicate", "kind", "foreign", "empty"])
    if what == "swap" and len(recs) > 1:
        i, j = rng.sample(range(len(recs)), 2)
        recs[i], recs[j] = recs[j], recs[i]
    elif what == "drop":
        del recs[rng.randrange(len(recs))]
    elif what == "duplicate":
        recs.insert(rng.randrange(len(recs) + 1), rng.choice(recs))
    elif what == "kind":
        i = rng.randrange(len(recs))
        recs[i] = FrameRecord("P" if recs[i].kind == "I" else "I", recs[i].payload)
    elif what == "foreign":
        _, others = bitstream.loads(corpus.streams[rng.choice(list(corpus.streams))])
        recs[rng.randrange(len(recs))] = rng.choice(others)
    else:
        recs = []
    try:
        return bitstream.dumps(replace(header, frame_count=len(recs)), recs)
    except ValueError:
        return None


def string_edit(rng: random.Random, header: Header, records: list[FrameRecord]) -> bytes | None:
    """A record whose rANS strings (or latent names, or side values) are hostile,
    rebuilt by ``dumps`` so its CRC passes: the entropy decoder sees them."""
    recs = deepcopy(records)
    k = rng.randrange(len(recs))
    latents, side = dict(recs[k].payload.latents), dict(recs[k].payload.side)
    what = rng.choice(["truncate", "truncate", "garbage", "garbage", "extend", "flip", "flip",
                       "empty", "swap", "drop string", "extra string", "drop latent",
                       "extra latent", "side", "huge garbage"])
    if not latents:
        return None
    name = rng.choice(list(latents))
    strings = list(latents[name])
    i = rng.randrange(len(strings)) if strings else 0
    if what == "truncate" and strings:
        strings[i] = strings[i][:rng.randrange(len(strings[i]) + 1)]
    elif what == "garbage" and strings:
        strings[i] = rng.randbytes(rng.choice([1, 4, 8, len(strings[i]), rng.randrange(1, 300)]))
    elif what == "huge garbage" and strings:
        strings[i] = rng.choice([b"\xff", b"\x00", rng.randbytes(1)]) * rng.choice([4096, 65536])
    elif what == "extend" and strings:
        strings[i] = strings[i] + rng.randbytes(rng.randint(1, 64))
    elif what == "flip" and strings and strings[i]:
        s = bytearray(strings[i])
        for _ in range(rng.randint(1, 4)):
            s[rng.randrange(len(s))] ^= 1 << rng.randrange(8)
        strings[i] = bytes(s)
    elif what == "empty":
        strings = [b"" for _ in strings]
    elif what == "swap" and len(strings) > 1:
        strings = strings[::-1]
    elif what == "drop string" and strings:
        del strings[i]
    elif what == "extra string":
        strings.append(rng.randbytes(rng.randrange(16)))
    elif what == "drop latent":
        del latents[name]
    elif what == "extra latent":
        latents[rng.choice(["intra", "motion", "residual", "zz"])] = [rng.randbytes(8)]
    elif what == "side":
        side[rng.choice(["member", "q", "x"])] = rng.randint(-(2**31), 2**31 - 1)
    if what not in ("drop latent", "extra latent", "side"):
        latents[name] = strings
    recs[k] = FrameRecord(recs[k].kind, Payload(latents, side), recs[k].checksum)
    try:
        return bitstream.dumps(header, recs)
    except ValueError:
        return None


def record_body_edit(rng: random.Random, data: bytes) -> bytes:
    """A byte inside a record (its picture checksum, varints or strings) changed and that
    record's CRC recomputed."""
    try:
        spans = bitstream.layout(data).records
    except struct.error:
        return data
    if not spans:
        return data
    start, end = rng.choice(spans)
    out = bytearray(data)
    crc = bitstream.RECORD_CRC.size
    if end - crc > start + 1:
        out[rng.randrange(start + 1, end - crc)] = rng.randrange(256)
        out[end - crc:end] = bitstream.RECORD_CRC.pack(bitstream.record_crc(out[start:end - crc]))
    return bytes(out)


def mutate(rng: random.Random, base: bytes, corpus: Corpus, max_side: int = 160) -> tuple[str, bytes]:
    """One mutated stream from ``base`` (the corpus's main stream where ``base`` does not
    parse and the mutation needs a parsed stream). Returns (operation, bytes)."""
    streams = list(corpus.streams.values())
    ops: list[tuple[str, float, Callable[[], bytes | None]]] = []

    def parsed() -> tuple[Header, list[FrameRecord]]:
        try:
            return bitstream.loads(base)
        except ZooError:
            return bitstream.loads(corpus.main)

    def flips() -> bytes:
        out = bytearray(base or b"\0")
        for _ in range(rng.choice([1, 1, 1, 2, 3, 8])):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)

    def insert() -> bytes:
        at = rng.randrange(len(base) + 1)
        return base[:at] + rng.randbytes(rng.choice([1, 1, 2, 4, 16])) + base[at:]

    def delete() -> bytes:
        at = rng.randrange(max(len(base), 1))
        return base[:at] + base[at + rng.choice([1, 1, 2, 4, 16, 100]):]

    def splice() -> bytes:
        other = rng.choice(streams)
        return base[:rng.randrange(len(base) + 1)] + other[rng.randrange(len(other) + 1):]

    def overwrite() -> bytes:
        at = rng.randrange(max(len(base), 1))
        n = rng.randint(1, 32)
        return base[:at] + rng.randbytes(n) + base[at + n:]

    def random_bytes() -> bytes:
        n = rng.choice([0, 1, 3, 4, 9, 40, rng.randrange(2000)])
        prefix = rng.choice([b"", bitstream.MAGIC, OLD_PRELUDE, base[:rng.randrange(len(base) + 1)]])
        return prefix + rng.randbytes(n)

    ops = [
        ("truncate", 10, lambda: base[:rng.randrange(len(base))]),
        ("bit flip", 12, flips),
        ("insert", 6, insert),
        ("delete", 6, delete),
        ("splice", 5, splice),
        ("overwrite", 4, overwrite),
        ("random", 3, random_bytes),
        ("doubled", 1, lambda: base + base),
        ("prelude edit", 3, lambda: raw_prelude_edit(rng, base)),
        ("field edit (bad CRC)", 5, lambda: raw_field_edit(rng, base, False)),
        ("field edit (CRC fixed)", 8, lambda: raw_field_edit(rng, base, True)),
        ("JSON field edit (CRC fixed)", 4, lambda: json_edit(rng, base)),
        ("header edit (valid CRCs)", 5, lambda: header_object_edit(rng, *parsed(), max_side)),
        ("record edit (valid CRCs)", 4, lambda: record_edit(rng, *parsed(), corpus)),
        ("rANS string edit (valid CRCs)", 8, lambda: string_edit(rng, *parsed())),
        ("record body edit (CRC fixed)", 5, lambda: record_body_edit(rng, base)),
    ]
    names, weights, makers = zip(*ops)
    for _ in range(10):
        i = rng.choices(range(len(ops)), weights)[0]
        try:
            out = makers[i]()
        except (struct.error, IndexError, ValueError):
            out = None
        if out is not None and out != base:
            return names[i], out
    return "truncate", base[:-1]


# ------------------------------------------------------------------ drivers


class Stats:
    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.by_op: dict[str, Counter[str]] = defaultdict(Counter)
        self.failures: list[dict] = []
        self.max_seconds, self.slowest = 0.0, ""
        self.started = time.perf_counter()

    def add(self, op: str, outcome: str, detail: str, seconds: float, data: bytes,
            crash_dir: Path | None) -> None:
        self.outcomes[outcome] += 1
        self.by_op[op][outcome] += 1
        if seconds > self.max_seconds:
            self.max_seconds, self.slowest = seconds, f"{op}: {outcome} ({detail[:100]})"
        if outcome == "FAIL":
            entry = {"op": op, "detail": detail, "bytes": len(data)}
            if crash_dir is not None:
                path = crash_dir / f"failure-{sum(self.outcomes.values()):06d}.bin"
                path.write_bytes(data)
                entry["file"] = str(path)
            self.failures.append(entry)

    def report(self) -> dict:
        cases = sum(self.outcomes.values())
        return {"cases": cases, "rejected": self.outcomes["rejected"],
                "refused": self.outcomes["refused"], "decoded": self.outcomes["decoded"],
                "parsed": self.outcomes["refused"] + self.outcomes["decoded"],
                "failures": self.outcomes["FAIL"], "failure_examples": self.failures[:20],
                "max_case_seconds": round(self.max_seconds, 3), "slowest_case": self.slowest,
                "seconds": round(time.perf_counter() - self.started, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "by_op": {op: dict(c) for op, c in sorted(self.by_op.items())}}


def fuzz(corpus: Corpus, cases: int | None, seconds: float | None, seed: int, timeout: float,
         crash_dir: Path | None, max_side: int, verbose: bool) -> dict:
    rng = random.Random(seed)
    stats = Stats()
    fixed = [("original", corpus.main), ("empty", b""), *((f"corpus {n}", s) for n, s in corpus.streams.items())]
    deadline = time.perf_counter() + seconds if seconds else None
    n = 0
    while (cases is None or n < cases) and (deadline is None or time.perf_counter() < deadline):
        if n < len(fixed):
            op, data = fixed[n]
        else:  # mostly from the real stream, sometimes a mutation of a mutation
            base = rng.choice(list(corpus.streams.values())) if rng.random() < 0.8 else data
            op, data = mutate(rng, base, corpus, max_side)
        if crash_dir is not None:
            (crash_dir / "current.bin").write_bytes(data)  # what faulthandler's kill leaves
        started = time.perf_counter()
        outcome, detail = guarded(data, corpus, timeout)
        stats.add(op, outcome, detail, time.perf_counter() - started, data, crash_dir)
        if verbose and outcome == "FAIL":
            print(f"FAIL [{op}] {detail}", file=sys.stderr, flush=True)
        n += 1
    return stats.report()


def print_report(r: dict) -> None:
    print(f"fuzz: {r['cases']} cases in {r['seconds']} s: {r['rejected']} rejected by the parser, "
          f"{r['parsed']} parsed ({r['refused']} refused by the decoder, {r['decoded']} decoded), "
          f"failures: {r['failures']}; slowest case {r['max_case_seconds']} s [{r['slowest_case']}]; "
          f"peak RSS {r['peak_rss_mb']} MB")
    for op, counts in r["by_op"].items():
        print(f"  {op:32s} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for f in r["failure_examples"]:
        print(f"  FAIL [{f['op']}] {f['detail']}" + (f" -> {f['file']}" if "file" in f else ""))


def run_atheris(corpus: Corpus, argv: list[str], timeout: float) -> None:
    import atheris  # optional: pip install atheris (not a dependency of codec-zoo)

    def test_one(data: bytes) -> None:
        outcome, detail = guarded(data, corpus, timeout)
        if outcome == "FAIL":
            raise AssertionError(detail)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.7:
            return mutate(rng, data or corpus.main, corpus)[1][:max_size]
        return atheris.Mutate(data, max_size)

    seeds = Path(os.environ.get("TMPDIR", "/tmp")) / "zoo-fuzz-seeds"
    seeds.mkdir(exist_ok=True)
    for name, stream in corpus.streams.items():
        (seeds / f"{name}.bin").write_bytes(stream)
    if hasattr(atheris, "instrument_all"):  # coverage of the zoo's (already imported) Python code
        atheris.instrument_all()
    atheris.Setup([sys.argv[0], *argv, str(seeds)], test_one, custom_mutator=mutator)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=None, help="number of cases (default 2000 without --seconds)")
    p.add_argument("--seconds", type=float, default=None, help="run for this long instead")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--case-timeout", type=float, default=20.0, help="seconds one case may take")
    p.add_argument("--max-side", type=int, default=160,
                   help="largest width/height a valid-CRC header edit declares (decoding cost grows with it)")
    p.add_argument("--max-pixels", type=int, default=65536,
                   help="the decoder's frame-size limit for this run ($ZOO_MAX_PIXELS; 0: the "
                        "decoder's default); small keeps every case fast, the limit refuses the rest")
    p.add_argument("--input", type=Path, help="a clip to code instead of the bundled sample's 72x48 crop")
    p.add_argument("--crash-dir", type=Path, help="keep failing inputs (and the current one) here")
    p.add_argument("--replay", type=Path, nargs="+", help="run these files as cases, report each")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--atheris", action="store_true", help="coverage-guided, with atheris (optional)")
    p.add_argument("rest", nargs="*", help="after --: arguments for atheris/libFuzzer")
    args = p.parse_args(argv)
    if args.atheris and importlib.util.find_spec("atheris") is None:
        print("atheris is not installed (pip install atheris; it is not a codec-zoo dependency); "
              "without --atheris the plain random fuzzer runs", file=sys.stderr)
        return 2
    faulthandler.enable()
    if args.max_pixels:
        os.environ[coding.MAX_PIXELS_ENV] = str(args.max_pixels)
    corpus = Corpus(args.input)
    with ModelCache(corpus):
        if args.atheris:
            run_atheris(corpus, args.rest, args.case_timeout)
            return 0
        if args.replay:
            failed = 0
            for path in args.replay:
                outcome, detail = guarded(path.read_bytes(), corpus, args.case_timeout)
                failed += outcome == "FAIL"
                print(f"{path}: {outcome}: {detail}")
            return int(failed > 0)
        if args.crash_dir:
            args.crash_dir.mkdir(parents=True, exist_ok=True)
        cases = args.cases if args.cases is not None or args.seconds else 2000
        report = fuzz(corpus, cases, args.seconds, args.seed, args.case_timeout, args.crash_dir,
                      args.max_side, verbose=True)
    report.update(seed=args.seed, max_pixels=coding.max_pixels())
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return int(report["failures"] > 0)


if __name__ == "__main__":
    sys.exit(main())
