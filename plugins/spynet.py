"""Default motion estimation: a SpyNet-style coarse-to-fine flow pyramid.

Ranjan & Black, "Optical Flow Estimation using a Spatial Pyramid Network",
CVPR 2017; the motion estimator of DVC (Lu et al., CVPR 2019) and DCVC.
At each level a small CNN predicts a flow update from the current frame, the
reference warped by the upsampled coarser flow, and that flow; and, unlike
SpyNet, from a local cost volume between the two (the negated mean absolute
difference at every shift within ±``RADIUS`` pixels, a correlation layer in
the manner of PWC-Net, Sun et al., CVPR 2018). Without it the pyramid trained
from scratch stayed at the no-motion end-point error for thousands of steps
(docs/training.md); with it, it learns within a few hundred.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.nn.layers import warp
from zoo.slots import MotionEstimation


RADIUS = 2  #: the cost volume's search range at each level, in that level's pixels
COST_SCALE = 10.0  #: brings mean absolute differences of [0, 1] pictures to the inputs' range


def cost_volume(x: Tensor, ref: Tensor, radius: int = RADIUS) -> Tensor:
    """(B, (2r+1)², H, W): minus the channel-mean |x - ref shifted by (dy, dx)|."""
    h, w = x.shape[-2:]
    padded = F.pad(ref, (radius,) * 4, mode="replicate")
    size = 2 * radius + 1
    return torch.cat([-(x - padded[..., dy:dy + h, dx:dx + w]).abs().mean(1, keepdim=True)
                      for dy in range(size) for dx in range(size)], dim=1) * COST_SCALE


def _basic_module(widths: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    chans = (8 + (2 * RADIUS + 1) ** 2, *widths)
    for cin, cout in zip(chans, chans[1:]):
        layers += [nn.Conv2d(cin, cout, 7, padding=3), nn.ReLU(inplace=True)]
    layers.append(nn.Conv2d(chans[-1], 2, 7, padding=3))
    return nn.Sequential(*layers)


class SpyNet(MotionEstimation):
    """``forward(x, ref) -> flow`` with ``warp(ref, flow) ≈ x``."""

    def __init__(self, levels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.levels = nn.ModuleList(_basic_module(widths) for _ in range(levels))

    def forward(self, x: Tensor, ref: Tensor) -> Tensor:
        xs, rs = [x], [ref]
        for _ in range(len(self.levels) - 1):
            xs.insert(0, F.avg_pool2d(xs[0], 2))
            rs.insert(0, F.avg_pool2d(rs[0], 2))
        flow = x.new_zeros(x.shape[0], 2, *xs[0].shape[-2:])
        for level, (xi, ri) in enumerate(zip(xs, rs)):
            if level:
                flow = 2.0 * F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=False)
            warped = warp(ri, flow)
            flow = flow + self.levels[level](torch.cat((xi, warped, flow, cost_volume(xi, warped)), dim=1))
        return flow


@hookimpl(trylast=True)
def zoo_motion_estimation(config: Config) -> nn.Module:
    widths = config.pick(lite=(16, 32, 16, 8), full=(32, 64, 32, 16))
    return SpyNet(config.flow_levels, widths)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="SpyNet-style flow pyramid (default motion estimation)",
                      paper="Ranjan & Black, CVPR 2017", default=True)
