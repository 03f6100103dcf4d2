"""Crafted entropy-coded strings cannot crash the decoder."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from zoo.core.build import ModelSpec, build_codec
from zoo.core.guard import GuardedDecoder

CRAFTED = """
import pytest
import torch
from zoo.core.build import ModelSpec, build_codec
codec = build_codec(ModelSpec(()))
codec.update(force=True)
entropy = codec.motion_coding.entropy  # no temporal prior: strings alone decode
strings, _ = entropy.compress(20 * torch.randn(1, 64, 64, 64), 3)
for crafted in ([b"\\xff" * 16, strings[1]], [b"", b""], [strings[0][:8], strings[1][:4]],
                [b"\\xff" * 4096, b"\\xff" * 64]):
    try:
        entropy.decompress(crafted, (64, 64), 3)
    except Exception:
        pass
print("alive")
"""


def test_every_entropy_model_is_guarded():
    codec = build_codec(ModelSpec(()))
    coders = [m.entropy_coder._decoder for m in codec.modules() if hasattr(m, "entropy_coder")]
    assert coders and all(isinstance(d, GuardedDecoder) for d in coders)


def test_valid_strings_decode_as_before():
    codec = build_codec(ModelSpec(()))
    codec.update(force=True)
    entropy = codec.motion_coding.entropy
    y = 10 * torch.randn(1, 64, 4, 8, generator=torch.Generator().manual_seed(1))
    strings, y_hat = entropy.compress(y, 2)
    assert torch.equal(entropy.decompress(strings, (4, 8), 2), y_hat)


def test_truncated_and_crafted_strings_do_not_crash_the_process():
    # Unguarded, the second string kills CompressAI's rANS decoder (read past the end).
    result = subprocess.run([sys.executable, "-c", CRAFTED], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-500:]
    assert "alive" in result.stdout


def test_the_chunked_mixture_codes_the_same_bytes_as_compressais(monkeypatch):
    from compressai.entropy_models import GaussianMixtureConditional

    from zoo.core import guard
    generator = torch.Generator().manual_seed(0)
    y = 6 * torch.randn(1, 8, 4, 6, generator=generator)
    y[:, 3] = 0  # a channel left out by the bitmap
    scales = 3 * torch.rand(1, 24, 4, 6, generator=generator)
    means = torch.randn(1, 24, 4, 6, generator=generator)
    weights = torch.rand(1, 3, 8, 4, 6, generator=generator).softmax(1).view(1, 24, 4, 6)
    plain = GaussianMixtureConditional(K=3)
    chunked = guard.guard_coders(torch.nn.Sequential(GaussianMixtureConditional(K=3)))[0]
    assert type(chunked) is guard.ChunkedMixtureConditional
    monkeypatch.setattr(guard, "CDF_CHUNK", 100)  # a few latents per chunk
    params = (scales, means, weights)
    (string, abs_max, bitmap), _ = plain.compress(y, *(p.clone() for p in params))
    (chunked_string, *_), y_hat = chunked.compress(y, *(p.clone() for p in params))
    assert chunked_string == guard.trimmed(string)
    decoded = chunked.decompress(string, abs_max, bitmap, *(p.clone() for p in params))
    assert torch.equal(decoded, y_hat) and torch.equal(decoded, torch.round(y))
    with pytest.raises(ValueError, match="not finite"):
        chunked.compress(y * float("nan"), *(p.clone() for p in params))
