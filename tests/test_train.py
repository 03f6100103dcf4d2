"""zoo train: shared stages reused, the recipe recorded, DistributedDataParallel."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from zoo.cli import main
from zoo.core.build import ModelSpec, build_codec
from zoo.core.registry import find_model, training_runs
from zoo.core.weights import sha256_file
from zoo.train.trainer import load_matching

TINY = ("--crop", "64", "--batch", "1", "--threads", "1")


def _train(tmp_path: Path, tiny_y4m: Path, *args: str) -> int:
    return main(["train", "--data", str(tiny_y4m), *TINY, "--out", str(tmp_path / "runs"), *args])


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_init_loads_only_the_slots_a_checkpoint_trained(tmp_path, tiny_y4m):
    """A checkpoint holds every slot, most of them still initial: starting from an
    intra run and then a motion run must keep the intra run's intra codec."""
    assert _train(tmp_path / "a", tiny_y4m, "--stages", "intra", "--iterations", "3") == 0
    assert _train(tmp_path / "b", tiny_y4m, "--stages", "motion-coding", "--iterations", "3") == 0
    intra = tmp_path / "a" / "runs" / "defaults" / "checkpoint.pt"
    motion = tmp_path / "b" / "runs" / "defaults" / "checkpoint.pt"
    codec = build_codec(ModelSpec())
    keys_a, _ = load_matching(codec, intra)
    keys_b, lineage = load_matching(codec, motion)
    assert keys_a and all(k.startswith("intra_coding.") for k in keys_a)
    assert keys_b and all(k.startswith("motion_coding.") for k in keys_b)
    assert [run["stages"] for run in lineage] == [["motion-coding"]]
    own, a, b = codec.state_dict(), _state(intra), _state(motion)
    name = next(k for k in keys_a if k.endswith("weight") and not torch.equal(a[k], b[k]))
    assert torch.equal(own[name], a[name])  # not overwritten by the motion run's initial copy


def test_init_carries_the_per_quality_tensors_to_another_ladder(tmp_path):
    """Gains trained for five lambdas start a six-quality model where those lambdas
    put them (log-log interpolation); every other tensor loads as it was."""
    from zoo.core.config import LAMBDAS
    from zoo.core.weights import save_weights
    from zoo.nn.gains import across_ladders
    trained = build_codec(ModelSpec(("masked-residual", "grdn")))
    gain = trained.residual_domain.entropy.gain
    with torch.no_grad():
        gain.mul_(torch.linspace(0.5, 2.0, gain.shape[1]))
        trained.post_filter.q_scale.copy_(torch.linspace(-1, 1, 5)[:, None])
        trained.residual_domain.mask[0].weight.add_(1.0)
    save_weights(trained, tmp_path / "w.safetensors")
    ladder = (0.0001, 0.0004, 0.001, 0.0025, 0.0063, 0.016)
    codec = build_codec(ModelSpec(("masked-residual", "grdn"), lambdas=ladder))
    loaded, _ = load_matching(codec, tmp_path / "w.safetensors")
    assert "residual_domain.entropy.gain" in loaded and "post_filter.q_scale" in loaded
    assert torch.allclose(codec.residual_domain.entropy.gain, across_ladders(gain.detach(), LAMBDAS, ladder))
    q_scale = codec.post_filter.q_scale[:, 0].tolist()  # not all positive: linear in values
    assert q_scale[3] == pytest.approx(-1 + 0.5 * math.log(0.0025 / 0.0018) / math.log(0.0035 / 0.0018))
    assert q_scale[5] == pytest.approx(0.5 + 0.5 * math.log(0.016 / 0.013) / math.log(0.025 / 0.013))
    assert q_scale == sorted(q_scale) and q_scale[0] < -1
    name = "residual_domain.mask.0.weight"
    assert torch.equal(codec.state_dict()[name], trained.state_dict()[name])


