"""Residual domain: masked pixel residuals with conditional coding (the CMFR baseline).

Shin, Kim, Choi & Lee, "Masked Feature Residual Coding for Neural Video
Compression", Sensors 2025 (doi:10.3390/s25144460), the structure it starts
from and criticises, "Residual-type Conditional Coding": "an approximation of
the target frame is predicted, and a mask is subsequently applied to it. Then,
the masked predicted frame is subtracted from the target frame and fed into the
encoder along with the conditional information." (the scheme of MaskCRT, Chen
et al., arXiv:2312.15829). The soft mask is predicted from what the decoder
has (the prediction x̄ and the full-resolution context); the decoder adds the
masked prediction back. No features are propagated: the next frame's context
is extracted from the decoded pixels (the paper's second limitation).
Inferred, as for CMFR: the entropy model is conditioned on the temporal prior.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from compressai.layers import conv1x1
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.nn.layers import (BLOCK, BLOCK_CHANNELS, BlockAnalysis, BlockSynthesis,
                           ContextualAnalysis, ContextualSynthesis, LatentResidualCoder,
                           frame_generator, fusion_start, mask_predictor, start_at_zero,
                           temporal_prior)
from zoo.slots import Context, EntropyFactory, FusionFactory


class MaskedResidualCoding(LatentResidualCoder):
    """Codes ``x - m * x̄`` conditioned on the context; ``x̂ = r̂ + m * x̄``."""

    def __init__(self, config: Config, entropy: EntropyFactory, fusion: FusionFactory) -> None:
        super().__init__()
        c, m, s = config.channels, config.latent_channels, config.feature_scale
        self.scale = s
        self.mask = mask_predictor(c, 3, s, pixels=True)
        if s == 1:  # the papers' layout: contextual transforms to features, a generator
            self.analysis = ContextualAnalysis(3, c, m, s)
            self.synthesis = ContextualSynthesis(m, c, c, s)
            self.generator = start_at_zero(frame_generator(2 * c, c, s))
        else:  # lite: block transforms, the residual decoded straight to pixels
            self.analysis, self.synthesis = BlockAnalysis(3, 1, context=True), BlockSynthesis(3, 1, context=True)
            self.project = conv1x1(c, BLOCK_CHANNELS)
            self.generator, m, self.latent_stride = None, BLOCK_CHANNELS, BLOCK
        self.fusion = fusion_start(s)(fusion(self.analysis.width, self.analysis.levels))
        self.prior = temporal_prior(c, c, s)
        self.entropy = entropy(m, "residual", c)

    def prepare(self, ctx: Context) -> Tensor:
        """The masked prediction, m * x̄."""
        prediction = F.pixel_unshuffle(ctx.prediction, self.scale)
        mask = self.mask(torch.cat((prediction, ctx.features[0]), dim=1))
        return mask * ctx.prediction

    def analyse(self, x: Tensor, ctx: Context, masked: Tensor) -> Tensor:
        return self.analysis(x - masked, self.conditioning(ctx), self.fusion)

    def synthesise(self, y_hat: Tensor, ctx: Context, masked: Tensor) -> tuple[Tensor, None]:
        residual = self.synthesis(y_hat, self.conditioning(ctx), self.fusion)
        if self.generator is not None:
            residual = self.generator(torch.cat((residual, ctx.features[0]), dim=1))
        return residual + masked, None


@hookimpl
def zoo_residual_domain(config: Config, entropy: EntropyFactory, fusion: FusionFactory) -> nn.Module:
    return MaskedResidualCoding(config, entropy, fusion)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="masked pixel residual + conditional coding, no feature propagation "
                              "(the CMFR baseline)",
                      paper="Shin et al., Sensors 2025", provides=("conditional",))
