"""Shared fixtures: a tiny real clip and small helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.io.video import Clip, read_clip, write_y4m

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "zoo" / "samples" / "carphone_176x144.mp4"


def crop_clip(clip: Clip, width: int, height: int, frames: int) -> Clip:
    """The top-left ``width`` x ``height`` of the first ``frames`` frames (even sizes)."""
    planes = [(y[:height, :width].copy(), u[:height // 2, :width // 2].copy(),
               v[:height // 2, :width // 2].copy()) for y, u, v in clip.frames[:frames]]
    return Clip(frames=planes, width=width, height=height, fps=clip.fps)


@pytest.fixture(scope="session")
def tiny_clip() -> Clip:
    """Three real frames (carphone), 72x48: odd multiples of nothing, so padding is exercised."""
    return crop_clip(read_clip(SAMPLE, 3), 72, 48, 3)


@pytest.fixture(scope="session")
def tiny_y4m(tiny_clip, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "tiny_72x48.y4m"
    write_y4m(path, tiny_clip)
    return path


@pytest.fixture
def rgb_frames(tiny_clip) -> list[torch.Tensor]:
    from zoo.io.color import yuv420_to_rgb
    return [yuv420_to_rgb(*planes) for planes in tiny_clip.frames]


def random_planes(height: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ch, cw = (height + 1) // 2, (width + 1) // 2
    return (rng.integers(16, 236, (height, width), dtype=np.uint8),
            rng.integers(16, 241, (ch, cw), dtype=np.uint8),
            rng.integers(16, 241, (ch, cw), dtype=np.uint8))
