"""The ``.czoo`` container: a self-describing bitstream ``zoo decode`` reads alone.

All integers are little-endian. A file is a header followed by ``frame count``
frame records:

=====================  ==========  ===============================================
field                  type        notes
=====================  ==========  ===============================================
magic                  4 bytes     ``b"CZOO"``
version                u8          2 (version 1 had no implementations and no
                                   picture checksums; it is refused)
header length          u32         bytes in the header body (35..8223)
**header body**
model spec length      u16         <= 4096
model spec             bytes       canonical compact ASCII JSON object
implementations len.   u16         <= 4096
implementations        bytes       canonical JSON object: each active plugin's
                                   ``"<package> <version>"`` by name, those of
                                   codec-zoo itself under ``"*"``
weights sha256         8 bytes     first 8 bytes of the digest (16 hex chars)
quality                u8          0..255
width, height          u16, u16    1..16384 each
frame count            u32         0..1_000_000
fps num, fps den       u32, u32    both > 0, in lowest terms
intra period           u16         0 = only the first frame is intra
header CRC             u32         ``zlib.crc32`` of the header body
**each frame record**
kind                   u8          0 = I, 1 = P
picture CRC            u32         ``zlib.crc32`` of the frame the encoder
                                   reconstructed, as 8-bit 4:2:0 planes Y, U, V
record body length     u32
record body            bytes       see below
record CRC             u32         ``zlib.crc32`` of kind .. body
=====================  ==========  ===============================================

A record body holds a u8 latent count, then per latent its name (u8 length +
ASCII), a u8 string count and per string a u32 length + bytes; then a u8 side
count and per side integer its name (u8 length + ASCII) and an i32 value.
Names match ``[a-z0-9_-]{1,32}`` and are unique within their record.

The record CRC covers the kind byte too, so every byte of a file is guarded by
the magic, the version, a length or a checksum. The reader accepts only what the
writer produces: ``dumps(*loads(data)) == data`` whenever ``loads`` succeeds.
:func:`layout` tells tools that edit streams (the fuzzer) where each field lies.
"""

from __future__ import annotations

import json
import os
import re
import stat
import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

from zoo.atomic import write_bytes
from zoo.errors import ZooError
from zoo.slots import Payload

MAGIC = b"CZOO"
VERSION = 2
MAX_JSON = 4096  #: bytes of each JSON field (model spec, implementations)
MAX_SIZE = 16384
MAX_FRAMES = 1_000_000
MAX_FILE_BYTES = 4 << 30

#: The prelude and the fixed header fields (after the two JSON fields), in order.
PRELUDE_FIELDS = {"magic": "4s", "version": "B", "header length": "I"}
FIXED_FIELDS = {"weights sha256": "8s", "quality": "B", "width": "H", "height": "H",
                "frame count": "I", "fps num": "I", "fps den": "I", "intra period": "H"}
PRELUDE = struct.Struct("<" + "".join(PRELUDE_FIELDS.values()))
FIXED = struct.Struct("<" + "".join(FIXED_FIELDS.values()))
RECORD_HEAD = struct.Struct("<BII")  #: kind, picture CRC, body length
CRC = struct.Struct("<I")
_U8, _U16, _U32, _I32 = (struct.Struct("<" + c) for c in "BHIi")
_MIN_HEADER = 2 * (_U16.size + 2) + FIXED.size  # "{}" is the shortest JSON field
_MAX_HEADER = 2 * (_U16.size + MAX_JSON) + FIXED.size
_KINDS = ("I", "P")
_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_SHA = re.compile(r"[0-9a-f]{16}(?:[0-9a-f]{48})?")


@dataclass
class Header:
    """What a decoder needs before the first frame."""

    model: dict  #: JSON-able model spec (name, plugins, preset, options, untrained)
    weights_sha256: str  #: hex digest; a read header holds its 16-char prefix
    quality: int  #: 0..255
    width: int  #: 1..16384
    height: int  #: 1..16384
    frame_count: int  #: number of frame records, 0..1_000_000
    fps: Fraction  #: frames per second, numerator and denominator < 2**32
    intra_period: int  #: 0..65535; 0 = only the first frame is intra
    #: the code that made the stream: see :func:`zoo.models.implementations`
    implementations: dict[str, str] = field(default_factory=dict)


