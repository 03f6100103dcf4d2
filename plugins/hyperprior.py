"""Default entropy model: mean-scale Gaussian hyperprior.

Minnen, Ballé & Toderici, "Joint Autoregressive and Hierarchical Priors for
Learned Image Compression", NeurIPS 2018 (its mean-scale hyperprior, without
the autoregressive context), assembled from CompressAI's latent codecs:
``EntropyBottleneck`` for z, ``GaussianConditional`` for y.
"""

from __future__ import annotations

from compressai.entropy_models import EntropyBottleneck
from compressai.latent_codecs import (GaussianConditionalLatentCodec, HyperLatentCodec,
                                      HyperpriorLatentCodec)
from compressai.layers import conv3x3
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from zoo.config import Config
from zoo.hookspecs import hookimpl
from zoo.plugin_info import PluginInfo
from zoo.slots import EntropyModel, Strings


def hyper_transforms(m: int, n: int, params: int) -> tuple[nn.Module, nn.Module]:
    """``h_a`` (M -> N at 1/4) and ``h_s`` (N -> ``params`` channels back at 1)."""
    h_a = nn.Sequential(conv3x3(m, n), nn.LeakyReLU(inplace=True), conv(n, n),
                        nn.LeakyReLU(inplace=True), conv(n, n))
    h_s = nn.Sequential(deconv(n, m), nn.LeakyReLU(inplace=True), deconv(m, m * 3 // 2),
                        nn.LeakyReLU(inplace=True), conv3x3(m * 3 // 2, params))
    return h_a, h_s


class MeanScaleHyperprior(EntropyModel):
    def __init__(self, channels: int, hyper_channels: int) -> None:
        super().__init__()
        h_a, h_s = hyper_transforms(channels, hyper_channels, 2 * channels)
        self.codec = HyperpriorLatentCodec(latent_codec={
            "y": GaussianConditionalLatentCodec(quantizer="ste"),
            "hyper": HyperLatentCodec(EntropyBottleneck(hyper_channels), h_a, h_s),
        })

    def forward(self, y: Tensor) -> dict:
        return self.codec(y)

    def compress(self, y: Tensor) -> tuple[Strings, Tensor]:
        out = self.codec.compress(y)
        return [s for batch in out["strings"] for s in batch], out["y_hat"]

    def decompress(self, strings: Strings, shape: tuple[int, int]) -> Tensor:
        hyper = (shape[0] // 4, shape[1] // 4)
        out = self.codec.decompress([[s] for s in strings], {"y": shape, "hyper": hyper})
        return out["y_hat"]


@hookimpl(trylast=True)
def zoo_entropy_model(config: Config, channels: int) -> nn.Module:
    return MeanScaleHyperprior(channels, config.hyper_channels)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="mean-scale Gaussian hyperprior (default entropy model)",
                      paper="Minnen et al., NeurIPS 2018", default=True)
