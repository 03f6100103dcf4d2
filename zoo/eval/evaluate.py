"""Evaluation on data sets: every figure from bytes decoded from what was written.

Two modes, both over a set of sequences grouped in classes:

* ``sequence`` (low-delay): an I-frame, then P-frames, with an I-frame every
  ``intra_period`` frames (0: only the first). The whole stream is serialised
  with :func:`zoo.io.bitstream.dumps`, parsed back with :func:`~zoo.io.bitstream.loads`
  and decoded by a model rebuilt from the stream's header; the decoded frames
  must equal the encoder's reconstruction.
* ``pframe`` (CLIC P-frame style): frame ``i`` (``i >= 1``) is coded as a
  P-frame against the *original* frame ``i - 1``; frame 0 is only a reference
  and is not coded. Each frame's bytes are what ``dumps`` writes for its record
  (kind, length, latents, CRC); it is decoded from those bytes.

Metrics come from :func:`zoo.core.coding.frame_stats` on the 8-bit 4:2:0 decoded
frames against the source. Averages: per sequence over its frames; per class
frame-weighted over its sequences; over the set, the plain mean of the classes.
The data size is the sum of the bytes over the set, the CLIC score
``model size + 100 x data size``.

The report is readable by CompressAI's ``compressai.utils.plot``: ``{"name",
"description", "results": {"bpp": [...], "psnr-rgb": [...], ...}}`` with one
entry per rate point, and the per-class and per-sequence detail beside it.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from zoo.core.build import ModelSpec
from zoo.core.coding import (FrameTimer, frame_stats, open_for_header, round_trip, summarise,
                             to_clip)
from zoo.core.models import OpenModel, open_model
from zoo.core.search import Search
from zoo.core.sequence import coding_threads, is_intra, pad, picture_crc
from zoo.errors import ZooError
from zoo.io import bitstream
from zoo.io.bitstream import FrameRecord, Header
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import Clip, read_clip
from zoo.slots import Payload
from .compare import COLOUR

MODES = ("sequence", "pframe")

#: Keys of ``results`` (CompressAI's names) and the per-frame statistic each averages.
METRICS = {"bpp": "bpp", "psnr-rgb": "psnr_rgb", "psnr-yuv": "psnr_yuv", "psnr-y": "psnr_y",
           "psnr-u": "psnr_u", "psnr-v": "psnr_v", "ms-ssim-rgb": "ms_ssim",
           "encode-time": "encode_seconds", "decode-time": "decode_seconds"}

#: File types a folder of clips is scanned for (a sub-folder holding PNGs is a clip too).
CLIP_SUFFIXES = {".y4m", ".yuv", ".mp4", ".mkv", ".avi", ".mov", ".webm", ".264", ".h264",
                 ".265", ".hevc"}

LOOSE_CLASS = "clips"  #: class of clips named one by one on the command line

AVERAGING = ("per sequence: mean over its coded frames (bpp: all its bytes over its coded "
             "frames' pixels); per class: frame-weighted mean over its sequences; "
             "over the set: mean over classes")


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence to code: where it is and how (frames, intra period)."""

    cls: str  #: class name (a DCVC test class, a folder name, or "clips")
    name: str
    path: str
    frames: int | None = None  #: frames to code; None: all
    intra_period: int = 0  #: 0: only the first frame is intra
    width: int | None = None  #: expected size (from a dataset config)
    height: int | None = None
    exact_frames: bool = False  #: the clip must hold ``frames`` frames (a config said so)

    @property
    def key(self) -> str:
        return f"{self.cls}/{self.name}"


def _config_error(path: Path, where: str, what: str) -> ZooError:
    return ZooError(f"{path}: {where}: {what}")


def _int_field(path: Path, where: str, entry: dict, key: str, required: bool = True) -> int | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise _config_error(path, where, f"missing {key!r}")
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _config_error(path, where, f"{key!r} must be an integer, got {value!r}")
    return value


