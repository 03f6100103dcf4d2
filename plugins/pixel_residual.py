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
from zoo.layers import LatentResidualCoder, gdn_analysis, gdn_synthesis
from zoo.plugin_info import PluginInfo
from zoo.slots import Context, EntropyFactory


class PixelResidual(LatentResidualCoder):
    def __init__(self, config: Config, entropy: EntropyFactory) -> None:
        super().__init__()
        n, m = config.pick(lite=64, full=128), config.latent_channels
        self.g_a = gdn_analysis(3, n, m)
        self.g_s = gdn_synthesis(m, n, 3)
        self.entropy = entropy(m)

    def analyse(self, x: Tensor, ctx: Context, prepared: None) -> Tensor:
        return self.g_a(x - ctx.prediction)

    def synthesise(self, y_hat: Tensor, ctx: Context, prepared: None) -> tuple[Tensor, None]:
        return ctx.prediction + self.g_s(y_hat), None


@hookimpl
def zoo_residual_domain(config: Config, entropy: EntropyFactory) -> nn.Module:
    return PixelResidual(config, entropy)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="pixel-domain residual coding, x̂ = x̄ + r̂ (DVC)",
                      paper="Lu et al., CVPR 2019 (DVC); Feng et al., CVPRW 2020")
