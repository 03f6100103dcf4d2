"""scripts/targets.py: issue 14's six targets from synthetic eval and anchor reports."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("targets", ROOT / "scripts" / "targets.py")
targets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(targets)

CLIPS = {"park_160x80_25": 6, "vt2people_320x192_12": 4}
QPS = (47, 42, 37, 32, 27)  # x264's points, lowest quality first, as the models' q 0..4


def sequence(name: str, frames: int, points: list[dict]) -> dict:
    return {"class": "dev", "name": name, "frames_coded": frames, "intra_period": 0, "points": points}


def point(key: str, value: int, bpp: float, psnr: float, p_bpp: float, drift: float,
          frames: int) -> dict:
    """A rate point whose P-frames fall linearly by ``drift`` dB from the first to the last."""
    records = [{"index": 0, "kind": "I", "psnr_rgb": psnr + 2}]
    records += [{"index": i, "kind": "P", "psnr_rgb": psnr + drift * (i - 1) / (frames - 2)}
                for i in range(1, frames)]
    return {key: value, "summary": {"all": {"bpp": bpp, "psnr_rgb": psnr}, "P": {"bpp": p_bpp}},
            "frames": records}


def model(name: str, step: float = 0.6, drift: float = -1.0, rate: float = 1.0,
          static_p: float = 0.01) -> dict:
    """Five qualities; PSNR 25 + step x q, bpp ``rate`` x x264's at the same q."""
    return {"name": name, "mode": "sequence", "sequences": [
        sequence(c, n, [point("quality", q, rate * 0.05 * 2 ** q, 25 + step * q,
                              static_p * 2 ** q, drift, n) for q in range(5)])
        for c, n in CLIPS.items()]}


def anchor() -> dict:
    return {"name": "x264", "kind": "anchor", "mode": "sequence", "sequences": [
        sequence(c, n, [point("qp", qp, 0.05 * 2 ** q, 25 + 0.6 * q, 0.005, -1.9, n)
                        for q, qp in enumerate(QPS)]) for c, n in CLIPS.items()]}


def verdicts(models: list[dict], **kwargs) -> list[str]:
    return [v for _, v in targets.targets(models, **kwargs)[0]]


def test_psnr_per_step_and_drift_flip():
    good, flat, drifting = model("a"), model("b", step=0.3), model("c", drift=-3.0)
    assert verdicts([good], anchor=anchor())[:2] == ["met", "met"]
    assert verdicts([good, flat], anchor=anchor())[:2] == ["not met", "met"]
    assert verdicts([good, drifting], anchor=anchor())[:2] == ["met", "not met"]
    rows, detail = targets.targets([flat], anchor=anchor())
    assert detail["b"]["dB/step"] == pytest.approx(0.3)
    assert detail["b"]["drift"] == pytest.approx(-1.0)
    assert "x264 -1.90 dB" in rows[1][0]


def test_the_drift_says_where_the_encoder_skipped_frames():
    """The worst point's note: its quality, a skipped last P-frame (no residual bytes) and
    the drift between the coded P-frames; the verdict stays on the last P-frame."""
    report = model("a", drift=-3.0)
    for entry in report["sequences"]:
        for p in entry["points"]:
            for f in p["frames"][1:]:
                f["bytes_split"] = {"motion": 9, "residual": 0 if f["index"] in (2, len(p["frames"]) - 1)
                                    else 40}
    rows, detail = targets.targets([report, model("b")], anchor=anchor())
    note = detail["a"]["drift note"]
    assert note.startswith("quality 0, its last P-frame skipped, coded P-frames -2.")
    coded = [f for f in report["sequences"][0]["points"][0]["frames"][1:] if f["bytes_split"]["residual"]]
    assert f"{coded[-1]['psnr_rgb'] - coded[0]['psnr_rgb']:+.2f} dB" in note
    assert rows[1] == (f"worst -3.00 dB (a, {note}); x264 -1.90 dB (reference)", "not met")
    assert detail["b"]["drift note"] == "quality 0"  # no bytes_split: every frame counts as coded
    for f in report["sequences"][0]["points"][0]["frames"][1:]:
        f["bytes_split"]["residual"] = 0
    assert targets.drift_note(report["sequences"][0]["points"][0]) == "quality 0, every P-frame skipped"