def parse_dataset_config(path: str | os.PathLike[str]) -> list[SequenceSpec]:
    """Sequences of a dataset config in the layout of DCVC's ``test_video.py``.

    Two layouts are read. DCVC-TCM/HEM/DC/FM/RT: ``{"root_path", "test_classes":
    {class: {"test": 0|1, "base_path", "src_type": "png"|"yuv420", "sequences":
    {name: {"width", "height", "frames", "intra_period"}}}}}``; the original
    DCVC's: ``{class: {"base_path", "sequences": {name: {"frames", "gop"}}}}``.
    A sequence is ``root_path/base_path/name`` (a relative ``root_path`` or
    ``base_path`` is taken from the config file's folder): a raw 4:2:0 ``.yuv``
    file for ``yuv420`` (``name`` or ``name.yuv``), a folder of PNG frames for
    ``png``. Classes with ``"test": 0`` are skipped; ``intra_period`` (or
    ``gop``) ``-1`` or ``0`` means only the first frame is intra.
    """
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except OSError as e:
        raise ZooError(f"{path}: cannot read: {e.strerror or e}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise ZooError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(config, dict):
        raise ZooError(f"{path}: a dataset config is a JSON object")
    if "test_classes" in config:
        root = path.parent / str(config.get("root_path", ""))
        classes = config["test_classes"]
        if not isinstance(classes, dict):
            raise _config_error(path, "test_classes", "must be an object")
    else:
        root = path.parent
        classes = {k: v for k, v in config.items() if isinstance(v, dict) and "sequences" in v}
        if not classes:
            raise ZooError(f"{path}: not a dataset config (no 'test_classes' and no class "
                           f"with 'sequences')")
    specs: list[SequenceSpec] = []
    for cls, entry in classes.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sequences"), dict):
            raise _config_error(path, f"class {cls!r}", "needs a 'sequences' object")
        if entry.get("test", 1) == 0:
            continue
        base = root / str(entry.get("base_path", ""))
        src_type = entry.get("src_type", "png")
        if src_type not in ("png", "yuv420"):
            raise _config_error(path, f"class {cls!r}", f"unsupported src_type {src_type!r} "
                                f"(png or yuv420)")
        for name, seq in entry["sequences"].items():
            where = f"class {cls!r} sequence {name!r}"
            if not isinstance(seq, dict):
                raise _config_error(path, where, "must be an object")
            frames = _int_field(path, where, seq, "frames")
            if frames < 1:
                raise _config_error(path, where, f"'frames' must be at least 1, got {frames}")
            key = "intra_period" if "intra_period" in seq else "gop"
            period = _int_field(path, where, seq, key, required=False) or 0
            width = _int_field(path, where, seq, "width", required=False)
            height = _int_field(path, where, seq, "height", required=False)
            if (width is None) != (height is None) or (width is not None and (width < 1 or height < 1)):
                raise _config_error(path, where, "needs both 'width' and 'height', each at least 1")
            if src_type == "yuv420" and width is None:
                raise _config_error(path, where, "a yuv420 sequence needs 'width' and 'height'")
            clip = base / name
            if src_type == "yuv420" and clip.suffix.lower() != ".yuv":
                clip = clip.with_name(clip.name + ".yuv")
            specs.append(SequenceSpec(str(cls), Path(name).stem if src_type == "yuv420" else name,
                                      str(clip), frames, max(period, 0), width, height, True))
    return specs


def _is_png_dir(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() == ".png" for p in path.iterdir())


def collect_sequences(data: Sequence[str], frames: int | None = None,
                      intra_period: int | None = None) -> list[SequenceSpec]:
    """The sequences named by ``--data``: clip files, folders of clips, dataset configs.

    A folder that holds PNG files is one clip; any other folder is a class named
    after it, holding its clip files (and PNG sub-folders) in name order. Clips
    named one by one form the class ``clips``. ``frames`` and ``intra_period``,
    when given, override a config's (as DCVC's ``--force_frame_num`` and
    ``--force_intra_period``); ``frames`` caps a clip's frames.
    """
    if not data:
        raise ZooError("no data: pass --data with clips, folders of clips or a dataset config")
    if frames is not None and frames < 1:
        raise ZooError("--frames must be at least 1")
    if intra_period is not None and intra_period < 0:
        raise ZooError("--intra-period must be 0 or more")
    specs: list[SequenceSpec] = []
    for item in data:
        path = Path(item)
        if not path.exists():
            raise ZooError(f"{path}: no such file or directory")
        if path.is_file() and path.suffix.lower() == ".json":
            found = parse_dataset_config(path)
        elif path.is_dir() and not _is_png_dir(path):
            members = sorted(p for p in path.iterdir()
                             if (p.is_file() and p.suffix.lower() in CLIP_SUFFIXES) or _is_png_dir(p))
            if not members:
                raise ZooError(f"{path}: holds no clips ({', '.join(sorted(CLIP_SUFFIXES))} "
                               f"files or folders of PNG frames)")
            found = [SequenceSpec(path.resolve().name, p.stem if p.is_file() else p.name, str(p))
                     for p in members]
        else:
            found = [SequenceSpec(LOOSE_CLASS, path.stem if path.is_file() else path.name, str(path))]
        specs.extend(found)
    seen: set[str] = set()
    for spec in specs:
        if spec.key in seen:
            raise ZooError(f"sequence {spec.key!r} is named twice in --data")
        seen.add(spec.key)
        if not Path(spec.path).exists():
            raise ZooError(f"{spec.path}: no such file or directory (sequence {spec.key})")
    return [replace(s, frames=frames if frames is not None else s.frames,
                    exact_frames=s.exact_frames and frames is None,
                    intra_period=intra_period if intra_period is not None else s.intra_period)
            for s in specs]


def read_sequence(spec: SequenceSpec) -> Clip:
    """Read a sequence's frames; a config's size and frame count are checked."""
    path = Path(spec.path)
    with tempfile.TemporaryDirectory(prefix="zoo-eval-") as tmp:
        size = f"{spec.width}x{spec.height}"
        if path.suffix.lower() == ".yuv" and spec.width and size not in path.name:
            # zoo.io.video reads a raw file's size from its name: give it one that says the config's size
            link = Path(tmp) / f"{path.stem}_{size}.yuv"
            link.symlink_to(path.resolve())
            clip = read_clip(link, spec.frames)
        else:
            clip = read_clip(path, spec.frames)
    if spec.width and (clip.width, clip.height) != (spec.width, spec.height):
        raise ZooError(f"{path}: is {clip.width}x{clip.height}, the config says "
                       f"{spec.width}x{spec.height}")
    if spec.exact_frames and spec.frames and len(clip.frames) < spec.frames:
        raise ZooError(f"{path}: holds {len(clip.frames)} frames, the config asks for {spec.frames}")
    return clip


# ------------------------------------------------------------------ models


@dataclass(frozen=True)
class ModelRequest:
    """How to open a model in any process: a registry name or a spec, trained or not."""

    name: str | None = None
    spec: ModelSpec | None = None
    untrained: bool = False
    device: str = "cpu"
    weights: Path | None = None  #: a weights file instead of the registry's (``--weights``)
    search: Search | None = None  #: the encoder's search (``--search``)

    def open(self) -> OpenModel:
        return open_model(self.name, self.spec, untrained=self.untrained, device=self.device,
                          weights=self.weights).use_search(self.search)


def model_label(model: OpenModel) -> str:
    """A report's name: the model's, ``+searchN`` when its encoder searches."""
    name = model.name or "+".join(model.spec.plugins) or "defaults"
    return name + (f"+search{model.search.steps}" if model.search else "")


def model_size(model: OpenModel) -> dict[str, Any]:
    """Bytes of the weights as stored; for an untrained model, its state dict as safetensors."""
    if model.trained and model.entry is not None and model.entry.weights is not None:
        return {"bytes": model.entry.weights.stat().st_size,
                "source": f"weights file {model.entry.weights.name} as stored"}
    if model.trained and model.members:  # a composed model: its members' files
        sizes = [model_size(m) for m in model.members]
        return {"bytes": sum(s["bytes"] for s in sizes),
                "source": "its members' " + ", ".join(s["source"] for s in sizes)}
    import safetensors.torch
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.codec.state_dict().items()}
    return {"bytes": len(safetensors.torch.save(state)),
            "source": "untrained: the state dict serialised with safetensors (no weights file)"}


