"""Feng et al.'s plugins: pixel-residual, feature-residual, gmm and grdn; DVC's dvc-mc."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from zoo.core.build import ModelSpec
from zoo.core.config import Config
from zoo.core.models import open_model
from zoo.core.sequence import decode_records, encode_frames, pad
from zoo.errors import ZooError
from zoo.nn.gains import GainedEntropyModel
from zoo.plugins.gmm import MAX_ABS, GaussianMixtureHyperprior
from zoo.plugins.grdn import zoo_post_filter
from zoo.nn.layers import warp
from zoo.slots import Reference

H, W, Q = 40, 70, 3


def frames(n: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    base = torch.rand(1, 3, H, W, generator=g)
    return [(base + 0.05 * i * torch.rand(1, 3, H, W, generator=g)).clamp(0, 1) for i in range(n)]


def open_codec(plugins: tuple[str, ...], **options):
    codec = open_model(spec=ModelSpec(plugins, options=options), untrained=True).codec
    with torch.no_grad():  # untrained latents all round to 0: scale them up to code symbols
        for name, m in codec.named_modules():  # (the residual's block transforms code them)
            if isinstance(m, GainedEntropyModel) and not name.startswith("residual_domain"):
                m.gain.mul_(30.0)
    return codec


def mixtures(module: torch.nn.Module) -> list[GaussianMixtureHyperprior]:
    return [m for m in module.modules() if isinstance(m, GaussianMixtureHyperprior)]


def has_grad(module: torch.nn.Module) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


COMBOS = [("pixel-residual",), ("pixel-residual", "gmm"), ("feature-residual", "gmm"),
          ("feature-residual", "gmm", "grdn"), ("pixel-residual", "gmm", "grdn"), ("gmm",)]


@pytest.mark.parametrize("plugins", COMBOS, ids=",".join)
def test_codes_bit_exactly_and_trains(plugins):
    codec = open_codec(plugins)
    xs = frames()
    coded = list(encode_frames(codec, xs, quality=Q, intra_period=0))
    decoded = list(decode_records(codec, [r for r, _ in coded], H, W, Q))
    assert all(torch.equal(a, b) for (_, a), b in zip(coded, decoded))
    if "gmm" in plugins:  # the mixture coder really coded symbols: [side, y, z]
        residual = coded[1][0].payload.latents["residual"]
        assert len(residual) == 3 and len(residual[1]) > 0

    codec.train()
    out = codec(pad(xs[1]), Reference(frame=pad(xs[0])), 1)
    assert out["x_hat"].shape == (1, 3, 64, 128)
    likelihoods = [v for group in out["likelihoods"].values() for v in group.values()]
    assert all(torch.isfinite(v).all() and (v > 0).all() and (v <= 1 + 1e-5).all()
               for v in likelihoods)
    rate = sum(-torch.log2(v).sum() for v in likelihoods)
    (rate + 1e3 * (out["x_hat"] - pad(xs[1])).pow(2).mean()).backward()
    residual_domain = codec.residual_domain
    if "pixel-residual" in plugins:
        assert has_grad(residual_domain.g_a) and has_grad(residual_domain.g_s)
    if "feature-residual" in plugins:
        assert all(has_grad(m) for m in (residual_domain.extract, residual_domain.analysis,
                                         residual_domain.synthesis, residual_domain.generator))
    if "gmm" in plugins:
        # the mixture codes the residual alone: the motion keeps the default hyperprior
        assert not mixtures(codec.motion_coding) and not mixtures(codec.intra_coding)
        coded_by_p_frames = mixtures(codec.residual_domain)
        assert len(coded_by_p_frames) == 1
        assert all(has_grad(m.hyper.h_a) and has_grad(m.hyper.h_s) for m in coded_by_p_frames)
    if "grdn" in plugins:
        assert codec.post_filter.tail[0].weight.grad.abs().sum() > 0


def constant_mixture(k: int, m: int):
    """A gmm whose hyper-synthesis outputs a fixed (scale, mean, logit) per component and
    channel; returns it with the scales, means and weights, each (K, M)."""
    model = GaussianMixtureHyperprior(m, 8, k).eval()
    g = torch.Generator().manual_seed(2)
    scales = 0.3 + 3 * torch.rand(k, m, generator=g)
    means = 4 * torch.randn(k, m, generator=g)
    logits = torch.randn(k, m, generator=g)
    last = model.hyper.h_s[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.cat((scales, means, logits)).flatten())
    return model, scales, means, logits.softmax(dim=0)


def mixture_formula(y, scales, means, weights) -> torch.Tensor:
    """Σ_k π_k (Φ((y + 1/2 - μ_k)/σ_k) - Φ((y - 1/2 - μ_k)/σ_k)), per element, in float64."""
    y = y.double()[None]
    n = Normal(means.double()[:, None, :, None, None], scales.double()[:, None, :, None, None])
    return (weights.double()[:, None, :, None, None] * (n.cdf(y + 0.5) - n.cdf(y - 0.5))).sum(0)


def test_mixture_likelihood_is_the_formula():
    k, m = 3, 4
    model, scales, means, weights = constant_mixture(k, m)
    y = 6 * torch.randn(1, m, 8, 8, generator=torch.Generator().manual_seed(3))
    out = model(y)
    assert torch.equal(out["y_hat"], torch.round(y))
    expected = mixture_formula(torch.round(y), scales, means, weights)
    torch.testing.assert_close(out["likelihoods"]["y"].double(), expected.clamp_min(1e-9),
                               rtol=1e-4, atol=1e-6)
    # and CompressAI's _likelihood on a hand-made case, noise-free
    flat = lambda t: t.reshape(1, k * m, 1, 1).expand(1, k * m, 8, 8)  # noqa: E731
    direct = model.mixture._likelihood(y, flat(scales), flat(means), flat(weights))
    torch.testing.assert_close(direct.double(), mixture_formula(y, scales, means, weights),
                               rtol=1e-4, atol=1e-6)


def test_mixture_round_trip_clips_and_codes_empty_latents():
    model = GaussianMixtureHyperprior(8, 8, 3).eval()
    model.hyper.entropy_bottleneck.update(force=True)
    y = 5 * torch.randn(1, 8, 4, 8, generator=torch.Generator().manual_seed(4))
    y[:, 2] = 0.3  # a channel that rounds to zero: left out by the bitmap
    y[0, 5, 1, 1] = 1e4  # clipped to the coder's range
    strings, y_hat = model.compress(y)
    assert y_hat[0, 5, 1, 1] == MAX_ABS - 1 and torch.equal(y_hat[:, 2], torch.zeros(1, 4, 8))
    assert strings[0] == bytes([0b11011111])  # channel 2 left out
    assert torch.equal(model.decompress(strings, (4, 8)), y_hat)
    strings, y_hat = model.compress(torch.full((1, 8, 4, 8), -0.2))
    assert strings[1] == b""
    assert torch.equal(model.decompress(strings, (4, 8)), torch.zeros(1, 8, 4, 8))


def test_mixture_rejects_a_corrupt_side_header():
    model = GaussianMixtureHyperprior(12, 8, 3).eval()
    model.hyper.entropy_bottleneck.update(force=True)
    (side, y, z), _ = model.compress(3 * torch.randn(1, 12, 4, 8))
    model.decompress([side, y, z], (4, 8))
    for bad in ([side[:-1], y, z], [side + b"\0", y, z],
                [side[:1] + b"\xff", y, z],  # padding bits past channel 12
                [b"\0\0", y, z], [side, b"", z], [side, y]):
        with pytest.raises(ValueError):
            model.decompress(bad, (4, 8))


def test_codec_reports_a_corrupt_gmm_frame():
    codec = open_codec(("pixel-residual", "gmm"))
    records = [r for r, _ in encode_frames(codec, frames(2), quality=Q, intra_period=0)]
    records[1].payload.latents["residual"][0] += b"\0"
    with pytest.raises(ZooError, match="frame 1 is corrupt"):
        list(decode_records(codec, records, H, W, Q))


def test_grdn_sizes_and_identity_when_untrained():
    lite = zoo_post_filter(Config.from_preset("lite"))
    full = zoo_post_filter(Config.from_preset("full"))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(lite) < 50_000
    assert abs(count(full) - 22e6) < 0.15 * 22e6
    assert len(full.groups) == 4 and len(full.groups[0].blocks) == 4
    assert len(full.groups[0].blocks[0].convs) == 8 and not full.in_loop
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(lite(x, 0), x) and torch.equal(full(x[..., :32, :32], 3), x[..., :32, :32])


@pytest.mark.parametrize("in_loop", [False, True])
def test_grdn_in_loop_option_picks_the_reference(in_loop):
    codec = open_codec(("pixel-residual", "grdn"), grdn={"in_loop": in_loop})
    assert codec.post_filter.in_loop is in_loop
    with torch.no_grad():
        torch.nn.init.normal_(codec.post_filter.tail[0].weight, std=0.1)
        xs = frames(2)
        out = codec(pad(xs[1]), Reference(frame=pad(xs[0])), Q)
    filtered, unfiltered = out["x_hat"], out["aux"]["x_rec"].clamp(0, 1)
    assert not torch.equal(filtered, unfiltered)
    assert torch.equal(out["ref"].frame, filtered if in_loop else unfiltered)


@pytest.mark.parametrize("residual", ["pixel-residual", "feature-residual"])
def test_dvc_mc_starts_from_the_warp_and_trains(residual):
    codec = open_codec(("dvc-mc", residual))
    x0, x1 = (pad(f) for f in frames(2))
    flow = torch.randn(1, 2, *x0.shape[-2:])
    ref = Reference(frame=x0)
    codec.train()
    ctx = codec.temporal_context(ref, flow)
    assert torch.equal(ctx.prediction, warp(x0, flow))  # untrained: DVC's bilinear warp
    out = codec(x1, ref, Q)
    (out["x_hat"] - x1).square().mean().backward()
    mc = codec.temporal_context
    assert has_grad(mc.tail)  # the zero last convolution first; through it, the rest
    with pytest.raises(ZooError, match="features"):
        ctx.features


def test_dvc_mc_needs_a_residual_domain_that_reads_the_prediction_alone():
    for plugins in (("dvc-mc",), ("dvc-mc", "cmfr"), ("dvc-mc", "masked-residual")):
        with pytest.raises(ZooError, match="requires 'prediction-only'"):
            open_model(spec=ModelSpec(plugins), untrained=True)


def test_shared_mixture_tables_code_the_bytes_of_a_table_per_element():
    """Elements with equal CDFs share one rANS table: the stream is the one a table
    per element gives (docs/plugins/gmm.md), and there are fewer tables."""
    from compressai.ans import BufferedRansEncoder

    from zoo.core.guard import trimmed
    model = GaussianMixtureHyperprior(8, 8, 3).eval()
    model.hyper.entropy_bottleneck.update(force=True)
    y = torch.randn(1, 8, 16, 16, generator=torch.Generator().manual_seed(5))
    strings, y_hat = model.compress(y)
    nonzero = y_hat.abs().amax(dim=(0, 2, 3)) > 0
    symbols = y_hat[:, nonzero].reshape(-1).int()
    params = model.hyper.decompress([[strings[2]]], (4, 4))["params"]
    encoder, shared = BufferedRansEncoder(), 0
    for rows, index, cdfs, offsets in model._chunks(nonzero, *model._mixture(params, ())):
        shared += len(rows) - len(cdfs)
        encoder.encode_with_indexes(symbols[rows].tolist(), list(range(len(index))),
                                    [cdfs[i] for i in index], [len(cdfs[0])] * len(index),
                                    [offsets[i] for i in index])
    assert trimmed(encoder.flush()) == strings[1] and shared > 0


@pytest.mark.parametrize("residual", ["pixel-residual", "feature-residual"])
def test_a_wider_residual_latent_codes_bit_exactly(residual):
    """``latent=192``: every row of the block basis, a transform that starts complete
    (96 rows lose the colour differences' upper frequencies), coded by a 192-channel
    mixture; other widths are refused."""
    codec = open_codec((residual, "gmm"), **{residual: {"latent": 192}})
    assert [m.channels for m in mixtures(codec.residual_domain)] == [192]
    rd, r = codec.residual_domain, torch.rand(1, 3, 64, 64) - 0.5
    g_a, g_s = (rd.g_a, rd.g_s) if residual == "pixel-residual" else (rd.analysis, rd.synthesis)
    pixels = 3 * g_a.stride**2  # features' first channels: the pixel-unshuffled frame
    channels = g_a.linear.in_channels // (8 // g_a.stride) ** 2
    r = F.pad(F.pixel_unshuffle(r, g_a.stride), (0, 0, 0, 0, 0, channels - pixels))
    with torch.no_grad():
        assert torch.allclose(g_s(g_a(r))[:, :pixels], r[:, :pixels], atol=1e-5)
    xs = frames()
    coded = list(encode_frames(codec, xs, quality=Q, intra_period=0))
    decoded = list(decode_records(codec, [r for r, _ in coded], H, W, Q))
    assert all(torch.equal(a, b) for (_, a), b in zip(coded, decoded))
    with pytest.raises(ZooError, match="latent"):
        open_codec((residual,), **{residual: {"latent": 100}})
