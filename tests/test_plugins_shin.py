"""The plugins of Shin et al., Sensors 2025: masked-residual, cmfr, sff and refiner."""

from __future__ import annotations

import functools
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F

import zoo.plugins.sff as sff_plugin
from zoo.core.build import ModelSpec, build_codec
from zoo.core.hookspecs import hookimpl
from zoo.core.manager import Zoo
from zoo.core.models import open_model
from zoo.core.plugin_info import PluginInfo
from zoo.core.sequence import decode_records, encode_frames, pad
from zoo.errors import ZooError
from zoo.train.trainer import STAGES, StageLoss
from zoo.nn.layers import warp
from zoo.slots import Reference

H, W = 40, 60  # padded to 64 x 64
COMBOS = ["masked-residual", "cmfr", "cmfr,sff", "cmfr,sff,refiner", "masked-residual,sff", "refiner"]

#: What of the codec must receive gradients, per plugin.
TRAINED_PARTS = {
    "masked-residual": ("residual_domain.mask", "residual_domain.analysis", "residual_domain.synthesis"),
    "cmfr": ("residual_domain.mask", "residual_domain.extract", "residual_domain.generator"),
    "sff": ("residual_domain.fusion.enc_scale", "residual_domain.fusion.dec_scale",
            "residual_domain.fusion.enc_proj", "residual_domain.fusion.dec_post"),
    "refiner": ("motion_refinement",),
}


@functools.cache
def codec(combo: str):
    return open_model(spec=ModelSpec(tuple(combo.split(","))), untrained=True).codec


def frames(n: int, seed: int = 1) -> list[torch.Tensor]:
    """A small moving picture: a smooth pattern shifted by a pixel per frame, plus noise."""
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(1, 3, 12, 16, generator=g), size=(H, W + n), mode="bilinear")
    return [(base[..., i:i + W] + 0.02 * torch.rand(1, 3, H, W, generator=g)).clamp(0, 1)
            for i in range(n)]


def flat(likelihoods) -> list[torch.Tensor]:
    if isinstance(likelihoods, dict):
        return [t for v in likelihoods.values() for t in flat(v)]
    return [likelihoods]


def grad_norm(model: torch.nn.Module, name: str) -> float:
    try:
        params = list(model.get_submodule(name).parameters())
    except AttributeError:
        params = [model.get_parameter(name)]
    assert params and all(p.grad is not None and torch.isfinite(p.grad).all() for p in params), name
    return sum(p.grad.abs().sum().item() for p in params)


@pytest.mark.parametrize("combo", COMBOS)
def test_training_forward(combo):
    model = codec(combo)
    with torch.no_grad():  # weights that start at zero (start_at_zero, the block transforms'
        for p in model.parameters():  # unread channels) as after a first step
            p.copy_(torch.where(p == 0, 0.01 * torch.randn_like(p), p))
    model.train()
    model.zero_grad()
    x, r = (pad(f) for f in frames(2))
    out = model(x, Reference(frame=r), 2)
    assert out["x_hat"].shape == x.shape and out["aux"]["flow_hat"].shape == (1, 2, 64, 64)
    likelihoods = flat(out["likelihoods"])
    assert likelihoods and all(torch.isfinite(t).all() and (t > 0).all() for t in likelihoods)
    bits = sum(-torch.log2(t).sum() for t in likelihoods)
    (bits / x[0, 0].numel() + 100 * F.mse_loss(out["x_hat"], x)).backward()
    for plugin in combo.split(","):
        for part in TRAINED_PARTS[plugin]:
            assert grad_norm(model, part) > 0, part
    model.zero_grad()
    model.eval()


@pytest.mark.parametrize("combo", COMBOS)
def test_coding_is_bit_exact(combo):
    model = codec(combo)
    model.eval()
    video = frames(3)
    coded = list(encode_frames(model, video, quality=3, intra_period=0))
    assert [r.kind for r, _ in coded] == ["I", "P", "P"]
    assert all(r.payload.latents["residual"] for r, _ in coded[1:])
    decoded = list(decode_records(model, [r for r, _ in coded], H, W, 3))
    assert all(a.shape == (1, 3, H, W) and torch.equal(a, b) for (_, a), b in zip(coded, decoded))


@pytest.mark.parametrize("combo, propagates", [("cmfr", True), ("masked-residual", False),
                                               ("cmfr,sff,refiner", True)])