def parse_qualities(text: str | None, available: int) -> list[int]:
    """``all`` (or None): every quality index; else comma-separated indices."""
    if text is None or text.strip() == "all":
        return list(range(available))
    try:
        qualities = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ZooError(f"--qualities takes 'all' or comma-separated integers, got {text!r}") from None
    if not qualities:
        raise ZooError("--qualities names no quality")
    bad = [q for q in qualities if not 0 <= q < available]
    if bad:
        raise ZooError(f"quality {bad[0]} is out of range (0..{available - 1})")
    return sorted(set(qualities))


_DECODERS: dict[str, OpenModel] = {}


def decoder_for(header: Header, device: str = "cpu") -> OpenModel:
    """The model a stream's header names, rebuilt from the header (once per process and device)."""
    key = json.dumps(header.model, sort_keys=True) + header.weights_sha256 + device
    if key not in _DECODERS:
        _DECODERS[key] = open_for_header(header, device)
    return _DECODERS[key]


# ------------------------------------------------------------------ progress


class NullProgress:
    """Progress hooks: a sequence starts (with its frame ticks), a frame is done, it ends."""

    def sequence(self, name: str, ticks: int) -> None:
        pass

    def frame(self) -> None:
        pass

    def sequence_done(self) -> None:
        pass


class RichProgress(NullProgress):
    """Two rich bars: sequences, and frames within the current sequence."""

    def __init__(self, progress, total_sequences: int) -> None:
        self.progress = progress
        self.seq_task = progress.add_task("sequences", total=total_sequences)
        self.frame_task = progress.add_task("frames", total=1, visible=False)

    def sequence(self, name: str, ticks: int) -> None:
        self.progress.update(self.frame_task, description=name, total=max(ticks, 1),
                             completed=0, visible=True)

    def frame(self) -> None:
        self.progress.advance(self.frame_task)

    def sequence_done(self) -> None:
        self.progress.advance(self.seq_task)


class LineProgress(NullProgress):
    """Plain lines for logs (nohup, SLURM): one when a sequence starts, one when it ends."""

    def __init__(self, console, total_sequences: int) -> None:
        self.console, self.total, self.done = console, total_sequences, 0
        self.started = time.perf_counter()

    def sequence(self, name: str, ticks: int) -> None:
        self.name, self.started = name, time.perf_counter()
        self.console.print(f"[{self.done + 1}/{self.total}] {name}: {ticks} frame steps",
                           markup=False, highlight=False)

    def sequence_done(self) -> None:
        self.done += 1
        self.console.print(f"[{self.done}/{self.total}] done in "
                           f"{time.perf_counter() - self.started:.1f} s", markup=False,
                           highlight=False)


