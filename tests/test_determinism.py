"""Determinism: the same input and model give the same bytes in every process, a
separate decoder process rebuilds exactly what the encoder reconstructed, and a decoder
that computes otherwise (another CPU, other plugins) says which frame first differs.

Nothing here pins bytes that float arithmetic produces: those may differ on another CPU
without a bug. What a stream must decode to is pinned by the stream itself, in its frame
checksums (CRC-32 of each frame's 8-bit planes), checked by every decode.

(In-process, ``tests/test_pipeline.py::test_bitstream_round_trip_decodes_the_encoders_frames``
checks decoded frames == the encoder's reconstruction, and ``zoo run`` refuses to report
figures unless they are equal.)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from fractions import Fraction

import pytest
import torch

from zoo.core.build import ModelSpec
from zoo.core.coding import encode_clip
from zoo.core.models import open_model
from zoo.core.sequence import decode_records, picture_crc
from zoo.errors import ZooError
from zoo.io import bitstream

ARGS = ("--untrained", "--quality", "1", "--intra-period", "2")


def zoo(*args: str, cwd) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                            timeout=600, cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def coded(tiny_clip):
    """The regression stream: the untrained default model (lite) on the 72x48, 3-frame tiny
    clip (tests/conftest.py), quality 1, intra period 2; and the encoder's frames."""
    model = open_model(spec=ModelSpec(()), untrained=True)
    header, records, recon = encode_clip(model, tiny_clip, quality=1, intra_period=2)
    return model, header, records, recon


def test_separate_processes_give_identical_bytes_and_decode_to_the_encoders_frames(tiny_y4m, tmp_path):
    # process 1: zoo run encodes, decodes from the file and checks decoded == encoder's reconstruction
    zoo("run", "--input", str(tiny_y4m), "--out", str(tmp_path / "run"), *ARGS, cwd=tmp_path)
    run_dir = tmp_path / "run" / "defaults"
    assert json.loads((run_dir / "tiny_72x48.json").read_text())["decoded_equals_encoder"] is True
    # process 2: zoo encode, same input and model: the same bytes
    zoo("encode", str(tiny_y4m), "-o", str(tmp_path / "b.bin"), *ARGS, cwd=tmp_path)
    assert sha256(tmp_path / "b.bin") == sha256(run_dir / "tiny_72x48.bin")
    # process 3: zoo decode alone (checking every frame's checksum) writes exactly the clip
    # process 1 decoded
    zoo("decode", str(tmp_path / "b.bin"), "-o", str(tmp_path / "c.y4m"), cwd=tmp_path)
    assert sha256(tmp_path / "c.y4m") == sha256(run_dir / "tiny_72x48.y4m")


def test_the_regression_streams_layout_is_pinned(coded):
    # everything but what float arithmetic decides (rANS strings, the seeded weights' hash,
    # the frame checksums): it changes only with the container, the default model's plugins
    # and their latents, or the coding loop, deliberately
    _, header, records, _ = coded
    data = bitstream.dumps(header, records)
    header, records = bitstream.loads(data)
    assert header.model == {"name": None, "plugins": [], "preset": "lite", "options": {},
                            "untrained": True}
    assert header.implementations == {"*": f"codec-zoo {zoo_version()}"}
    assert (header.quality, header.width, header.height, header.frame_count, header.fps,
            header.intra_period) == (1, 72, 48, 3, Fraction(30000, 1001), 2)
    assert [(r.kind, {k: len(v) for k, v in r.payload.latents.items()}, r.payload.side)
            for r in records] == [("I", {"intra": 2}, {}),
                                  ("P", {"motion": 2, "residual": 2}, {}),
                                  ("I", {"intra": 2}, {})]
    assert bitstream.PRELUDE.unpack_from(data)[:2] == (b"CZOO", 3)  # magic, version


def zoo_version() -> str:
    from importlib.metadata import version
    return version("codec-zoo")


def test_the_stream_records_each_frames_checksum(coded):
    _, _, records, recon = coded
    assert [r.checksum for r in records] == [picture_crc(x) for x in recon]


class Drifting(torch.nn.Module):
    """A decoder that computes P-frames a little otherwise, as another CPU might."""

    def __init__(self, codec: torch.nn.Module) -> None:
        super().__init__()
        self.codec = codec

    def intra_decompress(self, *args, **kwargs):
        return self.codec.intra_decompress(*args, **kwargs)

    def decompress(self, *args):
        x_hat, ref = self.codec.decompress(*args)
        return (x_hat + 0.002).clamp(0, 1), ref


def test_a_decoder_that_computes_otherwise_names_the_first_frame_that_differs(coded):
    model, header, records, recon = coded
    decoded = list(decode_records(model.codec, records, header.height, header.width, header.quality))
    assert all(torch.equal(a, b) for a, b in zip(decoded, recon))
    with pytest.raises(ZooError, match=r"^frame 1 differs from the encoder's picture \(checksum mismatch\)"):
        list(decode_records(Drifting(model.codec), records, header.height, header.width, header.quality))
    altered = copy.deepcopy(records)
    altered[2].checksum ^= 1  # recorded by another encoder
    frames = decode_records(model.codec, altered, header.height, header.width, header.quality)
    assert torch.equal(next(frames), recon[0]) and torch.equal(next(frames), recon[1])
    with pytest.raises(ZooError, match="^frame 2 differs"):
        next(frames)


def test_coding_runs_on_the_coding_threads_and_restores_the_callers(tiny_clip, monkeypatch):
    """Float sums depend on the thread count, and a decoder must rebuild the encoder's
    references exactly: encoder and decoder code on ``coding_threads()`` whatever the caller's."""
    from zoo.core.sequence import CODING_THREADS_ENV
    model = open_model(spec=ModelSpec(()), untrained=True)
    seen, domain = [], model.codec.residual_domain
    for name in ("compress", "decompress"):
        method = getattr(domain, name)
        monkeypatch.setattr(domain, name, lambda *a, _m=method, **k: seen.append(
            torch.get_num_threads()) or _m(*a, **k))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        header, records, _ = encode_clip(model, tiny_clip, quality=1, intra_period=0)
        list(decode_records(model.codec, records, header.height, header.width, 1))
        assert seen == [1, 1, 1, 1] and torch.get_num_threads() == 2
        monkeypatch.setenv(CODING_THREADS_ENV, "3")
        encode_clip(model, tiny_clip, quality=1, intra_period=0)
        assert seen[4:] == [3, 3] and torch.get_num_threads() == 2
        monkeypatch.setenv(CODING_THREADS_ENV, "0")
        with pytest.raises(ZooError, match=CODING_THREADS_ENV):
            encode_clip(model, tiny_clip, quality=1, intra_period=0)
    finally:
        torch.set_num_threads(before)