@dataclass
class FrameRecord:
    """One coded frame: its kind ("I" or "P"), its payload and the CRC-32 of the
    8-bit 4:2:0 planes the encoder reconstructed (see :func:`zoo.sequence.picture_crc`)."""

    kind: str
    payload: Payload
    checksum: int = 0


def _canonical_json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")


def _json_field(what: str, value: object) -> bytes:
    """A JSON header field, length-prefixed; ValueError if it is not a JSON object of at most MAX_JSON bytes."""
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a dict")
    try:
        raw = _canonical_json(value)
        same = json.loads(raw) == value
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"{what} is not JSON-able: {e}") from None
    if not same:
        raise ValueError(f"{what} does not round-trip through JSON")
    if len(raw) > MAX_JSON:
        raise ValueError(f"{what} is {len(raw)} bytes of JSON, more than {MAX_JSON}")
    return _U16.pack(len(raw)) + raw


def check_model_spec(model: dict) -> None:
    """ValueError unless ``model`` fits a header: a JSON object of at most MAX_JSON bytes, finite numbers."""
    _json_field("model spec", model)


def _check_int(what: str, value: object, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{what} must be an int in {lo}..{hi}, got {value!r}")
    return value


def _check_name(what: str, name: object) -> bytes:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} name must match [a-z0-9_-]{{1,32}}, got {name!r}")
    return _U8.pack(len(name)) + name.encode("ascii")


def dump_header(h: Header) -> bytes:
    """The header's bytes; ValueError for any field out of range (so a header can be
    checked before any frame is coded)."""
    implementations = h.implementations
    if not isinstance(implementations, dict) or not all(
            isinstance(v, str) for v in implementations.values()):
        raise ValueError("implementations must map plugin names to strings")
    if not isinstance(h.weights_sha256, str) or not _SHA.fullmatch(h.weights_sha256):
        raise ValueError(f"weights_sha256 must be 16 or 64 lowercase hex chars, got {h.weights_sha256!r}")
    try:
        fps = Fraction(h.fps)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        raise ValueError(f"fps must be a positive fraction, got {h.fps!r}") from None
    _check_int("fps numerator", fps.numerator, 1, 2**32 - 1)
    _check_int("fps denominator", fps.denominator, 1, 2**32 - 1)
    fixed = FIXED.pack(
        bytes.fromhex(h.weights_sha256[:16]),
        _check_int("quality", h.quality, 0, 255),
        _check_int("width", h.width, 1, MAX_SIZE),
        _check_int("height", h.height, 1, MAX_SIZE),
        _check_int("frame_count", h.frame_count, 0, MAX_FRAMES),
        fps.numerator,
        fps.denominator,
        _check_int("intra_period", h.intra_period, 0, 65535),
    )
    body = _json_field("model spec", h.model) + _json_field("implementations", implementations) + fixed
    return PRELUDE.pack(MAGIC, VERSION, len(body)) + body + CRC.pack(zlib.crc32(body))


def dump_record(r: FrameRecord) -> bytes:
    """The record's bytes; ValueError for anything the container cannot hold (so an
    encoder can check each frame's payload as it is made)."""
    if not isinstance(r, FrameRecord) or r.kind not in _KINDS:
        raise ValueError(f"frame kind must be 'I' or 'P', got {getattr(r, 'kind', r)!r}")
    if not isinstance(r.payload, Payload) or not isinstance(r.payload.latents, dict) \
            or not isinstance(r.payload.side, dict):
        raise ValueError(f"a payload must be a Payload of two dicts, got {type(r.payload).__name__}")
    latents, side = r.payload.latents, r.payload.side
    body = bytearray(_U8.pack(_check_int("latent count", len(latents), 0, 255)))
    for name, strings in latents.items():
        body += _check_name("latent", name)
        if not isinstance(strings, (list, tuple)):
            raise ValueError(f"latent {name!r} must be a list of strings, got {type(strings).__name__}")
        body += _U8.pack(_check_int(f"string count of {name!r}", len(strings), 0, 255))
        for s in strings:
            if not isinstance(s, (bytes, bytearray)):
                raise ValueError(f"latent {name!r} holds a {type(s).__name__}, not bytes")
            body += _U32.pack(_check_int("string length", len(s), 0, 2**32 - 1)) + s
    body += _U8.pack(_check_int("side count", len(side), 0, 255))
    for name, value in side.items():
        body += _check_name("side", name) + _I32.pack(_check_int(f"side {name!r}", value, -(2**31), 2**31 - 1))
    head = RECORD_HEAD.pack(_KINDS.index(r.kind), _check_int("checksum", r.checksum, 0, 2**32 - 1),
                            _check_int("record length", len(body), 0, 2**32 - 1))
    return head + body + CRC.pack(zlib.crc32(body, zlib.crc32(head)))