@contextmanager
def rich_progress(console, total_sequences: int) -> Iterator[NullProgress]:
    """Bars on a terminal, plain lines elsewhere."""
    if not console.is_terminal:
        yield LineProgress(console, total_sequences)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        yield RichProgress(progress, total_sequences)


# ------------------------------------------------------------------ coding one sequence

#: The first frames a process codes with a model (an I- and a P-frame) are warm-up:
#: timed apart, left out of the mean times.
WARMUP_FRAMES = 2
_WARMED: set[tuple[str, ...]] = set()


def _warmup(*key: str) -> int:
    """How many of the next timed frames are warm-up for this model, direction and device."""
    if key in _WARMED:
        return 0
    _WARMED.add(key)
    return WARMUP_FRAMES


def bit_split(records: Sequence[FrameRecord], sizes: Sequence[float]) -> list[dict[str, float]]:
    """Bytes per frame: each coded latent (motion, residual, intra, ...) and the record's own
    framing and side fields (``side``)."""
    out = []
    for record, size in zip(records, sizes):
        parts = {name: sum(len(s) for s in strings) for name, strings in record.payload.latents.items()}
        out.append({**parts, "side": size - sum(parts.values())})
    return out


def frame_rows(stats, enc: Sequence[float | None], dec: Sequence[float | None],
               split: Sequence[dict] | None = None, warmup: int = 0) -> list[dict]:
    split = split or [None] * len(stats)
    return [{**asdict(s), "encode_seconds": e, "decode_seconds": d, "warmup": i < warmup,
             **({"bytes_split": b} if b is not None else {})}
            for i, (s, e, d, b) in enumerate(zip(stats, enc, dec, split))]


def point_summary(stats, total_bytes: float, width: int, height: int, enc: Sequence[float | None],
                  dec: Sequence[float | None], split: Sequence[dict] | None = None,
                  warmup: int = 0) -> dict[str, Any]:
    """:func:`zoo.core.coding.summarise`, the mean encode and decode time per frame (warm-up
    frames apart) and, per frame type, the bpp of each part of the records."""
    summary = summarise(stats, total_bytes, width, height)
    for key, values in (("encode_seconds", enc), ("decode_seconds", dec)):
        for where, part in (("", values[warmup:]), ("warmup_", values[:warmup])):
            known = [v for v in part if v is not None]
            summary["all"][where + key] = sum(known) / len(known) if known else math.nan
    summary["all"]["warmup_frames"] = min(warmup, len(stats))
    if split:
        for kind, row in summary.items():
            frames = [b for s, b in zip(stats, split) if kind == "all" or s.kind == kind]
            names = sorted({n for b in frames for n in b})
            row["bpp_split"] = {n: sum(b.get(n, 0) for b in frames) * 8 / (width * height * len(frames))
                                for n in names}
    return summary


def code_sequence_mode(model: OpenModel, clip: Clip, quality: int, intra_period: int,
                       progress: NullProgress = NullProgress()) -> dict[str, Any]:
    """Low-delay: :func:`zoo.core.coding.round_trip` (encode, serialise, parse, decode from
    the bytes on the same device, check), the decoder rebuilt once per process, measured."""
    warm_enc = _warmup("encode", model.sha256, str(model.device))
    trip = round_trip(model, clip, quality, intra_period, decoder=decoder_for,
                      encode_tick=progress.frame, decode_tick=progress.frame)
    warm_dec = _warmup("decode", trip.decoder.sha256, str(model.device))
    split = bit_split(trip.records, trip.sizes)
    warm = max(warm_enc, warm_dec)
    enc, dec = trip.encode_seconds, trip.decode_seconds
    return {"quality": quality, "bytes": len(trip.data),
            "summary": point_summary(trip.stats, len(trip.data), clip.width, clip.height, enc, dec,
                                     split, warm),
            "frames": frame_rows(trip.stats, enc, dec, split, warm)}


