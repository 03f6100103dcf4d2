"""Entropy model: a Gaussian mixture conditioned on a hyperprior.

Feng, Wu, Guo, Zhang & Chen, "Learned Video Compression with Feature-level
Residuals", CVPR 2020 workshops (CLIC P-frame track), after Cheng et al.,
CVPR 2020: each latent element is coded with

    p(m̂|ẑ) = Π_i (Σ_k π_ik N(μ_ik, σ_ik²) * U(-1/2, 1/2))(m̂_i),

the K weights, means and scales of element i predicted from the hyper-latent
ẑ (coded by an ``EntropyBottleneck``). CompressAI's
``GaussianMixtureConditional`` builds the element's CDF, and its rANS coder codes it.

Inferred (for speed): each element's CDF spans only its mixture's likely values,
μ ± 6σ over its components, as both sides know them from ẑ, in a few widths;
the rare value outside it is coded by the coder's escape (bypass) bin. CompressAI
spans every element's CDF over ±max|ŷ| of the whole latent: 5-10x more entries
to build and pass to the coder (9.4 s against 1.5 s for a 480x256 P-frame's
latent at quality 4, one thread).

Inferred: the mixture codes the P-frame residual latent only (option
``latents``, default ``["residual"]``), so that a table row with ``gmm``
differs from its neighbour in the residual's entropy model alone, not in the
intra and motion coders too; with a temporal prior (DCVC), two 1x1
convolutions fuse it with the hyperprior's parameters, as the default does.

Inferred: the hyper-synthesis ends in a 1x1 convolution to the 3·K·M mixture
parameters, as Cheng et al.'s entropy-parameter network is 1x1 (a 3x3 one cost
17.5k MACs per pixel at the block transforms' 1/8 latent grid, 80 % of the
model's; docs/plugins/gmm.md).
"""

from __future__ import annotations


from typing import Iterator

import numpy as np
import torch
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck, GaussianMixtureConditional
from compressai.latent_codecs import HyperLatentCodec
from compressai.layers import conv1x1, conv3x3
from compressai.models.utils import conv, deconv
from compressai.ops import quantize_ste
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.guard import CDF_CHUNK, check_symbols, padding, trimmed
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.slots import EntropyModel, Strings

#: Coded latents are clipped to ±(MAX_ABS - 1), and no element's CDF spans more
#: than 2 * MAX_ABS + 1 values: this bounds the decoder's memory.
MAX_ABS = 255
SPAN = 6.0  #: an element's CDF spans its components' means ± SPAN scales


