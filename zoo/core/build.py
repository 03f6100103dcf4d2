"""Assemble a codec from the active plugins' slot modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from zoo.errors import ZooError
from zoo.nn.gains import GainedEntropyModel
from .config import LAMBDAS, Config
from .guard import guard_coders
from .manager import Selection, Zoo
from .pipeline import PFrameCodec

#: Untrained weights come from this seed, so a decoder rebuilds the same ones.
INIT_SEED = 0


def _no_members(name: str) -> nn.Module:
    raise ZooError(f"this codec cannot build member model {name!r} here")


@dataclass(frozen=True)
class ModelSpec:
    """What a codec is made of: plugins, preset, plugin options and its quality ladder
    (``lambdas``, the rate-distortion trade-off per quality index; empty: the zoo's
    default, :data:`zoo.core.config.LAMBDAS`)."""

    plugins: tuple[str, ...] = ()
    preset: str = "lite"
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    lambdas: tuple[float, ...] = ()

    def __post_init__(self) -> None:  # the default ladder, given, is the default: one spelling
        ladder = tuple(self.lambdas)
        object.__setattr__(self, "lambdas", () if ladder == LAMBDAS else ladder)

    def to_dict(self) -> dict[str, Any]:
        return {"plugins": list(self.plugins), "preset": self.preset, "options": self.options,
                **({"lambdas": list(self.lambdas)} if self.lambdas else {})}


def build_codec(spec: ModelSpec, build_model: Callable[[str], nn.Module] | None = None,
                zoo: Zoo | None = None) -> nn.Module:
    """A fresh codec for ``spec``; ``build_model`` serves composed models' members."""
    build_model = build_model or _no_members
    selection = (zoo or Zoo.load()).select(spec.plugins)
    config = Config.from_preset(spec.preset, spec.options, spec.lambdas)
    with torch.random.fork_rng():
        torch.manual_seed(INIT_SEED)
        return guard_coders(_assemble(selection, config, build_model))


def _assemble(selection: Selection, config: Config, build_model: Callable[[str], nn.Module]) -> nn.Module:
    composed = selection.build("compose", config=config, build_model=build_model)
    if composed is not None:
        return composed

    def entropy(channels: int, latent: str, context_channels: int = 0) -> nn.Module:
        model = selection.build("entropy_model", config=config, channels=channels, latent=latent,
                                context_channels=context_channels)
        return GainedEntropyModel(model, channels, config.lambdas)

    def fusion(channels: int, levels: int) -> nn.Module:
        return selection.build("fusion", config=config, channels=channels, levels=levels)

    return PFrameCodec(
        config,
        motion_estimation=selection.build("motion_estimation", config=config),
        motion_coding=selection.build("motion_coding", config=config, entropy=entropy),
        motion_refinement=selection.build("motion_refinement", config=config),
        temporal_context=selection.build("temporal_context", config=config),
        residual_domain=selection.build("residual_domain", config=config, entropy=entropy,
                                        fusion=fusion),
        post_filter=selection.build("post_filter", config=config),
        intra_coding=selection.build("intra_coding", config=config, entropy=entropy),
    )