def code_pframe_mode(model: OpenModel, clip: Clip, quality: int,
                     progress: NullProgress = NullProgress()) -> dict[str, Any]:
    """CLIC P-frame style: frame i from the original frame i-1, each decoded from its bytes."""
    _check_pframe(model, clip, quality)
    header = Header(model=model.header_model(), weights_sha256=model.sha256, quality=quality,
                    width=clip.width, height=clip.height, frame_count=1, fps=clip.fps, intra_period=0,
                    implementations=model.implementations)
    h, w = clip.height, clip.width
    decoder = decoder_for(bitstream.loads(bitstream.dumps(replace(header, frame_count=0), []))[0],
                          str(model.device))
    warm = max(_warmup("encode", model.sha256, str(model.device)),
               _warmup("decode", decoder.sha256, str(model.device)))
    records, sizes, decoded = [], [], []
    enc_timer, dec_timer = (FrameTimer(progress.frame, model.device) for _ in range(2))
    with torch.inference_mode():
        previous = _device_frame(clip.frames[0], model)
        for planes in clip.frames[1:]:
            enc_timer.last = time.perf_counter()
            current = _device_frame(planes, model)
            payload, x_hat, _ = model.codec.compress(current, model.codec.reference(previous), quality,
                                                     referenced=False, visible=(h, w))
            enc_timer()
            data = bitstream.dumps(header, [FrameRecord("P", payload,
                                                        picture_crc(x_hat[..., :h, :w].cpu()))])
            dec_timer.last = time.perf_counter()
            _, (record,) = bitstream.loads(data)
            frame, _ = decoder.codec.decompress(record.payload,
                                                decoder.codec.reference(previous), quality)
            frame = frame[..., :h, :w]
            dec_timer()
            if not torch.equal(frame, x_hat[..., :h, :w]):
                raise ZooError("the decoder's frames differ from the encoder's reconstruction")
            records.append(record)
            sizes.append(bitstream.record_sizes(data)[0])
            decoded.append(frame.cpu())
            previous = current
    stats = _pframe_stats(clip, decoded, records, sizes)
    split = bit_split(records, sizes)
    total = sum(sizes)
    return {"quality": quality, "bytes": total,
            "summary": point_summary(stats, total, w, h, enc_timer.times, dec_timer.times, split, warm),
            "frames": frame_rows(stats, enc_timer.times, dec_timer.times, split, warm)}


def _check_pframe(model: OpenModel, clip: Clip, quality: int) -> None:
    if len(clip.frames) < 2:
        raise ZooError("mode pframe needs at least 2 frames per sequence (frame 0 is the reference)")
    if not 0 <= quality < model.codec.qualities:
        raise ZooError(f"quality {quality} is out of range (0..{model.codec.qualities - 1})")


def _device_frame(planes, model: OpenModel) -> torch.Tensor:
    return pad(yuv420_to_rgb(*planes)).to(model.device)


def _pframe_stats(clip: Clip, decoded: list[torch.Tensor], records, sizes) -> list:
    source = Clip(clip.frames[1:], clip.width, clip.height, clip.fps)
    stats = frame_stats(source, to_clip(decoded, clip.width, clip.height, clip.fps), records, sizes)
    for s in stats:
        s.index += 1  # frame 0 is the reference, not coded
    return stats


def _estimated_bytes(likelihoods: dict) -> float:
    """-log2 of every likelihood, in bytes (nested dicts of tensors, as the codec returns them)."""
    return sum(_estimated_bytes(v) if isinstance(v, dict) else float(-torch.log2(v).sum()) / 8
               for v in likelihoods.values())


def estimate_point(model: OpenModel, clip: Clip, quality: int, intra_period: int, mode: str,
                   progress: NullProgress = NullProgress()) -> dict[str, Any]:
    """One rate point from the likelihoods of ``forward``: no entropy coding, nothing decoded.

    The rate is ``-log2`` of the likelihoods (no stream header or framing), the
    quality that of the forward pass's clamped 8-bit reconstruction.
    """
    if mode == "pframe":
        _check_pframe(model, clip, quality)
    elif not 0 <= quality < model.codec.qualities:
        raise ZooError(f"quality {quality} is out of range (0..{model.codec.qualities - 1})")
    h, w = clip.height, clip.width
    codec, ref = model.codec, None
    records, sizes, recon = [], [], []
    timer = FrameTimer(progress.frame, model.device)
    with torch.inference_mode():
        previous = None
        for index, planes in enumerate(clip.frames):
            timer.last = time.perf_counter()
            x = _device_frame(planes, model)
            if mode == "pframe":
                reference, previous = previous, x
                if reference is None:
                    continue  # frame 0 is only a reference
                kind, out = "P", codec(x, codec.reference(reference), quality)
            else:
                kind = "I" if is_intra(index, intra_period) else "P"
                out = codec.intra_forward(x, quality) if kind == "I" else codec(x, ref, quality)
                ref = out["ref"]
                ref.frame = ref.frame.clamp(0.0, 1.0)  # as the coded reference is
            timer()
            records.append(FrameRecord(kind, Payload({})))
            sizes.append(_estimated_bytes(out["likelihoods"]))
            recon.append(out["x_hat"].clamp(0.0, 1.0)[..., :h, :w].cpu())
    if mode == "pframe":
        stats = _pframe_stats(clip, recon, records, sizes)
    else:
        stats = frame_stats(clip, to_clip(recon, w, h, clip.fps), records, sizes)
    total = sum(sizes)
    none = [None] * len(stats)
    return {"quality": quality, "bytes": total,
            "summary": point_summary(stats, total, w, h, timer.times, none),
            "frames": frame_rows(stats, timer.times, none)}


