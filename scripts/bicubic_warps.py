"""Run a ``zoo`` command with bicubic instead of bilinear warps (an experiment, not the zoo).

Every ``grid_sample`` the zoo calls bilinearly (``zoo.nn.layers.warp``, block-motion's
translation) runs bicubic in this process: ``WARP=pixel`` for 3-channel frames only,
``WARP=all`` for features too. Measured in docs/training.md ("Measured again on the
v12 weights"):

    WARP=pixel python scripts/bicubic_warps.py eval --weights W --data CLIPS -o OUT.json
"""

import os
import sys

import torch.nn.functional as F

_grid_sample = F.grid_sample
WHICH = os.environ.get("WARP", "pixel")


def grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    if mode == "bilinear" and (WHICH == "all" or x.shape[1] == 3):
        mode = "bicubic"
    return _grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)


if __name__ == "__main__":
    if WHICH not in ("pixel", "all"):
        sys.exit(f"error: WARP must be pixel or all, got {WHICH!r}")
    F.grid_sample = grid_sample  # before the zoo imports its plugins
    from zoo.cli import main
    sys.exit(main(sys.argv[1:]))
