"""Residual domain: feature-level residual coding (Feng et al.'s model #3).

Feng, Wu, Guo, Zhang & Chen, "Learned Video Compression with Feature-level
Residuals", CVPR 2020 workshops (CLIC P-frame track): one feature extractor
E maps the frame x and the motion-compensated prediction x̄ to features; their
difference r = E(x) - E(x̄) is coded, and a frame generator G decodes
x̂ = G(E(x̄) + r̂). The context pyramid is not used, and no features are
propagated: the next reference is the decoded frame alone.
"""

from __future__ import annotations

from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.nn.layers import (BLOCK, BLOCK_CHANNELS, BLOCK_WIDTHS, BlockAnalysis, BlockSynthesis,
                           ContextualAnalysis, ContextualSynthesis, LatentResidualCoder,
                           feature_extractor, frame_generator)
from zoo.slots import Context, EntropyFactory


class FeatureResidual(LatentResidualCoder):
    def __init__(self, config: Config, entropy: EntropyFactory) -> None:
        super().__init__()
        c, m, s = config.channels, config.latent_channels, config.feature_scale
        self.extract = feature_extractor(c, s, identity=True)
        if s == 1:  # the papers' layout
            self.analysis = ContextualAnalysis(c, c, m, s, pixels=False)
            # Not start_at_zero: with zero biases (preserve_variance) the synthesis of an
            # all-zero latent is zero already, and a zeroed last layer would leave no gradient
            # while the latent rounds to zero (the mixture model has no mean to round around).
            self.synthesis = ContextualSynthesis(m, c, c, s)
        else:  # lite: block transforms of the features (their first channels: the pixels)
            m = int(config.option("feature-residual", "latent", BLOCK_CHANNELS))
            self.analysis, self.synthesis = BlockAnalysis(c, s, m), BlockSynthesis(c, s, m)
            self.latent_stride = BLOCK
        self.generator = frame_generator(c, c, s, identity=True)
        self.entropy = entropy(m, "residual")

    def prepare(self, ctx: Context) -> Tensor:
        """The predicted features, E(x̄)."""
        return self.extract(ctx.prediction)

    def analyse(self, x: Tensor, ctx: Context, predicted: Tensor) -> Tensor:
        return self.analysis(self.extract(x) - predicted)

    def synthesise(self, y_hat: Tensor, ctx: Context, predicted: Tensor) -> tuple[Tensor, None]:
        return self.generator(predicted + self.synthesis(y_hat)), None


@hookimpl
def zoo_residual_domain(config: Config, entropy: EntropyFactory) -> nn.Module:
    return FeatureResidual(config, entropy)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="feature-level residual coding, x̂ = G(E(x̄) + r̂)",
                      paper="Feng et al., CVPRW 2020 (CLIC P-frame)",
                      provides=("prediction-only",),
                      options=(Option("latent", int, BLOCK_CHANNELS, "the lite layout's latent "
                                      "channels (192: every row of the block basis)",
                                      choices=BLOCK_WIDTHS),))
