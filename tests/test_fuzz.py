"""Fuzzing the decoder: 2,000+ mutated real streams, none crashes, hangs or decodes garbage
that failed its checksums.

The mutation engine is ``scripts/fuzz_decoder.py`` (also the longer fuzzer run outside
CI); here it runs in a subprocess, so a segfault in the entropy decoder fails the test
instead of killing pytest. Run with ``-s`` to see the figures. How long cases take is
measured by ``scripts/hostile_bench.py`` and ``scripts/fuzz_decoder.py``, not asserted
here: the fuzzer's watchdog only tells a hang from a slow case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fuzz_decoder.py"
CASES = 2100  # the first 5 are the unmodified streams and the empty input

HOSTILE_STRINGS = r"""
import json, random, sys
import torch
from zoo.io import bitstream
from zoo.core import coding
from zoo.io.bitstream import FrameRecord
from zoo.core.build import ModelSpec
from zoo.errors import ZooError
from zoo.core.models import open_model
from zoo.core.sequence import decode_records
from zoo.slots import Payload
from zoo.io.video import read_clip

sys.path.insert(0, sys.argv[1])
from conftest import SAMPLE, crop_clip

model = open_model(spec=ModelSpec(()), untrained=True)
clip = crop_clip(read_clip(SAMPLE, 3), 72, 48, 3)
header, records, _ = coding.encode_clip(model, clip, 1, 2)
rng = random.Random(0)
variants = {
    "empty": lambda s: b"",
    "first byte": lambda s: s[:1],
    "half": lambda s: s[: len(s) // 2],
    "all but one": lambda s: s[:-1],
    "0xff * 4096": lambda s: b"\xff" * 4096,
    "0x00 * 4096": lambda s: b"\x00" * 4096,
    "random": lambda s: rng.randbytes(max(len(s), 1)),
    "random, short": lambda s: rng.randbytes(3),
    "reversed": lambda s: s[::-1],
    "extended": lambda s: s + rng.randbytes(32),
}
counts = {"cases": 0, "decoded": 0, "refused": 0}
for k, record in enumerate(records):
    for name, strings in record.payload.latents.items():
        for i in range(len(strings)):
            for label, change in variants.items():
                changed = [change(s) if j == i else s for j, s in enumerate(strings)]
                latents = {**record.payload.latents, name: changed}
                recs = [FrameRecord(r.kind, Payload(latents, r.payload.side)) if j == k else r
                        for j, r in enumerate(records)]
                data = bitstream.dumps(header, recs)  # every CRC is valid
                counts["cases"] += 1
                h, rs = bitstream.loads(data)
                try:
                    frames = list(decode_records(model.codec, rs, h.height, h.width, h.quality))
                except ZooError as e:  # undecodable, or not the encoder's picture
                    assert str(e).startswith((f"frame {k} is corrupt", f"frame {k} differs")), str(e)
                    assert "\n" not in str(e), str(e)
                    counts["refused"] += 1
                    continue
                assert len(frames) == 3
                assert all(torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1 for x in frames)
                counts["decoded"] += 1
print(json.dumps(counts))
"""


def test_mutated_streams_decode_or_fail_cleanly(tmp_path):
    report_path = tmp_path / "fuzz.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--cases", str(CASES), "--seed", "0", "--case-timeout", "300",
         "--crash-dir", str(tmp_path / "crashes"), "--json", str(report_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    # a crash (a signal), a hang killed by the watchdog, or a failed case
    assert result.returncode == 0, (result.returncode, result.stdout[-3000:], result.stderr[-3000:])
    report = json.loads(report_path.read_text())
    print("\n" + next(line for line in result.stdout.splitlines() if line.startswith("fuzz:")))
    assert report["cases"] == CASES and report["failures"] == 0
    # the mutations reach every layer: the parser, the model check and the entropy decoder
    assert report["rejected"] > 1000 and report["refused"] > 100 and report["decoded"] > 100
    by_op = report["by_op"]
    assert by_op["rANS string edit (valid CRCs)"].get("decoded", 0) > 20
    assert by_op["rANS string edit (valid CRCs)"].get("refused", 0) > 20
    assert by_op["bit flip"] == {"rejected": by_op["bit flip"]["rejected"]}  # the CRCs catch every one
    assert by_op["truncate"] == {"rejected": by_op["truncate"]["rejected"]}


def test_crc_valid_records_with_hostile_rans_strings_do_not_crash(tmp_path):
    # every string of every record of a real stream, truncated, emptied, replaced by garbage:
    # the checksums pass, so CompressAI's rANS decoder itself sees them (zoo/core/guard.py)
    result = subprocess.run([sys.executable, "-c", HOSTILE_STRINGS, str(Path(__file__).parent)],
                            capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\nhostile rANS strings: {counts}")
    # 8 strings (I: 2, P: 2 motion + 2 residual, I: 2), 10 variants each
    assert counts["cases"] == 80 and counts["decoded"] + counts["refused"] == 80
