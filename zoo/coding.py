"""Clips to bitstreams and back, with the metrics measured on what was decoded."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

from torch import Tensor

from .bitstream import FrameRecord, Header
from .build import ModelSpec
from .color import rgb_to_yuv420, yuv420_to_rgb
from .errors import ZooError
from .metrics import bits_per_pixel, ms_ssim_rgb, psnr_rgb, psnr_yuv
from .models import OpenModel, open_model
from .sequence import decode_records, encode_frames
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


def open_for_header(header: Header) -> OpenModel:
    """The model a bitstream was made with; its weights must match the header's hash."""
    spec = header.model
    model = open_model(spec.get("name"), ModelSpec(tuple(spec.get("plugins", ())),
                                                   spec.get("preset", "lite"),
                                                   spec.get("options", {})),
                       untrained=bool(spec.get("untrained")))
    if not model.sha256.startswith(header.weights_sha256):
        raise ZooError(f"the bitstream was made with weights {header.weights_sha256}…, "
                       f"this zoo has {model.sha256[:16]}… for that model")
    return model


def decode_stream(header: Header, records: list[FrameRecord],
                  progress: Progress | None = None) -> list[Tensor]:
    """Decode every record (RGB frames, cropped)."""
    model = open_for_header(header)
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

