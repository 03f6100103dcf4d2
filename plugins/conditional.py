"""Default residual domain: conditional coding, no subtraction (DCVC).

Li, Li & Lu, "Deep Contextual Video Compression", NeurIPS 2021: the frame
itself is coded, and the context pyramid conditions the analysis and the
synthesis transforms (through the fusion slot) instead of being subtracted.
The decoded features, before the frame generator, are propagated as the next
reference's features, as in DCVC-TCM (the papers' layout; the lite layout's block
transforms decode the frame itself and propagate nothing). The entropy model is conditioned on the
temporal prior, the context's coarsest level brought to the latent grid (DCVC).
"""

from __future__ import annotations

import torch
from compressai.layers import conv1x1
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.nn.layers import (BLOCK, BLOCK_CHANNELS, BlockAnalysis, BlockSynthesis,
                           ContextualAnalysis, ContextualSynthesis, LatentResidualCoder,
                           frame_generator, fusion_start, temporal_prior)
from zoo.slots import Context, EntropyFactory, FusionFactory


class ConditionalCoding(LatentResidualCoder):
    def __init__(self, config: Config, entropy: EntropyFactory, fusion: FusionFactory) -> None:
        super().__init__()
        c, m, s = config.channels, config.latent_channels, config.feature_scale
        if s == 1:  # the papers' layout: contextual transforms to features, a generator
            self.analysis = ContextualAnalysis(3, c, m, s)
            self.synthesis = ContextualSynthesis(m, c, c, s)
            self.generator = frame_generator(2 * c, c, s)
        else:  # lite: block transforms, decoded straight to pixels, no feature propagated
            self.analysis, self.synthesis = BlockAnalysis(3, 1, context=True), BlockSynthesis(3, 1, context=True)
            self.project = conv1x1(c, BLOCK_CHANNELS)
            self.generator, m, self.latent_stride = None, BLOCK_CHANNELS, BLOCK
        self.fusion = fusion_start(s)(fusion(self.analysis.width, self.analysis.levels))
        self.prior = temporal_prior(c, c, s)
        self.entropy = entropy(m, "residual", c)

    def analyse(self, x: Tensor, ctx: Context, prepared: None) -> Tensor:
        return self.analysis(x, self.conditioning(ctx), self.fusion)

    def synthesise(self, y_hat: Tensor, ctx: Context, prepared: None) -> tuple[Tensor, Tensor]:
        decoded = self.synthesis(y_hat, self.conditioning(ctx), self.fusion)
        if self.generator is None:
            return decoded, None
        return self.generator(torch.cat((decoded, ctx.features[0]), dim=1)), decoded


@hookimpl(trylast=True)
def zoo_residual_domain(config: Config, entropy: EntropyFactory, fusion: FusionFactory) -> nn.Module:
    return ConditionalCoding(config, entropy, fusion)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="conditional coding without subtraction (default residual domain)",
                      paper="Li et al., NeurIPS 2021 (DCVC)", provides=("conditional",), default=True)
