"""Building blocks shared by slot modules: warping and the contextual transforms.

The transforms follow DCVC's contextual encoder/decoder (Li et al., NeurIPS
2021) at three fusion points, built from CompressAI's layers; the
:class:`~zoo.slots.Fusion` module passed to ``forward`` decides how the context
enters (none for non-conditional coding). Every builder takes ``scale``, the
stride of the finest features (``Config.feature_scale``): 1 keeps the papers'
full-resolution layers (fusion at 1, 1/2, 1/4); 2 is the lite layout of
DCVC-RT (Jia et al., CVPR 2025): a pixel-unshuffle first and a pixel-shuffle
last, every layer between at 1/2 or below (fusion at 1/2, 1/4, 1/8), and
depthwise-separable residual blocks.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from compressai.layers import GDN, ResidualBlock, conv1x1, conv3x3
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from zoo.slots import Context, Fusion, Reference, ResidualDomain

LEVELS = 3  #: fusion points, at 1, 2 and 4 times the finest features' stride


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


class DepthConv(nn.Module):
    """Depthwise-separable residual block (DCVC-DC's DepthConv): 1x1, depthwise 3x3, 1x1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv1x1(channels, channels), nn.LeakyReLU(0.01),
                                  nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
                                  nn.LeakyReLU(0.01), conv1x1(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def block(channels: int, scale: int) -> nn.Module:
    """A residual block for features at 1/``scale``: depthwise-separable in the lite
    layout (``scale`` 2), CompressAI's ``ResidualBlock`` in the papers' (``scale`` 1)."""
    return DepthConv(channels) if scale > 1 else ResidualBlock(channels, channels)


def to_features(in_channels: int, channels: int, scale: int) -> nn.Module:
    """Full-resolution pixels to features at 1/``scale``: pixel-unshuffle, then a 3x3
    convolution (DCVC-RT's way to keep every later layer off the full resolution)."""
    if scale == 1:
        return nn.Sequential(conv3x3(in_channels, channels))
    return nn.Sequential(nn.PixelUnshuffle(scale), conv3x3(in_channels * scale**2, channels))


def to_pixels(channels: int, out_channels: int, scale: int) -> nn.Module:
    """Features at 1/``scale`` to full-resolution pixels: a 3x3 convolution, pixel-shuffle."""
    if scale == 1:
        return nn.Sequential(conv3x3(channels, out_channels))
    return nn.Sequential(conv3x3(channels, out_channels * scale**2), nn.PixelShuffle(scale))


def last_conv(module: nn.Module) -> nn.Conv2d:
    """The last 2-D convolution of ``module``."""
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)][-1]


