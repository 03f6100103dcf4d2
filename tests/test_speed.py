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
from zoo.eval.speed.measure import Options, parse_sizes, select_models
from zoo.eval.speed.report import (BEGIN_MARK, END_MARK, Targets, load_targets, notes, rows,
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
        assert r["allocator"] == "keep"  # zoo.core.allocator, on glibc
    assert results["ssf2020"]["padded"] == [128, 128] and results["cmfr2025"]["padded"] == [64, 128]
    assert results["ssf2020"]["dec_ratio"] == 1.0 and results["cmfr2025"]["dec_ratio"] > 0
    assert set(results["cmfr2025"]["decode_parts_s"]) >= {"motion_coding", "residual_domain",
                                                           "entropy", "entropy_networks"}
    assert png.stat().st_size > 0
    text = md.read_text()
    assert text.startswith("# Performance\n\nbefore\n") and text.endswith("\n\nafter\n")
    assert "old table" not in text and "| cmfr2025 | 72x48 | cpu |" in text
    assert "speed.png" in text and "allocator keep (zoo.core.allocator)" in text
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


def _result(model: str, width: int, height: int, dec_ratio: float | None, peak: float,
            entropy: float, reference: bool = False) -> dict:
    return {"model": model, "reference": reference, "width": width, "height": height,
            "device": "cpu", "enc_fps": 1.0, "dec_fps": 1.0, "enc_ratio": 1.0,
            "dec_ratio": dec_ratio, "peak_rss_gib": peak, "entropy_share": entropy,
            "rans_share": entropy / 2, "exact": True, "trained": True}


def test_targets_are_data_passed_in_not_code(tmp_path):
    issue = load_targets()  # zoo/eval/speed/targets.toml
    assert issue == Targets("cmfr2025", 2.0, 4.0, (1920, 1080), 0.2)
    assert (issue.decode_label, issue.peak_label, issue.entropy_label) == (
        "decode ≥2× ssf2020", "peak <4 GiB", "entropy <20%")
    report = {"results": [_result("ssf2020", 1920, 1080, 1.0, 2.0, 0.03, reference=True),
                          _result("cmfr2025", 1920, 1080, 2.5, 4.5, 0.1)],
              "machine": {"cpus": 2}, "load_average": {"before": [0.1]}}
    assert rows(report, issue)[1][6:9] == ["2.50 ✓", "4.50 ✗", "10.0 (5.0) ✓"]
    assert notes(report, issue)[:2] == [
        "cmfr2025 decodes ≥2× as fast as ssf2020 at every size: met (1920x1080 cpu 2.50×)",
        "1080p CPU peak memory <4 GiB: missed by cmfr2025 (max 4.50 GiB)"]
    assert rows(report)[1][6:9] == ["2.50", "4.50", "10.0 (5.0)"] and notes(report) == []
    other = tmp_path / "targets.toml"
    other.write_text('model = "feng2020-m1"\ndecode_ratio = 3\npeak_gib = 5.0\n'
                     'peak_size = [1920, 1080]\nentropy_share = 0.05\n')
    mine = load_targets(other)
    assert rows(report, mine)[1][6:9] == ["2.50", "4.50 ✓", "10.0 (5.0) ✗"]
    other.write_text('model = "feng2020-m1"\n')
    with pytest.raises(ZooError, match="decode_ratio is missing or not a number"):
        load_targets(other)


def test_an_entropy_slot_counts_as_entropy_coding_whatever_its_coder():
    """gmm codes with its own tables and rANS calls, not a CompressAI entropy model's
    ``decompress``: the slot module as a whole is timed, its networks apart."""
    import torch
    from torch import nn

    from plugins.gmm import GaussianMixtureHyperprior
    from zoo.eval.speed.measure import Instrumented
    from zoo.nn.gains import GainedEntropyModel

    class Domain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.entropy = GainedEntropyModel(GaussianMixtureHyperprior(8, 8, 3), 8, (0.01, 0.02))

        def decompress(self, strings, shape):
            return self.entropy.decompress(strings, shape, 1)

    root = nn.Module()
    root.residual_domain = Domain().eval()
    root.residual_domain.entropy.model.hyper.entropy_bottleneck.update(force=True)
    torch.manual_seed(0)
    strings, _ = root.residual_domain.entropy.compress(torch.randn(1, 8, 8, 8) * 4, 1)
    with Instrumented(root, ["residual_domain"], lambda: None) as watch:
        root.residual_domain.decompress(strings, (8, 8))
    spent = watch.snapshot()
    assert spent["entropy"] > 0 and spent["entropy_networks"] > 0
    assert spent["entropy"] > spent.get("residual_domain", 0.0)


def test_the_allocator_is_left_alone_when_asked(monkeypatch):
    from zoo.core import allocator
    monkeypatch.setenv("ZOO_ALLOCATOR", "system")
    assert allocator.configure() == "system"
    monkeypatch.setenv("ZOO_ALLOCATOR", "keep")
    assert allocator.configure() == "keep"


def test_conv_macs_split_by_part_or_by_module():
    """Per P-frame and pixel; the I-frame (the first) is not counted; ``depth`` splits a
    slot into its modules, and the parts add up to the same total."""
    import torch
    from torch import nn

    from zoo.eval.speed.measure import conv_macs

    class Codec:
        net = nn.Module()
        net.residual_domain = nn.Module()
        net.residual_domain.a = nn.Conv2d(3, 4, 3, padding=1)  # 3*9*4 = 108 per pixel
        net.residual_domain.b = nn.Conv2d(4, 2, 1, stride=2)   # 4*2 per output, 1/4 of them: 2

        def decode(self, records, height, width):
            for _ in records:
                x = torch.zeros(1, 3, height, width)
                yield self.net.residual_domain.b(self.net.residual_domain.a(x))

    codec = Codec()
    assert conv_macs(codec, [0, 1, 2], 8, 8) == {"residual_domain": 110.0}
    assert conv_macs(codec, [0, 1, 2], 8, 8, depth=2) == {"residual_domain.a": 108.0,
                                                          "residual_domain.b": 2.0}
