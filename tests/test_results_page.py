"""scripts/results_page.py: docs/results.md from the committed evaluations, nothing evaluated."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import zoo

from conftest import ROOT

spec = importlib.util.spec_from_file_location("results_page", ROOT / "scripts" / "results_page.py")
results_page = sys.modules["results_page"] = importlib.util.module_from_spec(spec)  # for its dataclass
spec.loader.exec_module(results_page)

RESULTS = ROOT / "docs" / "results"
OTHER = "0" * 64  # the sha256 of weights the registry does not hold
SECTIONS = ("## Which weights", "## How this page was made", "## Data and protocol", "## Training budget",
            "## The anchors", "## The models", "## CMFR family", "## Feng family",
            "## Feng et al.'s Table 1 in p-frame mode", "## Issue 14's six targets",
            "## Rate-distortion curves")


def results_folder(tmp_path: Path, stale: str = "feng2020-m2", absent: str = "feng2020-m6") -> Path:
    """The committed v4 evaluations as eval-MODEL.json, each on the registry's weights except
    ``stale`` (other weights) and ``absent`` (not run), and the committed anchors."""
    out = tmp_path / "results"
    out.mkdir()
    registry = tmp_path / "registry.toml"
    shutil.copy(ROOT / "registry.toml", registry)  # a snapshot: training may rewrite the real one
    text = registry.read_text().replace(  # a row with a caveat, as a model may carry
        "[models.cmfr2025-cmfr]\n", '[models.cmfr2025-cmfr]\ncaveat = "its latent emptied (a test)"\n', 1)
    registry.write_text(text)
    models = results_page.read_registry(registry)
    for path in sorted((RESULTS / "v4").glob("eval-*.json")):
        report = json.loads(path.read_text())
        # the Feng rows stand in for their MS-SSIM-trained namesakes too
        names = [report["name"], *([report["name"].replace("feng2020-m", "feng2020-msssim-m")]
                                   if report["name"].startswith("feng2020-m") else [])]
        for name in names:
            if name != absent:
                sha = OTHER if name == stale else results_page.expected_sha(name, models)
                options = models[name].get("options", {})  # v4's are not today's registry's
                report = {**report, "name": name, "environment": {"zoo": zoo.__version__},
                          "model": {**report["model"], "sha256": sha, "options": options}}
                (out / f"eval-{name}.json").write_text(json.dumps(report))
    for codec in ("x264", "x265"):
        shutil.copy(RESULTS / f"anchors-{codec}.json", out)
    return out


def make_page(tmp_path: Path, results: Path) -> str:
    output = tmp_path / "docs" / "results.md"
    argv = ["--results", str(results), "--registry", str(tmp_path / "registry.toml"), "-o", str(output)]
    assert results_page.main(argv) == 0
    return output.read_text()


def section(page: str, title: str) -> str:
    return page.split(title, 1)[1].split("\n## ", 1)[0]


def row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {name} |"))


def test_page_from_evaluations_alone(tmp_path):
    results = results_folder(tmp_path)
    (results / "ablation-cmfr.md").write_text("| # | model |\n|---|---|\n| 1 | FAKE-ROW |\n")
    page = make_page(tmp_path, results)
    assert all(title in page for title in SECTIONS)
    weights = section(page, "## Which weights")
    assert f"| **STALE: other weights** (`{OTHER[:12]}`) | **not run** |" in row(weights, "feng2020-m2")
    assert "| same (`" in row(weights, "feng2020-m1") and "(its members')" in row(weights, "feng2020-m5")
    assert "> **STALE: 1 of " in page and 'EVAL="feng2020-m2" bash' in page
    models = section(page, "## The models")
    assert "**STALE: other weights**" in row(models, "feng2020-m2")
    assert "**not run**: feng2020-m6" in models and "| x265 | anchor | QP 51–22 |" in models
    assert "% overlap, 4/4 seq.) |" in models  # x265 against x264: every BD-rate says what it rests on
    protocol = section(page, "## Data and protocol")
    assert "`park_160x80_25` 160x80 (32 frames)" in protocol
    assert "at QP 22, 27, 32, 37, 42, 47, 51" in protocol
    assert "(5 per model)" in protocol and "at least 50 %" in protocol
    budget = section(page, "## Training budget")
    assert "ensemble of feng2020-m1, feng2020-m4: no training of its own" in budget
    assert "| 1 | FAKE-ROW |" in section(page, "## CMFR family")
    assert "ablation-cmfr.json`: the weights behind the rows are unknown" in page
    for title in ("## Feng family", "## Feng et al.'s Table 1", "## Issue 14's six targets",
                  "## Rate-distortion curves"):
        assert "**not run**" in section(page, title)
    assert "zoo ablate --from" in section(page, "## Feng et al.'s Table 1")


def test_page_includes_every_piece(tmp_path):
    results = results_folder(tmp_path, stale="", absent="")
    for stem in ("ablation-cmfr", "ablation-feng", "ablation-feng-msssim", "pframe/ablation-feng",
                 "pframe/ablation-feng-msssim"):
        (results / stem).parent.mkdir(exist_ok=True)
        (results / f"{stem}.md").write_text(f"| # | model |\n|---|---|\n| 1 | {stem} table |\n")
    (results / "ablation-feng.json").write_text(json.dumps(
        {"runs": [{"name": "feng2020-m3", "model": {"sha256": OTHER}}]}))
    (results / "targets.md").write_text("# Targets\n\n```bash\n# a comment\n```\n\n| 1 | target | met |\n")
    for png in ("drift.png", "rd-psnr-rgb.png", "rd-ms-ssim.png"):
        (results / png).write_bytes(b"\x89PNG\r\n\x1a\n")
    page = make_page(tmp_path, results)
    assert "STALE: " not in section(page, "## Which weights") and "> **STALE" not in page
    assert "| 1 | pframe/ablation-feng table |" in section(page, "## Feng et al.'s Table 1")
    assert "| 1 | pframe/ablation-feng-msssim table |" in section(
        page, "## Feng et al.'s Table 1 in p-frame mode, trained with MS-SSIM")
    assert "| 1 | ablation-feng-msssim table |" in section(page, "## Feng family trained with MS-SSIM")
    assert "**STALE rows** (evaluated with other weights" in section(page, "## Feng family")
    assert "Training budgets of the rows differ" in section(page, "## Feng family")
    assert "- **cmfr2025-cmfr**: its latent emptied" in section(page, "## CMFR family")  # its caveat
    targets = section(page, "## Issue 14's six targets")
    assert "### Targets" in targets and "\n# a comment\n" in targets  # headings demoted, code left alone
    assert "![PSNR-RGB of each P-frame relative to the first](../results/drift.png)" in targets
    assert "![MS-SSIM against bpp](../results/rd-ms-ssim.png)" in page
    for title in SECTIONS[4:]:
        assert "**not run**" not in section(page, title), title


def test_missing_registry_or_anchors_is_one_line(tmp_path, capsys):
    results = results_folder(tmp_path)
    output = tmp_path / "results.md"
    output.write_text("the old page")
    argv = ["--results", str(results), "-o", str(output)]
    assert results_page.main([*argv, "--registry", str(tmp_path / "gone.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gone.toml: no such file" in err and "Traceback" not in err
    (results / "anchors-x264.json").unlink()
    assert results_page.main([*argv, "--registry", str(tmp_path / "registry.toml")]) == 2
    assert "anchors-x264.json: no such file" in capsys.readouterr().err
    assert output.read_text() == "the old page"


def test_weights_and_budgets():
    models = {"a": {"sha256": "aa"}, "b": {"sha256": "bb"},
              "e": {"plugins": ["ensemble"], "options": {"ensemble": {"members": ["a", "b"]}}}}
    assert results_page.expected_sha("e", models) == hashlib.sha256(b"aabb").hexdigest()
    assert results_page.is_stale({"model": {"sha256": "aa"}}, "b", models)
    blocks = {"block-motion": {"blocks": [32, 16]}}
    coded = {"c": {"sha256": "cc", "options": blocks}}
    assert results_page.stale_reason({"model": {"sha256": "cc", "options": blocks}}, "c", coded) is None
    assert results_page.stale_reason({"model": {"sha256": "cc"}}, "c", coded) == "other options"
    assert results_page.weights_cell({"model": {"sha256": "cc"}}, "c", coded) == \
        "**STALE: other options** (`cc`)"
    older = {"model": {"sha256": "cc", "options": blocks}, "environment": {"zoo": "0.0.9"}}
    assert results_page.stale_reason(older, "c", coded) == "zoo 0.0.9"  # a stream format changed since
    run = {"stages": ["x", "y"], "iterations": {"x": 10, "y": 20},
           "resumed": {"done": ["x"], "stage": "y", "iteration": 5}}
    assert results_page.run_budget(run) == ("resumed: y 20 from 5", 15)
    fresh = {"stages": ["x", "y"], "iterations": {"x": 10, "y": 20}}  # interrupted at y 5
    budget = results_page.budget_of({"recipe": {"runs": [fresh, run]}})
    assert budget["steps"] == 30 and budget["runs"] == 2


def test_the_real_results_folder(tmp_path):
    output = tmp_path / "results.md"
    done = subprocess.run([sys.executable, "scripts/results_page.py", "-o", str(output)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = output.read_text()
    assert all(title in page for title in SECTIONS) and "python scripts/results_page.py -o" in page


def test_encoder_notes_follow_ensemble_members():
    skip = {"pipeline": {"skip": True}}
    models = {"a": {"options": skip}, "b": {"options": skip}, "c": {},
              "ab": {"options": {"ensemble": {"members": ["a", "b"]}}},
              "ac": {"options": {"ensemble": {"members": ["a", "c"]}}}}
    assert results_page.encoder_options("ab", models) == [("pipeline", "skip")]
    assert results_page.encoder_options("ac", models) == []
    assert results_page.encoder_notes(["a", "ab"], models) == []
    [note] = results_page.encoder_notes(["ab", "ac"], models)
    assert note.endswith("with `pipeline.skip`: ab; with none of them: ac")