def _coding_chunks(mixture: GaussianMixtureConditional, scales: Tensor, means: Tensor,
            weights: Tensor) -> Iterator[tuple[Tensor, list[int], list[list[int]], list[int]]]:
    """The rANS tables of the elements whose parameters are given (each (K, N)), in
    coding order, :data:`CDF_CHUNK` entries at a time (as ``zoo.core.guard`` does):
    which elements, the table each element uses, the distinct tables (CDFs of 2a + 1
    values, a a power of 2, and the escape bin) and their offsets (the value of the
    first bin). Elements whose quantised CDF and offset are equal share one table:
    the coded bytes are the same, and the tables turned into Python lists, which
    cost most of the decode, are fewer. Both sides compute them alike."""
    if not all(bool(torch.isfinite(p).all()) for p in (scales, means, weights)):
        raise ValueError("mixture parameters are not finite")
    lo = (means - SPAN * scales).amin(0).floor().clamp(-MAX_ABS, MAX_ABS - 1)
    hi = (means + SPAN * scales).amax(0).ceil().clamp(-MAX_ABS + 1, MAX_ABS)
    half = ((hi - lo) / 2).clamp(min=2).log2().ceil().exp2().clamp(max=MAX_ABS)
    for a in sorted(int(v) for v in half.unique().tolist()):
        rows = torch.nonzero(half == a).flatten()
        step = max(CDF_CHUNK // (2 * a + 3), 1)
        for part in rows.split(step):
            first = lo[part]  # bin j codes the value first + j
            cdf = mixture._build_cdf(scales[:, part].clone(), means[:, part] - (first + a),
                                     weights[:, part], a)
            keyed = np.ascontiguousarray(torch.cat((cdf, first.int()[:, None]), 1).numpy())
            _, taken, index = np.unique(keyed.view(np.dtype((np.void, keyed.shape[1] * 4))),
                                        return_index=True, return_inverse=True)
            tables = keyed[taken]  # each distinct (CDF, offset) row once
            yield part, index.ravel().tolist(), tables[:, :-1].tolist(), tables[:, -1].tolist()


class GaussianMixtureHyperprior(EntropyModel):
    """Strings: ``[side, y, z]``, ``side`` = the bitmap of the channels coded (non-zero)."""

    def __init__(self, channels: int, hyper_channels: int, components: int,
                 context_channels: int = 0) -> None:
        super().__init__()
        m, n, k = channels, hyper_channels, components
        self.channels, self.components = m, k
        h_a = nn.Sequential(conv3x3(m, n), nn.LeakyReLU(inplace=True), conv(n, n),
                            nn.LeakyReLU(inplace=True), conv(n, n))
        h_s = nn.Sequential(deconv(n, m), nn.LeakyReLU(inplace=True), deconv(m, m * 3 // 2),
                            nn.LeakyReLU(inplace=True), conv1x1(m * 3 // 2, 3 * k * m))
        self.hyper = HyperLatentCodec(EntropyBottleneck(n), h_a, h_s)
        self.mixture = GaussianMixtureConditional(K=k)
        self.fuse = None if not context_channels else nn.Sequential(
            conv1x1(3 * k * m + context_channels, 3 * k * m), nn.LeakyReLU(inplace=True),
            conv1x1(3 * k * m, 3 * k * m))

    def _mixture(self, params: Tensor, context: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        """Scales, means, weights: each (B, K*M, h, w), component-major, weights softmaxed over K."""
        if self.fuse is not None:
            params = self.fuse(torch.cat((params, *context), dim=1))
        scales, means, logits = params.chunk(3, dim=1)
        b, _, h, w = logits.shape
        weights = logits.view(b, self.components, self.channels, h, w).softmax(dim=1)
        return scales, means, weights.view(b, -1, h, w)

    def forward(self, y: Tensor, *context: Tensor) -> dict:
        hyper = self.hyper(y)
        _, y_likelihoods = self.mixture(y, *self._mixture(hyper["params"], context))
        return {"y_hat": quantize_ste(y),
                "likelihoods": {"y": y_likelihoods, "z": hyper["likelihoods"]["z"]}}

    def compress(self, y: Tensor, *context: Tensor) -> tuple[Strings, Tensor]:
        hyper = self.hyper.compress(y)
        y = y.clamp(1 - MAX_ABS, MAX_ABS - 1)
        y_hat = torch.round(y) + 0.0  # -0.0 -> +0.0, as decompress writes zeros
        nonzero = y_hat.abs().amax(dim=(0, 2, 3)) > 0
        y_string = b""
        if nonzero.any():  # the coder cannot code an empty set of channels
            symbols = y_hat[:, nonzero].reshape(-1).int()
            encoder = BufferedRansEncoder()
            for rows, index, cdfs, offsets in self._chunks(nonzero, *self._mixture(hyper["params"], context)):
                check_symbols(part := symbols[rows].tolist())
                encoder.encode_with_indexes(part, index, cdfs, [len(cdfs[0])] * len(cdfs), offsets)
            y_string = trimmed(encoder.flush())
        bitmap = np.packbits(nonzero.cpu().numpy()).tobytes()
        return [bitmap, y_string, *hyper["strings"][0]], y_hat

    def _chunks(self, nonzero: Tensor, scales: Tensor, means: Tensor, weights: Tensor):
        """The coded channels' rANS tables (:func:`_coding_chunks`), channel-major."""
        channels = torch.nonzero(nonzero).flatten().tolist()
        return _coding_chunks(self.mixture, *self.mixture.reshape_entropy_parameters(
            scales.cpu(), means.cpu(), weights.cpu(), channels))

    def _side(self, side: bytes) -> Tensor:
        """The mask of the coded channels, validated."""
        if len(side) != -(-self.channels // 8):
            raise ValueError(f"mixture side info has {len(side)} bytes")
        bits = np.unpackbits(np.frombuffer(side, np.uint8))
        if bits[self.channels:].any():
            raise ValueError("mixture side info is out of range")
        return torch.from_numpy(bits[:self.channels].astype(bool))

    def decompress(self, strings: Strings, shape: tuple[int, int], *context: Tensor) -> Tensor:
        if len(strings) != 3:
            raise ValueError(f"expected 3 strings, got {len(strings)}")
        side, y_string, z_string = strings
        nonzero = self._side(side)
        if bool(nonzero.any()) != bool(y_string):
            raise ValueError("mixture side info and latent string disagree")
        params = self.hyper.decompress([[z_string]], (shape[0] // 4, shape[1] // 4))["params"]
        y_hat = params.new_zeros(1, self.channels, *shape)
        if y_string:
            values = torch.zeros(int(nonzero.sum()) * shape[0] * shape[1])
            decoder = RansDecoder()
            decoder.set_stream(bytes(y_string) + bytes(padding(len(y_string), values.numel())))
            for rows, index, cdfs, offsets in self._chunks(nonzero, *self._mixture(params, context)):
                values[rows] = torch.tensor(decoder.decode_stream(
                    index, cdfs, [len(cdfs[0])] * len(cdfs), offsets), dtype=values.dtype)
            y_hat[:, nonzero] = values.view(1, -1, *shape).to(y_hat)
        return y_hat


@hookimpl
def zoo_entropy_model(config: Config, channels: int, latent: str,
                      context_channels: int) -> nn.Module | None:
    if latent not in config.option("gmm", "latents", ("residual",)):
        return None  # the other latents keep the default entropy model
    return GaussianMixtureHyperprior(channels, config.hyper_channels,
                                     int(config.option("gmm", "components", 3)), context_channels)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="Gaussian mixture (K=3) conditioned on a hyperprior",
                      paper="Feng et al., CVPRW 2020 (CLIC P-frame); Cheng et al., CVPR 2020",
                      options=(Option("components", int, 3, "mixture components K"),
                               Option("latents", list, ("residual",), "the latents the mixture "
                                      "codes (the default entropy model codes the others)",
                                      choices=("intra", "motion", "residual"))))
