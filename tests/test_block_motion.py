"""The block-motion plugin: classical block motion vectors in the motion-coding slot."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from zoo.cli import main
from zoo.core.build import ModelSpec, build_codec
from zoo.core.sequence import pad
from zoo.errors import ZooError
from zoo.io import bitstream
from zoo.nn.layers import warp
from zoo.slots import Payload, Reference

torch.set_num_threads(1)

PLUGINS = "block-motion,dis-flow,x265-intra,pixel-residual"


@pytest.fixture(scope="module")
def codec():
    """dis-flow for the estimates, block-motion to code them (guarded, as the pipeline has it)."""
    return build_codec(ModelSpec(("block-motion", "dis-flow", "x265-intra"))).eval()


@pytest.fixture(scope="module")
def coder(codec):
    return codec.motion_coding


@pytest.fixture(scope="module")
def averaging():
    """A coder whose vectors are the flow's block averages (not fitted)."""
    return build_codec(ModelSpec(("block-motion",), options={"block-motion": {"fit": 0}})).motion_coding


def smooth_flow(height: int, width: int, seed: int, amplitude: float = 4.0) -> torch.Tensor:
    """A smooth random flow (B=1), as camera and object motion give, in pixels."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(1, 2, 4, 5, generator=g) * amplitude
    return F.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)


def reference(flow: torch.Tensor | None, size: tuple[int, int]) -> Reference:
    """A reference of white noise: any change of a vector changes the prediction, so the
    rate-distortion choice keeps every vector the flow asks for."""
    return Reference(frame=torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(7)), flow=flow)


def estimated_bits(coder, flow, q, ref=None) -> float:
    """forward's bits: the skip flags and the coded blocks' errors."""
    return float(sum(-torch.log2(lik).sum() for lik in coder(flow, q, ref)["likelihoods"].values()))


# ------------------------------------------------------------------ round trip


@pytest.mark.parametrize("size", [(64, 128), (40, 52)], ids=["aligned", "not-a-block-multiple"])
@pytest.mark.parametrize("q", [0, 4])  # blocks of 16 and of 8
def test_decoder_gives_the_encoders_flow_bit_exactly(coder, size, q):
    flow = smooth_flow(*size, seed=q)
    strings, flow_hat = coder.compress(flow, q)
    assert len(strings) == 1 and strings[0][:2] == bytes((coder.blocks[q], 0))  # spatial
    assert flow_hat.shape == flow.shape
    assert torch.equal(coder.decompress(strings, size, q), flow_hat)
    assert coder.compress(flow, q)[0] == strings  # deterministic
    assert torch.equal(coder(flow, q)["x_hat"], flow_hat)


@pytest.mark.parametrize("size", [(64, 128), (40, 52)], ids=["aligned", "not-a-block-multiple"])
def test_temporal_mode_decodes_bit_exactly_from_the_previous_flow(coder, size):
    previous = coder.compress(smooth_flow(*size, seed=1), 2)[1]
    ref = reference(previous, size)
    flow = previous + 0.3 * smooth_flow(*size, seed=2, amplitude=1.0)  # mostly the same motion
    strings, flow_hat = coder.compress(flow, 2, ref)
    assert strings[0][1] == 1  # temporal
    assert torch.equal(coder.decompress(strings, size, 2, ref), flow_hat)
    assert torch.equal(coder(flow, 2, ref)["x_hat"], flow_hat)


@pytest.mark.parametrize("q,ref_seed", [(0, None), (3, None), (2, 5)], ids=["q0", "q3", "temporal"])
def test_forwards_bits_estimate_the_real_string(coder, q, ref_seed):
    size = (128, 192)
    ref = None
    if ref_seed is not None:
        ref = reference(coder.compress(smooth_flow(*size, seed=ref_seed), q)[1], size)
    noise = torch.randn(1, 2, *size, generator=torch.Generator().manual_seed(3))
    flow = smooth_flow(*size, seed=7) + 0.2 * noise
    strings, _ = coder.compress(flow, q, ref)
    real = 8 * len(strings[0])
    estimate = estimated_bits(coder, flow, q, ref) + 40  # + the 5-byte header
    assert abs(real - estimate) <= 0.1 * estimate + 8 * 8, (real, estimate)


# ------------------------------------------------------------------ behaviour


@pytest.mark.parametrize("shift", [(3.3, -1.8), (-0.6, 2.45)])
def test_a_constant_flow_is_coded_to_a_quarter_pixel(coder, shift):
    flow = torch.tensor(shift).view(1, 2, 1, 1).expand(1, 2, 40, 52).contiguous()
    for q in range(len(coder.blocks)):
        strings, flow_hat = coder.compress(flow, q)
        assert float((flow_hat - flow).abs().max()) <= 0.125 + 1e-6  # rounded to 1/4 px
        assert len(strings[0]) <= 24  # one vector (an escape in rANS's bypass), then zeros


def test_a_known_shift_is_recovered_through_dis_and_block_motion(codec, rgb_frames):
    ref = F.interpolate(rgb_frames[0], scale_factor=2, mode="bicubic").clamp(0, 1)
    flow = torch.tensor((2.5, -1.25)).view(1, 2, 1, 1).expand(1, 2, *ref.shape[-2:])
    x = warp(ref, flow)
    strings, flow_hat = codec.motion_coding.compress(codec.motion_estimation(x, ref), 2)
    inner = (flow_hat - flow)[..., 16:-16, 16:-16]
    assert float(inner.norm(dim=1).mean()) < 0.25
    assert 8 * len(strings[0]) / x[0, 0].numel() < 0.02  # bpp


def test_one_moving_block_codes_its_vector_and_skips_the_rest(coder):
    """A skip flag per block: the still blocks cost a fraction of a bit each."""
    size = (128, 192)  # 8 x 12 blocks of 16
    flow = torch.zeros(1, 2, *size)
    flow[..., 48:64, 80:96] = torch.tensor((3.0, -2.0)).view(1, 2, 1, 1)
    strings, flow_hat = coder.compress(flow, 0)
    assert len(strings[0]) <= 18  # the Laplacian alone: 24 bytes
    assert torch.equal(coder.decompress(strings, size, 0), flow_hat)
    assert float(flow_hat[0, :, 56, 88].sub(torch.tensor((3.0, -2.0))).abs().max()) < 0.5
    skip = coder(flow, 0)["likelihoods"]["skip"]
    assert skip.shape == (1, 1, 8, 12) and float(-torch.log2(skip).sum()) < 3 * 8


def test_a_frame_whose_every_block_skips_is_two_bytes(coder, averaging):
    """Block size and mode alone: zero motion (spatial), or the previous frame's
    vectors again (temporal), decoded from the two bytes."""
    size = (64, 128)
    for q in range(len(coder.blocks)):
        strings, flow_hat = coder.compress(torch.zeros(1, 2, *size), q)
        assert strings == [bytes((coder.blocks[q], 0))] and not flow_hat.any()
        assert torch.equal(coder.decompress(strings, size, q), flow_hat)
    previous = torch.tensor((2.25, -1.5)).view(1, 2, 1, 1).expand(1, 2, *size).contiguous()
    ref = reference(previous, size)
    strings, flow_hat = averaging.compress(previous, 1, ref)
    assert strings == [bytes((averaging.blocks[1], 1))] and torch.equal(flow_hat, previous)
    assert torch.equal(averaging.decompress(strings, size, 1, ref), flow_hat)
    assert len(averaging.compress(previous, 1)[0][0]) > 5  # spatial: the first block's vector


def test_temporal_mode_is_chosen_when_the_flow_repeats(averaging):
    coder, size = averaging, (64, 128)
    previous = coder.compress(smooth_flow(*size, seed=11), 1)[1]
    temporal, flow_hat = coder.compress(previous, 1, reference(previous, size))
    spatial, _ = coder.compress(previous, 1)
    assert temporal[0][1] == 1 and spatial[0][1] == 0
    assert len(temporal[0]) < len(spatial[0])
    assert torch.equal(coder.decompress(temporal, size, 1, reference(previous, size)), flow_hat)
    # a reference without a flow (the first P-frame) leaves only spatial prediction
    assert coder.compress(previous, 1, reference(None, size))[0] == spatial


def test_fitted_vectors_predict_as_the_dense_flow_does(coder, averaging):
    """Across a motion edge, block averages blur the flow; fitted vectors warp the
    reference closer to the dense flow's prediction, and decode bit-exactly."""
    size = (64, 96)
    g = torch.Generator().manual_seed(3)
    frame = F.interpolate(torch.rand(1, 3, 16, 24, generator=g), size=size, mode="bicubic",
                          align_corners=False).clamp(0, 1)
    flow = torch.zeros(1, 2, *size)
    flow[..., :, 40:] = torch.tensor((2.5, -1.5)).view(1, 2, 1, 1)  # the edge inside blocks
    ref = Reference(frame=frame)
    target = warp(frame, flow)
    errors = {}
    for name, c in (("fitted", coder), ("averaged", averaging)):
        strings, flow_hat = c.compress(flow, 0, ref)
        assert torch.equal(c.decompress(strings, size, 0, ref), flow_hat)
        errors[name] = float(F.mse_loss(warp(frame, flow_hat), target))
    assert errors["fitted"] < 0.9 * errors["averaged"]


