"""Model ensembles: each P-frame is coded by every member, the best one is kept.

Feng et al., "Learned Video Compression with Feature-level Residuals", CVPRW
2020 (CLIC P-frame track), Table 1: model #5 ensembles #1 and #4, #6
ensembles #2 and #4. Stated: an ensemble of whole models chosen per frame.
Inferred: the choice is made by the encoder and signalled per frame (the
member's index, one side integer in the frame record, left out for the first
member: its frames cost no mark), by the lowest
rate-distortion cost ``bits + lambda * 255^2 * MSE * pixels`` (criterion
``rd``, default; the members' lambda, who must share one quality ladder), the
cost in the MS-SSIM members' training loss ``bits + lambda_ms * (1 - MS-SSIM) *
pixels`` (``rd-ms-ssim``; ``lambda_ms`` as ``zoo train --distortion ms-ssim``
weighs it; bits: the member's latent strings and its mark) or the best MS-SSIM whatever its bits (``ms-ssim``), MS-SSIM as
``zoo eval`` measures it (8-bit levels, :func:`zoo.core.metrics.ms_ssim_rgb`); I-frames use the
first member's intra codec. Members keep no features across a switch: after
another member's frame (or an I-frame) a member sees the decoded frame and flow
with its own features of that frame (as after an I-frame), never another
member's; after its own frame, the reference it made, as it would alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import torch
from compressai.models import CompressionModel
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.manager import SLOTS
from zoo.core.metrics import RD_CRITERIA, ms_ssim_rgb, rd_cost
from zoo.core.plugin_info import Option, PluginInfo
from zoo.errors import ZooError
from zoo.slots import Payload, Reference

CRITERIA = (*RD_CRITERIA, "ms-ssim")


def mark_bits(index: int) -> int:
    """Bits of member ``index``'s mark in a frame record: none for the first member,
    else its zigzag varint (:mod:`zoo.io.bitstream`)."""
    return 0 if index == 0 else 8 * (((2 * index).bit_length() + 6) // 7)


@dataclass
class _MemberReference(Reference):
    """A reference as the member that coded its frame made it."""

    member: int = -1


def _own(ref: Reference, index: int) -> _MemberReference:
    return _MemberReference(**{**vars(ref), "member": index})


def _shared(member: nn.Module, index: int, ref: Reference) -> Reference:
    """What member ``index`` codes from: the reference it made itself, or after another
    member's frame (or an I-frame) the decoded frame and flow with the member's own
    features of that frame (``reference``), not another member's."""
    if getattr(ref, "member", None) == index:
        return Reference(**{k: v for k, v in vars(ref).items() if k != "member"})
    return replace(member.reference(ref.frame), flow=ref.flow)


class Ensemble(CompressionModel):
    def __init__(self, members: list[nn.Module], criterion: str, lambdas: tuple[float, ...]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.criterion = criterion
        self.lambdas = lambdas

    @property
    def qualities(self) -> int:
        return min(m.qualities for m in self.members)

    def _cost(self, x: Tensor, x_hat: Tensor, bits: float, q: int) -> float:
        if self.criterion == "ms-ssim":
            return -ms_ssim_rgb(x, x_hat)  # the MS-SSIM the zoo reports
        return rd_cost(x, x_hat, bits, self.lambdas, q, self.criterion)

    def forward(self, x: Tensor, ref: Reference, q: int) -> dict[str, Any]:
        """The member output of lowest cost (members are trained on their own)."""
        outs = [m(x, _shared(m, i, ref), q) for i, m in enumerate(self.members)]
        bits = [sum(float(-torch.log2(l).sum()) for d in o["likelihoods"].values() for l in d.values())
                for o in outs]
        costs = [self._cost(x, o["x_hat"], b, q) for o, b in zip(outs, bits)]
        best = costs.index(min(costs))
        return {**outs[best], "ref": _own(outs[best]["ref"], best)}

    def compress(self, x: Tensor, ref: Reference, q: int, referenced: bool = True,
                 visible: tuple[int, int] | None = None) -> tuple[Payload, Tensor, Reference]:
        best = None
        for index, member in enumerate(self.members):
            payload, x_hat, next_ref = member.compress(x, _shared(member, index, ref), q, referenced,
                                                       visible)
            bits = 8 * sum(len(s) for strings in payload.latents.values() for s in strings)
            cost = self._cost(x, x_hat, bits + mark_bits(index), q)
            if best is None or cost < best[0]:
                mark = {"member": index} if index else {}
                best = (cost, Payload(payload.latents, {**payload.side, **mark}),
                        x_hat, _own(next_ref, index))
        return best[1], best[2], best[3]

    def decompress(self, payload: Payload, ref: Reference, q: int) -> tuple[Tensor, Reference]:
        index = payload.side.get("member", 0)
        if not 0 <= index < len(self.members):
            raise ValueError(f"ensemble member {index} does not exist")
        side = {k: v for k, v in payload.side.items() if k != "member"}
        member = self.members[index]
        x_hat, next_ref = member.decompress(Payload(payload.latents, side), _shared(member, index, ref), q)
        return x_hat, _own(next_ref, index)

    def reference(self, frame: Tensor) -> Reference:
        """A given frame's reference: each member derives its own features of it."""
        return Reference(frame=frame)

    def intra_forward(self, x: Tensor, q: int) -> dict[str, Any]:
        return self.members[0].intra_forward(x, q)

    def intra_compress(self, x: Tensor, q: int, visible: tuple[int, int] | None = None):
        return self.members[0].intra_compress(x, q, visible)

    def intra_decompress(self, payload: Payload, size: tuple[int, int], q: int,
                         visible: tuple[int, int] | None = None):
        return self.members[0].intra_decompress(payload, size, q, visible)


@hookimpl
def zoo_compose(config: Config, build_model: Callable[[str], nn.Module]) -> nn.Module:
    members = config.option("ensemble", "members", [])
    criterion = config.option("ensemble", "criterion", "rd")
    if isinstance(members, str):
        members = [m for m in members.split(",") if m]
    if len(members) < 2:
        raise ZooError("ensemble needs at least two members: --option ensemble.members=A,B")
    if criterion not in CRITERIA:
        raise ZooError(f"ensemble criterion {criterion!r} is not one of {', '.join(CRITERIA)}")
    built = [build_model(name) for name in members]
    ladders = {m.config.lambdas for m in built}
    if len(ladders) > 1:  # one quality index must mean one trade-off in every member
        raise ZooError(f"ensemble members {', '.join(members)} have different quality ladders")
    return Ensemble(built, criterion, ladders.pop())


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="ensemble of registry models, best member per P-frame",
                      paper="Feng et al., CVPRW 2020",
                      excludes=tuple(s for s in SLOTS if s != "compose"),
                      options=(Option("members", list, (), "the registry models it chooses from "
                                      "(at least two)"),
                               Option("criterion", str, "rd", "how the best member is chosen: "
                                      "rate-distortion cost (MSE or MS-SSIM) or MS-SSIM alone",
                                      choices=CRITERIA)))