def test_init_reads_the_ladder_a_weights_file_records(tmp_path):
    """A weights file outside the registry that records its ladder (``--export-to``)
    starts a model of that ladder with its gains as they are, and one of another
    ladder with the gains carried from the recorded one, not from the default."""
    from zoo.core.weights import save_weights
    from zoo.nn.gains import across_ladders
    ladder = (0.0001, 0.0004, 0.001, 0.0025, 0.0063, 0.016)
    spec = ModelSpec(("masked-residual",), lambdas=ladder)
    trained = build_codec(spec)
    gain = trained.residual_domain.entropy.gain
    with torch.no_grad():
        gain.mul_(torch.linspace(0.5, 2.0, gain.shape[1]))
    save_weights(trained, tmp_path / "w.safetensors", spec=spec.to_dict())
    same = build_codec(spec)
    load_matching(same, tmp_path / "w.safetensors")
    assert torch.equal(same.residual_domain.entropy.gain, gain)
    other = (0.0004, 0.001, 0.0025, 0.0063)
    codec = build_codec(ModelSpec(("masked-residual",), lambdas=other))
    load_matching(codec, tmp_path / "w.safetensors")
    assert torch.allclose(codec.residual_domain.entropy.gain, gain.detach()[1:5])
    assert torch.allclose(codec.residual_domain.entropy.gain, across_ladders(gain.detach(), ladder, other))


def test_export_records_the_lineage_of_the_weights(tmp_path, tiny_y4m, monkeypatch):
    registry = tmp_path / "registry.toml"
    shutil.copy(Path(__file__).resolve().parents[1] / "registry.toml", registry)
    monkeypatch.setenv("ZOO_REGISTRY", str(registry))
    assert _train(tmp_path, tiny_y4m, "--stages", "intra,motion-coding", "--iterations", "2") == 0
    shared = tmp_path / "runs" / "defaults" / "checkpoint.pt"
    assert _train(tmp_path, tiny_y4m, "--model", "cmfr2025-baseline", "--init", str(shared),
                  "--stages", "residual", "--iterations", "residual=2", "--export", "--half") == 0
    entry = tomllib.loads(registry.read_text())["models"]["cmfr2025-baseline"]
    assert sha256_file(tmp_path / entry["weights"]) == entry["sha256"]
    runs = entry["recipe"]["runs"]
    assert [r["stages"] for r in runs] == [["intra", "motion-coding"], ["residual"]]
    assert runs[1]["model"] == ["block-motion", "dis-flow", "x265-intra", "masked-residual"]
    assert runs[1]["iterations"] == {"residual": 2}
    assert runs[1]["options"] == find_model("cmfr2025-baseline").spec.options  # the entry's QPs
    assert runs[1]["crop"] == 64 and runs[1]["lambdas"] == list(find_model("cmfr2025-baseline").lambdas)
    assert runs[1]["lr"] == {"residual": 5e-4} and runs[1]["schedule"] == "cosine"
    # the data is written once, for every run that trained on it
    assert entry["recipe"]["data"] == {tiny_y4m.name: sha256_file(tiny_y4m)} and "data" not in runs[1]
    assert training_runs(entry["recipe"])[1]["data"] == entry["recipe"]["data"]
    assert "threads" in runs[1]["hardware"]
    assert runs[1]["upscaled"] == {tiny_y4m.name: "72x48 upscaled to crops of 64x64"}
    assert entry["recipe"]["precision"] == "fp16"
    assert entry["recipe"]["wall_s"] >= 0 and all(r["seconds"] > 0 for r in runs)
    # the exported model opens trained, without --untrained, and its measured summary
    # goes into its registry entry beside the recipe
    assert main(["run", "--model", "cmfr2025-baseline", "--input", str(tiny_y4m), "--frames", "2",
                 "--out", str(tmp_path / "out")]) == 0
    assert "results" not in entry  # the summary the registry had was of other weights
    assert main(["eval", "--model", "cmfr2025-baseline", "--data", str(tiny_y4m), "--frames", "2",
                 "--qualities", "0,3", "--record", "-o", str(tmp_path / "eval.json")]) == 0
    entry = tomllib.loads(registry.read_text())["models"]["cmfr2025-baseline"]
    report = json.loads((tmp_path / "eval.json").read_text())
    assert entry["results"]["quality"] == [0, 3] and entry["results"]["data"] == [tiny_y4m.name]
    assert entry["results"]["bpp"] == [round(b, 4) for b in report["results"]["bpp"]]
    assert entry["recipe"]["runs"] == runs  # recording results leaves the recipe alone
    # only trained registry models get recorded
    assert main(["eval", "--model", "cmfr2025-cmfr", "--untrained", "--data", str(tiny_y4m),
                 "--frames", "2", "--qualities", "0", "--record", "-o", str(tmp_path / "u.json")]) == 2


