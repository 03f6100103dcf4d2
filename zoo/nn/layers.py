"""Building blocks shared by slot modules: warping and the contextual transforms.

The transforms follow DCVC's contextual encoder/decoder (Li et al., NeurIPS
2021) at three fusion points, built from CompressAI's layers; the
:class:`~zoo.slots.Fusion` module passed to ``forward`` decides how the context
enters (none for non-conditional coding). Every builder takes ``scale``, the
stride of the finest features (``Config.feature_scale``): 1 keeps the papers'
full-resolution layers (fusion at 1, 1/2, 1/4); 2 is the lite layout of
DCVC-RT (Jia et al., CVPR 2025): a pixel-unshuffle first and a pixel-shuffle
last, every layer between at 1/2 or below (fusion at 1/2, 1/4, 1/8), and
depthwise-separable residual blocks. In the lite layout the residual domains
code their latent through :class:`BlockAnalysis` / :class:`BlockSynthesis`
instead: block transforms to 1/8 that start as the orthonormal colour DCT.
"""

from __future__ import annotations

import math
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


def fusion_start(scale: int):
    """How a residual domain initialises the fusion module it builds: to preserve
    variance through the papers' contextual transforms (``scale`` 1), or as the
    identity on the transform's signal (:func:`start_as_identity`: a concatenation's
    convolution passes ``h`` and starts deaf to the context, a scaled subtraction
    starts subtracting what the synthesis adds back) for the lite block transforms,
    which start complete and must not start scrambled."""
    return preserve_variance if scale == 1 else start_as_identity


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
        self.width, self.levels = channels, LEVELS  #: the channels at the fusion points, their number
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
    """The coarsest context level (at ``4 * scale``) to the latent grid (1/16, or the
    block transforms' 1/8 in the lite layout): the input of a conditioned entropy
    model (DCVC's temporal prior)."""
    if scale > 1:
        return nn.Sequential(conv3x3(channels, channels), nn.LeakyReLU(0.01),
                             conv3x3(channels, out_channels))
    steps = [conv(channels, channels, 3), nn.LeakyReLU(0.01)] * 2
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


BLOCK = 8  #: the block transform's size: its latent lies at 1/8 (DCVC-RT's latent grid)
#: The block transforms' coefficients are the orthonormal ones times this, so that
#: the highest quality's gain (1) starts at a step of 1/16 in [0, 1] pixel units (about
#: JPEG's quality 85 tables) and the lowest's (0.27) at 0.23 (about quality 40).
BLOCK_GAIN = 16.0


