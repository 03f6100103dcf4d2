"""zoo eval: both modes end to end on a tiny real clip, DCVC-style configs, averaging, plots."""

from __future__ import annotations

import importlib
import json

import pytest
import safetensors.torch

from zoo.cli import main
from zoo.core.models import open_model
from zoo.errors import ZooError
from zoo.eval.evaluate import (aggregate, collect_sequences, load_runs, model_size,
                               parse_dataset_config, parse_qualities, read_sequence)
from zoo.io.video import write_png_dir, write_y4m, write_yuv

from conftest import crop_clip


def _plot_parser():
    return importlib.import_module("compressai.utils.plot.__main__").parse_json_file


@pytest.fixture(scope="module")
def sequence_report(tiny_y4m, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "seq.json"
    assert main(["eval", "--untrained", "--data", str(tiny_y4m), "--qualities", "0,3",
                 "--intra-period", "2", "-o", str(out)]) == 0
    return out, json.loads(out.read_text())


@pytest.fixture(scope="module")
def dcvc_config(tiny_clip, tmp_path_factory):
    """A DCVC-TCM/DC/FM-style config: a yuv420 class, a png class and a skipped class."""
    root = tmp_path_factory.mktemp("dcvc")
    (root / "data" / "ClassD").mkdir(parents=True)
    write_yuv(root / "data" / "ClassD" / "Carphone.yuv", tiny_clip)  # no size in the name
    write_png_dir(root / "data" / "RGB" / "carphone_png", crop_clip(tiny_clip, 64, 32, 2))
    config = {
        "root_path": "data",
        "test_classes": {
            "HEVC_D": {"test": 1, "base_path": "ClassD", "src_type": "yuv420", "sequences": {
                "Carphone.yuv": {"width": 72, "height": 48, "frames": 3, "intra_period": -1}}},
            "RGB": {"test": 1, "base_path": "RGB", "src_type": "png", "sequences": {
                "carphone_png": {"width": 64, "height": 32, "frames": 2, "intra_period": 32}}},
            "UVG": {"test": 0, "base_path": "UVG", "src_type": "yuv420", "sequences": {
                "Beauty_1920x1080_120fps_420_8bit_YUV.yuv":
                    {"width": 1920, "height": 1080, "frames": 600, "intra_period": -1}}},
        },
    }
    path = root / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_eval_sequence_mode_codes_decodes_and_averages(sequence_report, tiny_clip):
    _, report = sequence_report
    assert "untrained" in report["description"] and report["mode"] == "sequence"
    assert report["results"]["quality"] == [0, 3]
    (seq,) = report["sequences"]
    assert (seq["class"], seq["name"], seq["frames_coded"]) == ("clips", "tiny_72x48", 3)
    for point in seq["points"]:
        frames = point["frames"]
        assert [f["kind"] for f in frames] == ["I", "P", "I"]  # intra period 2
        # every byte of the written stream is counted: frame records plus the header
        assert point["bytes"] > sum(f["bytes"] for f in frames)
        assert point["summary"]["all"]["bpp"] == pytest.approx(point["bytes"] * 8 / (72 * 48 * 3))
        assert point["summary"]["all"]["psnr_rgb"] == pytest.approx(
            sum(f["psnr_rgb"] for f in frames) / 3)
        assert all(f["encode_seconds"] > 0 and f["decode_seconds"] > 0 for f in frames)
    res = report["results"]
    for key in ("bpp", "psnr-rgb", "psnr-yuv", "psnr-y", "psnr-u", "psnr-v", "ms-ssim-rgb",
                "encode-time", "decode-time", "data-size", "model-size", "clic-score"):
        assert len(res[key]) == 2, key
    assert res["data-size"] == [p["bytes"] for p in seq["points"]]
    assert res["psnr-yuv"][0] == pytest.approx((6 * res["psnr-y"][0] + res["psnr-u"][0]
                                                + res["psnr-v"][0]) / 8)


def test_run_and_eval_code_a_clip_through_one_path(sequence_report, tiny_y4m, tmp_path, monkeypatch):
    """``zoo run`` and ``zoo eval`` (sequence mode) both call ``zoo.core.coding.round_trip``:
    the same bytes and the same per-frame figures."""
    import zoo.core.coding
    import zoo.eval.evaluate
    assert zoo.eval.evaluate.round_trip is zoo.core.coding.round_trip
    calls = []
    real = zoo.core.coding.round_trip
    monkeypatch.setattr(zoo.core.coding, "round_trip",
                        lambda *a, **k: calls.append(k.get("store")) or real(*a, **k))
    assert main(["run", "--untrained", "--input", str(tiny_y4m), "--quality", "3",
                 "--intra-period", "2", "--out", str(tmp_path)]) == 0
    assert len(calls) == 1 and calls[0] is not None  # run writes the .bin and decodes the file
    run = json.loads((tmp_path / "defaults" / "tiny_72x48.json").read_text())
    _, report = sequence_report
    point = report["sequences"][0]["points"][1]
    assert point["quality"] == run["quality"] == 3 and point["bytes"] == run["bytes"]
    keys = ("kind", "bytes", "bpp", "psnr_rgb", "psnr_yuv", "ms_ssim")
    assert [{k: f[k] for k in keys} for f in point["frames"]] == [
        {k: f[k] for k in keys} for f in run["frames"]]


def test_eval_output_reads_in_compressais_plot(sequence_report):
    path, report = sequence_report
    parse = _plot_parser()
    for metric, key in (("psnr", "psnr-rgb"), ("ms-ssim", "ms-ssim-rgb")):
        curve = parse(path, metric)
        assert curve["name"] == report["name"] and curve["xs"] == report["results"]["bpp"]
    assert load_runs(path)[0]["name"] == report["name"]


def test_eval_pframe_mode_on_a_dcvc_config(dcvc_config, tmp_path):
    out = tmp_path / "pframe.json"
    assert main(["eval", "--untrained", "--data", str(dcvc_config), "--qualities", "1",
                 "--mode", "pframe", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["mode"] == "pframe" and "untrained" in report["description"]
    seqs = {s["class"]: s for s in report["sequences"]}
    assert sorted(seqs) == ["HEVC_D", "RGB"]  # UVG has "test": 0
    d = seqs["HEVC_D"]
    assert (d["name"], d["width"], d["height"], d["frames_read"], d["frames_coded"]) == (
        "Carphone", 72, 48, 3, 2)
    (point,) = d["points"]
    assert [f["index"] for f in point["frames"]] == [1, 2]  # frame 0 is the reference
    assert {f["kind"] for f in point["frames"]} == {"P"}
    assert point["bytes"] == sum(f["bytes"] for f in point["frames"])  # records only
    assert seqs["RGB"]["frames_coded"] == 1
    res = report["results"]
    data = sum(s["points"][0]["bytes"] for s in report["sequences"])
    assert res["data-size"] == [data]
    assert res["clic-score"] == [report["model_size"]["bytes"] + 100 * data]
    assert "untrained" in report["model_size"]["source"]
    # per class frame-weighted (one sequence each), then the mean over the two classes
    assert res["psnr-rgb"][0] == pytest.approx(
        (d["points"][0]["summary"]["all"]["psnr_rgb"]
         + seqs["RGB"]["points"][0]["summary"]["all"]["psnr_rgb"]) / 2)


def test_untrained_model_size_is_its_state_dict_as_safetensors():
    model = open_model(untrained=True)
    size = model_size(model)
    state = {k: v.contiguous().clone() for k, v in model.codec.state_dict().items()}
    assert size["bytes"] == len(safetensors.torch.save(state))
    assert "untrained" in size["source"]


def test_dcvc_config_is_parsed(dcvc_config, tiny_clip):
    specs = {s.cls: s for s in parse_dataset_config(dcvc_config)}
    assert sorted(specs) == ["HEVC_D", "RGB"]
    d = specs["HEVC_D"]
    assert d.path == str(dcvc_config.parent / "data" / "ClassD" / "Carphone.yuv")
    assert (d.name, d.width, d.height, d.frames, d.intra_period) == ("Carphone", 72, 48, 3, 0)
    assert (specs["RGB"].frames, specs["RGB"].intra_period) == (2, 32)
    clip = read_sequence(d)  # the raw file's size comes from the config, not its name
    assert (clip.width, clip.height, len(clip.frames)) == (72, 48, 3)
    assert all((a == b).all() for fa, fb in zip(clip.frames, tiny_clip.frames) for a, b in zip(fa, fb))
    # command-line overrides, as DCVC's --force_frame_num / --force_intra_period
    forced = {s.cls: s for s in collect_sequences([str(dcvc_config)], frames=2, intra_period=4)}
    assert (forced["HEVC_D"].frames, forced["HEVC_D"].intra_period) == (2, 4)


def test_original_dcvc_layout_and_config_errors(tiny_clip, tmp_path):
    write_png_dir(tmp_path / "HEVC_B" / "BQTerrace_72x48_60", tiny_clip)
    old = {"HEVC_B": {"base_path": str(tmp_path / "HEVC_B"), "sequences": {
        "BQTerrace_72x48_60": {"frames": 3, "gop": 10}}}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (spec,) = parse_dataset_config(tmp_path / "old.json")
    assert (spec.cls, spec.name, spec.frames, spec.intra_period) == (
        "HEVC_B", "BQTerrace_72x48_60", 3, 10)
    assert len(read_sequence(spec).frames) == 3

    (tmp_path / "more.json").write_text(json.dumps({"HEVC_B": {**old["HEVC_B"], "sequences": {
        "BQTerrace_72x48_60": {"frames": 5, "gop": 10}}}}))
    with pytest.raises(ZooError, match="holds 3 frames, the config asks for 5"):
        read_sequence(parse_dataset_config(tmp_path / "more.json")[0])
    (tmp_path / "bad.json").write_text(json.dumps({"test_classes": {"A": {
        "src_type": "yuv420", "sequences": {"a.yuv": {"frames": 3}}}}}))
    with pytest.raises(ZooError, match="needs 'width' and 'height'"):
        parse_dataset_config(tmp_path / "bad.json")
    (tmp_path / "none.json").write_text("{}")
    with pytest.raises(ZooError, match="not a dataset config"):
        parse_dataset_config(tmp_path / "none.json")


def test_a_folder_of_clips_is_a_class(tiny_clip, tmp_path):
    folder = tmp_path / "HEVC_X"
    write_y4m(folder / "b.y4m", tiny_clip)
    write_y4m(folder / "a.y4m", tiny_clip)
    write_png_dir(folder / "c", tiny_clip)
    (folder / "notes.txt").write_text("not a clip")
    specs = collect_sequences([str(folder), str(folder / "a.y4m")], frames=2)
    assert [(s.cls, s.name, s.frames) for s in specs] == [
        ("HEVC_X", "a", 2), ("HEVC_X", "b", 2), ("HEVC_X", "c", 2), ("clips", "a", 2)]
    with pytest.raises(ZooError, match="named twice"):
        collect_sequences([str(folder), str(folder)])


def _seq(cls: str, frames: int, psnr: float, nbytes: int) -> dict:
    keys = {"bpp": 1.0, "psnr_rgb": psnr, "psnr_yuv": psnr, "psnr_y": psnr, "psnr_u": psnr,
            "psnr_v": psnr, "ms_ssim": 0.9, "encode_seconds": 1.0, "decode_seconds": 1.0}
    return {"class": cls, "name": f"{cls}{frames}", "frames_coded": frames,
            "points": [{"bytes": nbytes, "summary": {"all": keys}}]}


def test_averages_are_frame_weighted_per_class_then_over_classes():
    sequences = [_seq("A", 1, 30.0, 100), _seq("A", 3, 34.0, 200), _seq("B", 2, 40.0, 50)]
    results, classes = aggregate(sequences, model_bytes=1000)
    assert classes["A"]["results"]["psnr-rgb"] == [pytest.approx(33.0)]  # (30 + 3 x 34) / 4
    assert results["psnr-rgb"] == [pytest.approx(36.5)]  # (33 + 40) / 2
    assert results["data-size"] == [350] and results["clic-score"] == [1000 + 100 * 350]


def test_qualities():
    assert parse_qualities("all", 4) == [0, 1, 2, 3]
    assert parse_qualities("3,1", 4) == [1, 3]
    with pytest.raises(ZooError, match="out of range"):
        parse_qualities("4", 4)


@pytest.mark.parametrize("args,message", [
    (["--data", "missing.y4m"], "missing.y4m: no such file"),
    (["--data", "{clip}", "--qualities", "9"], "quality 9 is out of range"),
    (["--data", "{clip}", "--frames", "1", "--mode", "pframe"], "needs at least 2 frames"),
])
def test_bad_eval_requests_are_one_line_errors(args, message, tiny_y4m, tmp_path, capsys):
    args = [a.replace("{clip}", str(tiny_y4m)) for a in args]
    assert main(["eval", "--untrained", *args, "-o", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()


def test_plot_draws_zoo_and_compressai_results(sequence_report, tmp_path):
    path, _ = sequence_report
    compressai_style = tmp_path / "bpg.json"
    compressai_style.write_text(json.dumps({"name": "BPG", "results": {
        "bpp": [0.1, 0.2, 0.4], "psnr": [30.0, 33.0, 36.0], "ms-ssim": [0.95, 0.97, 0.98]}}))
    out = tmp_path / "rd.png"
    # a file that records no protocol is not compared with a zoo result unless asked
    assert main(["plot", str(path), str(compressai_style), "-o", str(out)]) == 2
    assert not out.exists()
    assert main(["plot", str(path), str(compressai_style), "-o", str(out),
                 "--allow-cross-protocol", "--metric", "ms-ssim", "--xlim", "0,1"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
