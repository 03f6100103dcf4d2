"""Fusion: Scaled Feature Fusion (SFF).

Shin, Kim, Choi & Lee, "Masked Feature Residual Coding for Neural Video
Compression", Sensors 2025 (doi:10.3390/s25144460): "to more effectively
remove conditional information from the target frame, we introduce a Scaled
Feature Fusion (SFF) module", which subtracts conditional information from the
target in the contextual encoder and adds it to the residual in the contextual
decoder. Here, at each fusion level, the context is projected (1x1 conv),
scaled by learned per-channel factors and subtracted (encoder) or added
(decoder), and a residual block follows: ``h - s_enc * proj(c)`` and
``h + s_dec * proj(c)`` instead of a convolution over the concatenation.
"""

from __future__ import annotations

import torch
from compressai.layers import conv1x1
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.nn.layers import block
from zoo.slots import Fusion


class ScaledFeatureFusion(Fusion):
    def __init__(self, channels: int, levels: int, scale: int) -> None:
        super().__init__()
        self.enc_proj = nn.ModuleList(conv1x1(channels, channels) for _ in range(levels))
        self.dec_proj = nn.ModuleList(conv1x1(channels, channels) for _ in range(levels))
        self.enc_scale = nn.Parameter(torch.ones(levels, channels))
        self.dec_scale = nn.Parameter(torch.ones(levels, channels))
        self.enc_post = nn.ModuleList(block(channels, scale) for _ in range(levels))
        self.dec_post = nn.ModuleList(block(channels, scale) for _ in range(levels))

    def encode(self, level: int, h: Tensor, c: Tensor) -> Tensor:
        scale = self.enc_scale[level].view(1, -1, 1, 1)
        return self.enc_post[level](h - scale * self.enc_proj[level](c))

    def decode(self, level: int, h: Tensor, c: Tensor) -> Tensor:
        scale = self.dec_scale[level].view(1, -1, 1, 1)
        return self.dec_post[level](h + scale * self.dec_proj[level](c))


@hookimpl
def zoo_fusion(config: Config, channels: int, levels: int) -> nn.Module:
    return ScaledFeatureFusion(channels, levels, config.feature_scale)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="scaled feature fusion: scaled subtraction / addition of the context",
                      paper="Shin et al., Sensors 2025", requires=("conditional",))