def test_a_model_trains_and_ships_with_a_quality_ladder_of_its_own(tmp_path, tiny_y4m):
    package = tmp_path / "pkg"
    assert _train(tmp_path, tiny_y4m, "--plugins", "masked-residual", "--lambdas", "0.001,0.01",
                  "--stages", "residual", "--iterations", "2", "--export-to", str(package)) == 0
    entry = tomllib.loads((package / "registry.toml").read_text())["models"]["masked-residual"]
    assert entry["lambdas"] == [0.001, 0.01] and entry["recipe"]["runs"][-1]["lambdas"] == [0.001, 0.01]
    weights = package / entry["weights"]
    assert main(["run", "--plugins", "masked-residual", "--lambdas", "0.001,0.01", "--weights",
                 str(weights), "--quality", "1", "--input", str(tiny_y4m), "--frames", "2",
                 "--out", str(tmp_path / "out")]) == 0
    # the file records its ladder: --lambdas may be left out, but not contradicted
    assert main(["run", "--weights", str(weights), "--quality", "1", "--input", str(tiny_y4m),
                 "--frames", "2", "--out", str(tmp_path / "out")]) == 0
    assert main(["run", "--plugins", "masked-residual", "--lambdas", "0.001,0.002,0.004",
                 "--weights", str(weights), "--input", str(tiny_y4m), "--frames", "2",
                 "--out", str(tmp_path / "out")]) == 2