def test_best_model_against_x264():
    rows, detail = targets.targets([model("cheap", rate=1.3), model("dear", rate=1.8)],
                                   anchor=anchor())
    assert detail["cheap"]["bd x264"].value == pytest.approx(30.0, abs=0.5)
    assert detail["dear"]["bd x264"].value == pytest.approx(80.0, abs=0.5)
    assert rows[2][0].startswith("cheap: +30.0 % (100 % overlap, 2/2 seq.)") and rows[2][1] == "met"
    assert verdicts([model("dear", rate=1.8)], anchor=anchor())[2] == "not met"


@pytest.mark.parametrize("full, expected", [(0.85, "met"), (0.95, "not met")])
def test_cmfr_stack(full: float, expected: str):
    rates = (1.0, 0.95, 0.9, full)
    rows, _ = targets.targets([model(n, rate=r) for n, r in zip(targets.CMFR, rates)])
    assert rows[3][1] == expected and rows[3][0].count("4/4 seq.") == 0  # 2 clips here
    assert rows[3][0].count("2/2 seq.") == 4


def talking(name: str, p_bpp: float) -> dict:
    """A report on two talking-head clips, the second the costlier at its lowest quality."""
    return {"name": name, "mode": "sequence", "sequences": [
        sequence(c, 8, [point("quality", q, 0.02 * 2 ** q, 30 + q, k * p_bpp * 2 ** q, -0.5, 8)
                        for q in range(3)]) for c, k in (("face_a", 0.5), ("face_b", 1.0))]}


def test_rate_floor():
    heads = [talking("a", 0.01)]
    assert verdicts([model("a")], anchor=anchor(), static=heads)[5] == "met"  # q0: 1/4 of QP 37's
    assert verdicts([model("a", rate=5.0)], anchor=anchor(), static=heads)[5] == "not met"
    assert verdicts([model("a", static_p=0.03)], anchor=anchor(), static=heads)[5] == "not met"
    assert verdicts([model("a")], anchor=anchor(), static=[talking("a", 0.03)])[5] == "not met"
    # the talking heads unmeasured: a pass on dev is not a pass, a miss on dev stays a miss
    assert verdicts([model("a")], anchor=anchor())[5] == "not run"
    assert verdicts([model("a", rate=5.0)], anchor=anchor())[5] == "not met"
    rows, detail = targets.targets([model("a")], anchor=anchor(), static=heads)
    assert detail["a"]["/QP37"][0] == pytest.approx(0.25)
    assert detail["a"]["talking P"] == (pytest.approx(0.01), "face_b")
    assert rows[5][0].endswith("talking heads 0.010 bpp (a, face_b)")
    assert "vt2people_320x192_12); x264 0.005 at QP 47 (reference)" in rows[5][0]


def test_feng_table1_claims():
    """Each claimed row must beat its rival in BD-rate (MS-SSIM), p-frame mode."""
    def pframe(name: str, rate: float) -> dict:
        report = {**model(name, rate=rate), "mode": "pframe"}
        for entry in report["sequences"]:
            for q, p in enumerate(entry["points"]):
                p["summary"]["all"]["ms_ssim"] = 0.90 + 0.015 * q
        return report
    rates = {"feng2020-m1": 1.0, "feng2020-m2": 0.9, "feng2020-m3": 0.8, "feng2020-m4": 0.7,
             "feng2020-m5": 0.95, "feng2020-m6": 0.5}
    rows, _ = targets.targets([model("a")], pframe=[pframe(n, r) for n, r in rates.items()])
    assert rows[4][1] == "met" and rows[4][0].startswith("MSE-trained rows: feng2020-m3 vs feng2020-m1")
    # the MS-SSIM-trained rows, when all six are given, are the ones judged
    trained = [pframe(n.replace("feng2020-m", "feng2020-msssim-m"), r)
               for n, r in {**rates, "feng2020-m3": 1.1}.items()]
    rows, _ = targets.targets([model("a")], pframe=[pframe(n, r) for n, r in rates.items()] + trained)
    assert rows[4][1] == "not met" and rows[4][0].startswith("MS-SSIM-trained rows: feng2020-msssim-m3")
    worse = {**rates, "feng2020-m3": 1.1}  # feature residuals lose to pixel residuals
    assert verdicts([model("a")], pframe=[pframe(n, r) for n, r in worse.items()])[4] == "not met"
    assert verdicts([model("a")], pframe=[pframe("feng2020-m1", 1.0)])[4] == "not run"
    assert verdicts([model("a")])[4] == "not run"