@torch.inference_mode()
def test_feature_propagation(combo, propagates):
    model = codec(combo)
    model.eval()
    x0, x1, x2 = (pad(f) for f in frames(3))
    _, _, ref = model.intra_compress(x0, 1)
    payload, _, enc_ref = model.compress(x1, ref, 1)
    _, dec_ref = model.decompress(payload, ref, 1)
    if not propagates:
        assert enc_ref.feature is None and dec_ref.feature is None
        return
    channels, scale = model.config.channels, model.config.feature_scale
    assert enc_ref.feature.shape == (1, channels, 64 // scale, 64 // scale)
    assert torch.equal(enc_ref.feature, dec_ref.feature)
    # The next frame is coded against the propagated features: without them it decodes otherwise.
    payload, x_hat, _ = model.compress(x2, enc_ref, 1)
    assert torch.equal(model.decompress(payload, dec_ref, 1)[0], x_hat)
    pixels_only = Reference(frame=dec_ref.frame, flow=dec_ref.flow)
    assert not torch.equal(model.decompress(payload, pixels_only, 1)[0], x_hat)


@pytest.mark.parametrize("combo, own", [("cmfr", True), ("masked-residual", False)])
@torch.inference_mode()
def test_an_intra_reference_carries_the_residual_domains_features(combo, own):
    """cmfr's I-frame reference holds its own extractor's features (``intra_feature``), the
    same on both sides; a domain without them leaves the context to extract its own."""
    model = codec(combo).eval()
    x0 = pad(frames(1)[0])
    payload, x_hat, enc_ref = model.intra_compress(x0, 1)
    _, dec_ref = model.intra_decompress(payload, tuple(x0.shape[-2:]), 1)
    if not own:
        assert enc_ref.feature is None and dec_ref.feature is None
        return
    assert torch.equal(enc_ref.feature, model.residual_domain.extract(x_hat))
    assert torch.equal(enc_ref.feature, dec_ref.feature)
    assert model.intra_forward(x0, 1)["ref"].feature.shape == enc_ref.feature.shape


@torch.no_grad()
def test_training_codes_the_first_p_frame_against_the_pipelines_intra_reference():
    """The trainer's reference of an intra-coded frame is the pipeline's (with cmfr's own
    features of it): trained against the context's features instead, cmfr learned to
    subtract two unrelated feature spaces and its latent never carried the frame."""
    model = open_model(spec=ModelSpec(("dis-flow", "x265-intra", "cmfr")), untrained=True).codec
    model.train()
    x0, x1 = (pad(f) for f in frames(2))
    loss = StageLoss(model, STAGES["residual"], "mse")
    ref = loss._reference(x0, 1)
    expected = model.reference(model.intra_forward(x0, 1)["x_hat"].clamp(0, 1))
    assert ref.feature is not None and torch.equal(ref.feature, expected.feature)
    torch.manual_seed(0)
    _, stats = loss(torch.stack((x0, x1), dim=1), None, 1)
    torch.manual_seed(0)
    out = model(x1, expected, 1)
    assert stats["psnr"] == pytest.approx(-10 * float(torch.log10(F.mse_loss(x1, out["x_hat"].clamp(0, 1)))))


def fake_residual_domain(conditional: bool) -> ModuleType:
    """A residual-domain plugin that provides "conditional" or not."""
    plugin = ModuleType("fake_residual_domain")

    @hookimpl
    def zoo_residual_domain(config, entropy, fusion):
        return None

    @hookimpl
    def zoo_describe():
        return PluginInfo(summary="fake", provides=("conditional",) if conditional else ())

    plugin.zoo_residual_domain, plugin.zoo_describe = zoo_residual_domain, zoo_describe
    return plugin


def test_sff_requires_a_conditional_residual_domain():
    fresh = Zoo()
    fresh.add("sff", sff_plugin)
    fresh.add("fake-pixel", fake_residual_domain(conditional=False))
    fresh.add("fake-conditional", fake_residual_domain(conditional=True))
    assert fresh.get("sff").slots == ("fusion",)
    with pytest.raises(ZooError, match="'sff' requires 'conditional'"):
        fresh.select(["fake-pixel", "sff"])
    assert fresh.select(["fake-conditional", "sff"]).names == ["fake-conditional", "sff"]
    installed = Zoo.load()
    for names in (["sff"], ["cmfr", "sff"], ["masked-residual", "sff"]):
        installed.select(names)  # the default conditional coding, cmfr and masked-residual provide it


def test_refiner_starts_as_identity_and_learns():
    model = build_codec(ModelSpec(("refiner",)), lambda name: None)
    refiner = model.motion_refinement
    last = [m for m in refiner.net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert not last.weight.any() and not last.bias.any()
    g = torch.Generator().manual_seed(3)
    frame = torch.rand(1, 3, 64, 64, generator=g)
    ref = Reference(frame=frame)
    flow = 2 * torch.randn(1, 2, 64, 64, generator=g)
    assert torch.equal(refiner(flow, ref), flow)

    target = warp(frame, torch.zeros_like(flow))  # the true flow is zero

    def loss() -> torch.Tensor:
        return F.mse_loss(warp(frame, refiner(flow, ref)), target)

    before = loss()
    before.backward()
    assert last.weight.grad.abs().sum() > 0
    with torch.no_grad():
        for p in refiner.parameters():
            p -= 1e-3 * p.grad
    assert not torch.equal(refiner(flow, ref), flow)
    assert loss() < before
