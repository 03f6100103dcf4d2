"""Video I/O: y4m, raw .yuv, PNG directories, and anything else PyAV decodes.

A :class:`Clip` holds 8-bit YUV 4:2:0 planes in BT.709 limited range (see
:mod:`zoo.io.color`). Readers take regular files and folders only (a FIFO or a
device would block or never end), check the frame size and rate a bitstream can
hold before reading frames, stop after ``max_frames`` frames without reading
further, and report bad input as :class:`~zoo.errors.ZooError`. Writers take
frames one at a time (:func:`clip_writer`) and are atomic: they write a
temporary file (or directory) beside the target and rename it into place.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import torch
from PIL import Image

from zoo.errors import ZooError
from .atomic import atomic_write, temp_path
from .color import rgb_to_yuv420, yuv420_to_rgb

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
PathLike = str | os.PathLike[str]

#: Largest width or height accepted.
MAX_SIZE = 16384
#: Frame rates are fractions whose terms are below this (as a bitstream stores them).
MAX_RATE_TERM = 2**32
#: Frame rate of raw .yuv files without one in their name, and of PNG directories.
DEFAULT_FPS = Fraction(25)

_LINE_LIMIT = 4096  # longest y4m header or FRAME line accepted
# y4m colour spaces: subsampling, optional chroma siting (8-bit) or bit depth.
_Y4M_COLOURSPACE = re.compile(r"(420|422|444)(?:jpeg|paldv|mpeg2|p(9|10|12|14|16))?")
_Y4M_SUBSAMPLING = {"420": (2, 2), "422": (1, 2), "444": (1, 1)}  # (vertical, horizontal)
# Raw .yuv names: WxH, optionally followed by _<fps>; or <fps>fps anywhere.
_YUV_SIZE = re.compile(r"(?<![0-9])([0-9]+)x([0-9]+)(?:_([0-9]+)(?![0-9a-z]))?", re.IGNORECASE)
_YUV_FPS = re.compile(r"([0-9]+)fps", re.IGNORECASE)
_FRAME_PNG = re.compile(r"frame_[0-9]+\.png")


@dataclass
class Clip:
    """Frames as uint8 planes Y (H, W), U and V ((H+1)//2, (W+1)//2)."""

    frames: list[Planes]
    width: int
    height: int
    fps: Fraction


def read_clip(path: PathLike, max_frames: int | None = None) -> Clip:
    """Read at most ``max_frames`` frames (all if None) of a video.

    ``path`` is a ``.y4m`` file (4:2:0, 4:2:2 or 4:4:4, 8 to 16 bits; chroma
    averaged down to 4:2:0, samples rounded to 8 bits), a raw 8-bit 4:2:0
    ``.yuv`` file named with its ``WxH`` (and ``_<fps>`` right after it or
    ``<fps>fps``), a directory of PNG frames (sorted by name), or any other
    file PyAV decodes. Frame rates default to 25 where the input has none.
    """
    path = Path(path)
    if max_frames is not None and max_frames < 1:
        raise ZooError(f"{path}: max_frames must be at least 1, got {max_frames}")
    if not path.exists():
        raise ZooError(f"{path}: no such file or directory")
    if not (path.is_file() or path.is_dir()):
        raise ZooError(f"{path}: not a regular file or a folder of PNG frames")
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            clip = _read_png_dir(path, max_frames)
        elif suffix == ".y4m":
            clip = _read_y4m(path, max_frames)
        elif suffix == ".yuv":
            clip = _read_yuv(path, max_frames)
        else:
            clip = _read_av(path, max_frames)
    except OSError as e:
        raise ZooError(f"{path}: cannot read: {e.strerror or e}") from e
    if not clip.frames:
        raise ZooError(f"{path}: contains no frames")
    return clip


def _check_format(path: Path, width: int, height: int, fps: Fraction) -> None:
    """The frame size and rate must be ones a bitstream holds."""
    if not (0 < width <= MAX_SIZE and 0 < height <= MAX_SIZE):
        raise ZooError(f"{path}: bad frame size {width}x{height} (each side must be 1..{MAX_SIZE})")
    if not (fps > 0 and fps.numerator < MAX_RATE_TERM and fps.denominator < MAX_RATE_TERM):
        raise ZooError(f"{path}: bad frame rate {fps} (a fraction whose terms are below 2**32)")


def _split_planes(data: bytes, dtype: np.dtype, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Copies of the consecutive planes of these shapes in ``data``."""
    samples = np.frombuffer(data, dtype)
    planes, start = [], 0
    for h, w in shapes:
        planes.append(samples[start:start + h * w].reshape(h, w).copy())
        start += h * w
    return planes


def _to_8bit_420(plane: np.ndarray, fy: int, fx: int, shift: int) -> np.ndarray:
    """Mean of ``fy`` x ``fx`` blocks (odd edges replicated), ``>> shift`` with rounding."""
    if fy == fx == 1 and shift == 0:
        return plane
    h, w = plane.shape
    p = np.pad(plane.astype(np.int64), ((0, -h % fy), (0, -w % fx)), mode="edge")
    total = p.reshape(p.shape[0] // fy, fy, p.shape[1] // fx, fx).sum(axis=(1, 3))
    div = (fy * fx) << shift
    return np.minimum((total + div // 2) // div, 255).astype(np.uint8)


def _y4m_dimension(path: Path, params: dict[str, str], key: str) -> int:
    value = params.get(key)
    if value is None:
        raise ZooError(f"{path}: y4m header has no {key} (frame {'width' if key == 'W' else 'height'})")
    if not value.isdigit():
        raise ZooError(f"{path}: bad {key}{value} in y4m header")
    return int(value)


def _read_y4m(path: Path, max_frames: int | None) -> Clip:
    with path.open("rb") as f:
        header = f.readline(_LINE_LIMIT)
        if not re.fullmatch(rb"YUV4MPEG2( [^\n]*)?\n", header):
            raise ZooError(f"{path}: not a y4m file (bad YUV4MPEG2 header)")
        params: dict[str, str] = {}
        for token in header[10:].decode("ascii", "replace").split():
            params.setdefault(token[0], token[1:])
        width, height = _y4m_dimension(path, params, "W"), _y4m_dimension(path, params, "H")
        rate = re.fullmatch(r"([0-9]+):([0-9]+)", params.get("F", "0:0"))  # 0:0 means unknown
        if rate is None or (rate[1] == "0") != (rate[2] == "0"):
            raise ZooError(f"{path}: bad frame rate F{params['F']} in y4m header")
        fps = Fraction(int(rate[1]), int(rate[2])) if rate[2] != "0" else DEFAULT_FPS
        _check_format(path, width, height, fps)
        colour = _Y4M_COLOURSPACE.fullmatch(params.get("C", "420jpeg"))
        if colour is None:
            raise ZooError(f"{path}: unsupported y4m colour space C{params['C']}")
        sy, sx = _Y4M_SUBSAMPLING[colour[1]]
        shift = int(colour[2] or 8) - 8
        dtype = np.dtype(np.uint8 if shift == 0 else "<u2")
        shapes = [(height, width)] + [(-(-height // sy), -(-width // sx))] * 2
        frame_bytes = sum(h * w for h, w in shapes) * dtype.itemsize
        frames: list[Planes] = []
        while max_frames is None or len(frames) < max_frames:
            marker = f.readline(_LINE_LIMIT)
            if not marker:
                break
            number = len(frames) + 1
            at_end = not marker.endswith(b"\n") and len(marker) < _LINE_LIMIT
            if not at_end and not re.fullmatch(rb"FRAME( [^\n]*)?\n", marker):
                raise ZooError(f"{path}: bad FRAME marker before frame {number}")
            data = b"" if at_end else f.read(frame_bytes)
            if len(data) < frame_bytes:
                raise ZooError(f"{path}: the last frame (frame {number}) is truncated")
            y, u, v = _split_planes(data, dtype, shapes)
            frames.append((_to_8bit_420(y, 1, 1, shift),
                           _to_8bit_420(u, 2 // sy, 2 // sx, shift),
                           _to_8bit_420(v, 2 // sy, 2 // sx, shift)))
    return Clip(frames, width, height, fps)


def _read_yuv(path: Path, max_frames: int | None) -> Clip:
    size = _YUV_SIZE.search(path.stem)
    if size is None:
        raise ZooError(f"{path}: a raw .yuv file needs its size in its name, e.g. name_416x240_30.yuv")
    width, height = int(size[1]), int(size[2])
    rate = _YUV_FPS.search(path.stem)
    fps = Fraction(int(rate[1])) if rate else Fraction(int(size[3])) if size[3] else DEFAULT_FPS
    _check_format(path, width, height, fps)
    shapes = [(height, width)] + [((height + 1) // 2, (width + 1) // 2)] * 2
    frame_bytes = sum(h * w for h, w in shapes)
    file_size = path.stat().st_size
    count, rest = divmod(file_size, frame_bytes)
    if max_frames is not None and count >= max_frames:
        count = max_frames
    elif rest:
        raise ZooError(f"{path}: the last frame is truncated ({file_size} bytes is not a whole "
                       f"number of {width}x{height} 4:2:0 frames of {frame_bytes} bytes)")
    with path.open("rb") as f:
        frames = [tuple(_split_planes(f.read(frame_bytes), np.dtype(np.uint8), shapes)) for _ in range(count)]
    return Clip(frames, width, height, fps)


def _read_png_dir(path: Path, max_frames: int | None) -> Clip:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")[:max_frames]
    frames: list[Planes] = []
    for file in files:
        try:
            with Image.open(file) as image:  # lazy: the size is known before the pixels are read
                _check_format(file, *image.size, DEFAULT_FPS)
                rgb = np.array(image.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise ZooError(f"{file}: cannot read PNG: {e}") from e
        if frames and rgb.shape[:2] != frames[0][0].shape:
            raise ZooError(f"{file}: frame size {rgb.shape[1]}x{rgb.shape[0]} differs from the first frame's")
        frames.append(rgb_to_yuv420(torch.from_numpy(rgb).permute(2, 0, 1)[None] / 255.0))
    height, width = frames[0][0].shape if frames else (0, 0)
    return Clip(frames, width, height, DEFAULT_FPS)


def _read_av(path: Path, max_frames: int | None) -> Clip:
    frames: list[Planes] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ZooError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            fps = Fraction(rate) if rate else DEFAULT_FPS
            for frame in container.decode(stream):
                if frames and (frame.width, frame.height) != (width, height):
                    raise ZooError(f"{path}: frame size changes mid-stream")
                width, height = frame.width, frame.height
                _check_format(path, width, height, fps)
                frames.append(tuple(
                    np.frombuffer(p, np.uint8, count=p.line_size * p.height)
                    .reshape(p.height, p.line_size)[:, :p.width].copy()
                    for p in frame.reformat(format="yuv420p").planes))
                if len(frames) == max_frames:
                    break
    except av.error.FFmpegError as e:
        raise ZooError(f"{path}: cannot decode: {e.strerror or e}") from e
    if not frames:
        return Clip(frames, 0, 0, DEFAULT_FPS)
    return Clip(frames, width, height, fps)


@contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A new file beside ``path``, renamed onto it if the block succeeds, else deleted."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            yield f
    except OSError as e:
        raise ZooError(f"{path}: cannot write: {e.strerror or e}") from e


@contextmanager
def _png_folder(path: Path) -> Iterator[Path]:
    """A new folder beside ``path``, renamed onto it if the block succeeds, else deleted;
    an existing ``path`` is replaced only if it holds nothing but ``frame_*.png`` files."""
    path = Path(os.path.realpath(path))
    if path.exists() and not (path.is_dir() and all(_FRAME_PNG.fullmatch(p.name) for p in path.iterdir())):
        raise ZooError(f"{path}: exists and is not a directory of frame_*.png files; not overwriting it")
    tmp = temp_path(path)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        if path.exists():
            old = temp_path(path)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ZooError(f"{path}: cannot write: {e.strerror or e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


_WRITERS = (".y4m", ".yuv", "")


@contextmanager
def clip_writer(path: PathLike, width: int, height: int, fps: Fraction,
                kind: str | None = None) -> Iterator[Callable[[Planes], None]]:
    """A function writing one frame (8-bit 4:2:0 planes) at a time, so that no clip need be
    held in memory, as ``kind`` (default: ``path``'s suffix): ``.y4m`` (``C420jpeg``, limited
    range), ``.yuv`` (raw planar) or ``""``, a folder of ``frame_00000.png``, ... (RGB via
    :mod:`zoo.io.color`). The target appears, or is replaced, when the block ends without an
    exception; a frame of the wrong shape is a ValueError."""
    path = Path(path)
    kind = path.suffix.lower() if kind is None else kind
    if kind not in _WRITERS:
        raise ZooError(f"{path}: cannot write '{kind}' files (use .y4m, .yuv or a directory)")
    chroma = ((height + 1) // 2, (width + 1) // 2)
    shapes, index = [(height, width), chroma, chroma], itertools.count()

    def checked(planes: Planes) -> Planes:
        i = next(index)
        if [p.shape for p in planes] != shapes or any(p.dtype != np.uint8 for p in planes):
            raise ValueError(f"frame {i} is not 8-bit 4:2:0 of size {width}x{height}")
        return planes

    if not kind:
        with _png_folder(path) as folder:
            names = (folder / f"frame_{i:05d}.png" for i in itertools.count())

            def save(planes: Planes) -> None:
                rgb = (yuv420_to_rgb(*checked(planes))[0] * 255.0).round().to(torch.uint8)
                Image.fromarray(rgb.permute(1, 2, 0).numpy()).save(next(names))
            yield save
        return
    with _atomic_file(path) as f:
        if kind == ".y4m":
            fps = Fraction(fps)
            f.write(f"YUV4MPEG2 W{width} H{height} F{fps.numerator}:{fps.denominator} Ip A1:1 "
                    "C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\n".encode("ascii"))
        marker = b"FRAME\n" if kind == ".y4m" else b""
        yield lambda planes: f.write(marker + b"".join(p.tobytes() for p in checked(planes)))


def write_clip(path: PathLike, clip: Clip, kind: str | None = None) -> None:
    """Write ``clip`` as .y4m, .yuv, or (no suffix) a directory of PNG frames; see :func:`clip_writer`."""
    with clip_writer(path, clip.width, clip.height, clip.fps, kind) as write:
        for planes in clip.frames:
            write(planes)


def write_y4m(path: PathLike, clip: Clip) -> None:
    write_clip(path, clip, ".y4m")


def write_yuv(path: PathLike, clip: Clip) -> None:
    write_clip(path, clip, ".yuv")


def write_png_dir(path: PathLike, clip: Clip) -> None:
    write_clip(path, clip, "")
