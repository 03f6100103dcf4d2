"""zoo bench: x264 / x265 anchors through PyAV, measured like zoo eval."""

from __future__ import annotations

import json

import av
import pytest

from zoo.cli import main
from zoo.errors import ZooError
from zoo.eval.anchors import encode, strip_sei
from zoo.eval.evaluate import load_runs


@pytest.fixture(scope="module")
def x264_report(tiny_y4m, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "x264.json"
    assert main(["bench", "x264", "--data", str(tiny_y4m), "--qps", "22,32,42", "-o", str(out)]) == 0
    return json.loads(out.read_text())


def test_bench_x264_returns_monotone_rate_points(x264_report):
    res = x264_report["results"]
    assert res["qp"] == [22, 32, 42] and x264_report["kind"] == "anchor"
    assert res["bpp"][0] > res["bpp"][1] > res["bpp"][2] > 0
    assert res["psnr-rgb"][0] > res["psnr-rgb"][1] > res["psnr-rgb"][2]
    assert res["ms-ssim-rgb"][0] > res["ms-ssim-rgb"][2]
    (seq,) = x264_report["sequences"]
    for point in seq["points"]:
        frames = point["frames"]
        assert [f["kind"] for f in frames] == ["I", "P", "P"]  # low-delay P, one intra frame
        assert point["bytes"] == sum(f["bytes"] for f in frames)  # elementary stream, no container
        assert point["summary"]["all"]["bpp"] == pytest.approx(point["bytes"] * 8 / (72 * 48 * 3))
    assert res["data-size"] == [p["bytes"] for p in seq["points"]]
    assert "clic-score" not in res  # no model size for an anchor


def test_bench_uses_the_intra_period_and_frames(tiny_y4m, tmp_path):
    out = tmp_path / "x264.json"
    assert main(["bench", "x264", "--data", str(tiny_y4m), "--qps", "30", "--intra-period", "2",
                 "-o", str(out)]) == 0
    (point,) = json.loads(out.read_text())["sequences"][0]["points"]
    assert [f["kind"] for f in point["frames"]] == ["I", "P", "I"]


def test_encoder_settings_sei_is_not_counted(tiny_clip):
    packets, _ = encode(tiny_clip, "x264", 30)
    assert b"x264 - core" not in packets[0][0]
    assert packets[0][0].startswith(b"\x00\x00\x00\x01") and packets[0][1]
    # an H.264 SEI (type 6) between an SPS (7) and a slice (5) goes; the rest stays as it was
    sps = b"\x00\x00\x00\x01\x67\x42\xc0\x1e"
    sei, idr = b"\x00\x00\x01\x06\x05\x01\x80", b"\x00\x00\x01\x65\x88\x80"
    assert strip_sei(sps + sei + idr, "x264") == sps + idr
    hevc_sei, hevc_idr = b"\x00\x00\x01\x4e\x01\x05\x80", b"\x00\x00\x01\x26\x01\xaf"
    assert strip_sei(hevc_sei + hevc_idr, "x265") == hevc_idr


@pytest.mark.skipif("libx265" not in av.codecs_available, reason="PyAV built without libx265")
def test_bench_x265_and_one_file_holding_all(tiny_y4m, tmp_path):
    out = tmp_path / "anchors.json"
    assert main(["bench", "x264,x265", "--data", str(tiny_y4m), "--qps", "27,37", "--one-file",
                 "-o", str(out)]) == 0
    runs = load_runs(out)
    assert [r["name"] for r in runs] == ["x264", "x265"]
    for run in runs:
        assert run["results"]["bpp"][0] > run["results"]["bpp"][1]


@pytest.mark.skipif("libx265" not in av.codecs_available, reason="PyAV built without libx265")
def test_several_codecs_write_one_file_each(tiny_y4m, tmp_path):
    assert main(["bench", "x264,x265", "--data", str(tiny_y4m), "--qps", "37", "--frames", "2",
                 "-o", str(tmp_path / "a.json")]) == 0
    for codec in ("x264", "x265"):
        report = json.loads((tmp_path / f"a-{codec}.json").read_text())
        assert report["name"] == codec and report["sequences"][0]["frames_coded"] == 2


@pytest.mark.parametrize("args,message", [
    (["x266"], "unknown anchor codec 'x266'"),
    (["x264", "--qps", "60"], "--qps must name QPs in 0..51"),
])
def test_bad_bench_requests_are_one_line_errors(args, message, tiny_y4m, tmp_path, capsys):
    assert main(["bench", *args, "--data", str(tiny_y4m), "-o", str(tmp_path / "a.json")]) == 2
    assert message in capsys.readouterr().err


def test_missing_encoder_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - {"libx265"})
    from zoo.eval.anchors import check_codec
    with pytest.raises(ZooError, match="PyAV's bundled ffmpeg has no libx265 encoder"):
        check_codec("x265")
