"""Guards around CompressAI's entropy coders, for strings and latents from strangers.

Decoding: the rANS decoder trusts a string's length, so a crafted string that
passes the container's checksums could make it read past its end and crash the
process. Zero bytes appended to every string cover the most it can read — a
32-bit word per symbol, plus, in its bypass loop, at most 15 words per word of
input — so the decoder always stays inside memory it owns. A valid string
decodes as before: rANS never reads beyond what the encoder wrote. The same
padding lets the encoder drop a string's trailing zero bytes (:func:`trimmed`):
a short message ends in the high bytes of the coder's final state, zero while
few symbols have been coded, and the padding gives them back.

Encoding: a NaN or infinite latent becomes the symbol -2**31, on which the rANS
encoder loops forever; symbols no latent can have are refused instead.

The Gaussian mixture coder builds one CDF of ``2 * abs_max + 3`` entries per
latent, ``abs_max`` (up to 255 in the ``gmm`` plugin) read from the stream's side
information: all at once, that is ~57 GB for a 4096x2304 frame. It builds them
:data:`CDF_CHUNK` entries at a time instead, which gives the same bytes.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import GaussianMixtureConditional
from compressai.entropy_models.entropy_models import EntropyModel
from torch import Tensor, nn

#: Largest |symbol| the rANS encoder is given (a latent ~16M quantisation steps out).
MAX_SYMBOL = 1 << 24
#: Bytes of zeros every decoded string gets at least (:func:`padding`).
MIN_PADDING = 256
#: CDF entries the mixture coder builds at a time (about 100 MB of tensors and lists).
CDF_CHUNK = 1 << 20


def padding(string_length: int, symbols: int) -> int:
    """Bytes of zeros enough for any decoding of ``symbols`` symbols."""
    return 64 * string_length + 8 * symbols + MIN_PADDING


def trimmed(string: bytes) -> bytes:
    """``string`` without its trailing zero bytes, as long as :func:`padding` gives them all
    back (at most :data:`MIN_PADDING`); a rANS string decodes the same either way."""
    short = string.rstrip(b"\0")
    return short if len(string) - len(short) <= MIN_PADDING else string


def check_symbols(symbols: list[int]) -> None:
    """ValueError for symbols that no finite latent gives."""
    if symbols and max(map(abs, symbols)) > MAX_SYMBOL:
        raise ValueError("latents are not finite (or beyond 2**24): refusing to entropy-code them")


class GuardedDecoder:
    """Wraps a CompressAI ``RansDecoder``: same interface, zero padding added."""

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder

    def decode_with_indexes(self, string: bytes, indexes: list, *args: Any) -> list[int]:
        return self.decoder.decode_with_indexes(
            bytes(string) + bytes(padding(len(string), len(indexes))), indexes, *args)


class GuardedEncoder:
    """Wraps a CompressAI ``RansEncoder``: same interface, impossible symbols refused, the
    strings :func:`trimmed`."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder

    def encode_with_indexes(self, symbols: list[int], *args: Any) -> bytes:
        check_symbols(symbols)
        return trimmed(self.encoder.encode_with_indexes(symbols, *args))


class ChunkedMixtureConditional(GaussianMixtureConditional):
    """CompressAI's ``GaussianMixtureConditional`` coding the same bytes with its CDFs
    built :data:`CDF_CHUNK` entries at a time; non-finite latents or parameters are refused."""

    def _cdfs(self, scales: Tensor, means: Tensor, weights: Tensor, nonzero: list[int],
              abs_max: int) -> Iterator[list[list[int]]]:
        params = self.reshape_entropy_parameters(scales, means, weights, nonzero)
        if not all(bool(torch.isfinite(p).all()) for p in params):
            raise ValueError("mixture parameters are not finite")
        step = max(CDF_CHUNK // (2 * abs_max + 3), 1)
        for start in range(0, params[0].size(1), step):
            yield self._build_cdf(*(p[:, start:start + step] for p in params), abs_max).tolist()

    def compress(self, y, scales, means, weights):
        if not bool(torch.isfinite(y).all()):
            raise ValueError("latents are not finite: refusing to entropy-code them")
        abs_max = max(int(y.abs().max()) + 1, 1)
        y_quantized = torch.round(y)
        zero_bitmap = torch.where(torch.sum(torch.abs(y_quantized), (3, 2)).squeeze(0) == 0, 0, 1)
        nonzero = torch.nonzero(zero_bitmap).flatten().tolist()
        symbols = (y_quantized[:, nonzero] + abs_max).reshape(-1).int().tolist()
        encoder, done = BufferedRansEncoder(), 0
        for cdfs in self._cdfs(scales, means, weights, nonzero, abs_max):
            n = len(cdfs)
            encoder.encode_with_indexes(symbols[done:done + n], list(range(n)), cdfs,
                                        [len(cdfs[0])] * n, [0] * n)
            done += n
        return (trimmed(encoder.flush()), abs_max, zero_bitmap), y_quantized

    def decompress(self, strings, abs_max, zero_bitmap, scales, means, weights):
        nonzero = torch.nonzero(zero_bitmap).flatten().tolist()
        count = scales.size(0) * len(nonzero) * scales.size(2) * scales.size(3)
        decoder = RansDecoder()
        decoder.set_stream(bytes(strings) + bytes(padding(len(strings), count)))
        parts = [torch.tensor(decoder.decode_stream(list(range(len(cdfs))), cdfs,
                                                    [len(cdfs[0])] * len(cdfs), [0] * len(cdfs)))
                 for cdfs in self._cdfs(scales, means, weights, nonzero, abs_max)]
        symbols = (torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)) - abs_max
        y_hat = torch.zeros(scales.size(0), zero_bitmap.size(0), scales.size(2), scales.size(3))
        y_hat[:, nonzero] = symbols.reshape(scales.size(0), -1, scales.size(2), scales.size(3)).float()
        return y_hat


def guard_coders(module: nn.Module) -> nn.Module:
    """Guard every CompressAI entropy model inside ``module``; returns it."""
    for m in module.modules():
        if type(m) is GaussianMixtureConditional:  # same state, same bytes: only the methods change
            m.__class__ = ChunkedMixtureConditional
        if isinstance(m, EntropyModel) and not isinstance(m.entropy_coder._decoder, GuardedDecoder):
            m.entropy_coder._decoder = GuardedDecoder(m.entropy_coder._decoder)
            m.entropy_coder._encoder = GuardedEncoder(m.entropy_coder._encoder)
    return module
