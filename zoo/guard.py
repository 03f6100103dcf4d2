"""A guard around CompressAI's rANS decoder for strings from strangers.

The decoder trusts a string's length: a crafted string that passes the
container's checksums could make it read past its end and crash the process.
Zero bytes appended to every string cover the most it can read — a 32-bit word
per symbol, plus, in its bypass loop, at most 15 words per word of input — so
the decoder always stays inside memory it owns. A valid string decodes as
before: rANS never reads beyond what the encoder wrote.
"""

from __future__ import annotations

from typing import Any

from compressai.entropy_models.entropy_models import EntropyModel
from torch import nn


def padding(string_length: int, symbols: int) -> int:
    """Bytes of zeros enough for any decoding of ``symbols`` symbols."""
    return 64 * string_length + 8 * symbols + 256


class GuardedDecoder:
    """Wraps a CompressAI ``RansDecoder``: same interface, zero padding added."""

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder

    def decode_with_indexes(self, string: bytes, indexes: list, *args: Any) -> list[int]:
        return self.decoder.decode_with_indexes(
            bytes(string) + bytes(padding(len(string), len(indexes))), indexes, *args)


def guard_decoders(module: nn.Module) -> nn.Module:
    """Guard every CompressAI entropy model inside ``module``; returns it."""
    for m in module.modules():
        if isinstance(m, EntropyModel) and not isinstance(m.entropy_coder._decoder, GuardedDecoder):
            m.entropy_coder._decoder = GuardedDecoder(m.entropy_coder._decoder)
    return module
