"""Temporal context: DVC's motion-compensation network.

Lu et al., "DVC: An End-to-end Deep Video Compression Framework", CVPR 2019,
Sec. 3.2: the reference frame is warped by the decoded flow, and a CNN takes
the warped frame, the reference frame and the flow, concatenated, and gives the
motion-compensated prediction x̄ (the bilinear warp alone blurs and leaves
holes). Feng et al., CVPRW 2020, build on DVC: their pipeline figure codes the
residual against a "compensation frame".

Stated: the inputs, a CNN of residual blocks with down- and up-sampling between
them (DVC's Fig. 5), the refined frame as the prediction. Inferred: the lite
layout (pixel-unshuffle to 1/s, depthwise-separable blocks, DCVC-RT) in a
two-level U-Net; its output is added to the warped frame and its last
convolution starts at zero, so that untrained the prediction is the bilinear
warp (what ``warp-context`` gives) and training starts there; the flow enters
divided by 16 px. It builds no feature pyramid: it requires a residual domain
that codes against the pixel prediction alone (those that provide
``prediction-only``: ``pixel-residual``, ``feature-residual``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.errors import ZooError
from zoo.nn.layers import block, start_at_zero, to_features, to_pixels, warp
from zoo.slots import Context, Reference, TemporalContext

FLOW_SCALE = 16.0  #: pixels of flow per unit of the network's input


class Prediction(Context):
    """A context that holds the prediction only."""

    def __init__(self, prediction: Tensor) -> None:
        self.prediction = prediction

    @property
    def features(self) -> list[Tensor]:
        raise ZooError("dvc-mc gives a prediction and no context features")


class MotionCompensation(TemporalContext):
    def __init__(self, channels: int, scale: int) -> None:
        super().__init__()
        self.head = nn.Sequential(to_features(3 + 3 + 2, channels, scale), block(channels, scale))
        self.down = nn.ModuleList(block(channels, scale) for _ in range(2))
        self.up = nn.ModuleList(block(channels, scale) for _ in range(2))
        self.tail = start_at_zero(to_pixels(channels, 3, scale))

    def forward(self, ref: Reference, flow_hat: Tensor) -> Context:
        warped = warp(ref.frame, flow_hat)
        skips = [self.head(torch.cat((warped, ref.frame, flow_hat / FLOW_SCALE), dim=1))]
        for down in self.down:
            skips.append(down(F.avg_pool2d(skips[-1], 2)))
        h = skips.pop()
        for up in self.up:
            h = up(F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False) + skips.pop())
        return Prediction(warped + self.tail(h))


@hookimpl
def zoo_temporal_context(config: Config) -> nn.Module:
    return MotionCompensation(config.channels, config.feature_scale)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="DVC's motion-compensation network: the warped frame refined, "
                              "no feature pyramid",
                      paper="Lu et al., CVPR 2019 (DVC)", requires=("prediction-only",))
