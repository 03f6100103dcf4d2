"""Clips to bitstreams and back, with the metrics measured on what was decoded."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from torch import Tensor

from .bitstream import FrameRecord, Header, dump_header
from .budget import BuildBudget
from .build import ModelSpec
from .color import rgb_to_yuv420, yuv420_to_rgb
from .errors import ZooError
from .metrics import bits_per_pixel, ms_ssim_rgb, psnr_rgb, psnr_yuv
from .models import OpenModel, open_recorded
from .sequence import decode_records, encode_frames, padded_size
from .video import Clip

Progress = Callable[[], None]

#: Largest padded frame area (pixels) a bitstream may ask the decoder for; the
#: decoder's memory grows with it (about 1.2 KB per pixel, lite preset), and a
#: 100-byte stream may declare 16384x16384. ``$ZOO_MAX_PIXELS`` overrides it.
MAX_PIXELS_ENV = "ZOO_MAX_PIXELS"
MAX_PIXELS = 4096 * 2304
#: Set (to anything but "" or "0") to decode a stream whose plugins now come from
#: other packages or versions; ``zoo decode --allow-plugin-mismatch`` does the same.
ALLOW_MISMATCH_ENV = "ZOO_ALLOW_PLUGIN_MISMATCH"


def _tick(progress: Progress | None) -> None:
    if progress is not None:
        progress()


def encode_clip(model: OpenModel, clip: Clip, quality: int, intra_period: int,
                progress: Progress | None = None) -> tuple[Header, list[FrameRecord], list[Tensor]]:
    """Code every frame of ``clip``; returns the header, the records and the
    encoder's reconstructions (RGB, cropped). The header is checked before any frame."""
    if not 0 <= quality < model.codec.qualities:
        raise ZooError(f"quality {quality} is out of range (0..{model.codec.qualities - 1})")
    header = Header(model=model.header_model(), weights_sha256=model.sha256, quality=quality,
                    width=clip.width, height=clip.height, frame_count=len(clip.frames),
                    fps=clip.fps, intra_period=intra_period, implementations=model.implementations)
    try:
        dump_header(header)
    except ValueError as e:
        raise ZooError(f"cannot encode this clip: the bitstream header cannot hold it ({e})") from None
    records, recon = [], []
    frames = (yuv420_to_rgb(*planes) for planes in clip.frames)
    for record, x_hat in encode_frames(model.codec, frames, quality, intra_period):
        records.append(record)
        recon.append(x_hat)
        _tick(progress)
    return header, records, recon


def max_pixels() -> int:
    value = os.environ.get(MAX_PIXELS_ENV, "")
    if not value:
        return MAX_PIXELS
    if not value.isdigit() or int(value) < 1:
        raise ZooError(f"${MAX_PIXELS_ENV} must be a positive integer, got {value!r}")
    return int(value)


def model_for_spec(spec: dict, device: str = "cpu") -> OpenModel:
    """The model a header's spec names, built under :class:`~zoo.budget.BuildBudget`."""
    name, plugins = spec.get("name"), spec.get("plugins", [])
    preset, options = spec.get("preset", "lite"), spec.get("options", {})
    if not (name is None or isinstance(name, str)) or not isinstance(preset, str) \
            or not (isinstance(plugins, list) and all(isinstance(p, str) for p in plugins)) \
            or not (isinstance(options, dict) and all(isinstance(o, dict) for o in options.values())):
        raise ZooError("header is corrupt (a model spec field has the wrong type)")
    text = json.dumps(spec, separators=(",", ":"))
    with BuildBudget(f"the bitstream's model {text if len(text) <= 100 else text[:99] + '…'}"):
        return open_recorded(name, ModelSpec(tuple(plugins), preset, options),
                             untrained=bool(spec.get("untrained")), weights=spec.get("weights"),
                             device=device)


def check_identity(model: OpenModel, header: Header, allow_plugin_mismatch: bool = False) -> None:
    """The model must have the header's weights and, unless allowed, its plugins'
    implementations (package and version)."""
    if not model.sha256.startswith(header.weights_sha256):
        raise ZooError(f"the bitstream was made with weights {header.weights_sha256}…, "
                       f"this zoo has {model.sha256[:16]}… for that model")
    ours, theirs = model.implementations, header.implementations
    allowed = allow_plugin_mismatch or os.environ.get(ALLOW_MISMATCH_ENV, "") not in ("", "0")
    if ours != theirs and not allowed:
        name = min(n for n in {*ours, *theirs} if ours.get(n) != theirs.get(n))
        what = "the built-in plugins" if name == "*" else f"plugin {name!r}"
        raise ZooError(f"the bitstream was made with {what} from {theirs.get(name, theirs.get('*'))}, "
                       f"this zoo has {ours.get(name, ours.get('*'))} (--allow-plugin-mismatch or "
                       f"${ALLOW_MISMATCH_ENV}=1 decodes anyway; frame checksums still apply)")


def open_for_header(header: Header, device: str = "cpu",
                    allow_plugin_mismatch: bool = False) -> OpenModel:
    """The model a bitstream was made with, on ``device``; see :func:`check_identity`."""
    model = model_for_spec(header.model, device)
    check_identity(model, header, allow_plugin_mismatch)
    return model


def decode_frames(header: Header, records: Iterable[FrameRecord], progress: Progress | None = None,
                  device: str = "cpu", allow_plugin_mismatch: bool = False) -> Iterator[Tensor]:
    """Decode the records one by one on ``device`` (RGB frames, cropped, on the CPU), so
    a writer can take each frame as it comes. The header is checked at the call."""
    ph, pw = padded_size(header.height, header.width)
    if ph * pw > max_pixels():
        raise ZooError(f"the bitstream's frame size {header.width}x{header.height} is larger than "
                       f"this decoder allows ({max_pixels():,} pixels once padded to {pw}x{ph}; "
                       f"${MAX_PIXELS_ENV} raises the limit)")
    model = open_for_header(header, device, allow_plugin_mismatch)
    if not 0 <= header.quality < model.codec.qualities:
        raise ZooError(f"header field quality = {header.quality} is out of range for this model "
                       f"(0..{model.codec.qualities - 1})")

    def frames() -> Iterator[Tensor]:
        for x_hat in decode_records(model.codec, records, header.height, header.width, header.quality):
            yield x_hat
            _tick(progress)

    return frames()


def decode_stream(header: Header, records: list[FrameRecord], progress: Progress | None = None,
                  device: str = "cpu", allow_plugin_mismatch: bool = False) -> list[Tensor]:
    """:func:`decode_frames`, all kept in a list (for short clips)."""
    return list(decode_frames(header, records, progress, device, allow_plugin_mismatch))


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

