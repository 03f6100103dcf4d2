"""The default slots, the assembled codec, sequences and the bitstream round trip."""

from __future__ import annotations

import pytest
import torch
from compressai.models.base import get_scale_table

from zoo.core.build import ModelSpec, build_codec
from zoo.core.coding import decode_stream, encode_clip
from zoo.core.config import Config, ms_ssim_lambda
from zoo.core.manager import Zoo
from zoo.core.metrics import ms_ssim_rgb
from zoo.core.models import open_model
from zoo.core.pipeline import target
from zoo.core.sequence import is_intra, pad, padded_size
from zoo.errors import ZooError
from zoo.io import bitstream
from zoo.nn.gains import GainedEntropyModel
from zoo.nn.layers import downscale_flow, warp
from zoo.slots import Context, Payload, Reference


@pytest.fixture(scope="module")
def default_model():
    return open_model(spec=ModelSpec(()), untrained=True)


@pytest.fixture(scope="module")
def selection():
    return Zoo.load().select([])


def test_every_default_slot_builds_and_runs(selection, rgb_frames):
    config = Config.from_preset("lite")
    x, r = pad(rgb_frames[1]), pad(rgb_frames[0])
    ref = Reference(frame=r)
    me = selection.build("motion_estimation", config=config)
    flow = me(x, r)
    assert flow.shape == (1, 2, *x.shape[-2:])

    refine = selection.build("motion_refinement", config=config)
    assert torch.equal(refine(flow, ref), flow)

    ctx = selection.build("temporal_context", config=config)(ref, flow)
    assert isinstance(ctx, Context) and ctx.prediction.shape == x.shape
    scale = config.feature_scale
    assert [f.shape[-1] for f in ctx.features] == [x.shape[-1] // scale // s for s in (1, 2, 4)]

    fusion = selection.build("fusion", config=config, channels=config.channels, levels=3)
    h = torch.rand(1, config.channels, 16, 16)
    assert fusion.encode(0, h, h).shape == h.shape == fusion.decode(2, h, h).shape

    post = selection.build("post_filter", config=config)
    assert torch.equal(post(x, 0), x) and post.in_loop is False


@pytest.mark.parametrize("preset", ["lite", "full"])
def test_the_untrained_context_is_the_warped_reference_features(selection, preset):
    """Its refinements start as the identity: a residual domain that subtracts the context
    from the target's features codes the motion's innovation, not a random perturbation."""
    config = Config.from_preset(preset)
    scale = config.feature_scale
    feature = torch.rand(1, config.channels, 64 // scale, 64 // scale)
    flow = torch.randn(1, 2, 64, 64)
    ctx = selection.build("temporal_context", config=config)(
        Reference(frame=torch.rand(1, 3, 64, 64), feature=feature), flow)
    assert torch.allclose(ctx.features[0], warp(feature, downscale_flow(flow, scale)))


def test_forward_gives_likelihoods_for_every_latent(default_model, rgb_frames):
    codec = default_model.codec
    codec.train()
    try:
        out = codec(pad(rgb_frames[1]), Reference(frame=pad(rgb_frames[0])), 1)
        intra = codec.intra_forward(pad(rgb_frames[0]), 1)
    finally:
        codec.eval()
    assert out["x_hat"].shape == pad(rgb_frames[1]).shape
    assert set(out["likelihoods"]) == {"motion", "residual"}
    for group in (*out["likelihoods"].values(), *intra["likelihoods"].values()):
        for lik in group.values():
            assert torch.all(lik > 0) and torch.all(lik <= 1)
    loss = sum(-torch.log2(l).sum() for g in out["likelihoods"].values() for l in g.values())
    loss.backward()
    assert codec.motion_estimation.levels[0][0].weight.grad is not None


def test_pad_to_alignment():
    assert padded_size(48, 72) == (64, 128)
    x = torch.rand(1, 3, 48, 72)
    assert pad(x).shape == (1, 3, 64, 128) and torch.equal(pad(x)[..., :48, :72], x)
    assert pad(torch.rand(1, 3, 64, 64)).shape == (1, 3, 64, 64)


@pytest.mark.parametrize("period,kinds", [(0, "IPPPP"), (2, "IPIPI"), (1, "IIIII")])
def test_intra_period(period, kinds):
    assert "".join("I" if is_intra(i, period) else "P" for i in range(5)) == kinds


def test_bitstream_round_trip_decodes_the_encoders_frames(default_model, tiny_clip, tmp_path):
    header, records, recon = encode_clip(default_model, tiny_clip, quality=2, intra_period=2)
    path = tmp_path / "clip.bin"
    size = bitstream.write(path, header, records)
    assert size == path.stat().st_size > 0
    header2, records2 = bitstream.read(path)  # nothing but the file
    decoded = decode_stream(header2, records2)
    assert [r.kind for r in records2] == ["I", "P", "I"]
    assert len(decoded) == 3
    for a, b in zip(recon, decoded):
        assert a.shape == (1, 3, 48, 72)
        assert torch.equal(a, b)


def test_quality_gains_change_the_rate(selection):
    config = Config.from_preset("lite")
    entropy = selection.build("entropy_model", config=config, channels=8, latent="residual",
                              context_channels=0)
    model = GainedEntropyModel(entropy, 8, config.lambdas).eval()
    model.model.codec.hyper.entropy_bottleneck.update(force=True)
    model.model.codec.y.gaussian_conditional.update_scale_table(get_scale_table(), force=True)
    y = 8 * torch.randn(1, 8, 8, 8, generator=torch.Generator().manual_seed(0))
    sizes = []
    for q in range(config.qualities):
        strings, y_hat = model.compress(y, q)
        assert torch.equal(model.decompress(strings, (8, 8), q), y_hat)
        sizes.append(sum(map(len, strings)))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_out_of_range_quality_is_refused(default_model, tiny_clip):
    with pytest.raises(ZooError, match="quality 9 is out of range"):
        encode_clip(default_model, tiny_clip, quality=9, intra_period=0)


def test_untrained_weights_are_reproducible_and_checked(default_model, tiny_clip):
    again = open_model(spec=ModelSpec(()), untrained=True)
    assert again.sha256 == default_model.sha256
    header, records, _ = encode_clip(default_model, tiny_clip, 1, 0)
    header.weights_sha256 = "0" * 16
    with pytest.raises(ZooError, match="made with weights 0000"):
        decode_stream(header, records)


def test_a_model_without_weights_needs_untrained():
    with pytest.raises(ZooError, match="no trained weights yet; pass --untrained"):
        open_model(spec=ModelSpec(()))


def test_a_p_frame_without_reference_is_refused(default_model, tiny_clip):
    header, records, _ = encode_clip(default_model, tiny_clip, 1, 0)
    with pytest.raises(ZooError, match="frame 0 is a P-frame with no reference"):
        decode_stream(header, records[1:])


def test_a_record_missing_its_latents_is_corrupt(default_model, tiny_clip):
    header, records, _ = encode_clip(default_model, tiny_clip, 1, 0)
    del records[1].payload.latents["motion"]
    with pytest.raises(ZooError, match="frame 1 is corrupt"):
        decode_stream(header, records)


def test_a_coded_frame_stripped_of_its_residual_fails_the_checksum(default_model, tiny_clip):
    """Without its residual a record decodes as a skipped frame (the prediction alone),
    which is not the picture the encoder made: the picture CRC says so."""
    header, records, _ = encode_clip(default_model, tiny_clip, 1, 0)
    del records[1].payload.latents["residual"]
    with pytest.raises(ZooError, match="frame 1 differs from the encoder's picture"):
        decode_stream(header, records)


SKIP = {"pipeline": {"skip": True}}


def test_skip_offers_each_frame_as_its_prediction_alone_and_keeps_the_cheaper(rgb_frames):
    codec = build_codec(ModelSpec((), options=SKIP)).eval()
    codec.update(force=True)
    ref, x = pad(rgb_frames[0]), pad(rgb_frames[1])
    with torch.inference_mode():
        reference = codec.reference(ref)
        flow = codec.motion_estimation(x, ref)
        coded, skipped = codec._compress(x, flow, reference, 2, 0, None)
        assert set(coded[0].latents) == {"motion", "residual"} and set(skipped[0].latents) == {"motion"}
        assert skipped[0].latents["motion"] == coded[0].latents["motion"]
        flow_hat = codec.motion_refinement(codec.motion_coding.decompress(
            coded[0].latents["motion"], tuple(x.shape[-2:]), 2, reference), reference)
        assert torch.equal(skipped[1], codec.temporal_context(reference, flow_hat).prediction.clamp(0, 1))
        for payload, x_hat, _ in (coded, skipped):
            assert torch.equal(codec.decompress(payload, reference, 2)[0], x_hat)
        costs = [codec._cost(x, payload, x_hat, 2, 2.0) for payload, x_hat, _ in (coded, skipped)]
        kept = codec.compress(x, reference, 2)[0]
        assert ("residual" in kept.latents) == (costs[0] <= costs[1])
        codec._cost = lambda x, payload, x_hat, q, *weight: len(payload.latents)  # fewer win
        assert set(codec.compress(x, reference, 2)[0].latents) == {"motion"}
        codec._cost = lambda x, payload, x_hat, q, *weight: -len(payload.latents)  # more win
        assert set(codec.compress(x, reference, 2)[0].latents) == {"motion", "residual"}


def test_without_skip_every_p_frame_codes_its_residual(default_model, tiny_clip):
    _, records, _ = encode_clip(default_model, tiny_clip, 0, 0)
    assert all("residual" in r.payload.latents for r in records if r.kind == "P")


def test_a_motion_coder_gets_the_frame_only_when_it_names_target():
    frame = torch.zeros(1, 3, 8, 8)

    class Unhashable:  # __eq__ without __hash__: functools.cache cannot key on it
        __hash__ = None

        def __eq__(self, other):
            return self is other

        def __call__(self, flow, target):
            return flow

    assert target(lambda flow, target: flow, frame)["target"] is frame
    assert target(lambda flow: flow, frame) == {}
    assert target(Unhashable(), frame)["target"] is frame


def test_the_encoders_choices_weigh_distortion_as_the_training_loss_named_by_criterion(rgb_frames):
    """``pipeline.criterion``: bits + weight · λ·255²·SSE/3 (``rd``, default) or bits + weight ·
    λ_ms·(1 - MS-SSIM)·pixels (``rd-ms-ssim``, MS-SSIM as zoo eval measures it)."""
    x = pad(rgb_frames[1])
    noisy = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    payload, pixels = Payload({"motion": [b"\0" * 10]}), x[0, 0].numel()
    rd, msssim = (build_codec(ModelSpec((), options={"pipeline": {"criterion": c}})) for c in
                  ("rd", "rd-ms-ssim"))
    lambdas = rd.config.lambdas
    sse = float((noisy - x).square().sum())
    assert rd._cost(x, payload, noisy, 2, 2.0) == pytest.approx(80 + 2 * lambdas[2] * 255**2 * sse / 3)
    assert msssim._cost(x, payload, noisy, 2, 2.0) == pytest.approx(
        80 + 2 * ms_ssim_lambda(lambdas, 2) * (1 - ms_ssim_rgb(x, noisy)) * pixels)
    assert msssim._cost(x, payload, x, 2) == pytest.approx(80)
    with pytest.raises(ZooError, match="pipeline.criterion must be one of rd, rd-ms-ssim, got 'ssim'"):
        open_model(spec=ModelSpec((), options={"pipeline": {"criterion": "ssim"}}), untrained=True)


def test_a_frame_no_frame_predicts_from_weighs_a_skip_by_skip_weight_unreferenced(rgb_frames):
    """``skip_weight`` for a ``referenced`` frame, ``skip_weight_unreferenced`` (default:
    ``skip_weight``) for one no frame will predict from (p-frame mode)."""
    ref, x = pad(rgb_frames[0]), pad(rgb_frames[1])
    for options, expected in (({"skip_weight": 3.0, "skip_weight_unreferenced": 1.5}, (3.0, 1.5)),
                              ({"skip_weight": 3.0}, (3.0, 3.0))):
        codec = build_codec(ModelSpec((), options={"pipeline": {"skip": True, **options}})).eval()
        codec.update(force=True)
        weights = []
        codec._cost = lambda x, payload, x_hat, q, weight=1.0: weights.append(weight) or 0.0
        with torch.inference_mode():
            for referenced, weight in zip((True, False), expected):
                weights.clear()
                codec.compress(x, codec.reference(ref), 2, referenced=referenced)
                assert weights[-2:] == [weight, weight]  # the coded frame's and the skipped one's


def test_the_residual_domain_codes_the_padding_as_the_prediction(rgb_frames):
    """The decoder crops the padding away: given the ``visible`` size, the encoder fills the
    padding with the prediction before the residual domain codes the frame; the choices
    weigh the frame as given."""
    frame = rgb_frames[1]
    (h, w), x = frame.shape[-2:], pad(frame)
    assert (h, w) != x.shape[-2:]
    codec = build_codec(ModelSpec((), options={"pipeline": {"skip": True}})).eval()
    codec.update(force=True)
    coded, weighed, compress, cost = [], [], codec.residual_domain.compress, codec._cost
    codec.residual_domain.compress = lambda x, ctx, ref, q: coded.append((x, ctx.prediction)) or \
        compress(x, ctx, ref, q)
    codec._cost = lambda x, *args: weighed.append(x) or cost(x, *args)
    with torch.inference_mode():
        for visible in ((h, w), None):
            codec.compress(x, codec.reference(pad(rgb_frames[0])), 2, visible=visible)
    (filled, prediction), (given, _) = coded
    assert torch.equal(filled[..., :h, :w], x[..., :h, :w])
    assert torch.equal(filled[..., h:, :], prediction[..., h:, :])
    assert torch.equal(filled[..., :, w:], prediction[..., :, w:])
    assert not torch.equal(filled, x) and torch.equal(given, x)
    assert weighed and all(c is x for c in weighed)


@pytest.mark.parametrize("name", ["skip_weight", "skip_weight_unreferenced"])
def test_skip_weights_must_be_positive(name):
    with pytest.raises(ZooError, match=rf"^option pipeline.{name} must be above 0, got 0.0$"):
        build_codec(ModelSpec((), options={"pipeline": {"skip": True, name: 0.0}}))


class _Offset(torch.nn.Module):
    """A post-filter that adds ``offset`` to every pixel (0: the identity)."""

    def __init__(self, offset: float, in_loop: bool) -> None:
        super().__init__()
        self.offset, self.in_loop = offset, in_loop

    def forward(self, x, q):
        return x + self.offset


@pytest.mark.parametrize("in_loop", [False, True])
@pytest.mark.parametrize("skip", [False, True])
def test_filter_choice_shows_a_frame_unfiltered_where_the_filter_hurts_and_marks_it_for_free(
        rgb_frames, in_loop, skip):
    codec = build_codec(ModelSpec((), options={"pipeline": {"filter_choice": True, "skip": skip}})).eval()
    codec.update(force=True)
    ref, x = pad(rgb_frames[0]), pad(rgb_frames[1])
    with torch.inference_mode():
        reference = codec.reference(ref)
        for offset, filtered in ((0.2, False), (0.0, True)):
            codec.post_filter = _Offset(offset, in_loop)
            payload, x_hat, next_ref = codec.compress(x, reference, 2)
            assert ("unfiltered" not in payload.latents) == filtered
            assert payload.latents.get("unfiltered", []) == []
            decoded, decoded_ref = codec.decompress(payload, reference, 2)
            assert torch.equal(decoded, x_hat) and torch.equal(decoded_ref.frame, next_ref.frame)
            if not filtered:  # the picture is the residual domain's reconstruction
                marked = payload
                codec.post_filter = _Offset(0.0, in_loop)
                assert torch.equal(codec.decompress(payload, reference, 2)[0], x_hat)
        unmarked = Payload({k: v for k, v in marked.latents.items() if k != "unfiltered"})
        header = bitstream.Header(model={"name": "m"}, weights_sha256="0" * 16, quality=2, width=8,
                                  height=8, frame_count=1, fps=25, intra_period=0)
        sizes = [bitstream.record_sizes(bitstream.dumps(header, [bitstream.FrameRecord("P", p, 0)]))
                 for p in (marked, unmarked)]
        assert sizes[0] == sizes[1]  # the mark is in the header's schema, not in the record
        _, (read,) = bitstream.loads(bitstream.dumps(header, [bitstream.FrameRecord("P", marked, 0)]))
        assert read.payload.latents["unfiltered"] == []
        codec.post_filter = _Offset(0.2, in_loop)
        decoded, _ = codec.decompress(read.payload, reference, 2)
        assert torch.equal(decoded, codec.decompress(marked, reference, 2)[0])
        assert not torch.equal(decoded, codec.decompress(unmarked, reference, 2)[0])


def test_without_filter_choice_every_frame_is_filtered(rgb_frames):
    codec = build_codec(ModelSpec(())).eval()
    codec.update(force=True)
    codec.post_filter = _Offset(0.2, False)
    with torch.inference_mode():
        payload, _, _ = codec.compress(pad(rgb_frames[1]), codec.reference(pad(rgb_frames[0])), 2)
    assert "unfiltered" not in payload.latents
