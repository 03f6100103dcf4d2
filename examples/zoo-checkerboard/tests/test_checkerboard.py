"""zoo-checkerboard's tests: the zoo's conformance checks, then the technique itself."""

from __future__ import annotations

import functools

import pytest
import torch

import zoo_checkerboard
from zoo import testing
from zoo.core.manager import Zoo

SIZE = (8, 12)  # latent height and width: multiples of 4


@functools.cache
def zoo() -> Zoo:
    """The built-in plugins plus this one, as checked out (not an installed copy)."""
    return testing.plugin_zoo(zoo_checkerboard, "checkerboard")


def test_registers_and_describes_itself():
    plugin = testing.check_registration(zoo(), "checkerboard")
    assert plugin.slots == ("entropy_model",) and plugin.info.api == 1
    assert "cmfr2025-checkerboard" in testing.registered_models(zoo(), "checkerboard")


def test_honours_the_entropy_model_contract():
    assert testing.check_slots(zoo(), "checkerboard") == ["entropy_model"]


@pytest.mark.parametrize("mix", ["cmfr,sff,refiner", "masked-residual,grdn"])
def test_codes_a_clip_bit_exactly_mixed_with_builtins(mix):
    report = testing.check_codec(zoo(), ["checkerboard", *mix.split(",")], frames=2)
    assert report["frames"] == 2 and report["bytes"] > 0


def test_passes_every_conformance_check():
    """Registration, contract, a codec of its own, and its registered model opens."""
    testing.check_plugin(zoo(), "checkerboard", frames=2)


def model(channels: int = 16) -> zoo_checkerboard.CheckerboardHyperprior:
    torch.manual_seed(0)
    return zoo_checkerboard.CheckerboardHyperprior(channels, hyper_channels=16)


def coded(m: zoo_checkerboard.CheckerboardHyperprior, seed: int):
    y = torch.randn(1, m.channels, *SIZE, generator=torch.Generator().manual_seed(seed)) * 3
    with torch.inference_mode():
        return y, *m.compress(y)


def test_anchors_decode_without_the_non_anchors():
    """Pass 1 needs only the hyperprior: anchors decode whatever the second string holds."""
    m = model()
    m.codec.y.context_prediction.weight.data.normal_(0, 0.5)  # a context that matters
    testing.prepare_coding(m)
    _, (anchors, non_anchors, z), y_hat = coded(m, 1)
    _, (_, other_non_anchors, _), _ = coded(m, 2)
    with torch.inference_mode():
        mixed = m.decompress([anchors, other_non_anchors, z], SIZE)
    anchor = torch.zeros(SIZE, dtype=torch.bool)
    anchor[0::2, 0::2] = anchor[1::2, 1::2] = True  # even parity: (i + j) even
    assert torch.equal(mixed[..., anchor], y_hat[..., anchor])
    assert not torch.equal(mixed[..., ~anchor], y_hat[..., ~anchor])


def test_the_context_sees_only_anchors():
    """The 5x5 mask keeps the four-neighbour ring of anchors, never the centre."""
    mask = model().codec.y.context_prediction.mask[0, 0]
    assert mask[2, 2] == 0 and mask[1, 2] == mask[2, 1] == mask[2, 3] == mask[3, 2] == 1
    assert mask[1, 1] == mask[2, 4] == 0  # same parity as the centre: not yet decoded


def test_training_reaches_the_context_model():
    m = model().train()
    y = torch.randn(1, m.channels, *SIZE, generator=torch.Generator().manual_seed(0)) * 3
    out = m(y)
    assert set(out["likelihoods"]) == {"y", "z"}
    sum(-torch.log2(t).sum() for t in out["likelihoods"].values()).backward()
    grad = m.codec.y.context_prediction.weight.grad
    assert grad is not None and grad.abs().sum() > 0
