"""Auxiliary parameters: those a module fits with a loss of its own, not the rate-distortion one.

A module declares them: ``aux_parameters()`` lists its own (not its children's)
and ``aux_loss()`` is their loss. CompressAI's ``EntropyBottleneck`` (its
``quantiles``, fitted by its ``loss()``) is declared here in the same terms,
as a plugin cannot add methods to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from compressai.entropy_models import EntropyBottleneck
from torch import Tensor, nn


def _declared(module: nn.Module) -> tuple[list[nn.Parameter], Callable[[], Tensor]] | None:
    if isinstance(module, EntropyBottleneck):
        return [module.quantiles], module.loss
    if callable(getattr(module, "aux_parameters", None)):
        return list(module.aux_parameters()), module.aux_loss
    return None


@dataclass
class Auxiliary:
    """The auxiliary parameters declared inside some modules, and their loss."""

    parameters: list[nn.Parameter] = field(default_factory=list)
    losses: list[Callable[[], Tensor]] = field(default_factory=list)

    def loss(self) -> Tensor:
        return sum(f() for f in self.losses)

    def excluded(self, params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
        """``params`` without the auxiliary ones, in their order."""
        aux = {id(p) for p in self.parameters}
        return [p for p in params if id(p) not in aux]


def densities(modules: Iterable[nn.Module]) -> list[nn.Parameter]:
    """The factorized densities' own parameters (an ``EntropyBottleneck``'s matrices,
    biases and factors, not its quantiles) inside ``modules``. They start wide (CompressAI's
    ``init_scale=10``) and Adam moves each by about the learning rate per step, so at the
    transforms' rate a few thousand steps leave the hyper-latent costing ~4x its entropy
    (issue 14's rate floor); the trainer gives them a larger one."""
    return [p for module in modules for sub in module.modules()
            if isinstance(sub, EntropyBottleneck)
            for name, p in sub.named_parameters() if name != "quantiles"]


def auxiliary(modules: Iterable[nn.Module]) -> Auxiliary:
    """What the submodules of ``modules`` declare, in module order."""
    found = Auxiliary()
    for module in modules:
        for sub in module.modules():
            declared = _declared(sub)
            if declared:
                found.parameters += declared[0]
                found.losses.append(declared[1])
    return found
