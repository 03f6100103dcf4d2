"""Clips to bitstreams and back, with the metrics measured on what was decoded."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from .bitstream import FrameRecord, Header
from .build import ModelSpec
from .color import rgb_to_yuv420, yuv420_to_rgb
from .errors import ZooError
from .metrics import bits_per_pixel, ms_ssim_rgb, psnr_rgb, psnr_yuv
from .models import OpenModel, open_model
from .sequence import decode_records, encode_frames, padded_size
from .video import Clip

Progress = Callable[[], None]


def _tick(progress: Progress | None) -> None:
    if progress is not None:
        progress()


def encode_clip(model: OpenModel, clip: Clip, quality: int, intra_period: int,
                progress: Progress | None = None) -> tuple[Header, list[FrameRecord], list[Tensor]]:
    """Code every frame of ``clip``; returns the header, the records and the
    encoder's reconstructions (RGB, cropped)."""
    if not 0 <= quality < model.codec.qualities:
        raise ZooError(f"quality {quality} is out of range (0..{model.codec.qualities - 1})")
    records, recon = [], []
    frames = (yuv420_to_rgb(*planes) for planes in clip.frames)
    for record, x_hat in encode_frames(model.codec, frames, quality, intra_period):
        records.append(record)
        recon.append(x_hat)
        _tick(progress)
    header = Header(model=model.header_model(), weights_sha256=model.sha256, quality=quality,
                    width=clip.width, height=clip.height, frame_count=len(records),
                    fps=clip.fps, intra_period=intra_period)
    return header, records, recon


#: A model named by a bitstream header is built under these limits (tensor elements
#: and tensors allocated while building it): plugin options come from the file, and
#: ``refiner.channels=100000`` must be a clear error, not gigabytes of weights. The
#: largest zoo model (full preset) holds about 43M elements in about 500 tensors.
MAX_MODEL_ELEMENTS = 250_000_000
MAX_MODEL_TENSORS = 20_000
#: Largest padded frame area (pixels) a bitstream may ask the decoder for; the
#: decoder's memory grows with it (about 1.2 KB per pixel, lite preset), and a
#: 100-byte stream may declare 16384x16384. ``$ZOO_MAX_PIXELS`` overrides it.
MAX_PIXELS_ENV = "ZOO_MAX_PIXELS"
MAX_PIXELS = 4096 * 2304


def max_pixels() -> int:
    value = os.environ.get(MAX_PIXELS_ENV, "")
    if not value:
        return MAX_PIXELS
    if not value.isdigit() or int(value) < 1:
        raise ZooError(f"${MAX_PIXELS_ENV} must be a positive integer, got {value!r}")
    return int(value)


_FACTORIES = frozenset({torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn,
                        torch.randint, torch.eye, torch.arange, torch.linspace, torch.tensor})
_SIZED = frozenset({torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn})


class _BuildBudget(TorchFunctionMode):
    """Counts the tensors created while a model is built; a ZooError past the limits."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what, self.elements, self.tensors = what, 0, 0

    def _check(self, elements: int) -> None:
        if self.elements + elements > MAX_MODEL_ELEMENTS or self.tensors >= MAX_MODEL_TENSORS:
            raise ZooError(f"{self.what} is too large to build (more than {MAX_MODEL_ELEMENTS:,} "
                           f"weights or {MAX_MODEL_TENSORS:,} tensors)")

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SIZED:  # refuse before allocating
            size = kwargs.get("size", args[0] if args and not isinstance(args[0], int) else args)
            try:
                self._check(math.prod(int(s) for s in size))
            except (TypeError, ValueError):
                pass
        result = func(*args, **kwargs)
        if func in _FACTORIES and isinstance(result, Tensor):
            self._check(result.numel())
            self.elements += result.numel()
            self.tensors += 1
        return result


def open_for_header(header: Header) -> OpenModel:
    """The model a bitstream was made with; its weights must match the header's hash."""
    spec = header.model
    name, plugins = spec.get("name"), spec.get("plugins", [])
    preset, options = spec.get("preset", "lite"), spec.get("options", {})
    if not (name is None or isinstance(name, str)) or not isinstance(preset, str) \
            or not (isinstance(plugins, list) and all(isinstance(p, str) for p in plugins)) \
            or not (isinstance(options, dict) and all(isinstance(o, dict) for o in options.values())):
        raise ZooError("header is corrupt (a model spec field has the wrong type)")
    text = json.dumps(spec, separators=(",", ":"))
    what = f"the bitstream's model {text if len(text) <= 100 else text[:99] + '…'}"
    with _BuildBudget(what):
        model = open_model(name, ModelSpec(tuple(plugins), preset, options),
                           untrained=bool(spec.get("untrained")))
    if not model.sha256.startswith(header.weights_sha256):
        raise ZooError(f"the bitstream was made with weights {header.weights_sha256}…, "
                       f"this zoo has {model.sha256[:16]}… for that model")
    return model