def evaluate_sequence(model: OpenModel, spec: SequenceSpec, qualities: Sequence[int], mode: str,
                      progress: NullProgress = NullProgress(), estimate: bool = False) -> dict[str, Any]:
    """Every rate point of one sequence."""
    clip = read_sequence(spec)
    coded = len(clip.frames) - (1 if mode == "pframe" else 0)
    progress.sequence(spec.key, (1 if estimate else 2) * coded * len(qualities))
    if estimate:
        points = [estimate_point(model, clip, q, spec.intra_period, mode, progress) for q in qualities]
    elif mode == "pframe":
        points = [code_pframe_mode(model, clip, q, progress) for q in qualities]
    else:
        points = [code_sequence_mode(model, clip, q, spec.intra_period, progress) for q in qualities]
    progress.sequence_done()
    return sequence_entry(spec, clip, coded, points, mode)


def sequence_entry(spec: SequenceSpec, clip: Clip, coded: int, points: list[dict],
                   mode: str) -> dict[str, Any]:
    return {"class": spec.cls, "name": spec.name, "path": spec.path, "width": clip.width,
            "height": clip.height, "frames_read": len(clip.frames), "frames_coded": coded,
            "intra_period": spec.intra_period if mode == "sequence" else None, "points": points}


# ------------------------------------------------------------------ averaging


def _mean(values: Sequence[float], weights: Sequence[float] | None = None) -> float:
    if not values:
        return math.nan
    weights = weights or [1.0] * len(values)
    return sum(v * w for v, w in zip(values, weights)) / sum(weights)


def aggregate(sequences: list[dict], model_bytes: int | None = None) -> tuple[dict, dict]:
    """``results`` (one entry per rate point) and the per-class averages.

    Per class, each metric is the frame-weighted mean of its sequences' means;
    over the set, the mean of the classes. ``data-size`` is the sum of the
    bytes over the set; with ``model_bytes``, ``model-size`` and
    ``clic-score = model size + 100 x data size`` too.
    """
    points = min(len(s["points"]) for s in sequences)
    classes: dict[str, list[dict]] = {}
    for s in sequences:
        classes.setdefault(s["class"], []).append(s)
    per_class: dict[str, dict] = {}
    for cls, members in classes.items():
        weights = [s["frames_coded"] for s in members]
        res: dict[str, list] = {k: [] for k in METRICS}
        res["data-size"] = []
        for k in range(points):
            for key, stat in METRICS.items():
                values = [s["points"][k]["summary"]["all"][stat] for s in members]
                res[key].append(_mean(values, weights))
            res["data-size"].append(sum(s["points"][k]["bytes"] for s in members))
        per_class[cls] = {"sequences": [s["name"] for s in members], "frames": sum(weights),
                          "results": res}
    results: dict[str, list] = {}
    for key in METRICS:
        results[key] = [_mean([c["results"][key][k] for c in per_class.values()])
                        for k in range(points)]
    results["data-size"] = [sum(s["points"][k]["bytes"] for s in sequences) for k in range(points)]
    if model_bytes is not None:
        results["model-size"] = [model_bytes] * points
        results["clic-score"] = [model_bytes + 100 * d for d in results["data-size"]]
    return results, per_class


# ------------------------------------------------------------------ workers


_WORKER: dict[str, Any] = {}


@dataclass(frozen=True)
class Job:
    """What every sequence of an evaluation is coded with."""

    qualities: tuple[int, ...]
    mode: str = "sequence"
    estimate: bool = False


def _worker_init(request: ModelRequest) -> None:
    torch.set_num_threads(1)
    _WORKER["model"] = request.open()


def _worker_job(task: tuple[SequenceSpec, Job]) -> dict[str, Any]:
    spec, job = task
    return evaluate_sequence(_WORKER["model"], spec, job.qualities, job.mode, estimate=job.estimate)


def _dist_rank() -> tuple[int, int]:
    """(rank, world size) under ``torchrun``; (0, 1) otherwise."""
    try:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    except ValueError:
        return 0, 1


def run_sequences(model: OpenModel, request: ModelRequest, specs: list[SequenceSpec], job: Job,
                  workers: int = 1, progress: NullProgress = NullProgress(),
                  finished: Callable[[dict], None] = lambda entry: None) -> list[dict] | None:
    """Evaluate every sequence: in this process, over ``workers`` processes, or over
    ``torchrun`` ranks (each rank takes ``specs[rank::world]``, rank 0 gathers
    over gloo and returns the list; other ranks return None). ``finished`` is
    called with each sequence's entry as it is done (not under torchrun)."""
    def one(spec: SequenceSpec) -> dict:
        return evaluate_sequence(model, spec, job.qualities, job.mode, progress, job.estimate)

    rank, world = _dist_rank()
    if world > 1:
        out = [one(s) for s in specs[rank::world]]
        import torch.distributed as dist
        owned = not dist.is_initialized()
        if owned:
            dist.init_process_group("gloo")
        gathered: list[Any] = [None] * world if rank == 0 else None
        dist.gather_object(out, gathered, dst=0)
        if owned:
            dist.destroy_process_group()
        if rank != 0:
            return None
        merged: list[dict | None] = [None] * len(specs)
        for r, part in enumerate(gathered):
            for i, entry in zip(range(r, len(specs), world), part):
                merged[i] = entry
        return merged  # type: ignore[return-value]
    if workers < 1:
        raise ZooError("--workers must be at least 1")
    results = []
    if workers == 1 or len(specs) <= 1:
        for spec in specs:
            results.append(one(spec))
            finished(results[-1])
        return results
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(workers, len(specs)), initializer=_worker_init, initargs=(request,)) as pool:
        for entry in pool.imap(_worker_job, [(s, job) for s in specs]):
            progress.sequence_done()
            results.append(entry)
            finished(entry)
    return results


