"""Default motion estimation: a SpyNet-style coarse-to-fine flow pyramid.

Ranjan & Black, "Optical Flow Estimation using a Spatial Pyramid Network",
CVPR 2017; the motion estimator of DVC (Lu et al., CVPR 2019) and DCVC.
At each level a small CNN predicts a flow update from the current frame, the
reference warped by the upsampled coarser flow, and that flow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.config import Config
from zoo.hookspecs import hookimpl
from zoo.layers import warp
from zoo.plugin_info import PluginInfo
from zoo.slots import MotionEstimation


def _basic_module(widths: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    chans = (8, *widths)
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
            flow = flow + self.levels[level](torch.cat((xi, warp(ri, flow), flow), dim=1))
        return flow


@hookimpl(trylast=True)
def zoo_motion_estimation(config: Config) -> nn.Module:
    widths = config.pick(lite=(16, 32, 16, 8), full=(32, 64, 32, 16))
    return SpyNet(config.flow_levels, widths)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="SpyNet-style flow pyramid (default motion estimation)",
                      paper="Ranjan & Black, CVPR 2017", default=True)