def dumps(header: Header, records: Sequence[FrameRecord]) -> bytes:
    """Serialise a stream; ValueError for anything out of range."""
    if header.frame_count != len(records):
        raise ValueError(f"header says {header.frame_count} frames but {len(records)} records were given")
    return b"".join([dump_header(header), *map(dump_record, records)])


class _Reader:
    """Bounds-checked little-endian reads; ``short`` is the message when bytes run out."""

    def __init__(self, data: bytes | memoryview, short: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.short = short

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> memoryview:
        if n > self.left():
            raise ZooError(self.short)
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def num(self, s: struct.Struct) -> int:
        return s.unpack(self.take(s.size))[0]

    def name(self, invalid: str) -> str:
        name = bytes(self.take(self.num(_U8))).decode("latin-1")
        if not _NAME.fullmatch(name):
            raise ZooError(f"{invalid} {name!r}")
        return name


def _load_json(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw.decode("ascii"))
    except (ValueError, RecursionError):
        raise ZooError(f"header is corrupt ({what} is not valid JSON)") from None
    if not isinstance(value, dict):
        raise ZooError(f"header is corrupt ({what} is not a JSON object)")
    try:
        canonical = _canonical_json(value) == raw
    except (ValueError, RecursionError):
        canonical = False
    if not canonical:
        raise ZooError(f"header is corrupt ({what} is not canonical JSON)")
    return value


def _in_range(what: str, value: int, lo: int, hi: int) -> int:
    if not lo <= value <= hi:
        raise ZooError(f"header field {what} = {value} is out of range ({lo}..{hi})")
    return value


def _parse(data: bytes) -> tuple[Header, list[FrameRecord], list[int]]:
    """Parse and validate a whole stream; also return each record's size in bytes."""
    if not data:
        raise ZooError("bitstream is empty")
    if not MAGIC.startswith(bytes(data[:4])):
        raise ZooError("not a codec-zoo bitstream (bad magic)")
    r = _Reader(data, "header is truncated")
    _, version, length = PRELUDE.unpack(r.take(PRELUDE.size))
    if version != VERSION:
        raise ZooError(f"unsupported bitstream version {version} (this zoo reads version {VERSION})")
    if not _MIN_HEADER <= length <= _MAX_HEADER:
        raise ZooError(f"header is corrupt (bad header length {length})")
    body = r.take(length)
    if r.num(CRC) != zlib.crc32(body):
        raise ZooError("header is corrupt (checksum mismatch)")
    hb = _Reader(body, "header is corrupt (length mismatch)")
    model = _load_json(bytes(hb.take(hb.num(_U16))), "model spec")
    implementations = _load_json(bytes(hb.take(hb.num(_U16))), "implementations")
    if not all(isinstance(v, str) for v in implementations.values()):
        raise ZooError("header is corrupt (implementations are not strings)")
    sha, quality, width, height, count, num, den, intra = FIXED.unpack(hb.take(FIXED.size))
    if hb.left():
        raise ZooError("header is corrupt (length mismatch)")
    if num == 0 or den == 0 or Fraction(num, den).denominator != den:
        raise ZooError(f"header field fps = {num}/{den} is invalid (needs both > 0, in lowest terms)")
    header = Header(
        model=model,
        weights_sha256=sha.hex(),
        quality=quality,
        width=_in_range("width", width, 1, MAX_SIZE),
        height=_in_range("height", height, 1, MAX_SIZE),
        frame_count=_in_range("frame count", count, 0, MAX_FRAMES),
        fps=Fraction(num, den),
        intra_period=intra,
        implementations=implementations,
    )
    records: list[FrameRecord] = []
    sizes: list[int] = []
    for k in range(count):
        start = r.pos
        r.short = f"frame {k} is truncated"
        kind, checksum, blen = RECORD_HEAD.unpack(r.take(RECORD_HEAD.size))
        body = r.take(blen)
        if r.num(CRC) != zlib.crc32(r.data[start : r.pos - CRC.size]):
            raise ZooError(f"frame {k} is corrupt (checksum mismatch)")
        if kind >= len(_KINDS):
            raise ZooError(f"frame {k} has unknown kind {kind}")
        records.append(FrameRecord(_KINDS[kind], _load_payload(body, k), checksum))
        sizes.append(r.pos - start)
    if r.left():
        raise ZooError("trailing bytes after the last frame")
    return header, records, sizes


def _load_payload(body: memoryview, k: int) -> Payload:
    b = _Reader(body, f"frame {k} is corrupt (a field overruns the record)")
    latents: dict[str, list[bytes]] = {}
    for _ in range(b.num(_U8)):
        name = b.name(f"frame {k} has an invalid latent name")
        if name in latents:
            raise ZooError(f"frame {k} repeats latent {name!r}")
        latents[name] = [bytes(b.take(b.num(_U32))) for _ in range(b.num(_U8))]
    side: dict[str, int] = {}
    for _ in range(b.num(_U8)):
        name = b.name(f"frame {k} has an invalid side value name")
        if name in side:
            raise ZooError(f"frame {k} repeats side value {name!r}")
        side[name] = b.num(_I32)
    if b.left():
        raise ZooError(f"frame {k} is corrupt (extra bytes in the record)")
    return Payload(latents, side)


def loads(data: bytes) -> tuple[Header, list[FrameRecord]]:
    """Parse a stream; ZooError with a one-line message for anything malformed."""
    header, records, _ = _parse(data)
    return header, records


def record_sizes(data: bytes) -> list[int]:
    """Bytes taken by each frame record (kind, checksums, length and body), for per-frame bpp."""
    return _parse(data)[2]


@dataclass
class Layout:
    """Where the parts of a stream lie: absolute offsets and struct formats."""

    fields: dict[str, tuple[int, str]]  #: prelude, JSON length and fixed header fields
    header: tuple[int, int]  #: (start, end) of the header body; its CRC follows
    json: dict[str, tuple[int, int]]  #: (start, end) of the model spec and implementations JSON
    records: list[tuple[int, int]]  #: (start, end) of each record, its CRC included


def _offsets(start: int, formats: dict[str, str]) -> dict[str, tuple[int, str]]:
    out = {}
    for name, code in formats.items():
        out[name] = (start, "<" + code)
        start += struct.calcsize("<" + code)
    return out


def layout(data: bytes) -> Layout:
    """Read the layout from the length fields alone, checking nothing (struct.error if
    the data is too short for the header): for tools that edit streams."""
    fields = _offsets(0, PRELUDE_FIELDS)
    (length,) = _U32.unpack_from(data, fields["header length"][0])
    json_spans, pos = {}, PRELUDE.size
    for what in ("model spec", "implementations"):
        fields[f"{what} length"] = (pos, "<H")
        json_spans[what] = (pos + _U16.size, pos + _U16.size + _U16.unpack_from(data, pos)[0])
        pos = json_spans[what][1]
    fields.update(_offsets(pos, FIXED_FIELDS))
    records, pos = [], PRELUDE.size + length + CRC.size
    while pos + RECORD_HEAD.size <= len(data):
        end = pos + RECORD_HEAD.size + RECORD_HEAD.unpack_from(data, pos)[2] + CRC.size
        records.append((pos, min(end, len(data))))
        pos = end
    return Layout(fields, (PRELUDE.size, PRELUDE.size + length), json_spans, records)


def write(path: str | os.PathLike[str], header: Header, records: Sequence[FrameRecord]) -> int:
    """Write a stream atomically (temp file + rename); return the bytes written."""
    data = dumps(header, records)
    try:
        write_bytes(path, data)
    except OSError as e:
        raise ZooError(f"cannot write {path}: {e.strerror or e}") from None
    return len(data)


def read(path: str | os.PathLike[str]) -> tuple[Header, list[FrameRecord]]:
    """Read and parse a stream file; ZooError if it is missing, unreadable, not a regular
    file (a FIFO, a device), too big or malformed. Its size is checked before any read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
        with open(fd, "rb") as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ZooError(f"cannot read {path}: not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise ZooError(f"{path} is too large to be a bitstream (over 4 GiB)")
            data = f.read(info.st_size)
    except OSError as e:
        raise ZooError(f"cannot read {path}: {e.strerror or e}") from None
    return loads(data)
