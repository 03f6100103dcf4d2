"""Clips to bitstreams and back, with the metrics measured on what was decoded."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch
from torch import Tensor

from zoo.errors import ZooError
from zoo.io.bitstream import FrameRecord, Header, dump_header, dumps, loads, record_sizes
from zoo.io.color import rgb_to_yuv420, yuv420_to_rgb
from zoo.io.video import Clip
from .budget import BuildBudget
from .build import ModelSpec
from .config import check_lambdas
from .metrics import bits_per_pixel, ms_ssim_rgb, psnr_rgb, psnr_yuv
from .models import OpenModel, open_recorded
from .sequence import decode_records, encode_frames, padded_size

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
    """The model a header's spec names, built under :class:`~zoo.core.budget.BuildBudget`."""
    name, plugins = spec.get("name"), spec.get("plugins", [])
    preset, options = spec.get("preset", "lite"), spec.get("options", {})
    if not (name is None or isinstance(name, str)) or not isinstance(preset, str) \
            or not (isinstance(plugins, list) and all(isinstance(p, str) for p in plugins)) \
            or not (isinstance(options, dict) and all(isinstance(o, dict) for o in options.values())):
        raise ZooError("header is corrupt (a model spec field has the wrong type)")
    try:
        lambdas = check_lambdas(spec["lambdas"]) if "lambdas" in spec else ()
    except ValueError as e:
        raise ZooError(f"header is corrupt ({e})") from None
    text = json.dumps(spec, separators=(",", ":"))
    with BuildBudget(f"the bitstream's model {text if len(text) <= 100 else text[:99] + '…'}"):
        return open_recorded(name, ModelSpec(tuple(plugins), preset, options, lambdas),
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


def open_decoder(header: Header, device: str = "cpu", allow_plugin_mismatch: bool = False) -> OpenModel:
    """The model to decode a stream with, once its header passes the decoder's checks: the
    frame size (:func:`max_pixels`), the model's identity (:func:`check_identity`), the quality."""
    ph, pw = padded_size(header.height, header.width)
    if ph * pw > max_pixels():
        raise ZooError(f"the bitstream's frame size {header.width}x{header.height} is larger than "
                       f"this decoder allows ({max_pixels():,} pixels once padded to {pw}x{ph}; "
                       f"${MAX_PIXELS_ENV} raises the limit)")
    model = open_for_header(header, device, allow_plugin_mismatch)
    if not 0 <= header.quality < model.codec.qualities:
        raise ZooError(f"header field quality = {header.quality} is out of range for this model "
                       f"(0..{model.codec.qualities - 1})")
    return model


def decode_frames(header: Header, records: Iterable[FrameRecord], progress: Progress | None = None,
                  device: str = "cpu", allow_plugin_mismatch: bool = False) -> Iterator[Tensor]:
    """Decode the records one by one on ``device`` (RGB frames, cropped, on the CPU), so
    a writer can take each frame as it comes. The header is checked at the call."""
    model = open_decoder(header, device, allow_plugin_mismatch)

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


# ------------------------------------------------------------------ the coding path of run and eval


class FrameTimer:
    """Seconds between successive ticks (the first counted from construction); each tick
    then calls ``after``. On CUDA the work queued for the frame is waited for first."""

    def __init__(self, after: Progress | None, device: torch.device) -> None:
        self.after, self.device = after, device
        self.times: list[float] = []
        self.last = time.perf_counter()

    def __call__(self) -> None:
        if self.device.type == "cuda":  # the work queued on the GPU belongs to this frame
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.times.append(now - self.last)
        self.last = now
        _tick(self.after)


@dataclass
class RoundTrip:
    """A clip coded, its stream read back and decoded by a model rebuilt from that stream."""

    header: Header  #: as read back from the stream
    records: list[FrameRecord]  #: as read back
    data: bytes  #: the whole stream
    sizes: list[int]  #: bytes of each record
    decoded: Clip  #: the decoded frames, 8-bit 4:2:0 (what is written and measured)
    stats: list[FrameStats]  #: per frame, decoded against the source
    encode_seconds: list[float]  #: per frame
    decode_seconds: list[float]  #: per frame
    decoder: OpenModel  #: the model rebuilt from the stream's header


Opener = Callable[[Header, str], OpenModel]


def round_trip(model: OpenModel, clip: Clip, quality: int, intra_period: int, *,
               store: Callable[[Header, list[FrameRecord]], bytes] | None = None,
               decoder: Opener = open_decoder, encode_tick: Progress | None = None,
               decode_tick: Progress | None = None) -> RoundTrip:
    """Low-delay coding as ``zoo run`` and ``zoo eval`` do it: encode ``clip``, serialise
    the stream (``store`` writes it and returns the bytes to decode, e.g. a file's; by
    default :func:`~zoo.io.bitstream.dumps`), parse those bytes, decode them on the
    encoder's device with the model ``decoder`` rebuilds from the stream's header (by
    default with the checks of ``zoo decode``), check that the decoded frames equal the
    encoder's reconstruction, and measure them; ``encode_tick`` and ``decode_tick`` are
    called after each frame."""
    timer = FrameTimer(encode_tick, model.device)
    header, records, recon = encode_clip(model, clip, quality, intra_period, timer)
    encode_seconds = timer.times
    data = store(header, records) if store is not None else dumps(header, records)
    header, records = loads(data)
    opened = decoder(header, str(model.device))
    timer = FrameTimer(decode_tick, model.device)
    frames = []
    for x_hat in decode_records(opened.codec, records, header.height, header.width, header.quality):
        frames.append(x_hat)
        timer()
    if not all(torch.equal(a, b) for a, b in zip(recon, frames)):
        raise ZooError("the decoder's frames differ from the encoder's reconstruction")
    sizes = record_sizes(data)
    decoded_clip = to_clip(frames, clip.width, clip.height, clip.fps)
    return RoundTrip(header, records, data, sizes, decoded_clip,
                     frame_stats(clip, decoded_clip, records, sizes), encode_seconds, timer.times,
                     opened)
