"""The fixed (untrained) plugins: x265-intra (HEVC I-frames) and dis-flow (OpenCV DIS)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from zoo import testing
from zoo.cli import main, parse_options
from zoo.core.build import ModelSpec, build_codec
from zoo.core.manager import Zoo
from zoo.core.sequence import decode_records, encode_frames, pad
from zoo.errors import ZooError
from zoo.io import bitstream
from zoo.nn.layers import warp
from zoo.slots import Payload


@pytest.fixture(scope="module")
def codec():
    model = build_codec(ModelSpec(("dis-flow", "x265-intra")))
    model.update(force=True)
    return model.eval()


@pytest.fixture
def frame(rgb_frames) -> torch.Tensor:
    return pad(rgb_frames[0])  # 72x48 padded to 128x64


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).square().mean()))


# ------------------------------------------------------------------ x265-intra


def test_x265_intra_decoder_gives_the_encoders_frame_bit_exactly(codec, frame):
    intra = codec.intra_coding
    strings, x_hat = intra.compress(frame, 1)
    assert len(strings) == 1 and strings[0][:4] == b"\x00\x00\x00\x01"  # Annex-B HEVC
    assert torch.equal(intra.decompress(strings, tuple(frame.shape[-2:]), 1), x_hat)
    assert intra.compress(frame, 1)[0] == strings  # deterministic
    assert x_hat.shape == frame.shape and _psnr(x_hat, frame) > 30


def test_x265_intra_rate_and_quality_rise_with_the_quality_index(codec, frame):
    coded = [codec.intra_coding.compress(frame, q) for q in range(codec.qualities)]
    sizes = [len(strings[0]) for strings, _ in coded]
    psnrs = [_psnr(x_hat, frame) for _, x_hat in coded]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert psnrs == sorted(psnrs)


def test_x265_intra_forward_codes_for_real_and_counts_its_bits(codec, frame):
    codec.train()
    try:
        out = codec.intra_forward(torch.cat([frame, frame.flip(-1)]), 2)
    finally:
        codec.eval()
    likelihoods = out["likelihoods"]["intra"]["hevc"]
    sizes = [len(codec.intra_coding.compress(x[None], 2)[0][0]) for x in (frame[0], frame[0].flip(-1))]
    assert (-torch.log2(likelihoods)).sum(dim=1).tolist() == [8.0 * s for s in sizes]
    assert torch.equal(out["x_hat"][:1], codec.intra_coding.compress(frame, 2)[1])
    assert not out["x_hat"].requires_grad


def test_x265_intra_codes_only_the_visible_frame(codec, rgb_frames, frame):
    """HEVC codes any size: the core hands x265-intra the frame the decoder keeps and pads
    its picture by replication, on both sides; a learned intra codec gets the padded frame."""
    visible = tuple(rgb_frames[0].shape[-2:])
    seen, compress = [], codec.intra_coding.compress
    codec.intra_coding.compress = lambda x, q: seen.append(tuple(x.shape[-2:])) or compress(x, q)
    try:
        with torch.inference_mode():
            payload, x_hat, ref = codec.intra_compress(frame, 1, visible)
            decoded, _ = codec.intra_decompress(payload, tuple(frame.shape[-2:]), 1, visible)
    finally:
        del codec.intra_coding.compress
    whole, _ = compress(frame, 1)
    assert seen == [visible] and x_hat.shape == frame.shape and ref.frame is x_hat
    assert torch.equal(decoded, x_hat) and torch.equal(x_hat, pad(x_hat[..., :visible[0], :visible[1]]))
    assert len(payload.latents["intra"][0]) < len(whole[0])
    (record, _), = encode_frames(codec, rgb_frames[:1], 1, 0)  # sequence mode hands it the size
    assert record.payload.latents == payload.latents
    assert torch.equal(next(decode_records(codec, [record], *visible, 1)), x_hat[..., :visible[0], :visible[1]])
    learned = build_codec(ModelSpec(())).eval()
    learned.update(force=True)
    seen.clear()
    learned_compress = learned.intra_coding.compress
    learned.intra_coding.compress = lambda x, q: seen.append(tuple(x.shape[-2:])) or learned_compress(x, q)
    with torch.inference_mode():
        assert learned.intra_compress(frame, 1, visible)[1].shape == frame.shape
    assert seen == [tuple(frame.shape[-2:])] and not getattr(learned.intra_coding, "any_size", False)


def test_conformance_checks_an_any_size_codec_at_a_visible_size(codec, monkeypatch):
    """zoo.testing hands an ``any_size`` intra codec a frame of no aligned size; one that
    gives back another size fails."""
    compress = type(codec.intra_coding).compress
    monkeypatch.setattr(type(codec.intra_coding), "compress",
                        lambda self, x, q: (lambda s, x_hat: (s, pad(x_hat)))(*compress(self, x, q)))
    with pytest.raises(testing.ConformanceError, match="any_size is set"):
        testing.check_slots(Zoo.load(), "x265-intra")


def test_fixed_plugins_have_no_trainable_parameters(codec):
    assert list(codec.intra_coding.parameters()) == []
    assert list(codec.motion_estimation.parameters()) == []


def test_x265_intra_options_are_checked():
    for qps in ([30, 20], [42, 37, 32, 27, 99], "42,37,32,27,22", [42, 37.5, 32, 27, 22]):
        with pytest.raises(ZooError, match="qps must give 5 QPs"):
            build_codec(ModelSpec(("x265-intra",), options={"x265-intra": {"qps": qps}}))
    with pytest.raises(ZooError, match="unknown preset 'quick'"):
        build_codec(ModelSpec(("x265-intra",), options={"x265-intra": {"preset": "quick"}}))
    fast = build_codec(ModelSpec(("x265-intra",), options={"x265-intra": {"qps": [45, 40, 35, 30, 25],
                                                                          "preset": "ultrafast"}}))
    assert fast.intra_coding.qps == (45, 40, 35, 30, 25) and fast.intra_coding.preset == "ultrafast"
    from_cli = build_codec(ModelSpec(("x265-intra",), options=parse_options(["x265-intra.qps=45,40,35,30,25"])))
    assert from_cli.intra_coding.qps == (45, 40, 35, 30, 25)
    with pytest.raises(ZooError, match="quality 7 is out of range"):
        build_codec(ModelSpec(("x265-intra",))).intra_coding.decompress([b"\x00"], (64, 64), 7)


@pytest.mark.parametrize("garbage", [b"", bytes(64), b"\x00\x00\x00\x01\x40\x01" + bytes(8)],
                         ids=["empty", "zeros", "truncated"])
def test_corrupt_hevc_bytes_are_a_zoo_error(codec, garbage):
    with pytest.raises(ZooError, match="x265-intra: the I-frame's HEVC bytes do not decode"):
        codec.intra_coding.decompress([garbage], (64, 64), 0)


def test_cli_decode_of_corrupt_hevc_bytes_is_a_one_line_error(tiny_y4m, tmp_path):
    """The container's checksums hold (the file is rewritten by the writer): only the
    HEVC picture inside is wrong, and only x265-intra can tell."""
    path = tmp_path / "a.bin"
    assert main(["encode", str(tiny_y4m), "-o", str(path), "--plugins", "x265-intra,dis-flow",
                 "--untrained", "--frames", "2"]) == 0
    header, records = bitstream.loads(path.read_bytes())
    assert header.model["plugins"] == ["x265-intra", "dis-flow"]
    records[0].payload = Payload({"intra": [bytes(100)]}, records[0].payload.side)
    path.write_bytes(bitstream.dumps(header, records))
    result = subprocess.run([sys.executable, "-m", "zoo", "decode", str(path), "-o",
                             str(tmp_path / "out.y4m")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "x265-intra: the I-frame's HEVC bytes do not decode" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out.y4m").exists()


# ------------------------------------------------------------------ dis-flow


@pytest.mark.parametrize("shift", [(3.0, -2.0), (-1.5, 0.75)])
def test_dis_flow_recovers_a_known_shift(codec, rgb_frames, shift):
    """``x = warp(ref, flow)`` for a constant flow; DIS finds it (inside the borders)."""
    ref = torch.nn.functional.interpolate(rgb_frames[0], scale_factor=2, mode="bicubic").clamp(0, 1)
    flow = torch.tensor(shift).view(1, 2, 1, 1).expand(1, 2, *ref.shape[-2:])
    x = warp(ref, flow)
    estimate = codec.motion_estimation(x, ref)
    assert estimate.shape == (1, 2, *ref.shape[-2:]) and estimate.dtype == torch.float32
    inner = (estimate - flow)[..., 16:-16, 16:-16]
    assert float(inner.norm(dim=1).mean()) < 0.25
    assert torch.equal(codec.motion_estimation(x, ref), estimate)  # deterministic
    assert _psnr(warp(ref, estimate), x) > _psnr(ref, x) + 5


def test_dis_flow_handles_batches_and_presets(rgb_frames):
    x, ref = (pad(f) for f in rgb_frames[1:3])
    for preset in ("ultrafast", "fast", "medium"):
        module = build_codec(ModelSpec(("dis-flow",), options={"dis-flow": {"preset": preset}}))
        flows = module.motion_estimation(torch.cat([x, ref]), torch.cat([ref, x]))
        assert flows.shape == (2, 2, *x.shape[-2:]) and torch.isfinite(flows).all()
        assert torch.equal(flows[:1], module.motion_estimation(x, ref))
    with pytest.raises(ZooError, match="unknown preset 'slow'"):
        build_codec(ModelSpec(("dis-flow",), options={"dis-flow": {"preset": "slow"}}))


# ------------------------------------------------------------------ both


@pytest.mark.parametrize("name", ["x265-intra", "dis-flow"])
def test_conformance(name):
    zoo = Zoo.load()
    testing.check_registration(zoo, name)
    assert testing.check_slots(zoo, name) == list(zoo.get(name).slots)


@pytest.mark.parametrize("plugins", ["dis-flow,x265-intra,cmfr,sff,refiner",
                                     "dis-flow,x265-intra,pixel-residual,gmm"])
def test_mixed_with_learned_models_codes_bit_exactly(plugins):
    testing.check_codec(Zoo.load(), plugins, frames=2)


def test_zoo_train_skips_the_stages_of_fixed_plugins(tiny_y4m, tmp_path):
    out = tmp_path / "runs"
    assert main(["train", "--plugins", "dis-flow,x265-intra,pixel-residual,gmm", "--data",
                 str(tiny_y4m), "--crop", "64", "--batch", "1", "--threads", "1", "--out", str(out),
                 "--stages", "intra,motion,residual", "--iterations", "1"]) == 0
    log = [json.loads(line) for line in
           (out / "dis-flow-x265-intra-pixel-residual-gmm" / "train.log").read_text().splitlines()]
    assert [r["stage"] for r in log if r["event"] == "skip"] == ["intra", "motion"]
    assert [r["stage"] for r in log if r["event"] == "step"] == ["residual"]
