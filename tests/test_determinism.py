"""Determinism: the same input and model give the same bytes in every process, and a
separate decoder process rebuilds exactly what the encoder reconstructed.

(In-process, ``tests/test_pipeline.py::test_bitstream_round_trip_decodes_the_encoders_frames``
checks decoded frames == the encoder's reconstruction, and ``zoo run`` refuses to report
figures unless they are equal.)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from zoo import bitstream
from zoo.build import ModelSpec
from zoo.coding import encode_clip
from zoo.models import open_model

#: md5 of the stream of the untrained default model (lite) on the 72x48, 3-frame tiny clip
#: (tests/conftest.py), quality 1, intra period 2 (611 bytes). It changes only when the
#: default model, its seeded initial weights, the entropy coder or the container change:
#: such a change must be deliberate, and this literal updated with it.
PINNED_MD5 = "84463149d2971f3b786afb74143768f5"  # SpyNet with its cost volume
ARGS = ("--untrained", "--quality", "1", "--intra-period", "2")


def zoo(*args: str, cwd) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                            timeout=600, cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_separate_processes_give_identical_bytes_and_decode_to_the_encoders_frames(tiny_y4m, tmp_path):
    # process 1: zoo run encodes, decodes from the file and checks decoded == encoder's reconstruction
    zoo("run", "--input", str(tiny_y4m), "--out", str(tmp_path / "run"), *ARGS, cwd=tmp_path)
    run_dir = tmp_path / "run" / "defaults"
    assert json.loads((run_dir / "tiny_72x48.json").read_text())["decoded_equals_encoder"] is True
    # process 2: zoo encode, same input and model: the same bytes
    zoo("encode", str(tiny_y4m), "-o", str(tmp_path / "b.bin"), *ARGS, cwd=tmp_path)
    assert sha256(tmp_path / "b.bin") == sha256(run_dir / "tiny_72x48.bin")
    # process 3: zoo decode alone writes exactly the clip process 1 decoded (and checked)
    zoo("decode", str(tmp_path / "b.bin"), "-o", str(tmp_path / "c.y4m"), cwd=tmp_path)
    assert sha256(tmp_path / "c.y4m") == sha256(run_dir / "tiny_72x48.y4m")
    # and the bytes are the pinned ones
    assert hashlib.md5((tmp_path / "b.bin").read_bytes()).hexdigest() == PINNED_MD5


def test_pinned_md5_of_a_small_stream(tiny_clip):
    model = open_model(spec=ModelSpec(()), untrained=True)
    header, records, _ = encode_clip(model, tiny_clip, quality=1, intra_period=2)
    data = bitstream.dumps(header, records)
    assert [r.kind for r in records] == ["I", "P", "I"] and len(data) == 611
    assert hashlib.md5(data).hexdigest() == PINNED_MD5, (
        "the bytes of the regression stream changed: if the default model, its initial "
        "weights, the entropy coder or the container changed on purpose, update PINNED_MD5")
