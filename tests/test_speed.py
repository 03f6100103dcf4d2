"""`zoo speed`: the benchmark's machinery on a tiny size, one P-frame, one model.

No timing is asserted: only that every figure is produced, per configuration
in its own process, and that the table, the plot and the Markdown block are
written.
"""

from __future__ import annotations

import json

import pytest

from zoo.cli import main
from zoo.errors import ZooError
from zoo.speed import (BEGIN_MARK, END_MARK, Options, parse_sizes, select_models,
                       write_markdown)


def test_speed_measures_a_model_beside_ssf2020(tmp_path, capsys):
    out, png, md = tmp_path / "speed.json", tmp_path / "speed.png", tmp_path / "perf.md"
    md.write_text(f"# Performance\n\nbefore\n\n{BEGIN_MARK}\nold table\n{END_MARK}\n\nafter\n")
    assert main(["speed", "--models", "cmfr2025", "--sizes", "72x48", "--frames", "1",
                 "--device", "cpu", "--threads", "1", "-o", str(out), "--plot", str(png),
                 "--markdown", str(md)]) == 0
    report = json.loads(out.read_text())
    assert "zoo speed --models 'cmfr2025' --sizes 72x48" in report["command"]
    results = {r["model"]: r for r in report["results"]}
    assert set(results) == {"ssf2020", "cmfr2025"}
    for r in results.values():
        assert "error" not in r, r.get("error")
        assert (r["width"], r["height"], r["device"], r["frames"]) == (72, 48, "cpu", 1)
        assert len(r["encode_s"]) == len(r["decode_s"]) == 1
        assert r["enc_fps"] > 0 and r["dec_fps"] > 0 and r["peak_rss_gib"] > 0
        assert 0 <= r["rans_share"] <= r["entropy_share"] <= 1
        assert r["exact"] is True
    assert results["ssf2020"]["padded"] == [128, 128] and results["cmfr2025"]["padded"] == [64, 128]
    assert results["ssf2020"]["dec_ratio"] == 1.0 and results["cmfr2025"]["dec_ratio"] > 0
    assert set(results["cmfr2025"]["decode_parts_s"]) >= {"motion_coding", "residual_domain"}
    assert png.stat().st_size > 0
    text = md.read_text()
    assert text.startswith("# Performance\n\nbefore\n") and text.endswith("\n\nafter\n")
    assert "old table" not in text and "| cmfr2025 | 72x48 | cpu |" in text
    assert "speed.png" in text
    assert "cmfr2025" in capsys.readouterr().out


def test_options_and_errors(tmp_path):
    assert parse_sizes("416x240, 1920x1080") == [(416, 240), (1920, 1080)]
    with pytest.raises(ZooError, match="WIDTHxHEIGHT"):
        parse_sizes("416*240")
    with pytest.raises(ZooError, match="no registry model"):
        select_models("no-such-model*")
    assert select_models("ssf2020") == []
    assert "cmfr2025" in select_models("cmfr*")
    command = Options(models="cmfr*", sizes="416x240", compile=True).command()
    assert command.startswith("zoo speed --models 'cmfr*' --sizes 416x240") and "--compile" in command
    path = tmp_path / "new.md"
    write_markdown(path, "table\n")
    assert path.read_text() == f"{BEGIN_MARK}\ntable\n{END_MARK}\n"