# ------------------------------------------------------------------ the whole evaluation


def evaluate(request: ModelRequest, specs: list[SequenceSpec], *, qualities: str | None = None,
             mode: str = "sequence", workers: int = 1, progress: NullProgress = NullProgress(),
             model: OpenModel | None = None, estimate: bool = False, done: Sequence[dict] = (),
             finished: Callable[[dict], None] | None = None) -> dict | None:
    """Evaluate a model on a set of sequences; the report (None on torchrun ranks > 0).

    ``estimate``: rates from the likelihoods, nothing coded or decoded (marked
    so in the report, whose protocol then differs from a coded one). ``done``:
    sequence entries of an earlier run of the same evaluation, kept and not
    coded again. ``finished(partial_report)`` is called after each sequence.
    """
    if mode not in MODES:
        raise ZooError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    if not specs:
        raise ZooError("no sequences to evaluate")
    model = model or request.open()
    job = Job(tuple(parse_qualities(qualities, model.codec.qualities)), mode, estimate)
    kept = {f"{e['class']}/{e['name']}": e for e in done}
    todo = [s for s in specs if s.key not in kept]
    report = {"name": model_label(model), "kind": "learned", "mode": mode, "decoded": not estimate,
              "model": {**model.record(), "sha256": model.sha256, "trained": model.trained},
              "protocol": protocol(mode, specs, estimate),
              "environment": environment(model)}
    entries = [kept[s.key] for s in specs if s.key in kept]

    def one_more(entry: dict) -> None:
        entries.append(entry)
        if finished is not None:
            finished({**report, "partial": True, "results": {"quality": list(job.qualities)},
                      "sequences": entries})

    if run_sequences(model, request, todo, job, workers, progress, one_more) is None:
        return None
    order = {s.key: i for i, s in enumerate(specs)}
    entries.sort(key=lambda e: order[f"{e['class']}/{e['name']}"])
    size = model_size(model)
    results, per_class = aggregate(entries, size["bytes"])
    trained = "trained weights" if model.trained else (
        "untrained (seeded random weights: the figures say nothing about the technique)")
    what = "ENTROPY ESTIMATE, not coded or decoded" if estimate else "decoded from the written bytes"
    return {**report,
            "description": f"zoo eval, mode {mode}, {report['name']} ({model.spec.preset}), "
                           f"{trained}, {what}",
            "model_size": size,
            "results": {"quality": list(job.qualities), **results},
            "classes": per_class,
            "sequences": entries}


def resumable(report: dict, model: OpenModel, mode: str, qualities: Sequence[int],
              estimate: bool) -> list[dict]:
    """The sequence entries of an earlier (possibly partial) report of the same evaluation."""
    same = (report.get("model", {}).get("sha256") == model.sha256 and report.get("mode") == mode
            and report.get("model", {}).get("search") == model.record().get("search")
            and report.get("decoded", True) == (not estimate)
            and list(report.get("results", {}).get("quality", [])) == list(qualities))
    if not same:
        raise ZooError("--resume: the output holds another evaluation (model weights, --search, "
                       "mode, qualities or --entropy-estimate differ); choose another -o")
    return [e for e in report.get("sequences", []) if len(e.get("points", [])) == len(qualities)]


def environment(model: OpenModel) -> dict[str, Any]:
    """Versions of what produced a result, and the device."""
    import platform
    from importlib.metadata import version

    import compressai

    from zoo import __version__
    from zoo.core.manager import Zoo
    active = Zoo.load().select(model.spec.plugins).active
    return {"zoo": __version__, "torch": torch.__version__, "compressai": compressai.__version__,
            "python": platform.python_version(), "device": str(model.device),
            "device_name": (torch.cuda.get_device_name(model.device) if model.device.type == "cuda"
                            else platform.processor() or platform.machine()),
            "threads": torch.get_num_threads(), "coding_threads": coding_threads(),
            "bjontegaard": version("bjontegaard"),
            "plugins": {p.name: f"{p.package} {p.version}" for p in active}}