def test_fit_must_be_a_number_of_steps():
    with pytest.raises(ZooError, match="option fit"):
        build_codec(ModelSpec(("block-motion",), options={"block-motion": {"fit": -1}}))


# ------------------------------------------------------------------ bad input


def test_short_or_foreign_records_are_value_errors(coder):
    size = (64, 128)
    strings, _ = coder.compress(smooth_flow(*size, seed=4), 0)
    record = strings[0]
    for bad in ([record[:3]], [record[:1]], [b""], [], [record, record]):
        with pytest.raises(ValueError, match="of 2 bytes .* or of at least 5"):
            coder.decompress(bad, size, 0)
    wrong = [bytes((8,)) + record[1:],            # another block size than this quality's
             record[:1] + b"\x02" + record[2:],   # no such mode
             record[:2] + b"\x40" + record[3:],  # scale index past the table
             record[:4] + b"\x40" + record[5:]]  # skip index past the table
    for bad in wrong:
        with pytest.raises(ValueError, match="header does not match"):
            coder.decompress([bad], size, 0)
    with pytest.raises(ValueError, match="header does not match"):
        coder.decompress(strings, size, 4)  # a quality with blocks of 8
    for bad in (bytes((8, 0)), bytes((16, 2))):  # an all-skipped record: the same checks
        with pytest.raises(ValueError, match="header does not match"):
            coder.decompress([bad], size, 0)


