"""Video I/O: round trips, format conversions and bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from zoo.errors import ZooError
from zoo.io.color import rgb_to_yuv420
from zoo.io.video import Clip, read_clip, write_clip, write_png_dir, write_y4m, write_yuv

DEV_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/dev"


def random_clip(width: int, height: int, frames: int, fps: Fraction = Fraction(25), seed: int = 0) -> Clip:
    rng = np.random.default_rng(seed)
    ch, cw = (height + 1) // 2, (width + 1) // 2
    shapes = ((height, width), (ch, cw), (ch, cw))
    planes = [tuple(rng.integers(0, 256, shape, dtype=np.uint8) for shape in shapes) for _ in range(frames)]
    return Clip(planes, width, height, fps)


def smooth_clip(width: int, height: int, frames: int) -> Clip:
    """In-gamut frames: smooth RGB gradients converted to YUV."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    planes = []
    for t in range(frames):
        rgb = torch.stack([0.1 + 0.8 * xs, 0.1 + 0.8 * ys, 0.5 + 0.3 * torch.sin(6 * xs + 4 * ys + t)])
        planes.append(rgb_to_yuv420(rgb[None]))
    return Clip(planes, width, height, Fraction(25))


def assert_same_frames(a: Clip, b: Clip) -> None:
    assert len(a.frames) == len(b.frames)
    for fa, fb in zip(a.frames, b.frames):
        for pa, pb in zip(fa, fb):
            assert pa.dtype == pb.dtype == np.uint8
            np.testing.assert_array_equal(pa, pb)


def y4m_bytes(header: str, frames: list[bytes]) -> bytes:
    return header.encode() + b"\n" + b"".join(b"FRAME\n" + f for f in frames)


# --- round trips -----------------------------------------------------------------------------

def test_y4m_round_trip_odd_size(tmp_path):
    clip = random_clip(33, 17, 3, Fraction(30000, 1001))
    write_y4m(tmp_path / "c.y4m", clip)
    back = read_clip(tmp_path / "c.y4m")
    assert (back.width, back.height, back.fps) == (33, 17, Fraction(30000, 1001))
    assert [p.shape for p in back.frames[0]] == [(17, 33), (9, 17), (9, 17)]
    assert_same_frames(clip, back)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.y4m"]  # no temporary file left


def test_yuv_round_trip_and_fps_from_name(tmp_path):
    clip = random_clip(33, 17, 4)
    for name, fps in [("c_33x17_50.yuv", 50), ("c_33x17.yuv", 25), ("c_24fps_33x17_8bit.yuv", 24)]:
        write_yuv(tmp_path / name, clip)
        back = read_clip(tmp_path / name)
        assert (back.width, back.height, back.fps) == (33, 17, fps)
        assert_same_frames(clip, back)
    assert (tmp_path / "c_33x17.yuv").stat().st_size == 4 * (33 * 17 + 2 * 17 * 9)


def test_png_dir_round_trip(tmp_path):
    clip = smooth_clip(33, 17, 2)
    write_clip(tmp_path / "frames", clip)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["frame_00000.png", "frame_00001.png"]
    back = read_clip(tmp_path / "frames")
    assert (back.width, back.height, len(back.frames)) == (33, 17, 2)
    for fa, fb in zip(clip.frames, back.frames):
        for pa, pb in zip(fa, fb):
            assert np.abs(pa.astype(int) - pb.astype(int)).max() <= 1
    # A previous PNG output is replaced; any other directory is left alone.
    write_png_dir(tmp_path / "frames", random_clip(33, 17, 1))
    assert len(list((tmp_path / "frames").iterdir())) == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(ZooError, match="not overwriting"):
        write_png_dir(tmp_path / "other", clip)
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


def test_write_clip_dispatch(tmp_path):
    clip = random_clip(8, 6, 1)
    write_clip(tmp_path / "a.y4m", clip)
    write_clip(tmp_path / "a_8x6.yuv", clip)
    assert (tmp_path / "a.y4m").read_bytes().startswith(b"YUV4MPEG2 W8 H6 F25:1 ")
    assert (tmp_path / "a_8x6.yuv").stat().st_size == 8 * 6 + 2 * 4 * 3
    with pytest.raises(ZooError, match="mp4"):
        write_clip(tmp_path / "a.mp4", clip)


