"""Conventional anchors: x264 and x265 through PyAV's bundled libx264 / libx265.

Low-delay P: no B-frames, constant QP, an IDR frame first and then only every
``intra_period`` frames (0: only the first; scene-cut detection off, so the
encoder adds no I-frame of its own). Frames go in as the source's 8-bit 4:2:0
planes (no colour conversion); a clip with an odd side is padded by edge
replication to even sides (4:2:0 codecs need them) and the decoded frames are
cropped back.

The rate is the bytes of the Annex-B elementary stream, no container: every
packet the encoder returns (parameter sets included) minus its SEI NAL units,
which carry the encoder's settings text (x264 writes about 700 bytes of it)
and which no decoder needs. That stripped stream is what is decoded: it is
written to a temporary ``.264`` / ``.hevc`` file and read back with
:func:`zoo.io.video.read_clip` (PyAV's ffmpeg decoder), and the decoded frames
are measured with the same code as ``zoo eval`` (:func:`zoo.core.coding.frame_stats`).
"""

from __future__ import annotations

import re
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import av
import numpy as np

from zoo.core.coding import frame_stats
from zoo.errors import ZooError
from zoo.io.bitstream import FrameRecord
from zoo.io.video import Clip, read_clip
from zoo.slots import Payload
from .compare import COLOUR
from .evaluate import (NullProgress, SequenceSpec, aggregate, frame_rows, point_summary,
                       read_sequence, sequence_entry)

#: name -> (PyAV encoder, suffix of the elementary stream file)
CODECS = {"x264": ("libx264", ".264"), "x265": ("libx265", ".hevc")}
DEFAULT_QPS = (22, 27, 32, 37)
_START_CODE = re.compile(b"\x00\x00\x01")


def check_codec(name: str) -> str:
    """The PyAV encoder for ``name``; a ZooError if unknown or not in this PyAV build."""
    if name not in CODECS:
        raise ZooError(f"unknown anchor codec {name!r} (choose from {', '.join(CODECS)})")
    encoder = CODECS[name][0]
    if encoder not in av.codecs_available:
        raise ZooError(f"{name}: PyAV's bundled ffmpeg has no {encoder} encoder "
                       f"(PyAV {av.__version__})")
    return encoder


def parse_qps(text: str) -> list[int]:
    try:
        qps = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ZooError(f"--qps takes comma-separated integers, got {text!r}") from None
    if not qps or any(not 0 <= q <= 51 for q in qps):
        raise ZooError(f"--qps must name QPs in 0..51, got {text!r}")
    return qps


def _encoder_options(codec: str, preset: str, qp: int, intra_period: int,
                     params: str = "") -> dict[str, str]:
    """``params``: more ``key=value:...`` for x264-params / x265-params (e.g. threads)."""
    extra = f":{params}" if params else ""
    if codec == "x264":
        keyint = str(intra_period) if intra_period > 0 else "infinite"
        return {"preset": preset, "qp": str(qp),
                "x264-params": f"bframes=0:keyint={keyint}:min-keyint={keyint}:scenecut=0{extra}"}
    keyint = str(intra_period) if intra_period > 0 else "-1"
    return {"preset": preset,
            "x265-params": f"qp={qp}:bframes=0:keyint={keyint}:min-keyint={keyint}:scenecut=0:"
                           f"open-gop=0:info=0:log-level=error{extra}"}


def strip_sei(data: bytes, codec: str) -> bytes:
    """An Annex-B stream without its SEI NAL units (H.264 type 6; HEVC types 39, 40)."""
    starts = [m.start() for m in _START_CODE.finditer(data)]
    if not starts:
        return data
    begins = [s - 1 if s > 0 and data[s - 1] == 0 and (i == 0 or s - 1 >= starts[i - 1] + 3) else s
              for i, s in enumerate(starts)]
    kept = [data[:begins[0]]]
    for i, (begin, start) in enumerate(zip(begins, starts)):
        end = begins[i + 1] if i + 1 < len(begins) else len(data)
        if start + 3 >= len(data):
            kept.append(data[begin:end])
            continue
        header = data[start + 3]
        sei = (header & 0x1F) == 6 if codec == "x264" else ((header >> 1) & 0x3F) in (39, 40)
        if not sei:
            kept.append(data[begin:end])
    return b"".join(kept)


