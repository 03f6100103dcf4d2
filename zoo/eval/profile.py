"""Size and cost of a codec, slot by slot: parameters and MACs per pixel."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from zoo.core.sequence import pad
from zoo.slots import Reference

#: The slot modules of a PFrameCodec, in dataflow order.
SLOT_MODULES = ("motion_estimation", "motion_coding", "motion_refinement", "temporal_context",
                "residual_domain", "post_filter", "intra_coding")


@torch.no_grad()
def slot_costs(codec: nn.Module, height: int = 256, width: int = 448) -> dict[str, dict[str, float]]:
    """Parameters and multiply-accumulates per pixel of each slot, for one P-frame
    (and one I-frame for ``intra_coding``) at ``height`` x ``width``."""
    x = pad(torch.rand(1, 3, height, width))
    ref = Reference(frame=pad(torch.rand(1, 3, height, width)))
    codec.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        codec(x, ref, 0)
        codec.intra_forward(x, 0)
    flops = counter.get_flop_counts()
    pixels = x.shape[-2] * x.shape[-1]
    costs = {}
    for slot in SLOT_MODULES:
        module = getattr(codec, slot)
        key = next((k for k in flops if k.split(".")[-1] == slot), None)
        macs = sum(flops[key].values()) / 2 if key else 0.0
        costs[slot] = {"params": sum(p.numel() for p in module.parameters()),
                       "macs_per_pixel": macs / pixels}
    return costs