def test_a_truncated_body_decodes_without_crashing(coder):
    """rANS cannot tell a short body; the guard keeps it inside memory (the container's
    checksums catch the damage)."""
    size = (64, 128)
    strings, _ = coder.compress(smooth_flow(*size, seed=4), 4)
    flow = coder.decompress([strings[0][:6]], size, 4)
    assert flow.shape == (1, 2, *size) and torch.isfinite(flow).all()


def test_a_temporal_record_needs_the_previous_flow(coder):
    size = (64, 128)
    previous = coder.compress(smooth_flow(*size, seed=6), 0)[1]
    strings, _ = coder.compress(previous, 0, reference(previous, size))
    assert strings[0][1] == 1
    for ref in (None, reference(None, size)):
        with pytest.raises(ValueError, match="predicts from a flow the reference lacks"):
            coder.decompress(strings, size, 0, ref)


def test_cli_decode_of_a_bad_motion_record_is_a_one_line_error(tiny_y4m, tmp_path, capsys):
    path = tmp_path / "a.bin"
    assert main(["encode", str(tiny_y4m), "-o", str(path), "--plugins", PLUGINS,
                 "--untrained", "--frames", "2"]) == 0
    header, records = bitstream.loads(path.read_bytes())
    assert records[1].kind == "P"
    latents = dict(records[1].payload.latents, motion=[b"\x10\x00\x00"])
    records[1].payload = Payload(latents, records[1].payload.side)
    path.write_bytes(bitstream.dumps(header, records))
    capsys.readouterr()
    assert main(["decode", str(path), "-o", str(tmp_path / "out.y4m")]) == 2
    err = capsys.readouterr().err.strip()
    assert "frame 1 is corrupt" in err and "plugin 'block-motion' (motion_coding)" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out.y4m").exists()


