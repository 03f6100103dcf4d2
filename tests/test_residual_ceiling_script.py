"""scripts/residual_ceiling.py: a residual domain's reconstruction per quality and unquantised."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import ROOT
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import read_clip
from zoo.testing import SAMPLE

spec = importlib.util.spec_from_file_location("residual_ceiling", ROOT / "scripts" / "residual_ceiling.py")
residual_ceiling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(residual_ceiling)


def test_the_unquantised_reconstruction_is_above_every_quality():
    frames = [yuv420_to_rgb(*planes) for planes in read_clip(SAMPLE, 2).frames]
    row = residual_ceiling.ceiling("feng2020-m1", frames)
    psnr = [row[f"q{q}"] for q in range(7)]
    bpp = [row[f"q{q} bpp"] for q in range(7)]
    assert psnr == sorted(psnr) and bpp == sorted(bpp) and bpp[0] > 0
    assert row["unquantised"] > psnr[-1] > row["prediction (q top)"]


def test_a_missing_clip_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["residual_ceiling.py", "missing.y4m", "feng2020-m1"])
    with pytest.raises(SystemExit) as exit:
        residual_ceiling.main()
    assert exit.value.code == 2 and capsys.readouterr().err.count("\n") == 1
