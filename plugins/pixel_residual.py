"""Residual domain: pixel-level residual coding (DVC; Feng et al.'s model #1).

Lu et al., "DVC: An End-to-end Deep Video Compression Framework", CVPR 2019,
as the pixel-level baseline of Feng, Wu, Guo, Zhang & Chen, "Learned Video
Compression with Feature-level Residuals", CVPR 2020 workshops: the residual
r = x - x̄ against the motion-compensated prediction x̄ is coded by an
unconditioned GDN transform coder, and x̂ = x̄ + r̂. The context pyramid is
not used, and no features are propagated. Inferred: the transforms' width is
matched to ``feature-residual``'s parameter count, so that models #1 and #3 of
Feng et al.'s table differ in the residual's domain and not in capacity.
"""

from __future__ import annotations

from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.nn.layers import (BLOCK, BLOCK_CHANNELS, BLOCK_WIDTHS, BlockAnalysis, BlockSynthesis,
                           LatentResidualCoder, gdn_analysis, gdn_synthesis)
from zoo.slots import Context, EntropyFactory


class PixelResidual(LatentResidualCoder):
    def __init__(self, config: Config, entropy: EntropyFactory) -> None:
        super().__init__()
        if config.preset == "full":  # 92 wide: as large as feature-residual's (1.35M, 1.36M)
            m = config.latent_channels
            self.g_a, self.g_s = gdn_analysis(3, 92, m), gdn_synthesis(m, 92, 3)
        else:  # block transforms, latent at 1/8; 4 blocks each: feature-residual's size
            m = int(config.option("pixel-residual", "latent", BLOCK_CHANNELS))
            self.g_a, self.g_s = BlockAnalysis(3, 1, m, blocks=4), BlockSynthesis(3, 1, m, blocks=4)
            self.latent_stride = BLOCK
        self.entropy = entropy(m, "residual")

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
                      paper="Lu et al., CVPR 2019 (DVC); Feng et al., CVPRW 2020",
                      provides=("prediction-only",),
                      options=(Option("latent", int, BLOCK_CHANNELS, "the lite layout's latent "
                                      "channels (192: every row of the block basis)",
                                      choices=BLOCK_WIDTHS),))