def preserve_variance(module: nn.Module) -> nn.Module:
    """Re-initialise ``module``'s convolutions to keep their input's variance (He et
    al.'s normal initialisation with gain 1, zero biases). PyTorch's default divides
    the variance by 3 per layer: through a conditional coder's dozen plain
    convolutions and fusions, the coded residual reached the latent 250 times
    weaker than the context (measured: 0.004 of its amplitude, against 0.12 for
    the four layers of :func:`gdn_analysis`), and the latent never carried it."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, a=1, nonlinearity="leaky_relu")
            nn.init.zeros_(m.bias)
    return module


def start_at_zero(module: nn.Module) -> nn.Module:
    """Zero ``module``'s last convolution, so that untrained it adds nothing to a
    residual path (the refiner's correction, a decoded residual): training starts
    from the prediction instead of from noise, and the latent is not driven to
    zero while the decoder is still random."""
    nn.init.zeros_(last_conv(module).weight)
    nn.init.zeros_(last_conv(module).bias)
    return module


def start_as_identity(module: nn.Module) -> nn.Module:
    """Initialise a stack of convolutions, residual blocks and pixel (un)shuffles so that
    it starts as the identity on its first channels (Dirac kernels, the blocks' last
    convolutions zero): a feature extractor starts as the pixel-unshuffled frame, a
    frame generator as the pixel-shuffle of its input's first channels, so that a
    model that codes in feature space starts from the prediction instead of from a
    random decoder (6-7 dB), as :func:`start_at_zero` does for residuals."""
    for m in module.children():
        if isinstance(m, (DepthConv, ResidualBlock)):
            nn.init.zeros_(last_conv(m).weight)
            nn.init.zeros_(last_conv(m).bias)
        elif isinstance(m, nn.Conv2d):
            nn.init.dirac_(m.weight)
            nn.init.zeros_(m.bias)
        else:
            start_as_identity(m)
    return module


def mask_predictor(channels: int, out_channels: int, scale: int, pixels: bool) -> nn.Module:
    """A soft mask in [0, 1] from the prediction (pixel-unshuffled to 1/``scale``) and the
    finest context level: ``out_channels`` at full resolution when ``pixels``, else at 1/``scale``.
    It starts near 1 (the whole prediction kept; sigmoid(4) = 0.98)."""
    inputs = 3 * scale**2 + channels
    last = to_pixels(channels, out_channels, scale) if pixels else conv3x3(channels, out_channels)
    nn.init.zeros_(last_conv(last).weight)
    nn.init.constant_(last_conv(last).bias, 4.0)
    return nn.Sequential(conv3x3(inputs, channels), block(channels, scale), last, nn.Sigmoid())


def feature_extractor(channels: int, scale: int = 1, identity: bool = False) -> nn.Module:
    """RGB to ``channels`` features at 1/``scale``; with ``identity``, starting as the
    pixel-unshuffled frame (:func:`start_as_identity`)."""
    module = nn.Sequential(to_features(3, channels, scale), block(channels, scale))
    return start_as_identity(module) if identity else module


def frame_generator(in_channels: int, channels: int, scale: int = 1,
                    identity: bool = False) -> nn.Module:
    """Features at 1/``scale`` back to an RGB frame: initialised to preserve variance, or
    with ``identity`` to start as the pixel-shuffle of the input's first channels."""
    module = nn.Sequential(conv3x3(in_channels, channels), block(channels, scale),
                           block(channels, scale), to_pixels(channels, 3, scale))
    return start_as_identity(module) if identity else preserve_variance(module)


class ContextualAnalysis(nn.Module):
    """``x`` and the context pyramid to the latent (B, M, H/16, W/16).

    The pyramid's levels are at 1/``scale``, 2/``scale``, 4/``scale``; ``x`` is
    full-resolution pixels when ``pixels`` is true, else features at 1/``scale``.
    Initialised to preserve variance (:func:`preserve_variance`), as is the synthesis.
    """

    def __init__(self, in_channels: int, channels: int, latent_channels: int,
                 scale: int = 1, pixels: bool = True) -> None:
        super().__init__()
        kernel = 3 if scale > 1 else 5
        self.head = to_features(in_channels, channels, scale) if pixels else conv3x3(in_channels, channels)
        self.down = nn.ModuleList(nn.Sequential(conv(channels, channels, kernel), GDN(channels))
                                  for _ in range(LEVELS))
        self.out = conv(channels, latent_channels, kernel, stride=16 // (scale * 2**LEVELS))
        preserve_variance(self)

    def forward(self, x: Tensor, context: list[Tensor] | None = None,
                fusion: Fusion | None = None) -> Tensor:
        h = self.head(x)
        for level, down in enumerate(self.down):
            if fusion is not None and context is not None:
                h = fusion.encode(level, h, context[level])
            h = down(h)
        return self.out(h)


class ContextualSynthesis(nn.Module):
    """The latent and the context pyramid back to ``out_channels`` at 1/``scale``."""

    def __init__(self, latent_channels: int, channels: int, out_channels: int,
                 scale: int = 1) -> None:
        super().__init__()
        kernel = 3 if scale > 1 else 5
        first = deconv(latent_channels, channels, kernel) if scale == 1 else conv3x3(latent_channels, channels)
        self.head = nn.Sequential(first, GDN(channels, inverse=True))
        self.up = nn.ModuleList(nn.Sequential(deconv(channels, channels, kernel), GDN(channels, inverse=True))
                                for _ in range(LEVELS))
        self.tail = nn.Sequential(block(channels, scale), conv3x3(channels, out_channels))
        preserve_variance(self)

    def forward(self, y: Tensor, context: list[Tensor] | None = None,
                fusion: Fusion | None = None) -> Tensor:
        h = self.head(y)
        for level, up in zip(reversed(range(LEVELS)), self.up):
            h = up(h)
            if fusion is not None and context is not None:
                h = fusion.decode(level, h, context[level])
        return self.tail(h)


def temporal_prior(channels: int, out_channels: int, scale: int = 1) -> nn.Module:
    """The coarsest context level (at 4/``scale``) to the latent grid (1/16): the input
    of a conditioned entropy model (DCVC's temporal prior)."""
    steps = [conv(channels, channels, 3), nn.LeakyReLU(0.01)] * (2 if scale == 1 else 1)
    return nn.Sequential(*steps, conv3x3(channels, out_channels))


def gdn_analysis(in_channels: int, channels: int, latent_channels: int, kernel: int = 5,
                 scale: int = 1) -> nn.Module:
    """Ballé et al.'s analysis transform, four stride-2 convolutions with GDN to 1/16;
    with ``scale`` 2, the first is a pixel-unshuffle and a 3x3 convolution."""
    n = channels
    first = conv(in_channels, n, kernel) if scale == 1 else to_features(in_channels, n, 2)
    kernel = kernel if scale == 1 else 3
    return nn.Sequential(first, GDN(n), conv(n, n, kernel), GDN(n),
                         conv(n, n, kernel), GDN(n), conv(n, latent_channels, kernel))


def gdn_synthesis(latent_channels: int, channels: int, out_channels: int, kernel: int = 5,
                  scale: int = 1) -> nn.Module:
    """The mirror of :func:`gdn_analysis`, with inverse GDN."""
    n = channels
    last = deconv(n, out_channels, kernel) if scale == 1 else to_pixels(n, out_channels, 2)
    kernel = kernel if scale == 1 else 3
    return nn.Sequential(deconv(latent_channels, n, kernel), GDN(n, inverse=True),
                         deconv(n, n, kernel), GDN(n, inverse=True), deconv(n, n, kernel),
                         GDN(n, inverse=True), last)


class TransformCoder(nn.Module):
    """``g_a`` -> entropy model -> ``g_s``, latents at 1/16: flows and I-frames.

    ``scale`` divides the input before ``g_a`` and multiplies ``g_s``'s output:
    flows in pixels span two orders of magnitude (0.1 to 45 px in 128² training
    crops), and unscaled they drive the latent to collapse in training.
    """

    def __init__(self, g_a: nn.Module, g_s: nn.Module, entropy: nn.Module,
                 scale: float = 1.0) -> None:
        super().__init__()
        self.g_a, self.g_s, self.entropy, self.scale = g_a, g_s, entropy, scale

    def forward(self, x: Tensor, q: int, ref: Reference | None = None) -> dict:
        """``ref``: unused (the motion-coding slot passes it; this coder codes ``x`` alone)."""
        out = self.entropy(self.g_a(x / self.scale), q)
        return {"x_hat": self.g_s(out["y_hat"]) * self.scale, "likelihoods": out["likelihoods"]}

    def compress(self, x: Tensor, q: int, ref: Reference | None = None) -> tuple[list[bytes], Tensor]:
        strings, y_hat = self.entropy.compress(self.g_a(x / self.scale), q)
        return strings, self.g_s(y_hat) * self.scale

    def decompress(self, strings: list[bytes], size: tuple[int, int], q: int,
                   ref: Reference | None = None) -> Tensor:
        y_hat = self.entropy.decompress(strings, (size[0] // 16, size[1] // 16), q)
        return self.g_s(y_hat) * self.scale


class LatentResidualCoder(ResidualDomain):
    """A residual domain that codes one latent at 1/16 through ``self.entropy``.

    Subclasses say what is coded and how the frame is rebuilt:
    ``prepare(ctx)`` derives what both sides compute from the context (e.g. a
    masked prediction), ``analyse(x, ctx, prepared) -> y`` and
    ``synthesise(y_hat, ctx, prepared) -> (x_hat, feature)``. Forward, compress
    and decompress follow, and the encoder's reconstruction is the decoder's by
    construction. A subclass that sets ``prior`` (a module from the context pyramid's
    coarsest level to the latent grid, e.g. :func:`temporal_prior`) offers it to the
    entropy model as its ``context``.
    """

    entropy: nn.Module

    def _context(self, ctx: Context) -> Tensor | None:
        prior = getattr(self, "prior", None)  # a submodule: not a class attribute
        return None if prior is None else prior(ctx.features[-1])

    def prepare(self, ctx: Context) -> Any:
        return None

    def analyse(self, x: Tensor, ctx: Context, prepared: Any) -> Tensor:
        raise NotImplementedError

    def synthesise(self, y_hat: Tensor, ctx: Context, prepared: Any) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def forward(self, x: Tensor, ctx: Context, ref: Reference, q: int) -> dict:
        prepared = self.prepare(ctx)
        out = self.entropy(self.analyse(x, ctx, prepared), q, self._context(ctx))
        x_hat, feature = self.synthesise(out["y_hat"], ctx, prepared)
        return {"x_hat": x_hat, "likelihoods": out["likelihoods"], "feature": feature}

    def compress(self, x: Tensor, ctx: Context, ref: Reference, q: int):
        prepared = self.prepare(ctx)
        strings, y_hat = self.entropy.compress(self.analyse(x, ctx, prepared), q,
                                               self._context(ctx))
        return (strings, *self.synthesise(y_hat, ctx, prepared))

    def decompress(self, strings: list[bytes], ctx: Context, ref: Reference, q: int):
        h, w = ref.frame.shape[-2:]
        y_hat = self.entropy.decompress(strings, (h // 16, w // 16), q, self._context(ctx))
        return self.synthesise(y_hat, ctx, self.prepare(ctx))
