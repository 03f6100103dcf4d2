"""Motion refinement: the Motion Refiner of CMFR.

Shin, Kim, Choi & Lee, "Masked Feature Residual Coding for Neural Video
Compression", Sensors 2025 (doi:10.3390/s25144460): "we introduce a Motion
Refiner to enhance the quality of the decoded optical flow". It runs on the
decoder side, from what the decoder has: the decoded flow, the reference frame
and the reference warped by that flow feed a small residual CNN that predicts
a flow correction. Its last convolution starts at zero, so an untrained
refiner is the identity. It costs no bits. In the lite layout it works at 1/2
resolution between a pixel-unshuffle and a pixel-shuffle (see :mod:`zoo.nn.layers`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.nn.layers import block, start_at_zero, to_features, to_pixels, warp
from zoo.slots import MotionRefinement, Reference


class MotionRefiner(MotionRefinement):
    """``flow_hat + net([flow_hat, ref, warp(ref, flow_hat)])``."""

    def __init__(self, channels: int, blocks: int, scale: int) -> None:
        super().__init__()
        self.net = nn.Sequential(to_features(2 + 3 + 3, channels, scale),
                                 *(block(channels, scale) for _ in range(blocks)),
                                 to_pixels(channels, 2, scale))
        start_at_zero(self.net)

    def forward(self, flow_hat: Tensor, ref: Reference) -> Tensor:
        inputs = torch.cat((flow_hat, ref.frame, warp(ref.frame, flow_hat)), dim=1)
        return flow_hat + self.net(inputs)


@hookimpl
def zoo_motion_refinement(config: Config) -> nn.Module:
    channels = config.option("refiner", "channels", config.pick(lite=16, full=64))
    blocks = config.option("refiner", "blocks", config.pick(lite=2, full=3))
    return MotionRefiner(channels, blocks, config.feature_scale)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="decoder-side residual CNN refining the decoded flow",
                      paper="Shin et al., Sensors 2025",
                      options=(Option("channels", int, None, "feature width (default: 16 lite, 64 full)"),
                               Option("blocks", int, None, "residual blocks (default: 2 lite, 3 full)")))
