"""Default temporal context: feature-domain motion compensation (DCVC-TCM).

Sheng et al., "Temporal Context Mining for Learned Video Compression", IEEE
TMM 2022. Features of the reference (the propagated decoded features when the
residual domain keeps them, else features extracted from the decoded frame)
form a three-scale pyramid (at 1, 1/2, 1/4 of the frame, or 1/2, 1/4, 1/8 in
the lite layout); each scale is warped by the decoded flow, scaled
to it, and refined. The pixel prediction is the warped reference frame.
Inferred: each refinement (a residual block) starts as the identity, so that
untrained the context is the warped features themselves; a random refinement
added noise of the features' own size, and a residual domain that subtracts
the context from the target's features (``cmfr``) coded that noise
(docs/plugins/cmfr.md).

The pyramid is built on first use of ``Context.features``: residual domains
that never read it (pixel and feature residuals) skip its cost, and those
that do get exactly the tensors an eager build gives.
"""

from __future__ import annotations

from typing import Callable

from compressai.models.utils import conv
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import PluginInfo
from zoo.nn.layers import LEVELS, block, downscale_flow, feature_extractor, start_at_zero, warp
from zoo.slots import Context, Reference, TemporalContext


class LazyContext(Context):
    """A :class:`Context` whose feature pyramid is computed when first read."""

    def __init__(self, prediction: Tensor, features: list[Tensor] | None = None,
                 build: Callable[[], list[Tensor]] | None = None) -> None:
        self.prediction = prediction
        self._features = features
        self._build = build

    @property
    def features(self) -> list[Tensor]:
        if self._features is None:
            self._features, self._build = self._build(), None
        return self._features

    @features.setter
    def features(self, value: list[Tensor]) -> None:
        self._features, self._build = value, None


class WarpContext(TemporalContext):
    def __init__(self, channels: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.extract = feature_extractor(channels, scale)
        self.down = nn.ModuleList(conv(channels, channels, 3) for _ in range(LEVELS - 1))
        self.refine = nn.ModuleList(start_at_zero(block(channels, scale)) for _ in range(LEVELS))

    def forward(self, ref: Reference, flow_hat: Tensor) -> Context:
        return LazyContext(warp(ref.frame, flow_hat), build=lambda: self.pyramid(ref, flow_hat))

    def pyramid(self, ref: Reference, flow_hat: Tensor) -> list[Tensor]:
        feature = ref.feature if ref.feature is not None else self.extract(ref.frame)
        pyramid = [feature]
        for down in self.down:
            pyramid.append(down(pyramid[-1]))
        return [refine(warp(f, downscale_flow(flow_hat, self.scale * 2 ** level)))
                for level, (f, refine) in enumerate(zip(pyramid, self.refine))]


@hookimpl(trylast=True)
def zoo_temporal_context(config: Config) -> nn.Module:
    return WarpContext(config.channels, config.feature_scale)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="multi-scale feature warping (default temporal context)",
                      paper="Sheng et al., IEEE TMM 2022 (DCVC-TCM)", default=True)