def _even(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.pad(plane, ((0, height - plane.shape[0]), (0, width - plane.shape[1])), mode="edge")


def encode(clip: Clip, codec: str, qp: int, preset: str = "medium",
           intra_period: int = 0, params: str = "") -> tuple[list[tuple[bytes, bool]], float]:
    """Each frame's stripped packet bytes and whether it is a key frame; the encode seconds."""
    encoder = check_codec(codec)
    width, height = clip.width + clip.width % 2, clip.height + clip.height % 2
    ctx = av.CodecContext.create(encoder, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    fps = Fraction(clip.fps)
    ctx.time_base, ctx.framerate = 1 / fps, fps
    ctx.options = _encoder_options(codec, preset, qp, intra_period, params)
    packets = []
    started = time.perf_counter()
    try:
        for index, (y, u, v) in enumerate(clip.frames):
            planes = [_even(y, height, width), _even(u, height // 2, width // 2),
                      _even(v, height // 2, width // 2)]
            frame = av.VideoFrame.from_ndarray(
                np.concatenate([p.ravel() for p in planes]).reshape(height * 3 // 2, width),
                format="yuv420p")
            frame.pts = index
            packets.extend(ctx.encode(frame))
        packets.extend(ctx.encode(None))
    except av.error.FFmpegError as e:
        raise ZooError(f"{codec}: encoding failed: {e}") from e
    seconds = time.perf_counter() - started
    by_pts = {p.pts: p for p in packets}
    if sorted(by_pts) != list(range(len(clip.frames))):
        raise ZooError(f"{codec}: the encoder returned {len(packets)} packets for "
                       f"{len(clip.frames)} frames")
    return [(strip_sei(bytes(by_pts[i]), codec), bool(by_pts[i].is_keyframe))
            for i in range(len(clip.frames))], seconds


def decode(stream: bytes, codec: str, width: int, height: int) -> tuple[Clip, float]:
    """Decode an elementary stream with PyAV (through zoo.io.video); crop to ``width`` x ``height``."""
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        path = Path(tmp) / f"stream{CODECS[codec][1]}"
        path.write_bytes(stream)
        started = time.perf_counter()
        clip = read_clip(path)
        seconds = time.perf_counter() - started
    cw, ch = (width + 1) // 2, (height + 1) // 2
    frames = [(y[:height, :width], u[:ch, :cw], v[:ch, :cw]) for y, u, v in clip.frames]
    return Clip(frames, width, height, clip.fps), seconds


def code_point(clip: Clip, codec: str, qp: int, preset: str, intra_period: int) -> dict[str, Any]:
    """One rate point of one sequence, measured on the decoded frames."""
    packets, enc_seconds = encode(clip, codec, qp, preset, intra_period)
    stream = b"".join(data for data, _ in packets)
    decoded, dec_seconds = decode(stream, codec, clip.width, clip.height)
    if len(decoded.frames) != len(clip.frames):
        raise ZooError(f"{codec}: decoded {len(decoded.frames)} frames of {len(clip.frames)}")
    records = [FrameRecord("I" if key else "P", Payload({})) for _, key in packets]
    sizes = [len(data) for data, _ in packets]
    stats = frame_stats(clip, decoded, records, sizes)
    n = len(clip.frames)
    enc = [enc_seconds / n] * n  # the codec pipelines frames: only the total is measured
    dec = [dec_seconds / n] * n
    return {"qp": qp, "bytes": len(stream),
            "summary": point_summary(stats, len(stream), clip.width, clip.height, enc, dec),
            "frames": frame_rows(stats, enc, dec)}


def bench(codec: str, specs: Sequence[SequenceSpec], qps: Sequence[int], preset: str = "medium",
          progress: NullProgress = NullProgress()) -> dict[str, Any]:
    """Every QP of every sequence with one anchor codec; the report ``zoo eval`` writes."""
    encoder = check_codec(codec)
    if not specs:
        raise ZooError("no sequences to code")
    sequences = []
    for spec in specs:
        clip = read_sequence(spec)
        progress.sequence(f"{codec} {spec.key}", len(qps))
        points = []
        for qp in qps:
            points.append(code_point(clip, codec, qp, preset, spec.intra_period))
            progress.frame()
        progress.sequence_done()
        sequences.append(sequence_entry(spec, clip, len(clip.frames), points, "sequence"))
    results, per_class = aggregate(sequences)
    version = av.codec.Codec(encoder, "w").long_name
    return {
        "name": codec,
        "description": f"zoo bench: {codec} ({version}) through PyAV {av.__version__}, preset "
                       f"{preset}, constant QP, low-delay P (no B-frames)",
        "kind": "anchor",
        "mode": "sequence",
        "codec": {"name": codec, "encoder": encoder, "pyav": av.__version__, "preset": preset,
                  "options": {str(qp): _encoder_options(codec, preset, qp, 0) for qp in qps}},
        "protocol": {
            "mode": "sequence",
            "coding": "low-delay P: no B-frames, constant QP (the encoder's default I/P QP "
                      "offset), IDR every intra period (0: only the first), scene cut off",
            "rate": "bytes of the Annex-B elementary stream without SEI NAL units (no container)",
            "colour": COLOUR,
            "distortion": "the same code as zoo eval, on the decoded 8-bit 4:2:0 frames",
            "averaging": "as zoo eval; encode/decode time is the sequence's total over its frames",
            "frames": {s.key: s.frames for s in specs},
        },
        "results": {"qp": list(qps), **results},
        "classes": per_class,
        "sequences": sequences,
    }
