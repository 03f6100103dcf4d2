"""Residual domain: pixel-level residual coding (DVC; Feng et al.'s model #1).

Lu et al., "DVC: An End-to-end Deep Video Compression Framework", CVPR 2019,
as the pixel-level baseline of Feng, Wu, Guo, Zhang & Chen, "Learned Video
Compression with Feature-level Residuals", CVPR 2020 workshops: the residual
r = x - x̄ against the motion-compensated prediction x̄ is coded by an
unconditioned GDN transform coder, and x̂ = x̄ + r̂. The context pyramid is
not used, and no features are propagated.
"""

from __future__ import annotations

from torch import Tensor, nn

from zoo.config import Config
from zoo.hookspecs import hookimpl
from zoo.layers import TransformCoder, gdn_analysis, gdn_synthesis
from zoo.plugin_info import PluginInfo
from zoo.slots import Context, EntropyFactory, Reference, ResidualDomain, Strings


class PixelResidual(ResidualDomain):
    def __init__(self, config: Config, entropy: EntropyFactory) -> None:
        super().__init__()
        n, m = config.pick(lite=64, full=128), config.latent_channels
        self.coder = TransformCoder(gdn_analysis(3, n, m), gdn_synthesis(m, n, 3), entropy(m))

    def forward(self, x: Tensor, ctx: Context, ref: Reference, q: int) -> dict:
        out = self.coder(x - ctx.prediction, q)
        return {"x_hat": ctx.prediction + out["x_hat"], "likelihoods": out["likelihoods"],
                "feature": None}

    def compress(self, x: Tensor, ctx: Context, ref: Reference, q: int):
        strings, r_hat = self.coder.compress(x - ctx.prediction, q)
        return strings, ctx.prediction + r_hat, None

    def decompress(self, strings: Strings, ctx: Context, ref: Reference, q: int):
        r_hat = self.coder.decompress(strings, tuple(ref.frame.shape[-2:]), q)
        return ctx.prediction + r_hat, None


@hookimpl
def zoo_residual_domain(config: Config, entropy: EntropyFactory) -> nn.Module:
    return PixelResidual(config, entropy)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="pixel-domain residual coding, x̂ = x̄ + r̂ (DVC)",
                      paper="Lu et al., CVPR 2019 (DVC); Feng et al., CVPRW 2020")
