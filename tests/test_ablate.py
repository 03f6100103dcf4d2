"""zoo ablate: BD-rate arithmetic, the table, and a tiny run end to end."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

import bjontegaard

import zoo.eval.ablate
from zoo.cli import main
from zoo.errors import ZooError
from zoo.eval.ablate import ablate, parse_rows, to_csv, to_markdown
from zoo.eval.compare import bd, bd_reports
from zoo.eval.evaluate import SequenceSpec

RATES = [0.1, 0.2, 0.4, 0.8]
PSNRS = [30.0, 33.0, 36.0, 39.0]


def bd_rate(*curves, method="pchip"):
    figure = bd(*curves, method=method, min_overlap=0.0)
    return (math.nan if figure.value is None else figure.value), figure.note


def test_bd_rate_of_a_curve_against_itself_is_zero():
    value, note = bd_rate(RATES, PSNRS, RATES, PSNRS)
    assert value == pytest.approx(0.0, abs=1e-12) and note is None


@pytest.mark.parametrize("factor", [0.8, 0.5, 1.25])
def test_bd_rate_against_a_rate_scaled_curve_is_the_scale(factor):
    # the same distortions at factor x the rate: log10 rate shifts by log10(factor) everywhere
    value, _ = bd_rate(RATES, PSNRS, [r * factor for r in RATES], PSNRS)
    assert value == pytest.approx((factor - 1) * 100, abs=1e-9)


def test_bd_rate_against_a_psnr_shifted_curve_is_what_arithmetic_says():
    # log10 rate is linear in PSNR with slope log10(2) / 3 dB; +1 dB at every rate saves
    # 10^(-log10(2) / 3) - 1 of the rate, wherever the curves overlap
    value, _ = bd_rate(RATES, PSNRS, RATES, [p + 1.0 for p in PSNRS])
    assert value == pytest.approx((2 ** (-1 / 3) - 1) * 100, abs=1e-9)
    for method in ("akima", "cubic"):
        assert bd_rate(RATES, PSNRS, RATES, [p + 1.0 for p in PSNRS], method=method)[0] == pytest.approx(
            (2 ** (-1 / 3) - 1) * 100, abs=1e-6)


def test_bd_rate_is_nan_with_a_reason_when_it_cannot_be_computed():
    assert math.isnan(bd_rate([0.1], [30.0], RATES, PSNRS)[0])
    value, note = bd_rate([0.1, 0.2], [30.0, 30.0], RATES, PSNRS)
    assert math.isnan(value) and "same quality" in note
    value, note = bd_rate(RATES, PSNRS, RATES, [p + 20 for p in PSNRS])
    assert math.isnan(value) and "overlap 0 %" in note


def test_a_cell_below_the_overlap_threshold_is_na_and_a_full_overlap_is_bjontegaards():
    # 5 % overlap in quality: shifted by s, the curves share 9 - s dB of 9 + s dB
    shift = 9.0 * 0.95 / 1.05
    low = [p + shift for p in PSNRS]
    figure = bd(RATES, PSNRS, RATES, low)
    assert figure.value is None and figure.overlap == pytest.approx(0.05, abs=0.005)
    assert figure.cell() == "n/a (overlap 5 %)"
    # full overlap: the number is bjontegaard's, with its evidence
    test = [r * 0.8 for r in RATES], [p + 0.3 for p in PSNRS]
    full = bd(RATES, PSNRS, RATES, PSNRS)
    assert full.value == pytest.approx(0.0, abs=1e-12) and full.overlap == 1.0
    figure = bd(RATES, PSNRS, *test)
    expected = bjontegaard.bd_rate(RATES, PSNRS, *test, method="pchip", min_overlap=0)
    assert figure.value == pytest.approx(expected, abs=1e-12)
    assert figure.cell() == f"{expected:+.1f} % ({figure.overlap * 100:.0f} % overlap, 1/1 seq.)"
    # BD-PSNR: quality at equal rate, overlap along log rate
    psnr = bd(RATES, PSNRS, *test, quantity="psnr")
    assert psnr.value == pytest.approx(bjontegaard.bd_psnr(RATES, PSNRS, *test, method="pchip",
                                                           min_overlap=0), abs=1e-12)
    span, moved = math.log10(8), -math.log10(0.8)  # log rate range and shift
    assert psnr.overlap == pytest.approx((span - moved) / (span + moved))
    assert psnr.cell("dB") == f"{psnr.value:+.2f} dB ({psnr.overlap * 100:.0f} % overlap, 1/1 seq.)"


def _report(name: str, curves: dict[str, tuple[float, list[float]]]) -> dict:
    """A report whose sequence ``cls/name`` has rates ``RATES x factor`` at PSNRS."""
    sequences = []
    for key, (factor, psnrs) in curves.items():
        cls, seq = key.split("/")
        points = [{"bytes": 100, "summary": {"all": {"bpp": r * factor, "psnr_rgb": p,
                                                     "ms_ssim": 1 - 10 ** (-p / 10)}}}
                  for r, p in zip(RATES, psnrs)]
        sequences.append({"class": cls, "name": seq, "frames_coded": 3, "intra_period": 0,
                          "points": points})
    return {"name": name, "mode": "sequence", "results": {}, "sequences": sequences}


def test_bd_rate_is_averaged_per_sequence_then_per_class_then_over_classes():
    anchor = _report("anchor", {k: (1.0, PSNRS) for k in ("A/a1", "A/a2", "B/b1")})
    test = _report("test", {"A/a1": (0.9, PSNRS), "A/a2": (0.7, PSNRS), "B/b1": (1.1, PSNRS),
                            "C/c1": (1.0, PSNRS)})
    out = bd_reports(anchor, test, "psnr-rgb")
    assert out["sequences"]["A/a1"]["value"] == pytest.approx(-10.0)
    assert {c: f["value"] for c, f in out["classes"].items()} == {
        "A": pytest.approx(-20.0), "B": pytest.approx(10.0), "C": None}
    assert out["set"]["value"] == pytest.approx(-5.0)
    assert (out["set"]["sequences"], out["set"]["of"]) == (3, 4)  # C/c1 is not in the anchor
    assert "not in the anchor" in out["sequences"]["C/c1"]["note"]
    # MS-SSIM (in dB, -10 log10(1 - MS-SSIM), here equal to the PSNR) gives the same
    assert bd_reports(anchor, test, "ms-ssim")["set"]["value"] == pytest.approx(-5.0)


def test_the_table_has_feng_et_al_columns_and_bd_rates(monkeypatch, tmp_path):
    factors = {"masked-residual": 1.0, "cmfr": 0.9, "cmfr,sff": 0.8}

    def fake_evaluate(request, specs, **kwargs):
        plugins = list(request.spec.plugins)
        report = _report(",".join(plugins), {"A/a": (factors[",".join(plugins)], PSNRS)})
        n = len(RATES)
        report.update(model={"plugins": plugins, "options": {}, "trained": False},
                      protocol={"averaging": "test"},
                      results={"quality": list(range(n)), "bpp": RATES, "psnr-rgb": PSNRS,
                               "ms-ssim-rgb": [0.99] * n, "data-size": [10, 20, 30, 40],
                               "model-size": [1000] * n, "clic-score": [2000, 3000, 4000, 5000]})
        return report

    monkeypatch.setattr(zoo.eval.ablate, "evaluate", fake_evaluate)
    anchor = {**_report("x264", {"A/a": (2.0, PSNRS)}), "kind": "anchor"}
    rows = parse_rows("masked-residual; cmfr; cmfr,sff", None, untrained=True)
    result = ablate(rows, [SequenceSpec("A", "a", "a.y4m")], anchor_runs=[anchor], table_quality=1)
    assert result["components"] == ["masked-residual", "cmfr", "sff"]
    first, _, third = result["table"]
    assert third["components"] == {"masked-residual": False, "cmfr": True, "sff": True}
    assert (third["data_size"], third["model_size"], third["clic_score"]) == (20, 1000, 3000)
    assert first["bd"]["#1"]["bd-rate psnr-rgb"]["set"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert third["bd"]["#1"]["bd-rate psnr-rgb"]["set"]["value"] == pytest.approx(-20.0)
    assert third["bd"]["x264"]["bd-rate psnr-rgb"]["set"]["value"] == pytest.approx(-60.0)
    md = to_markdown(result)
    assert "| # | model | masked-residual | cmfr | sff | data size (B) |" in md
    assert "| 3 | cmfr,sff | x264 | -60.0 % (100 % overlap, 1/1 seq.) |" in md
    assert "-20.0 % (100 % overlap, 1/1 seq.)" in md and "pchip" in md and "per class" in md
    assert "BD-rate MS-SSIM per sequence:" in md  # each set figure's evidence, sequence by sequence
    assert "| 3 | cmfr,sff | #1 | -20.0 % (100 % overlap, 1/1 seq.) |" in md.split("PSNR-RGB per sequence:")[1]
    table = list(csv.reader(io.StringIO(to_csv(result))))
    assert table[0][:7] == ["#", "model", "trained", "quality", "masked-residual", "cmfr", "sff"]
    assert float(table[3][table[0].index("bd_rate_psnr_rgb_vs_x264")]) == pytest.approx(-60.0)
    assert table[3][table[0].index("bd_rate_psnr_rgb_vs_x264_sequences")] == "1/1"


def test_rows_parse():
    rows = parse_rows(" masked-residual; cmfr,sff ;defaults", None, preset="lite")
    assert [r.request.spec.plugins for r in rows] == [("masked-residual",), ("cmfr", "sff"), ()]
    assert [r.request.name for r in parse_rows(None, "feng2020-m1,feng2020-m4")] == [
        "feng2020-m1", "feng2020-m4"]
    with pytest.raises(ZooError):
        parse_rows("cmfr", "feng2020-m1")


def test_ablate_end_to_end_on_a_tiny_clip(tiny_y4m, tmp_path, capsys):
    anchors = tmp_path / "x264.json"
    assert main(["bench", "x264", "--data", str(tiny_y4m), "--frames", "2", "--qps", "27,37",
                 "-o", str(anchors)]) == 0
    prefix = tmp_path / "table"
    assert main(["ablate", "--rows", "defaults; masked-residual", "--untrained", "--data",
                 str(tiny_y4m), "--frames", "2", "--qualities", "0", "--anchors", str(anchors),
                 "-o", str(prefix)]) == 0
    result = json.loads((tmp_path / "table.json").read_text())
    assert [r["model"] for r in result["table"]] == ["defaults", "masked-residual"]
    assert all(not r["trained"] for r in result["table"])
    assert result["table"][1]["components"] == {"masked-residual": True}
    for row in result["table"]:
        assert row["clic_score"] == row["model_size"] + 100 * row["data_size"]
        assert row["data_size"] == result["runs"][result["table"].index(row)]["results"]["data-size"][0]
    assert (tmp_path / "table.csv").is_file()
    md = (tmp_path / "table.md").read_text()
    assert "defaults (untrained)" in md and "| BD-rate MS-SSIM |" in md and "| x264 |" in md
    assert "| 1 | defaults (untrained) |" in capsys.readouterr().out
    # an anchor is not a row: a one-line error, nothing written
    assert main(["ablate", "--from", str(anchors), str(tmp_path / "table.json"),
                 "-o", str(tmp_path / "bad")]) == 2
    assert "x264 is not a zoo eval result (a conventional anchor" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()


def test_ablate_from_earlier_results_evaluates_nothing(tiny_y4m, tmp_path, monkeypatch):
    args = ["--untrained", "--data", str(tiny_y4m), "--frames", "2", "--qualities", "0,3"]
    for name, plugins in (("a", "masked-residual"), ("b", "cmfr")):
        assert main(["eval", "--plugins", plugins, *args, "-o", str(tmp_path / f"{name}.json")]) == 0
    assert main(["eval", "--plugins", "cmfr", *args, "--mode", "pframe",
                 "-o", str(tmp_path / "c.json")]) == 0

    def no_evaluation(*a, **k):
        raise AssertionError("--from must not evaluate")

    monkeypatch.setattr(zoo.eval.ablate, "evaluate", no_evaluation)
    assert main(["ablate", "--from", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                 "-o", str(tmp_path / "t")]) == 0
    result = json.loads((tmp_path / "t.json").read_text())
    assert [r["model"] for r in result["table"]] == ["masked-residual", "cmfr"]
    assert result["protocol"]["mode"] == "sequence"
    assert result["table"][0]["bd"]["#1"]["bd-rate psnr-rgb"]["set"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert result["table"][1]["components"] == {"masked-residual": False, "cmfr": True}
    # rows evaluated in different modes do not make one table
    assert main(["ablate", "--from", str(tmp_path / "a.json"), str(tmp_path / "c.json"),
                 "-o", str(tmp_path / "u")]) == 2