def test_missing_files_say_not_run():
    assert verdicts([model("a")]) == ["met", "met", "not run", "not run", "not run", "not run"]
    assert verdicts([model("a")], registry=["a", "b"])[0] == "not run"
    assert verdicts([])[:4] == ["not run"] * 4


def test_main_survives_missing_files(tmp_path):
    text = targets.main(["--models", str(tmp_path / "gone.json"), "--anchors", str(tmp_path / "x.json"),
                         "--registry", str(tmp_path / "registry.toml")])
    assert text.count("| not run |") == 6 and "gone.json: no such file" in text


def test_main_prints_the_table_and_draws(tmp_path, capsys):
    paths = []
    for report in (model("a"), model("b", step=0.3, drift=-3.0), anchor()):
        paths.append(tmp_path / f"{report['name']}.json")
        paths[-1].write_text(json.dumps(report))
    plot = tmp_path / "drift.png"
    text = targets.main(["--models", str(paths[0]), str(paths[1]), "--anchors", str(paths[2]),
                         "--registry", "", "--plot", str(plot)])
    assert "| 1 | PSNR-RGB rises" in text and "| not met |" in text and "| b | +0.30 | -3.00 (quality 0) |" in text
    assert text in capsys.readouterr().out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_frame_types_gives_one_clips_drift_per_quality(tmp_path):
    """scripts/frame_types.py --clip: the drift of that sequence alone, per rate point;
    an unknown sequence is a one-line error, exit 2."""
    report = model("a", drift=-3.0)
    report["sequences"][1]["points"] = [point("quality", q, 0.1, 30, 0.01, -0.5, 4) for q in range(5)]
    for s in report["sequences"]:
        for p in s["points"]:
            p["summary"] |= {"I": {"bpp": 1.0, "psnr_rgb": 40.0}, "P": {"bpp": 0.1, "psnr_rgb": 30.0}}
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(report))
    script = [sys.executable, str(ROOT / "scripts" / "frame_types.py")]
    rows = subprocess.run([*script, "--clip", "park_160x80_25", str(path)], capture_output=True,
                          text=True, check=True).stdout.splitlines()[2:]
    assert [r.split("|")[-2].strip() for r in rows] == ["-3.00"] * 5
    mixed = subprocess.run([*script, str(path)], capture_output=True, text=True, check=True).stdout
    assert mixed.splitlines()[2].split("|")[-2].strip() == "-1.75"  # the mean of both clips
    spans = subprocess.run([*script, "--clip", "park_160x80_25", "--span", "2", str(path)],
                           capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert [r.split("|")[-2].strip() for r in spans] == ["-2.25"] * 5  # P-frames fall 0.75 dB apiece
    bad = subprocess.run([*script, "--clip", "nope", str(path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "no sequence named nope" in bad.stderr


def test_frame_types_reads_p_frame_mode_and_counts_skipped_frames(tmp_path):
    """A p-frame-mode file (no I-frames) gives "-" for the I-frame columns; the skipped
    column is the share of P-frames whose record has no residual."""
    report = model("a")
    for s in report["sequences"]:
        for p in s["points"]:
            p["frames"] = [f | {"bytes_split": {"motion": 9, **({"residual": 30} if i else {})}}
                           for i, f in enumerate(p["frames"][1:])]
            p["summary"]["P"] |= {"psnr_rgb": 30.0}
    path = tmp_path / "pframe.json"
    path.write_text(json.dumps(report))
    rows = subprocess.run([sys.executable, str(ROOT / "scripts" / "frame_types.py"), "--clip",
                           "park_160x80_25", str(path)], capture_output=True, text=True,
                          check=True).stdout.splitlines()[2:]
    cells = [[c.strip() for c in r.split("|")] for r in rows]
    assert [(c[3], c[4], c[9]) for c in cells] == [("-", "-", "20%")] * 5  # the first of five
