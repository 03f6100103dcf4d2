"""Default fusion: concatenation followed by a 3x3 convolution (DCVC)."""

from __future__ import annotations

import torch
from compressai.layers import conv3x3
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.slots import Fusion


class ConcatFusion(Fusion):
    def __init__(self, channels: int, levels: int) -> None:
        super().__init__()
        self.enc = nn.ModuleList(conv3x3(2 * channels, channels) for _ in range(levels))
        self.dec = nn.ModuleList(conv3x3(2 * channels, channels) for _ in range(levels))

    def encode(self, level: int, h: Tensor, c: Tensor) -> Tensor:
        return self.enc[level](torch.cat((h, c), dim=1))

    def decode(self, level: int, h: Tensor, c: Tensor) -> Tensor:
        return self.dec[level](torch.cat((h, c), dim=1))


@hookimpl(trylast=True)
def zoo_fusion(config: Config, channels: int, levels: int) -> nn.Module:
    return ConcatFusion(channels, levels)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="concatenation of the context (default fusion)",
                      paper="Li et al., NeurIPS 2021 (DCVC)", default=True)