# ------------------------------------------------------------------ state and options


@pytest.mark.parametrize("q", [0, 4])
def test_rdo_sends_predictions_where_the_reference_is_flat(coder, q):
    """On a flat reference a noisy flow changes nothing in the prediction: every block
    sends its prediction (a zero residual, a few bytes), and decodes bit-exactly."""
    size = (64, 128)
    g = torch.Generator().manual_seed(3)
    noisy = smooth_flow(*size, seed=4) + torch.randn(1, 2, *size, generator=g)
    flat = Reference(frame=torch.full((1, 3, *size), 0.5))
    strings, flow_hat = coder.compress(noisy, q, flat)
    plain = coder.compress(noisy, q)[0]  # no reference frame: no rate-distortion choice
    assert len(strings[0]) <= 12 and len(plain[0]) > 3 * len(strings[0])
    assert torch.equal(coder.decompress(strings, size, q, flat), flow_hat)
    assert torch.equal(coder(noisy, q, flat)["x_hat"], flow_hat)


def test_rdo_keeps_the_vectors_of_a_textured_reference_and_can_be_switched_off(averaging):
    coder, size, q = averaging, (64, 128), 2
    flow = smooth_flow(*size, seed=5)
    textured = reference(None, size)
    assert torch.equal(coder.compress(flow, q, textured)[1], coder.compress(flow, q)[1])
    off = build_codec(ModelSpec(("block-motion", "dis-flow", "x265-intra"),
                                options={"block-motion": {"rdo": False}})).motion_coding
    flat = Reference(frame=torch.full((1, 3, *size), 0.5))
    assert off.lambdas == () and off.compress(flow, q, flat)[0] == coder.compress(flow, q)[0]


def test_no_parameters_and_the_fixed_tables_are_not_saved(coder):
    assert list(coder.parameters()) == []
    saved = coder.state_dict()
    assert not any(k.endswith(("_quantized_cdf", "_offset", "_cdf_length", "scale_table")) for k in saved)
    assert coder.laplace._quantized_cdf.numel() > 0  # the tables are there, only not saved


def test_state_dict_is_empty(coder):
    """Nothing of block-motion belongs in a checkpoint: a model's weights must not
    depend on it (the scalar bounds of GaussianConditional included)."""
    assert list(coder.state_dict()) == []


def test_blocks_option_reaches_the_plugin():
    codec = build_codec(ModelSpec(("block-motion",), options={"block-motion": {"blocks": [8, 8, 8, 8, 8]}}))
    coder = codec.motion_coding
    assert coder.blocks == (8, 8, 8, 8, 8)
    strings, _ = coder.compress(smooth_flow(40, 52, seed=0), 0)
    assert strings[0][0] == 8
    assert codec.motion_coding.decompress(strings, (40, 52), 0).shape == (1, 2, 40, 52)


def test_default_blocks_follow_the_quality_ladder():
    ladder = (0.0002, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016)
    coder = build_codec(ModelSpec(("block-motion",), lambdas=ladder)).motion_coding
    assert coder.blocks == (16, 16, 16, 16, 16, 8, 8) and coder.lambdas == ladder
    assert build_codec(ModelSpec(("block-motion",))).motion_coding.blocks == (16, 16, 16, 8, 8)
    with pytest.raises(ZooError, match="option blocks must give 7 block sizes"):
        build_codec(ModelSpec(("block-motion",), options={"block-motion": {"blocks": [8] * 5}}, lambdas=ladder))


def test_each_choice_codes_its_block_size_and_decodes_bit_exactly():
    coder = build_codec(ModelSpec(("block-motion",), options={"block-motion": {"choices": [8, 32]}})).motion_coding
    assert coder.sizes(0) == (16, 8, 32) and coder.sizes(4) == (8, 32) and coder.alternatives(4) == 2
    flow = smooth_flow(40, 52, seed=3)
    for q in (0, 4):
        for alternative, block in enumerate(coder.sizes(q)):
            strings, flow_hat = coder.compress(flow, q, alternative=alternative)
            assert strings[0][0] == block
            assert torch.equal(coder.decompress(strings, (40, 52), q), flow_hat)
    plain = build_codec(ModelSpec(("block-motion",))).motion_coding
    strings, _ = coder.compress(flow, 0, alternative=2)  # 32: not a size of the plain model
    with pytest.raises(ValueError, match="header does not match"):
        plain.decompress(strings, (40, 52), 0)
    with pytest.raises(ZooError, match="block sizes must be 1..255"):
        build_codec(ModelSpec(("block-motion",), options={"block-motion": {"choices": [0]}}))