def test_failed_write_keeps_target_and_leaves_no_temp(tmp_path):
    target = tmp_path / "c.y4m"
    target.write_bytes(b"old")
    bad = random_clip(8, 6, 2)
    bad.frames[1] = (bad.frames[1][0][:4], *bad.frames[1][1:])  # wrong luma shape
    with pytest.raises(ValueError, match="frame 1"):
        write_y4m(target, bad)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.y4m"]


def test_mp4_through_pyav(tmp_path):
    # 72 wide so that PyAV's padded line size differs from the width.
    clip = smooth_clip(72, 48, 5)
    path = tmp_path / "c.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"qp": "0"})  # lossless
        stream.width, stream.height, stream.pix_fmt = 72, 48, "yuv420p"
        for y, u, v in clip.frames:
            frame = av.VideoFrame.from_ndarray(np.concatenate([y, u.reshape(-1, 72), v.reshape(-1, 72)]),
                                               format="yuv420p")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    back = read_clip(path)
    assert (back.width, back.height, back.fps) == (72, 48, 10)
    assert_same_frames(clip, back)
    assert len(read_clip(path, max_frames=2).frames) == 2


@pytest.mark.skipif(not (DEV_DATA / "rtn23_80x32_15.y4m").exists(), reason="dev data not available")
def test_dev_sequence():
    clip = read_clip(DEV_DATA / "rtn23_80x32_15.y4m")
    assert (clip.width, clip.height, clip.fps, len(clip.frames)) == (80, 32, 15, 15)
    assert 16 <= clip.frames[0][0].mean() <= 235
    assert len(read_clip(DEV_DATA / "rtn23_80x32_15.y4m", max_frames=4).frames) == 4


def test_max_frames(tmp_path):
    clip = random_clip(8, 6, 5)
    write_y4m(tmp_path / "c.y4m", clip)
    write_yuv(tmp_path / "c_8x6.yuv", clip)
    write_png_dir(tmp_path / "png", clip)
    for name in ("c.y4m", "c_8x6.yuv", "png"):
        assert len(read_clip(tmp_path / name, max_frames=2).frames) == 2
        assert len(read_clip(tmp_path / name, max_frames=9).frames) == 5


def test_truncation_after_max_frames_is_not_read(tmp_path):
    frame = bytes(8 * 6 + 2 * 4 * 3)
    (tmp_path / "c.y4m").write_bytes(y4m_bytes("YUV4MPEG2 W8 H6 F25:1", [frame, frame, frame[:10]]))
    (tmp_path / "c_8x6.yuv").write_bytes(frame * 2 + frame[:10])
    for name in ("c.y4m", "c_8x6.yuv"):
        assert len(read_clip(tmp_path / name, max_frames=2).frames) == 2
        with pytest.raises(ZooError, match="truncated"):
            read_clip(tmp_path / name)


# --- y4m colour spaces -----------------------------------------------------------------------

