"""Building blocks shared by slot modules: warping and the contextual transforms.

The transforms follow DCVC's contextual encoder/decoder (Li et al., NeurIPS
2021) at three fusion points (scales 1, 1/2, 1/4), built from CompressAI's
layers; the :class:`~zoo.slots.Fusion` module passed to ``forward`` decides how the
context enters (none for non-conditional coding).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from compressai.layers import GDN, ResidualBlock, conv3x3
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from .slots import Context, Fusion, Reference, ResidualDomain

LEVELS = 3  #: fusion points, at scales 1, 1/2, 1/4


def warp(x: Tensor, flow: Tensor) -> Tensor:
    """Backward-warp ``x`` by ``flow`` (B, 2, H, W) in pixels, bilinear, border padding."""
    b, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype, device=x.device),
                            torch.arange(w, dtype=x.dtype, device=x.device), indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def downscale_flow(flow: Tensor, factor: int) -> Tensor:
    """The flow of a ``factor``-times smaller picture."""
    return F.avg_pool2d(flow, factor) / factor if factor > 1 else flow


def feature_extractor(channels: int) -> nn.Module:
    """RGB to ``channels`` features at full resolution."""
    return nn.Sequential(conv3x3(3, channels), ResidualBlock(channels, channels))


def frame_generator(in_channels: int, channels: int) -> nn.Module:
    """Features back to an RGB frame."""
    return nn.Sequential(conv3x3(in_channels, channels), ResidualBlock(channels, channels),
                         ResidualBlock(channels, channels), conv3x3(channels, 3))


class ContextualAnalysis(nn.Module):
    """``x`` (B, in, H, W) and the context pyramid to the latent (B, M, H/16, W/16)."""

    def __init__(self, in_channels: int, channels: int, latent_channels: int) -> None:
        super().__init__()
        self.head = conv3x3(in_channels, channels)
        self.down = nn.ModuleList(nn.Sequential(conv(channels, channels), GDN(channels))
                                  for _ in range(LEVELS))
        self.out = conv(channels, latent_channels)

    def forward(self, x: Tensor, context: list[Tensor] | None = None,
                fusion: Fusion | None = None) -> Tensor:
        h = self.head(x)
        for level, down in enumerate(self.down):
            if fusion is not None and context is not None:
                h = fusion.encode(level, h, context[level])
            h = down(h)
        return self.out(h)


class ContextualSynthesis(nn.Module):
    """The latent and the context pyramid back to ``out_channels`` at full resolution."""

    def __init__(self, latent_channels: int, channels: int, out_channels: int) -> None:
        super().__init__()
        self.head = nn.Sequential(deconv(latent_channels, channels), GDN(channels, inverse=True))
        self.up = nn.ModuleList(nn.Sequential(deconv(channels, channels), GDN(channels, inverse=True))
                                for _ in range(LEVELS))
        self.tail = nn.Sequential(ResidualBlock(channels, channels), conv3x3(channels, out_channels))

    def forward(self, y: Tensor, context: list[Tensor] | None = None,
                fusion: Fusion | None = None) -> Tensor:
        h = self.head(y)
        for level, up in zip(reversed(range(LEVELS)), self.up):
            h = up(h)
            if fusion is not None and context is not None:
                h = fusion.decode(level, h, context[level])
        return self.tail(h)


def gdn_analysis(in_channels: int, channels: int, latent_channels: int, kernel: int = 5) -> nn.Module:
    """Ballé et al.'s analysis transform: four stride-2 convolutions with GDN, to 1/16."""
    n = channels
    return nn.Sequential(conv(in_channels, n, kernel), GDN(n), conv(n, n, kernel), GDN(n),
                         conv(n, n, kernel), GDN(n), conv(n, latent_channels, kernel))


def gdn_synthesis(latent_channels: int, channels: int, out_channels: int, kernel: int = 5) -> nn.Module:
    """The mirror of :func:`gdn_analysis`, with inverse GDN."""
    n = channels
    return nn.Sequential(deconv(latent_channels, n, kernel), GDN(n, inverse=True),
                         deconv(n, n, kernel), GDN(n, inverse=True), deconv(n, n, kernel),
                         GDN(n, inverse=True), deconv(n, out_channels, kernel))


class TransformCoder(nn.Module):
    """``g_a`` -> entropy model -> ``g_s``, latents at 1/16: flows and I-frames."""

    def __init__(self, g_a: nn.Module, g_s: nn.Module, entropy: nn.Module) -> None:
        super().__init__()
        self.g_a, self.g_s, self.entropy = g_a, g_s, entropy

    def forward(self, x: Tensor, q: int) -> dict:
        out = self.entropy(self.g_a(x), q)
        return {"x_hat": self.g_s(out["y_hat"]), "likelihoods": out["likelihoods"]}

    def compress(self, x: Tensor, q: int) -> tuple[list[bytes], Tensor]:
        strings, y_hat = self.entropy.compress(self.g_a(x), q)
        return strings, self.g_s(y_hat)

    def decompress(self, strings: list[bytes], size: tuple[int, int], q: int) -> Tensor:
        return self.g_s(self.entropy.decompress(strings, (size[0] // 16, size[1] // 16), q))


class LatentResidualCoder(ResidualDomain):
    """A residual domain that codes one latent at 1/16 through ``self.entropy``.

    Subclasses say what is coded and how the frame is rebuilt:
    ``prepare(ctx)`` derives what both sides compute from the context (e.g. a
    masked prediction), ``analyse(x, ctx, prepared) -> y`` and
    ``synthesise(y_hat, ctx, prepared) -> (x_hat, feature)``. Forward, compress
    and decompress follow, and the encoder's reconstruction is the decoder's by
    construction.
    """

    entropy: nn.Module

    def prepare(self, ctx: Context) -> Any:
        return None

    def analyse(self, x: Tensor, ctx: Context, prepared: Any) -> Tensor:
        raise NotImplementedError

    def synthesise(self, y_hat: Tensor, ctx: Context, prepared: Any) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def forward(self, x: Tensor, ctx: Context, ref: Reference, q: int) -> dict:
        prepared = self.prepare(ctx)
        out = self.entropy(self.analyse(x, ctx, prepared), q)
        x_hat, feature = self.synthesise(out["y_hat"], ctx, prepared)
        return {"x_hat": x_hat, "likelihoods": out["likelihoods"], "feature": feature}

    def compress(self, x: Tensor, ctx: Context, ref: Reference, q: int):
        prepared = self.prepare(ctx)
        strings, y_hat = self.entropy.compress(self.analyse(x, ctx, prepared), q)
        return (strings, *self.synthesise(y_hat, ctx, prepared))

    def decompress(self, strings: list[bytes], ctx: Context, ref: Reference, q: int):
        h, w = ref.frame.shape[-2:]
        y_hat = self.entropy.decompress(strings, (h // 16, w // 16), q)
        return self.synthesise(y_hat, ctx, self.prepare(ctx))
