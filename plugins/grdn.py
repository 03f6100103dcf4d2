"""Post-filter: a Grouped Residual Dense Network (GRDN) on the decoded frame.

Kim, Chung & Jung, "GRDN: Grouped Residual Dense Network for Real Image
Denoising and GAN-based Real-world Noise Modeling", CVPR 2019 workshops, as
used by Feng et al. (CVPR 2020 workshops, CLIC P-frame track) to enhance
their decoded frames (Table 1, models #2 and #4). A convolution, a stride-2
down-sampling convolution, cascaded grouped residual dense blocks (GRDBs, each
a chain of residual dense blocks whose outputs are concatenated and fused), a
transposed-convolution up-sampling, CBAM attention, a last convolution and a
global residual. The last convolution starts at zero: untrained, the filter
is the identity. Out of the coding loop by default, as Feng et al. filter
the frames they output.

Inferred: one filter serves every quality, its last features scaled per
quality index (learned channel scales, as the zoo's gain units scale latents),
since Feng et al. train one model per λ; in the lite layout the head is a
pixel-unshuffle and the tail a pixel-shuffle (see :mod:`zoo.nn.layers`).
"""

from __future__ import annotations

import torch
from compressai.layers import conv1x1, conv3x3
from compressai.models.utils import conv, deconv
from timm.layers.cbam import CbamModule
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.nn.layers import start_at_zero, to_features, to_pixels
from zoo.slots import PostFilter


class ResidualDenseBlock(nn.Module):
    """``layers`` densely connected 3x3 convolutions, 1x1 fusion, local residual."""

    def __init__(self, channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(conv3x3(channels + i * growth, growth), nn.ReLU(inplace=True))
            for i in range(layers))
        self.fuse = conv1x1(channels + layers * growth, channels)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.convs:
            features.append(layer(torch.cat(features, dim=1)))
        return x + self.fuse(torch.cat(features, dim=1))


class GroupedResidualDenseBlock(nn.Module):
    """Cascaded RDBs; their outputs concatenated, fused by 1x1, local residual."""

    def __init__(self, channels: int, growth: int, blocks: int, layers: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ResidualDenseBlock(channels, growth, layers)
                                    for _ in range(blocks))
        self.fuse = conv1x1(blocks * channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        outputs, h = [], x
        for block in self.blocks:
            h = block(h)
            outputs.append(h)
        return x + self.fuse(torch.cat(outputs, dim=1))


class GRDN(PostFilter):
    per_quality = ("q_scale",)  # follows the model to another quality ladder

    def __init__(self, channels: int, growth: int, groups: int, blocks: int, layers: int,
                 in_loop: bool, qualities: int, scale: int) -> None:
        super().__init__()
        self.head = to_features(3, channels, scale)
        self.down = conv(channels, channels, 3)
        self.groups = nn.Sequential(*(GroupedResidualDenseBlock(channels, growth, blocks, layers)
                                      for _ in range(groups)))
        self.up = deconv(channels, channels, 3)
        self.attention = CbamModule(channels)
        self.q_scale = nn.Parameter(torch.ones(qualities, channels))
        self.tail = start_at_zero(to_pixels(channels, 3, scale))
        self.in_loop = in_loop

    def forward(self, x_hat: Tensor, q: int) -> Tensor:
        h = self.attention(self.up(self.groups(self.down(self.head(x_hat)))))
        return x_hat + self.tail(h * self.q_scale[q].view(1, -1, 1, 1))


@hookimpl
def zoo_post_filter(config: Config) -> nn.Module:
    groups, blocks, layers, channels = config.pick(lite=(1, 2, 3, 16), full=(4, 4, 8, 64))
    return GRDN(channels, channels, groups, blocks, layers,
                in_loop=bool(config.option("grdn", "in_loop", False)),
                qualities=config.qualities, scale=config.feature_scale)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="GRDN enhancement of the decoded frame (out of loop by default)",
                      paper="Kim et al., CVPRW 2019 (GRDN); Feng et al., CVPRW 2020",
                      options=(Option("in_loop", bool, False, "filter inside the coding loop: the "
                                      "filtered frame becomes the next reference"),))


def _distortion(x, out, distortion):
    """The post-filter stage's loss: the distortion alone (the codec is frozen)."""
    return distortion(x, out["x_hat"])


@hookimpl
def zoo_register_stages(register) -> None:
    register("post-filter", trains=("post_filter",), loss=_distortion, frames=2, lr=2e-4)
