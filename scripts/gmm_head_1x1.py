#!/usr/bin/env python
"""Weights of a ``gmm`` model with the 3x3 mixture head (before 2026-12-05) as weights
of today's 1x1 head: each output's taps summed, the kernel's response to an input
that is constant over its 3x3 window (the v17 campaign's starting point).

    python scripts/gmm_head_1x1.py IN.safetensors OUT.safetensors

Every other tensor, and the metadata (the model spec), is copied unchanged.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import safetensors
import safetensors.torch

from zoo.io.atomic import atomic_path

#: The mixture head: the hyper-synthesis's last convolution, in gmm's own module
#: (the default hyperprior's lies under ``...entropy.model.codec.latent_codec``).
HEAD = re.compile(r"(^|\.)entropy\.model\.hyper\.h_s\.4\.weight$")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    with safetensors.safe_open(str(args.source), "pt") as f:
        metadata = f.metadata()
        state = {key: f.get_tensor(key) for key in f.keys()}
    heads = [key for key, value in state.items()
             if HEAD.search(key) and value.dim() == 4 and value.shape[-2:] == (3, 3)]
    if not heads:
        print(f"error: {args.source} holds no 3x3 gmm mixture head", file=sys.stderr)
        return 2
    for key in heads:
        state[key] = state[key].float().sum((2, 3), keepdim=True).to(state[key].dtype)
    with atomic_path(args.target) as tmp:
        safetensors.torch.save_file(state, str(tmp), metadata)
    print(f"{args.target}: {len(heads)} head(s) summed to 1x1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
