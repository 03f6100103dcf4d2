"""Default entropy model: mean-scale Gaussian hyperprior.

Minnen, Ballé & Toderici, "Joint Autoregressive and Hierarchical Priors for
Learned Image Compression", NeurIPS 2018 (its mean-scale hyperprior, without
the autoregressive context), assembled from CompressAI's latent codecs:
``EntropyBottleneck`` for z, ``GaussianConditional`` for y. When the residual
domain offers a temporal prior (DCVC, Li et al., NeurIPS 2021), it joins the
hyperprior in predicting y's means and scales: stated by DCVC; the two 1x1
convolutions that fuse them are inferred (DCVC's own fusion is a stack of 1x1
convolutions over the concatenated priors).
"""

from __future__ import annotations

import torch
from compressai.entropy_models import EntropyBottleneck
from compressai.latent_codecs import (GaussianConditionalLatentCodec, HyperLatentCodec,
                                      HyperpriorLatentCodec)
from compressai.layers import conv1x1, conv3x3
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.slots import EntropyModel, Strings


def hyper_transforms(m: int, n: int, params: int) -> tuple[nn.Module, nn.Module]:
    """``h_a`` (M -> N at 1/4) and ``h_s`` (N -> ``params`` channels back at 1)."""
    h_a = nn.Sequential(conv3x3(m, n), nn.LeakyReLU(inplace=True), conv(n, n),
                        nn.LeakyReLU(inplace=True), conv(n, n))
    h_s = nn.Sequential(deconv(n, m), nn.LeakyReLU(inplace=True), deconv(m, m * 3 // 2),
                        nn.LeakyReLU(inplace=True), conv3x3(m * 3 // 2, params))
    return h_a, h_s


class MeanScaleHyperprior(EntropyModel):
    """With ``context_channels``, the Gaussian's means and scales are predicted from
    the hyperprior's parameters and the temporal prior together (DCVC's entropy
    model without its spatial prior): 1x1 convolutions over their concatenation."""

    def __init__(self, channels: int, hyper_channels: int, context_channels: int = 0) -> None:
        super().__init__()
        h_a, h_s = hyper_transforms(channels, hyper_channels, 2 * channels)
        self.codec = HyperpriorLatentCodec(latent_codec={
            "y": GaussianConditionalLatentCodec(quantizer="ste"),
            "hyper": HyperLatentCodec(EntropyBottleneck(hyper_channels), h_a, h_s),
        })
        self.fuse = None if not context_channels else nn.Sequential(
            conv1x1(2 * channels + context_channels, 3 * channels), nn.LeakyReLU(inplace=True),
            conv1x1(3 * channels, 2 * channels))

    def _params(self, params: Tensor, context: tuple[Tensor, ...]) -> Tensor:
        return params if self.fuse is None else self.fuse(torch.cat((params, *context), dim=1))

    def forward(self, y: Tensor, *context: Tensor) -> dict:
        hyper = self.codec.latent_codec["hyper"](y)
        out = self.codec.latent_codec["y"](y, self._params(hyper["params"], context))
        return {"y_hat": out["y_hat"],
                "likelihoods": {"y": out["likelihoods"]["y"], "z": hyper["likelihoods"]["z"]}}

    def compress(self, y: Tensor, *context: Tensor) -> tuple[Strings, Tensor]:
        hyper = self.codec.latent_codec["hyper"].compress(y)
        out = self.codec.latent_codec["y"].compress(y, self._params(hyper["params"], context))
        return [out["strings"][0][0], hyper["strings"][0][0]], out["y_hat"]

    def decompress(self, strings: Strings, shape: tuple[int, int], *context: Tensor) -> Tensor:
        if len(strings) != 2:
            raise ValueError(f"expected 2 strings, got {len(strings)}")
        y_string, z_string = strings
        hyper = self.codec.latent_codec["hyper"].decompress([[z_string]], (shape[0] // 4, shape[1] // 4))
        params = self._params(hyper["params"], context)
        return self.codec.latent_codec["y"].decompress([[y_string]], shape, params)["y_hat"]


@hookimpl(trylast=True)
def zoo_entropy_model(config: Config, channels: int, context_channels: int) -> nn.Module:
    return MeanScaleHyperprior(channels, config.hyper_channels, context_channels)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="mean-scale Gaussian hyperprior (default entropy model)",
                      paper="Minnen et al., NeurIPS 2018", default=True)
