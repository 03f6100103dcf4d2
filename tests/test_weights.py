"""The committed weights: every registry model opens trained, verified, with its recipe."""

from __future__ import annotations

import pytest

from zoo.cli import main
from zoo.models import open_model
from zoo.registry import load_registry
from zoo.weights import sha256_file

REGISTRY = load_registry()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registry_model_opens_on_verified_trained_weights(name):
    entry = REGISTRY[name]
    model = open_model(name)
    assert model.trained and not model.header_model()["untrained"]
    if entry.weights is None:  # an ensemble: its members' weights
        assert "ensemble" in entry.plugins
        return
    assert sha256_file(entry.weights) == entry.sha256 == model.sha256
    runs = entry.extra["recipe"]["runs"]
    trained = {stage for run in runs for stage in run["stages"]}
    assert {"intra", "motion", "motion-coding", "residual", "joint", "multi-frame"} <= trained
    assert all(run["seconds"] > 0 and run["data"] for run in runs)
    assert not any("dev" in clip for run in runs for clip in run["data"])
    assert entry.extra["results"]["quality"] == [0, 1, 2, 3]


def test_the_main_job_runs_on_trained_weights(tiny_y4m, tmp_path):
    """README's main job, on a tiny clip: no --untrained needed."""
    assert main(["run", "--plugins", "cmfr,sff,refiner", "--input", str(tiny_y4m),
                 "--out", str(tmp_path)]) == 0


def test_the_experiments_open_on_verified_weights_from_their_own_registry(monkeypatch):
    from pathlib import Path

    from zoo.models import open_model
    registry = Path(__file__).resolve().parent.parent / "weights" / "experiments" / "budget.toml"
    monkeypatch.setenv("ZOO_REGISTRY", str(registry))
    model = open_model("budget-baseline-fixed")
    assert model.trained and model.entry.extra["recipe"]["runs"]
    assert model.spec.plugins == ("masked-residual", "dis-flow", "x265-intra")
