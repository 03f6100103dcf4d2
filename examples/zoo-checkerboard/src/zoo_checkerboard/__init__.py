"""codec-zoo plugin ``checkerboard``: a checkerboard context entropy model.

He, Zheng, Sun, Wang & Qin, "Checkerboard Context Model for Efficient Learned
Image Compression", CVPR 2021. The latent ``y`` is split like a chessboard:
the anchors (half the elements) are coded with the hyperprior alone, then the
non-anchors with the hyperprior plus a context predicted from the decoded
anchors by a 5x5 checkerboard-masked convolution. Two passes instead of the
serial scan of an autoregressive context model, so decoding stays parallel.

Built from CompressAI's latent codecs, as its ``Cheng2020AnchorCheckerboard``:
``HyperpriorLatentCodec`` (z: ``EntropyBottleneck``) around a
``CheckerboardLatentCodec`` (y: ``GaussianConditional``, mean and scale).
"""

from __future__ import annotations

import torch
from compressai.entropy_models import EntropyBottleneck
from compressai.latent_codecs import (CheckerboardLatentCodec, GaussianConditionalLatentCodec,
                                      HyperLatentCodec, HyperpriorLatentCodec)
from compressai.layers import CheckerboardMaskedConv2d, conv3x3
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.slots import EntropyModel, Strings

__version__ = "0.1.0"


class CheckerboardHyperprior(EntropyModel):
    """The ``entropy_model`` slot. Strings: ``[anchors, non-anchors, z]``."""

    def __init__(self, channels: int, hyper_channels: int, forward_method: str = "twopass",
                 context_channels: int = 0) -> None:
        super().__init__()
        m, n = channels, hyper_channels
        self.channels = m
        h_a = nn.Sequential(conv3x3(m, n), nn.LeakyReLU(inplace=True), conv(n, n),
                            nn.LeakyReLU(inplace=True), conv(n, n))
        h_s = nn.Sequential(deconv(n, m), nn.LeakyReLU(inplace=True), deconv(m, m * 3 // 2),
                            nn.LeakyReLU(inplace=True), conv3x3(m * 3 // 2, 2 * m))
        # Pointwise, as CheckerboardLatentCodec requires: [context, hyperprior] -> (scales, means).
        entropy_parameters = nn.Sequential(
            nn.Conv2d(4 * m, 10 * m // 3, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(10 * m // 3, 8 * m // 3, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(8 * m // 3, 2 * m, 1))
        self.codec = HyperpriorLatentCodec(latent_codec={
            "y": CheckerboardLatentCodec(
                latent_codec={"y": GaussianConditionalLatentCodec(quantizer="ste")},
                entropy_parameters=entropy_parameters,
                context_prediction=CheckerboardMaskedConv2d(m, 2 * m, kernel_size=5, padding=2),
                forward_method=forward_method),
            "hyper": HyperLatentCodec(EntropyBottleneck(n), h_a, h_s),
        })
        # A residual domain's temporal prior joins the hyperprior's parameters.
        self.fuse = None if not context_channels else nn.Conv2d(2 * m + context_channels, 2 * m, 1)

    def _params(self, params: Tensor, context: tuple[Tensor, ...]) -> Tensor:
        return params if self.fuse is None else self.fuse(torch.cat((params, *context), dim=1))

    def forward(self, y: Tensor, *context: Tensor) -> dict:
        hyper = self.codec.latent_codec["hyper"](y)
        out = self.codec.latent_codec["y"](y, self._params(hyper["params"], context))
        return {"y_hat": out["y_hat"],
                "likelihoods": {"y": out["likelihoods"]["y"], "z": hyper["likelihoods"]["z"]}}

    def compress(self, y: Tensor, *context: Tensor) -> tuple[Strings, Tensor]:
        # CompressAI's y_hat here is what the decoder computes: each pass's values are
        # dequantised from the coded symbols, and the non-anchor context is predicted
        # from those decoded anchors, exactly as decompress does.
        hyper = self.codec.latent_codec["hyper"].compress(y)
        out = self.codec.latent_codec["y"].compress(y, self._params(hyper["params"], context))
        return [*(batch[0] for batch in out["strings"]), hyper["strings"][0][0]], out["y_hat"]

    def decompress(self, strings: Strings, shape: tuple[int, int], *context: Tensor) -> Tensor:
        if len(strings) != 3:
            raise ValueError(f"expected 3 strings, got {len(strings)}")
        h, w = shape
        hyper = self.codec.latent_codec["hyper"].decompress([[strings[2]]], (h // 4, w // 4))
        params = self._params(hyper["params"], context)
        return self.codec.latent_codec["y"].decompress([[strings[0]], [strings[1]]],
                                                       (self.channels, h, w), params)["y_hat"]


@hookimpl
def zoo_entropy_model(config: Config, channels: int, context_channels: int) -> nn.Module:
    method = config.option("checkerboard", "forward_method", "twopass")
    return CheckerboardHyperprior(channels, config.hyper_channels, method, context_channels)


@hookimpl
def zoo_register_models(register) -> None:
    register("cmfr2025-checkerboard", plugins=["cmfr", "sff", "refiner", "checkerboard"],
             paper="Shin et al., Sensors 2025; He et al., CVPR 2021",
             description="CMFR with a checkerboard context entropy model (untrained)")


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="checkerboard context model: anchors, then non-anchors in context",
                      paper="He et al., CVPR 2021", api=1,
                      options=(Option("forward_method", str, "twopass", "how training runs the "
                                      "two passes (CompressAI's CheckerboardLatentCodec)",
                                      choices=("onepass", "twopass", "twopass_faster")),))
