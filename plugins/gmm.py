"""Entropy model: a Gaussian mixture conditioned on a hyperprior.

Feng, Wu, Guo, Zhang & Chen, "Learned Video Compression with Feature-level
Residuals", CVPR 2020 workshops (CLIC P-frame track), after Cheng et al.,
CVPR 2020: each latent element is coded with

    p(m̂|ẑ) = Π_i (Σ_k π_ik N(μ_ik, σ_ik²) * U(-1/2, 1/2))(m̂_i),

the K weights, means and scales of element i predicted from the hyper-latent
ẑ (coded by an ``EntropyBottleneck``). CompressAI's
``GaussianMixtureConditional`` builds the element's CDF and codes it with rANS.

Inferred: the mixture codes the P-frame residual latent only (option
``latents``, default ``["residual"]``), so that a table row with ``gmm``
differs from its neighbour in the residual's entropy model alone, not in the
intra and motion coders too; with a temporal prior (DCVC), two 1x1
convolutions fuse it with the hyperprior's parameters, as the default does.
"""

from __future__ import annotations

import struct

import numpy as np
import torch
from compressai.entropy_models import EntropyBottleneck, GaussianMixtureConditional
from compressai.latent_codecs import HyperLatentCodec
from compressai.layers import conv1x1, conv3x3
from compressai.models.utils import conv, deconv
from compressai.ops import quantize_ste
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.slots import EntropyModel, Strings

#: Coded latents are clipped to ±(MAX_ABS - 1): the coder's CDF table holds
#: 2 * abs_max + 1 entries per element, so this bounds the decoder's memory.
MAX_ABS = 255


class GaussianMixtureHyperprior(EntropyModel):
    """Strings: ``[side, y, z]``, ``side`` = abs_max (u16) + the non-zero channel bitmap."""

    def __init__(self, channels: int, hyper_channels: int, components: int,
                 context_channels: int = 0) -> None:
        super().__init__()
        m, n, k = channels, hyper_channels, components
        self.channels, self.components = m, k
        h_a = nn.Sequential(conv3x3(m, n), nn.LeakyReLU(inplace=True), conv(n, n),
                            nn.LeakyReLU(inplace=True), conv(n, n))
        h_s = nn.Sequential(deconv(n, m), nn.LeakyReLU(inplace=True), deconv(m, m * 3 // 2),
                            nn.LeakyReLU(inplace=True), conv3x3(m * 3 // 2, 3 * k * m))
        self.hyper = HyperLatentCodec(EntropyBottleneck(n), h_a, h_s)
        self.mixture = GaussianMixtureConditional(K=k)
        self.fuse = None if not context_channels else nn.Sequential(
            conv1x1(3 * k * m + context_channels, 3 * k * m), nn.LeakyReLU(inplace=True),
            conv1x1(3 * k * m, 3 * k * m))

    def _mixture(self, params: Tensor, context: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        """Scales, means, weights: each (B, K*M, h, w), component-major, weights softmaxed over K."""
        if self.fuse is not None:
            params = self.fuse(torch.cat((params, *context), dim=1))
        scales, means, logits = params.chunk(3, dim=1)
        b, _, h, w = logits.shape
        weights = logits.view(b, self.components, self.channels, h, w).softmax(dim=1)
        return scales, means, weights.view(b, -1, h, w)

    def forward(self, y: Tensor, *context: Tensor) -> dict:
        hyper = self.hyper(y)
        _, y_likelihoods = self.mixture(y, *self._mixture(hyper["params"], context))
        return {"y_hat": quantize_ste(y),
                "likelihoods": {"y": y_likelihoods, "z": hyper["likelihoods"]["z"]}}

    def compress(self, y: Tensor, *context: Tensor) -> tuple[Strings, Tensor]:
        hyper = self.hyper.compress(y)
        y = y.clamp(1 - MAX_ABS, MAX_ABS - 1)
        y_hat = torch.round(y) + 0.0  # -0.0 -> +0.0, as decompress writes zeros
        nonzero = y_hat.abs().amax(dim=(0, 2, 3)) > 0
        y_string, abs_max = b"", 1
        if nonzero.any():  # the coder cannot code an empty set of channels
            (y_string, abs_max, _), _ = self.mixture.compress(y, *self._mixture(hyper["params"], context))
        bitmap = np.packbits(nonzero.cpu().numpy()).tobytes()
        return [struct.pack("<H", abs_max) + bitmap, y_string, *hyper["strings"][0]], y_hat

    def _side(self, side: bytes) -> tuple[int, Tensor]:
        """abs_max and the non-zero channel mask, validated."""
        if len(side) != 2 + -(-self.channels // 8):
            raise ValueError(f"mixture side info has {len(side)} bytes")
        (abs_max,) = struct.unpack_from("<H", side)
        bits = np.unpackbits(np.frombuffer(side, np.uint8, offset=2))
        if not 1 <= abs_max <= MAX_ABS or bits[self.channels:].any():
            raise ValueError("mixture side info is out of range")
        return abs_max, torch.from_numpy(bits[:self.channels].astype(np.int64))

    def decompress(self, strings: Strings, shape: tuple[int, int], *context: Tensor) -> Tensor:
        if len(strings) != 3:
            raise ValueError(f"expected 3 strings, got {len(strings)}")
        side, y_string, z_string = strings
        abs_max, bitmap = self._side(side)
        if bool(bitmap.any()) != bool(y_string):
            raise ValueError("mixture side info and latent string disagree")
        params = self.hyper.decompress([[z_string]], (shape[0] // 4, shape[1] // 4))["params"]
        if not y_string:
            return params.new_zeros(1, self.channels, *shape)
        y_hat = self.mixture.decompress(y_string, abs_max, bitmap, *self._mixture(params, context))
        return y_hat.to(params.device)


@hookimpl
def zoo_entropy_model(config: Config, channels: int, latent: str,
                      context_channels: int) -> nn.Module | None:
    if latent not in config.option("gmm", "latents", ("residual",)):
        return None  # the other latents keep the default entropy model
    return GaussianMixtureHyperprior(channels, config.hyper_channels,
                                     int(config.option("gmm", "components", 3)), context_channels)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="Gaussian mixture (K=3) conditioned on a hyperprior",
                      paper="Feng et al., CVPRW 2020 (CLIC P-frame); Cheng et al., CVPR 2020",
                      options=(Option("components", int, 3, "mixture components K"),
                               Option("latents", list, ("residual",), "the latents the mixture "
                                      "codes (the default entropy model codes the others)",
                                      choices=("intra", "motion", "residual"))))
