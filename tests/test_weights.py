"""The committed weights: every registry model opens trained, verified, with its recipe."""

from __future__ import annotations

import pytest

from zoo.cli import main
from zoo.core.models import open_model
from zoo.core.registry import compact_recipe, load_registry, training_runs
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
    assert model.trained and model.header_model() == {"name": name}
    if entry.weights is None:  # an ensemble: its members' weights
        return
    assert sha256_file(entry.weights) == entry.sha256 == model.sha256
    runs = training_runs(entry.extra["recipe"])
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


def test_a_recipe_writes_its_data_once_and_reads_back_whole():
    d1, d2 = {"a.264": "11"}, {"b.264": "22"}
    older = {"precision": "fp16", "runs": [{"stages": ["joint"], "data": d2}]}
    parent = compact_recipe({"runs": [{"stages": ["x"], "data": d1}, {"stages": ["y"], "data": d1}]})
    assert parent == {"data": d1, "runs": [{"stages": ["x"]}, {"stages": ["y"]}]}
    recipe = {"runs": [{"init": "w/p.safetensors", "recipe": parent},
                       {"init": "w/o.safetensors", "recipe": older}, {"stages": ["z"], "data": d1}]}
    compact = compact_recipe(recipe)
    assert compact["data"] == d1 and "data" not in compact["runs"][0]["recipe"]
    assert compact["runs"][1]["recipe"]["runs"][0]["data"] == d2  # other data stays with its run
    assert training_runs(compact) == training_runs(recipe) == [
        {"stages": ["x"], "data": d1}, {"stages": ["y"], "data": d1},
        {"stages": ["joint"], "data": d2}, {"stages": ["z"], "data": d1}]
    assert compact_recipe(compact) == compact
    unpinned = {"runs": [{"stages": ["x"]}]}  # recorded before data was pinned
    assert compact_recipe(unpinned) == unpinned


@pytest.mark.parametrize("name", [n for n, e in REGISTRY.items() if "recipe" in e.extra])
def test_the_registry_stores_recipes_compact(name):
    recipe = REGISTRY[name].extra["recipe"]
    assert compact_recipe(recipe) == recipe


def test_a_registry_models_stream_names_it_alone(tiny_clip):
    """A registry model's header records its name (the decoder opens that entry, the
    weights sha256 pins it); the same plugins off the registry record their whole spec."""
    from dataclasses import replace

    from zoo.core.build import ModelSpec
    from zoo.core.coding import decode_stream, encode_clip
    from zoo.io.bitstream import dump_header
    named = open_model("cmfr2025-baseline")
    header, records, recon = encode_clip(named, tiny_clip, quality=0, intra_period=0)
    assert header.model == {"name": "cmfr2025-baseline"}
    assert all(a.equal(b) for a, b in zip(decode_stream(header, records), recon))
    untrained = open_model("cmfr2025-baseline", untrained=True)
    assert untrained.header_model() == {"name": "cmfr2025-baseline", "untrained": True}
    spec = named.spec
    qps = [50, *spec.options["x265-intra"]["qps"][1:]]
    other = open_model(spec=ModelSpec(spec.plugins, spec.preset, {"x265-intra": {"qps": qps}},
                                      spec.lambdas), untrained=True)
    assert other.name is None and other.header_model()["plugins"] == list(spec.plugins)
    whole = replace(header, model=other.header_model())
    assert len(dump_header(header)) < len(dump_header(whole)) - 100