#: Latent channels of the block transforms: every luma coefficient of an 8x8 block and
#: the lower 4x4 frequencies of each colour difference, all that 4:2:0 video holds.
BLOCK_CHANNELS = BLOCK**2 + 2 * (BLOCK // 2) ** 2
#: The latent widths a residual coder's block transforms offer: 4:2:0's, or every row of
#: the block basis (:func:`block_basis`), a transform that starts complete for RGB.
BLOCK_WIDTHS = (BLOCK_CHANNELS, 3 * BLOCK**2)


def block_basis(size: int = BLOCK) -> Tensor:
    """An orthonormal basis of ``size``² RGB blocks whose columns follow
    ``PixelUnshuffle``'s channel order (colour-major): an opponent colour transform
    (luma, two colour differences) ⊗ the 2-D DCT-II, HEVC's and JPEG's residual
    transform. Rows are the basis vectors: every luma one, then each colour
    difference's lower half frequencies (both directions), then the rest."""
    n = torch.arange(size, dtype=torch.float64)
    dct = torch.cos(math.pi * (2 * n[None] + 1) * n[:, None] / (2 * size)) * math.sqrt(2 / size)
    dct[0] /= math.sqrt(2)
    colour = torch.tensor([[1.0, 1, 1], [1, 0, -1], [1, -2, 1]], dtype=torch.float64)
    colour = colour / colour.norm(dim=1, keepdim=True)
    basis = torch.kron(colour, torch.kron(dct, dct))
    u, v = torch.div(torch.arange(size**2), size, rounding_mode="floor"), torch.arange(size**2) % size
    low = (u < size // 2) & (v < size // 2)
    chroma = [torch.nonzero(low).flatten() + a * size**2 for a in (1, 2)]
    rest = [torch.nonzero(~low).flatten() + a * size**2 for a in (1, 2)]
    return basis[torch.cat((torch.arange(size**2), *chroma, *rest))].float()


def _pixel_rows(in_channels: int, stride: int) -> Tensor:
    """Where the pixels of an 8x8 block land among the channels of a block of
    ``in_channels`` features at 1/``stride`` pixel-unshuffled to 1/8, when the features'
    first ``3 * stride²`` channels are the pixel-unshuffled frame: a (192, C) 0/1 map."""
    pixels = torch.eye(3 * BLOCK**2).view(-1, 3, BLOCK, BLOCK)  # one image per pixel
    feats = F.pixel_unshuffle(pixels, stride) if stride > 1 else pixels
    feats = F.pad(feats, (0, 0, 0, 0, 0, in_channels - feats.shape[1]))
    return F.pixel_unshuffle(feats, BLOCK // stride).flatten(1)


class BlockAnalysis(nn.Module):
    """The lite analysis transform: a signal at 1/``stride`` (pixels, or features whose
    first ``3 * stride²`` channels are the pixel-unshuffled frame) pixel-unshuffled to
    1/8, a 1x1 convolution that starts as the orthonormal block transform of the pixels
    (:func:`block_basis`, times :data:`BLOCK_GAIN`; the other channels start unread),
    then, with ``context``, the fusion (one level) of a context at 1/8 and of the
    latent's width, then depthwise-separable blocks that start as the identity.
    Untrained it is a complete, invertible transform (JPEG's, with learned
    quantisation and entropy models), so training starts at an autoencoder that
    loses nothing (the lite GDN stack it replaces reached +0.5 to +2.2 dB over the
    prediction, unquantised, after training; measured on dev); DCVC-RT (Jia et al.,
    CVPR 2025) codes one latent at 1/8 too."""

    def __init__(self, in_channels: int, stride: int, latent_channels: int = BLOCK_CHANNELS,
                 context: bool = False, blocks: int = 2) -> None:
        super().__init__()
        self.stride, self.width, self.levels = stride, latent_channels, 1  # one fusion, at 1/8
        self.linear = conv1x1(in_channels * (BLOCK // stride) ** 2, latent_channels)
        basis = block_basis()[:latent_channels] @ _pixel_rows(in_channels, stride)
        with torch.no_grad():
            self.linear.weight.copy_(BLOCK_GAIN * basis[..., None, None])
            self.linear.bias.zero_()
        self.conditional = context
        self.blocks = nn.Sequential(*(start_at_zero(DepthConv(latent_channels)) for _ in range(blocks)))

    def forward(self, x: Tensor, context: Tensor | None = None,
                fusion: Fusion | None = None) -> Tensor:
        h = self.linear(F.pixel_unshuffle(x, BLOCK // self.stride))
        if self.conditional:
            h = fusion.encode(0, h, context)
        return self.blocks(h)


class BlockSynthesis(nn.Module):
    """The mirror of :class:`BlockAnalysis`: identity-start blocks, the fusion of the
    context, a 1x1 convolution that starts as the inverse block transform (the other
    output channels start at zero), pixel-shuffle back to 1/``stride``."""

    def __init__(self, out_channels: int, stride: int, latent_channels: int = BLOCK_CHANNELS,
                 context: bool = False, blocks: int = 2) -> None:
        super().__init__()
        self.stride = stride
        self.blocks = nn.Sequential(*(start_at_zero(DepthConv(latent_channels)) for _ in range(blocks)))
        self.conditional = context
        self.linear = conv1x1(latent_channels, out_channels * (BLOCK // stride) ** 2)
        basis = block_basis()[:latent_channels] @ _pixel_rows(out_channels, stride)
        with torch.no_grad():
            self.linear.weight.copy_(basis.T[..., None, None] / BLOCK_GAIN)
            self.linear.bias.zero_()

    def forward(self, y: Tensor, context: Tensor | None = None,
                fusion: Fusion | None = None) -> Tensor:
        h = self.blocks(y)
        if self.conditional:
            h = fusion.decode(0, h, context)
        return F.pixel_shuffle(self.linear(h), BLOCK // self.stride)


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
    latent_stride = 16  #: the latent's stride (8 for :class:`BlockAnalysis`)

    def conditioning(self, ctx: Context) -> list[Tensor] | Tensor:
        """What a subclass's contextual transforms fuse: the pyramid, or, when it sets
        ``project`` (block transforms), that module's projection of the coarsest level
        to the latent's width: one projection that the analysis and the synthesis share,
        so that a fusion that starts as the identity starts cancelled."""
        project = getattr(self, "project", None)
        return ctx.features if project is None else project(ctx.features[-1])

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
        size = (h // self.latent_stride, w // self.latent_stride)
        y_hat = self.entropy.decompress(strings, size, q, self._context(ctx))
        return self.synthesise(y_hat, ctx, self.prepare(ctx))