def protocol(mode: str, specs: Sequence[SequenceSpec], estimate: bool = False) -> dict[str, Any]:
    rate = ("bytes of the whole .czoo stream (header included) as zoo.io.bitstream.dumps writes it"
            if mode == "sequence" else
            "bytes of each frame's record as zoo.io.bitstream.dumps writes it (no stream header)")
    if estimate:
        rate = "ENTROPY ESTIMATE: -log2 of the likelihoods of forward(); nothing coded or decoded"
    return {
        "mode": mode,
        "coding": ("low-delay: I-frame then P-frames, intra period per sequence (0: only the "
                   "first frame)" if mode == "sequence" else
                   "CLIC P-frame: frame i coded against the original frame i-1; frame 0 not coded"),
        "rate": rate,
        "colour": COLOUR,
        "distortion": ("8-bit 4:2:0 frames " + ("of the forward pass" if estimate else
                                                 "decoded from those bytes")
                       + ", BT.709 limited range, PSNR-YUV = (6Y+U+V)/8, PSNR-RGB and MS-SSIM on RGB"),
        "metrics": ["psnr-rgb", "psnr-yuv", "ms-ssim"],
        "averaging": AVERAGING,
        "frames": {s.key: s.frames for s in specs},
        "intra_period": {s.key: s.intra_period if mode == "sequence" else None for s in specs},
    }


# ------------------------------------------------------------------ reading reports


@dataclass(frozen=True)
class FrameFormat:
    """The frame size and rate that turn a published ``bitrate`` (kbps) into bpp."""

    width: int
    height: int
    fps: float

    @classmethod
    def parse(cls, text: str) -> "FrameFormat":
        """``1920x1080@120``."""
        try:
            size, fps = text.split("@")
            width, height = (int(v) for v in size.lower().split("x"))
            frame = cls(width, height, float(fps))
        except ValueError:
            raise ZooError(f"--bitrate-frame takes WIDTHxHEIGHT@FPS, e.g. 1920x1080@120, "
                           f"got {text!r}") from None
        if min(frame.width, frame.height) < 1 or not 0 < frame.fps < 1e4:
            raise ZooError(f"--bitrate-frame {text!r}: sizes and frame rate must be positive")
        return frame

    def bpp(self, kbps: float) -> float:
        return kbps * 1000.0 / (self.width * self.height * self.fps)


def load_runs(path: str | os.PathLike[str], frame: FrameFormat | None = None) -> list[dict]:
    """The runs in a results file: one report, ``{"runs": [...]}`` or a list of reports.

    A run that gives ``bitrate`` in kbps and no ``bpp`` (CompressAI's published
    video results) is converted with ``frame``; without it, a ZooError.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ZooError(f"{path}: cannot read: {e.strerror or e}") from e
    except ValueError as e:
        raise ZooError(f"{path}: not valid JSON: {e}") from e
    runs = data if isinstance(data, list) else (
        data.get("runs", [data]) if isinstance(data, dict) else [])
    runs = [r for r in runs if isinstance(r, dict) and isinstance(r.get("results"), dict)]
    if not runs:
        raise ZooError(f"{path}: holds no results ({{\"name\", \"results\": {{\"bpp\": ...}}}})")
    for r in runs:
        r.setdefault("name", path.name.split(".")[0])
        if r.get("partial"):
            raise ZooError(f"{path}: {r['name']} is an unfinished evaluation: complete it with "
                           f"zoo eval --resume -o {path}")
        res = r["results"]
        if "bpp" not in res and "bitrate" in res:
            if frame is None:
                raise ZooError(f"{path}: {r['name']} gives 'bitrate' (kbps), not bpp: pass "
                               f"--bitrate-frame WIDTHxHEIGHT@FPS of its sequences to convert it")
            res["bpp"] = [frame.bpp(float(v)) for v in res["bitrate"]]
            r["converted"] = f"bpp = bitrate (kbps) x 1000 / ({frame.width} x {frame.height} x {frame.fps:g} fps)"
    return runs


@dataclass
class Table:
    """Rows for printing: a title, column names, string cells."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


def summary_table(report: dict) -> Table:
    """One row per rate point of a report's set averages."""
    res = report["results"]
    point_key = "quality" if "quality" in res else "qp"
    table = Table(f"{report['name']}: {report['description']}",
                  [point_key, "bpp", "PSNR-RGB", "PSNR-YUV", "MS-SSIM", "data size (B)",
                   "enc s/frame", "dec s/frame"])
    for k in range(len(res["bpp"])):
        table.rows.append([str(res[point_key][k]), f"{res['bpp'][k]:.4f}", f"{res['psnr-rgb'][k]:.2f}",
                           f"{res['psnr-yuv'][k]:.2f}", f"{res['ms-ssim-rgb'][k]:.4f}",
                           str(res["data-size"][k]), f"{res['encode-time'][k]:.3f}",
                           f"{res['decode-time'][k]:.3f}"])
    return table


def registry_results(report: dict, data: list[str]) -> dict[str, Any]:
    """A report's set averages, rounded, as a registry entry records them."""
    res = report["results"]
    digits = {"bpp": 4, "psnr-rgb": 2, "psnr-yuv": 2, "ms-ssim-rgb": 4}
    return {"data": [Path(d).name if Path(d).is_file() else str(d) for d in data],
            "mode": report["mode"],
            "frames": {k: "all" if v is None else v for k, v in report["protocol"]["frames"].items()},
            "quality": list(res["quality"]),
            **{k: [round(v, n) for v in res[k]] for k, n in digits.items()}}