def test_export_script_writes_the_options_and_ladder_a_run_trained_with(tmp_path, tiny_y4m,
                                                                        monkeypatch, capsys):
    """scripts/export_weights.py: a registry model retrained with another ladder and
    other I-frame QPs opens with them (train_zoo.sh's LAMBDAS and INTRA_QPS); with
    ``--to``, a running campaign's checkpoint becomes a file, the registry untouched."""
    import importlib.util
    from zoo.core.models import open_model
    root = Path(__file__).resolve().parents[1]
    registry = tmp_path / "registry.toml"
    shutil.copy(root / "registry.toml", registry)
    monkeypatch.setenv("ZOO_REGISTRY", str(registry))
    name = "cmfr2025-baseline"
    assert _train(tmp_path, tiny_y4m, "--plugins", "block-motion,dis-flow,x265-intra,masked-residual",
                  "--lambdas", "0.001,0.01", "--option", "x265-intra.qps=40,30", "--stages",
                  "residual", "--iterations", "2", "--out", str(tmp_path / "runs" / name)) == 0
    (run,) = (tmp_path / "runs" / name).iterdir()
    spec = importlib.util.spec_from_file_location("export_weights", root / "scripts" / "export_weights.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    before = registry.read_text()  # --to: the run's checkpoint as a file, the registry untouched
    script.main(tmp_path / "runs", [name], to=tmp_path / "peek")
    assert registry.read_text() == before and (tmp_path / "peek" / f"{name}.safetensors").exists()
    assert "--option x265-intra.qps=40,30 --lambdas 0.001,0.01 --weights" in capsys.readouterr().out
    (tmp_path / "runs" / name / "checkpoint.pt").symlink_to(run / "checkpoint.pt")
    script.main(tmp_path / "runs", [name])
    entry = tomllib.loads(registry.read_text())["models"][name]
    assert entry["lambdas"] == [0.001, 0.01] and entry["options"] == {"x265-intra": {"qps": [40, 30]}}
    model = open_model(name)
    assert model.codec.qualities == 2 and model.codec.intra_coding.qps == (40, 30)
    assert "stopped_at" not in entry["recipe"]["runs"][-1]  # the run finished
    # a run stopped by a time limit (scripts/train_gpu.sh) does not claim its iterations
    run = {"stages": ["joint", "multi-frame"], "iterations": {"joint": 150, "multi-frame": 450}}
    assert script.stopped([run], {"done": ["joint"], "stage": "multi-frame", "iteration": 200}) == [
        {**run, "stopped_at": {"stage": "multi-frame", "iteration": 200}}]
    # on the entry's own ladder, the options the run did not set stay the entry's
    from zoo.core.registry import ModelEntry
    base = ModelEntry(name, ("block-motion", "masked-residual"), lambdas=(0.001, 0.01), options={
        "block-motion": {"blocks": [32, 16], "choices": [16, 32]}, "pipeline": {"skip": True}})
    run = {"options": {"block-motion": {"blocks": [16, 16]}}, "lambdas": [0.001, 0.01]}
    assert script.exported_spec(base, [run]).options == {
        "block-motion": {"blocks": [16, 16], "choices": [16, 32]}, "pipeline": {"skip": True}}
    assert script.exported_spec(base, [{**run, "lambdas": [0.002, 0.01]}]).options == run["options"]
    # a start from weights no registry model has: kept as it is, and said
    capsys.readouterr()
    started = [{"init": "converted.safetensors", "sha256": "ab" * 32}, run]
    assert script.with_recipes(started, {}) == started
    assert "converted.safetensors (sha256 abababababababab) is no registry model's" in capsys.readouterr().err


def test_the_gpu_script_trains_exports_and_packs_a_few_steps_on_cpu(tmp_path):
    """scripts/train_gpu.sh as a device machine runs it, on the CPU: the checkout's
    registry and weights untouched, fp16 weights with their entry and the logs under OUT."""
    root = Path(__file__).resolve().parents[1]
    before = (root / "registry.toml").read_text()
    env = {**{k: v for k, v in os.environ.items() if k not in ("STAGES", "ITERS", "LIMIT")},
           "OUT": str(tmp_path / "out"), "RUNS": str(tmp_path / "runs"),
           "DEVICE": "cpu", "ITERS": "small", "INSTALL": "0", "MODELS": "cmfr2025-baseline",
           "DATA": str(root / "zoo" / "samples" / "carphone_176x144.mp4"), "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(["bash", str(root / "scripts" / "train_gpu.sh")], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / "registry.toml").read_text() == before
    weights = tmp_path / "out" / "weights" / "cmfr2025-baseline.safetensors"
    entry = tomllib.loads((tmp_path / "out" / "registry.toml").read_text())["models"]["cmfr2025-baseline"]
    assert entry["sha256"] == sha256_file(weights) and "stopped_at" not in entry["recipe"]["runs"][-1]
    assert entry["recipe"]["runs"][-1]["stages"] == ["joint", "multi-frame"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["registry.toml", "runs.tar.gz", "weights"]


def test_two_cpu_processes_train_with_distributed_data_parallel(tmp_path, tiny_y4m):
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "zoo", "train",
         "--data", str(tiny_y4m), "--stages", "intra,joint", "--iterations", "3", *TINY,
         "--checkpoint-every", "1", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = torch.load(out / "defaults" / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["progress"]["done"] == ["intra", "joint"]
    run = ckpt["lineage"][-1]
    assert run["batch"] == 2 and run["hardware"].endswith("x 2 processes")
    steps = [json.loads(line) for line in (out / "defaults" / "train.log").read_text().splitlines()]
    # rank 0 alone logs: one record per step and stage
    assert [(s["stage"], s["iteration"]) for s in steps if s.get("event") == "step"] == [
        ("intra", 1), ("intra", 2), ("intra", 3), ("joint", 1), ("joint", 2), ("joint", 3)]


def test_synthetic_motion_moves_real_stills_by_a_known_flow(tmp_path, tiny_y4m):
    import numpy as np

    from zoo.nn.layers import warp
    from zoo.train.datasets import SyntheticMotion, load_stills
    stills = load_stills()
    assert len(stills) >= 10  # scikit-image's bundled stills load offline
    batch = SyntheticMotion(stills).sample(np.random.default_rng(0), 3, 64)
    assert batch.frames.shape == (3, 2, 3, 64, 64) and batch.flow.shape == (3, 1, 2, 64, 64)
    flow = batch.flow[:, 0]
    assert torch.allclose(warp(batch.frames[:, 0], flow), batch.frames[:, 1])
    assert flow.abs().amax() <= 6 + 64 * 0.06  # translation plus rotation and zoom about the centre
    assert all(len(f.flatten(1).unique(dim=1)) > 1 for f in flow)  # not one global shift
    # the motion stage alternates synthetic (EPE) and real (warping) batches; a step record
    # holds the means of the steps since the one before
    assert _train(tmp_path, tiny_y4m, "--stages", "motion", "--iterations", "4",
                  "--checkpoint-every", "1") == 0
    steps = [json.loads(line) for line in (tmp_path / "runs" / "defaults" / "train.log").open()]
    assert [("epe" in s, "warp_psnr" in s) for s in steps if s.get("event") == "step"] == [
        (True, False), (False, True)] * 2
