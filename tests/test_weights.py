"""The committed weights: every registry model opens trained, verified, with its recipe."""

from __future__ import annotations

import pytest

from zoo.cli import main
from zoo.core.models import open_model
from zoo.core.registry import load_registry, training_runs
from zoo.core.weights import sha256_file
from zoo.errors import ZooError

REGISTRY = load_registry()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registry_model_opens_on_verified_trained_weights(name):
    """A model trained for the zoo's current architecture opens on its verified weights;
    one not retrained yet says so instead of running on random ones."""
    entry = REGISTRY[name]
    if entry.weights is None and "ensemble" not in entry.plugins:
        with pytest.raises(ZooError, match="has no trained weights yet"):
            open_model(name)
        return
    model = open_model(name)
    assert model.trained and not model.header_model()["untrained"]
    if entry.weights is None:  # an ensemble: its members' weights
        return
    assert sha256_file(entry.weights) == entry.sha256 == model.sha256
    runs = training_runs(entry.extra["recipe"]["runs"])
    trained = {stage for run in runs for stage in run.get("stages", ())}
    assert {"reconstruction", "residual", "joint", "multi-frame"} <= trained
    assert all(run["seconds"] > 0 and run["data"] for run in runs if "stages" in run)
    assert not any("dev" in clip for run in runs for clip in run.get("data", ()))
    if "results" in entry.extra:
        assert entry.extra["results"]["quality"] == list(range(model.codec.qualities))


def test_the_main_job_runs_on_trained_weights(tiny_y4m, tmp_path):
    """README's main job, on a tiny clip: no --untrained needed."""
    assert main(["run", "--model", "cmfr2025", "--input", str(tiny_y4m),
                 "--out", str(tmp_path)]) == 0