def test_conformance_checks_every_alternative():
    from zoo import testing
    from zoo.core.manager import Zoo
    zoo = Zoo.load()
    options = {"block-motion": {"choices": [8, 32]}}
    assert testing.check_slots(zoo, "block-motion", options=options) == ["motion_coding"]


def test_the_pipeline_keeps_the_cheapest_alternative(rgb_frames):
    """Each P-frame is coded with every block size and the one of least bits + λ·255²·SSE/3
    is kept, whatever its position among the alternatives."""
    spec = ModelSpec(("block-motion", "dis-flow", "x265-intra", "pixel-residual"),
                     options={"block-motion": {"choices": [8, 32]}})
    torch.manual_seed(0)
    codec = build_codec(spec).eval()
    codec.update(force=True)
    ref, x = pad(rgb_frames[0]), pad(rgb_frames[1])
    with torch.inference_mode():
        reference = codec.reference(ref)
        flow = codec.motion_estimation(x, ref)
        coded = [codec._compress(x, flow, reference, 2, a, None)[0] for a in range(3)]
        costs = [codec._cost(x, payload, x_hat, 2) for payload, x_hat, _ in coded]
        payload, x_hat, _ = codec.compress(x, reference, 2)
        assert payload.latents["motion"][0][0] == (16, 8, 32)[costs.index(min(costs))]
        assert torch.equal(x_hat, coded[costs.index(min(costs))][1])
        assert torch.equal(codec.decompress(payload, reference, 2)[0], x_hat)
        codec._cost = lambda x, payload, x_hat, q: -payload.latents["motion"][0][0]  # the largest wins
        assert codec.compress(x, reference, 2)[0].latents["motion"][0][0] == 32


# ------------------------------------------------------------------ end to end


@pytest.mark.parametrize("choices", [[], ["--option", "block-motion.choices=[8,32]"]], ids=["plain", "choices"])
def test_zoo_run_decodes_bit_exactly(tiny_y4m, tmp_path, choices):
    assert main(["run", "--plugins", PLUGINS, "--untrained", "--input", str(tiny_y4m),
                 "--quality", "3", "--out", str(tmp_path), *choices]) == 0
    (report_path,) = tmp_path.glob("*/tiny_72x48.json")
    report = json.loads(report_path.read_text())
    assert report["decoded_equals_encoder"] is True
    assert report["model"]["plugins"][0] == "block-motion"
    assert [f["kind"] for f in report["frames"]] == ["I", "P", "P"]


def test_pipeline_frames_code_bit_exactly_with_a_padded_frame(codec, rgb_frames):
    """The motion coder on DIS flow between real (padded) frames, through the slot methods."""
    ref, x = pad(rgb_frames[0]), pad(rgb_frames[1])
    flow = codec.motion_estimation(x, ref)
    for q in range(codec.qualities):
        strings, flow_hat = codec.motion_coding.compress(flow, q)
        assert torch.equal(codec.motion_coding.decompress(strings, tuple(x.shape[-2:]), q), flow_hat)


def test_zoo_run_with_skip_codes_p_frames_as_their_prediction_and_decodes_them(tiny_y4m, tmp_path):
    """At a λ where bits cost all, every P-frame is its prediction alone: no residual."""
    assert main(["run", "--plugins", PLUGINS, "--untrained", "--input", str(tiny_y4m), "--quality", "0",
                 "--lambdas", "1e-6", "--option", "pipeline.skip=true", "--out", str(tmp_path)]) == 0
    (report_path,) = tmp_path.glob("*/tiny_72x48.json")
    report = json.loads(report_path.read_text())
    assert report["decoded_equals_encoder"] is True
    _, records = bitstream.read(report_path.with_suffix(".bin"))
    assert [sorted(r.payload.latents) for r in records] == [["intra"], ["motion"], ["motion"]]