def test_y4m_444_and_422_to_420(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    u444, v444 = (rng.integers(0, 256, (5, 7), dtype=np.uint8) for _ in range(2))
    u422, v422 = (rng.integers(0, 256, (5, 4), dtype=np.uint8) for _ in range(2))
    for c, u, v in [("C444", u444, v444), ("C422", u422, v422)]:
        frame = y.tobytes() + u.tobytes() + v.tobytes()
        (tmp_path / "c.y4m").write_bytes(y4m_bytes(f"YUV4MPEG2 W7 H5 F25:1 Ip {c}", [frame]))
        (y2, u2, v2), = read_clip(tmp_path / "c.y4m").frames
        np.testing.assert_array_equal(y2, y)
        for src, out in [(u, u2), (v, v2)]:
            fx = 2 if src.shape[1] == 7 else 1
            padded = np.pad(src.astype(float), ((0, 1), (0, 1 if fx == 2 else 0)), mode="edge")
            expected = padded.reshape(3, 2, 4, fx).mean(axis=(1, 3))
            np.testing.assert_array_equal(out, np.floor(expected + 0.5).astype(np.uint8))
    assert u2.shape == (3, 4)


def test_y4m_10bit(tmp_path):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 1024, (4, 6)).astype("<u2")
    y[0, :4] = [1023, 1022, 2, 1]
    u, v = (rng.integers(0, 1024, (2, 3)).astype("<u2") for _ in range(2))
    frame = y.tobytes() + u.tobytes() + v.tobytes()
    (tmp_path / "c.y4m").write_bytes(y4m_bytes("YUV4MPEG2 W6 H4 F25:1 C420p10", [frame]))
    (y8, u8, v8), = read_clip(tmp_path / "c.y4m").frames
    assert list(y8[0, :4]) == [255, 255, 1, 0]
    for a, b in [(y, y8), (u, u8), (v, v8)]:
        np.testing.assert_array_equal(b, np.minimum((a.astype(int) + 2) >> 2, 255))
    # 4:4:4 10-bit: 2x2 chroma mean and the shift with a single rounding.
    c = np.array([[1000, 1001], [1002, 1003]], dtype="<u2")
    (tmp_path / "d.y4m").write_bytes(y4m_bytes("YUV4MPEG2 W2 H2 F25:1 C444p10", [c.tobytes() * 3]))
    (_, u8, _), = read_clip(tmp_path / "d.y4m").frames
    assert u8.tolist() == [[(4006 + 8) // 16]]


# --- bad input -------------------------------------------------------------------------------

FRAME_8x6 = bytes(8 * 6 + 2 * 4 * 3)


@pytest.mark.parametrize("name, content, message", [
    ("magic.y4m", y4m_bytes("YUV4MPEG W8 H6 F25:1", [FRAME_8x6]), "header"),
    ("binary.y4m", bytes(range(256)) * 40, "header"),
    ("no_w.y4m", y4m_bytes("YUV4MPEG2 H6 F25:1", [FRAME_8x6]), "no W"),
    ("bad_w.y4m", y4m_bytes("YUV4MPEG2 W-8 H6 F25:1", [FRAME_8x6]), "W-8"),
    ("zero_w.y4m", y4m_bytes("YUV4MPEG2 W0 H6 F25:1", [FRAME_8x6]), "size"),
    ("huge.y4m", y4m_bytes("YUV4MPEG2 W20000 H6 F25:1", [FRAME_8x6]), "size"),
    ("bad_f.y4m", y4m_bytes("YUV4MPEG2 W8 H6 F25:0", [FRAME_8x6]), "frame rate"),
    ("mono.y4m", y4m_bytes("YUV4MPEG2 W8 H6 F25:1 Cmono", [FRAME_8x6]), "colour space"),
    ("trunc.y4m", y4m_bytes("YUV4MPEG2 W8 H6 F25:1", [FRAME_8x6, FRAME_8x6[:-1]]), "truncated"),
    ("trunc_marker.y4m", y4m_bytes("YUV4MPEG2 W8 H6 F25:1", [FRAME_8x6]) + b"FRA", "truncated"),
    ("marker.y4m", y4m_bytes("YUV4MPEG2 W8 H6 F25:1", [FRAME_8x6]) + b"FRAMES\n" + FRAME_8x6, "FRAME marker"),
    ("empty.y4m", b"YUV4MPEG2 W8 H6 F25:1\n", "no frames"),
    ("noname.yuv", FRAME_8x6, "size in its name"),
    ("huge_20000x6.yuv", FRAME_8x6, "size"),
    ("short_8x6.yuv", FRAME_8x6 + b"\0", "truncated"),
    ("empty_8x6.yuv", b"", "no frames"),
    ("random.mp4", np.random.default_rng(3).bytes(5000), "cannot decode"),
])
def test_bad_input(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ZooError, match=message) as info:
        read_clip(path)
    text = str(info.value)
    assert name in text and "\n" not in text


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(ZooError, match="no such file"):
        read_clip(tmp_path / "missing.y4m")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ZooError, match="no frames"):
        read_clip(tmp_path / "empty")
    (tmp_path / "empty" / "frame_0.png").write_bytes(b"not a png")
    with pytest.raises(ZooError, match="frame_0.png"):
        read_clip(tmp_path / "empty")
    with pytest.raises(ZooError, match="max_frames"):
        read_clip(tmp_path / "empty", max_frames=0)
