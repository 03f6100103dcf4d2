"""Crafted entropy-coded strings cannot crash the decoder."""

from __future__ import annotations

import subprocess
import sys

import torch

from zoo.build import ModelSpec, build_codec
from zoo.guard import GuardedDecoder

CRAFTED = """
import torch
from zoo.build import ModelSpec, build_codec
codec = build_codec(ModelSpec(()))
codec.update(force=True)
entropy = codec.residual_domain.entropy
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