def decode_stream(header: Header, records: list[FrameRecord],
                  progress: Progress | None = None) -> list[Tensor]:
    """Decode every record (RGB frames, cropped)."""
    ph, pw = padded_size(header.height, header.width)
    if ph * pw > max_pixels():
        raise ZooError(f"the bitstream's frame size {header.width}x{header.height} is larger than "
                       f"this decoder allows ({max_pixels():,} pixels once padded to {pw}x{ph}; "
                       f"${MAX_PIXELS_ENV} raises the limit)")
    model = open_for_header(header)
    if not 0 <= header.quality < model.codec.qualities:
        raise ZooError(f"header field quality = {header.quality} is out of range for this model "
                       f"(0..{model.codec.qualities - 1})")
    frames = []
    for x_hat in decode_records(model.codec, records, header.height, header.width, header.quality):
        frames.append(x_hat)
        _tick(progress)
    return frames


def to_clip(frames: Iterable[Tensor], width: int, height: int, fps) -> Clip:
    return Clip(frames=[rgb_to_yuv420(x) for x in frames], width=width, height=height, fps=fps)


@dataclass
class FrameStats:
    index: int
    kind: str
    bytes: int
    bpp: float
    psnr_rgb: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    ms_ssim: float


def frame_stats(source: Clip, decoded: Clip, records: list[FrameRecord],
                sizes: list[int]) -> list[FrameStats]:
    """Per-frame metrics of ``decoded`` (the written 8-bit frames) against ``source``."""
    stats = []
    for index, (orig, dec, record, size) in enumerate(zip(source.frames, decoded.frames,
                                                          records, sizes)):
        x, x_hat = yuv420_to_rgb(*orig), yuv420_to_rgb(*dec)
        yuv = psnr_yuv(orig, dec)
        stats.append(FrameStats(index, record.kind, size,
                                bits_per_pixel(size, source.width, source.height),
                                psnr_rgb(x, x_hat), yuv["y"], yuv["u"], yuv["v"], yuv["yuv"],
                                ms_ssim_rgb(x, x_hat)))
    return stats


def summarise(stats: list[FrameStats], total_bytes: int, width: int, height: int) -> dict:
    """Averages per frame type and overall; overall bpp counts every byte of the file."""
    def mean(rows: list[FrameStats], key: str) -> float:
        values = [getattr(r, key) for r in rows]
        return sum(values) / len(values) if values else math.nan

    keys = ("bpp", "psnr_rgb", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ms_ssim")
    groups = {"I": [s for s in stats if s.kind == "I"], "P": [s for s in stats if s.kind == "P"]}
    summary = {kind: {"frames": len(rows), **{k: mean(rows, k) for k in keys}}
               for kind, rows in groups.items() if rows}
    summary["all"] = {"frames": len(stats), **{k: mean(stats, k) for k in keys},
                      "bpp": bits_per_pixel(total_bytes, width, height, max(len(stats), 1)),
                      "bytes": total_bytes}
    return summary

