"""The two fixes that let conditional coders learn on this budget (issue 14): a
variance-preserving initialisation of their transforms, and DCVC's distortion-only
``reconstruction`` stage before the rate enters."""

from __future__ import annotations

import importlib.util
from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import ROOT, SAMPLE, crop_clip
from zoo.core.build import ModelSpec, build_codec
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import read_clip
from zoo.nn.layers import (BLOCK, BlockAnalysis, BlockSynthesis, ContextualAnalysis,
                            feature_extractor, frame_generator, preserve_variance)
from zoo.slots import Reference
from zoo.train.trainer import STAGES, StageLoss


@pytest.fixture(scope="module")
def rgb_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two consecutive real frames, 64x64 (the reference, then the frame to code)."""
    clip = crop_clip(read_clip(SAMPLE, 2), 64, 64, 2)
    ref, x = (yuv420_to_rgb(*planes) for planes in clip.frames)
    return ref, x


def _latent_gain() -> Callable[[nn.Module, torch.Tensor, torch.Tensor], float]:
    """``scripts/latent_gain.py``'s measure: how much the latent moves per unit of the
    input that the prediction does not explain."""
    spec = importlib.util.spec_from_file_location("latent_gain", ROOT / "scripts" / "latent_gain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.latent_gain


@pytest.mark.parametrize("plugin", ["masked-residual", "cmfr", "conditional"])
def test_the_latent_of_an_untrained_conditional_coder_carries_its_input(plugin, rgb_pair):
    torch.manual_seed(0)
    codec = build_codec(ModelSpec(("dis-flow", "x265-intra", plugin))).eval()
    ref, x = rgb_pair
    # PyTorch's default initialisation gave 0.004 for masked-residual: far below one
    # quantisation step for any real residual, so the latent stayed empty.
    assert _latent_gain()(codec, ref, x) > 0.05


def test_preserve_variance_keeps_the_scale_through_a_deep_stack():
    torch.manual_seed(0)
    stack = nn.Sequential(*[nn.Conv2d(16, 16, 3, padding=1) for _ in range(12)])
    x = torch.randn(2, 16, 32, 32)
    with torch.no_grad():
        before = float(stack(x).std())
        after = float(preserve_variance(stack)(x).std())
    assert before < 0.1 and 0.3 < after < 3


def test_contextual_transforms_are_initialised_to_preserve_variance():
    torch.manual_seed(0)
    analysis = ContextualAnalysis(3, 16, 24, scale=2)
    convs = [m for m in analysis.modules() if isinstance(m, nn.Conv2d)]
    assert all(float(c.bias.detach().abs().max()) == 0 for c in convs)
    fan_in = convs[-1].weight[0].numel()
    assert float(convs[-1].weight.detach().std()) == pytest.approx(fan_in ** -0.5, rel=0.2)


def test_the_reconstruction_stage_has_no_rate_term(rgb_pair):
    torch.manual_seed(0)
    codec = build_codec(ModelSpec(("dis-flow", "x265-intra", "masked-residual"))).train()
    frames = torch.stack(rgb_pair, dim=1)
    stage = STAGES["reconstruction"]
    assert stage.trains == STAGES["residual"].trains
    loss, stats = StageLoss(codec, stage, "mse")(frames, None, 2)
    with torch.no_grad():
        ref = Reference(frame=codec.intra_forward(frames[:, 0], 2)["x_hat"].clamp(0, 1))
    # The same forward (DIS and the coders are deterministic): only the distortion.
    torch.manual_seed(0)
    out = codec(frames[:, 1], ref, 2)
    expected = codec.config.lambdas[2] * 255**2 * F.mse_loss(frames[:, 1], out["x_hat"])
    assert stats["bpp"] > 0 and float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-4)


@pytest.mark.parametrize("plugins", [("feature-residual",), ("masked-residual",)])
def test_an_untrained_coder_starts_from_the_prediction(plugins, rgb_pair):
    """The feature residual starts with its extractor and generator as the identity
    (``start_as_identity``), the masked residual with a zero residual (``start_at_zero``):
    the untrained decoded frame is the prediction, not a random decoder's 6-7 dB."""
    torch.manual_seed(0)
    codec = build_codec(ModelSpec(("block-motion", "dis-flow", "x265-intra", *plugins))).eval()
    ref, x = rgb_pair
    with torch.no_grad():
        out = codec(x, Reference(frame=ref), 4)
    error = F.mse_loss(out["x_hat"], x) / F.mse_loss(out["aux"]["prediction"], x)
    assert float(error) < 2.0  # within 3 dB of the prediction (masks start at 0.98); was 20 dB below


def test_start_as_identity_passes_the_frame_through():
    frame = torch.rand(1, 3, 32, 32)
    extract = feature_extractor(16, 2, identity=True)
    generate = frame_generator(16, 16, 2, identity=True)
    with torch.no_grad():
        assert torch.allclose(generate(extract(frame)), frame, atol=1e-6)


def test_the_block_transforms_start_as_an_invertible_pair():
    x = torch.rand(1, 3, 32, 32)
    complete = 3 * BLOCK**2  # every colour frequency: exactly invertible
    with torch.no_grad():
        assert torch.allclose(BlockSynthesis(3, 1, complete)(BlockAnalysis(3, 1, complete)(x)), x,
                              atol=1e-5)
        # features at 1/2 whose first 12 channels are the pixels: those come back, the rest 0
        features = torch.cat((F.pixel_unshuffle(x, 2), torch.randn(1, 20, 16, 16)), dim=1)
        out = BlockSynthesis(32, 2, complete)(BlockAnalysis(32, 2, complete)(features))
    assert torch.allclose(out[:, :12], features[:, :12], atol=1e-5) and not out[:, 12:].any()


@pytest.mark.parametrize("plugin", ["pixel-residual", "feature-residual", "masked-residual",
                                    "cmfr", "conditional"])
def test_an_untrained_lite_coder_decodes_its_unquantised_latent_nearly_losslessly(plugin, rgb_pair):
    """The v5 lite coders, trained, reached +0.5 to +2.2 dB over their prediction this
    way (docs/training.md, v6); the block transforms start complete, their fusion cancelled."""
    torch.manual_seed(0)
    codec = build_codec(ModelSpec(("block-motion", "dis-flow", "x265-intra", plugin))).eval()
    ref, x = rgb_pair
    rd = codec.residual_domain
    with torch.no_grad():
        ctx = codec.temporal_context(codec.reference(ref), torch.zeros(1, 2, 64, 64))
        prepared = rd.prepare(ctx)
        x_hat, _ = rd.synthesise(rd.analyse(x, ctx, prepared), ctx, prepared)
    assert float(10 * torch.log10(1 / F.mse_loss(x_hat, x))) > 40  # 4:2:0 content: nothing lost
