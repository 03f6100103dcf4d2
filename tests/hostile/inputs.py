"""Hostile clips and requests given to ``zoo encode``: each is refused before any frame is
coded, in one line, and no stream is written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.core.build import ModelSpec, build_codec
from zoo.core.weights import save_weights
from . import Case, Run, clip_file, only, streams

UNTRAINED = ["--untrained"]


def encode(make_input, *flags: str):
    """``zoo encode INPUT -o out.bin --untrained FLAGS``, INPUT made by ``make_input(folder)``."""
    def make(folder: Path) -> Run:
        source = make_input(folder)
        return Run(["encode", str(source), "-o", str(folder / "out.bin"), *UNTRAINED, *flags])
    return make


def y4m_with_rate(rate: str):
    def make(folder: Path) -> Path:
        frame = bytes(8 * 8 + 2 * 4 * 4)
        (folder / "c.y4m").write_bytes(f"YUV4MPEG2 W8 H8 F{rate} C420jpeg\nFRAME\n".encode() + frame)
        return folder / "c.y4m"
    return make


def yuv_named(name: str):
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(bytes(8 * 8 + 2 * 4 * 4))
        return folder / name
    return make


def wide_png(folder: Path) -> Path:
    (folder / "frames").mkdir()
    Image.fromarray(np.zeros((1, 16385, 3), np.uint8)).save(folder / "frames" / "frame_00000.png")
    return folder / "frames"


def fifo(folder: Path) -> Path:
    os.mkfifo(folder / "clip.y4m")
    return folder / "clip.y4m"


def nan_weights(folder: Path) -> Run:
    """A registry model whose weights file (right sha256) holds a NaN."""
    codec = build_codec(ModelSpec(()))
    streams.nan_weights(codec)
    sha = save_weights(codec, folder / "weights" / "nan.safetensors")
    (folder / "registry.toml").write_text(
        f'[models.nanny]\nplugins = []\nweights = "weights/nan.safetensors"\nsha256 = "{sha}"\n')
    return Run(["encode", str(clip_file(folder)), "-o", str(folder / "out.bin"), "--model", "nanny"],
               env={"ZOO_REGISTRY": str(folder / "registry.toml")})


NO_STREAM = only(Path("."), "clip.y4m")
CASES = [
    Case("y4m frame rate F99999999999:1", "input boundary", encode(y4m_with_rate("99999999999:1")),
         "bad frame rate 99999999999"),
    Case("y4m frame rate F1:99999999999", "input boundary", encode(y4m_with_rate("1:99999999999")),
         "bad frame rate 1/99999999999"),
    Case(".yuv named with 99999999999 fps", "input boundary",
         encode(yuv_named("clip_8x8_99999999999.yuv")), "bad frame rate 99999999999"),
    Case(".yuv named 99999999999fps", "input boundary",
         encode(yuv_named("clip_99999999999fps_8x8.yuv")), "bad frame rate 99999999999"),
    Case("a PNG folder 16385 wide", "input boundary", encode(wide_png),
         "bad frame size 16385x1 (each side must be 1..16384)"),
    Case("--intra-period 65536", "input boundary", encode(clip_file, "--intra-period", "65536"),
         "intra_period must be an int in 0..65535, got 65536", NO_STREAM),
    Case("--option refiner.channels=NaN", "input boundary",
         encode(clip_file, "--plugins", "refiner", "--option", "refiner.channels=NaN"),
         "option refiner.channels must be an integer, got nan", NO_STREAM),
    Case("--option refiner.blocks=Infinity", "input boundary",
         encode(clip_file, "--plugins", "refiner", "--option", "refiner.blocks=Infinity"),
         "option refiner.blocks must be an integer, got inf", NO_STREAM),
    Case("options of 5 KB of JSON", "input boundary",
         encode(clip_file, "--plugins", "ensemble", "--option",
                "ensemble.members=" + ",".join(["m" * 49] * 100)), "more than 4096", NO_STREAM),
    Case("a FIFO as the input clip", "non-regular input", encode(fifo),
         "not a regular file or a folder of PNG frames"),
    Case("a NaN in one weight tensor", "non-finite latents", nan_weights,
         "frame 0 cannot be encoded: ValueError in plugin 'hyperprior' (entropy_model): latents are "
         "not finite", only(Path("."), "clip.y4m", "registry.toml", "weights")),
]
