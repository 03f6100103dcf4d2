"""Model configuration: a preset (lite or full) plus per-plugin options."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from zoo.errors import ZooError

PRESETS: dict[str, dict[str, Any]] = {
    # Cheap enough to train on 2 CPU cores: features at 1/2 (DCVC-RT's layout).
    "lite": dict(channels=32, latent_channels=64, motion_latent_channels=64,
                 hyper_channels=64, flow_levels=4, feature_scale=2),
    # Paper scale (DCVC / DVC sizes, full-resolution layers).
    "full": dict(channels=64, latent_channels=96, motion_latent_channels=128,
                 hyper_channels=96, flow_levels=5, feature_scale=1),
}

#: Rate-distortion trade-off per quality index, loss = R + lambda * 255^2 * MSE:
#: CompressAI's mse qualities 1-5 (its convention). In 255^2 units they span
#: 117-1626, about DCVC-DC's range (85-2048), so the lowest quality reaches the
#: rates where x264 works at QP 37-42.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250)
MAX_QUALITIES = 16
#: Lambdas for (1 - MS-SSIM), CompressAI's convention for its ms-ssim models (the
#: default ladder's); another ladder's are its MSE lambdas times MS_SSIM_PER_MSE,
#: the ratio of CompressAI's two conventions (1,269 at the top quality, within 6 %
#: of the others).
MS_SSIM_LAMBDAS = (2.40, 4.58, 8.73, 16.64, 31.73)
MS_SSIM_PER_MSE = MS_SSIM_LAMBDAS[-1] / LAMBDAS[-1]


def ms_ssim_lambda(lambdas: tuple[float, ...], q: int) -> float:
    """The weight of (1 - MS-SSIM) at quality ``q`` of the ladder ``lambdas`` (MSE lambdas)."""
    return MS_SSIM_LAMBDAS[q] if tuple(lambdas) == LAMBDAS else lambdas[q] * MS_SSIM_PER_MSE


def check_lambdas(values: Any) -> tuple[float, ...]:
    """A quality ladder (lambda per quality index) as a tuple; ValueError unless it
    holds 1..16 finite, positive, strictly increasing numbers."""
    if not isinstance(values, (list, tuple)) or not 1 <= len(values) <= MAX_QUALITIES or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")
            for v in values):
        raise ValueError(f"lambdas must be 1..{MAX_QUALITIES} positive numbers, got {values!r}"[:200])
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"lambdas must increase with the quality index, got {list(values)!r}"[:200])
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class Config:
    """Sizes every slot module is built with.

    ``channels`` is the width of features at full resolution (reference
    features, context pyramid, contextual transforms); ``latent_channels`` and
    ``motion_latent_channels`` are the depths of the coded latents.
    ``feature_scale`` is the stride of the finest features: 1 keeps the papers'
    full-resolution layers, 2 puts every layer but the first and last at 1/2 or below.
    """

    preset: str = "lite"
    channels: int = 32
    latent_channels: int = 64
    motion_latent_channels: int = 64
    hyper_channels: int = 64
    flow_levels: int = 4
    feature_scale: int = 2
    lambdas: tuple[float, ...] = LAMBDAS
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_preset(cls, preset: str = "lite",
                    options: Mapping[str, Mapping[str, Any]] | None = None,
                    lambdas: tuple[float, ...] = ()) -> "Config":
        """The preset's sizes, ``options``, and the quality ladder ``lambdas``
        (empty: :data:`LAMBDAS`)."""
        if preset not in PRESETS:
            raise ZooError(f"unknown config preset {preset!r} (choose from {', '.join(PRESETS)})")
        return cls(preset=preset, options=dict(options or {}), lambdas=tuple(lambdas) or LAMBDAS,
                   **PRESETS[preset])

    @property
    def qualities(self) -> int:
        return len(self.lambdas)

    def pick(self, lite: Any, full: Any) -> Any:
        """The value for this preset: ``config.pick(lite=2, full=4)``."""
        return full if self.preset == "full" else lite

    def option(self, plugin: str, key: str, default: Any = None) -> Any:
        """A plugin's own option, e.g. ``config.option("grdn", "in_loop", False)``."""
        return self.options.get(plugin, {}).get(key, default)

    def with_options(self, options: Mapping[str, Mapping[str, Any]]) -> "Config":
        return replace(self, options=dict(options))

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "options": {k: dict(v) for k, v in self.options.items()}}
