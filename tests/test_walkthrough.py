"""docs/writing-plugins.md's walk-through, every command run in order: ``zoo new-plugin``,
the package installed and its generated test run, the plugin trained on top of
``feng2020-m1``, exported outside the zoo, evaluated, encoded and decoded with ``--weights``."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from zoo.core.build import build_codec
from zoo.core.registry import find_model, update_registry
from zoo.core.weights import save_weights, sha256_file
from zoo.scaffold import new_plugin

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "writing-plugins.md"


def walkthrough() -> tuple[list[str], str]:
    """The commands of the guide's walk-through blocks, and its plugin module."""
    text = GUIDE.read_text()
    commands = [line for block in re.findall(r"<!-- walk-through -->\n```bash\n(.*?)```", text, re.S)
                for line in block.splitlines() if line.strip()]
    module = re.search(r"```python\n(# file: zoo_sharpen\.py\n.*?)```", text, re.S)[1]
    return commands, module


@pytest.fixture
def registry(tmp_path) -> Path:
    """A registry where ``feng2020-m1`` has weights (its seeded initial ones): the walk-through
    runs whether or not the zoo's own are trained at the moment."""
    entry = find_model("feng2020-m1")
    codec = build_codec(entry.spec)
    codec.update(force=True)
    path = tmp_path / "registry" / "registry.toml"
    sha = save_weights(codec, path.parent / "weights" / "feng2020-m1.safetensors", half=True)
    update_registry(entry.name, {**entry.spec.to_dict(), "weights": "weights/feng2020-m1.safetensors",
                                 "sha256": sha}, path)
    return path


def run(words: list[str], cwd: Path, target: Path, registry: Path) -> subprocess.CompletedProcess:
    """One command of the guide; ``pip install -e`` is done offline into ``target``."""
    if words[:3] == ["pip", "install", "-e"]:
        words = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                 "--no-build-isolation", "--disable-pip-version-check", "--target", str(target),
                 words[3]]
    elif words[0] == "zoo":
        words = [sys.executable, "-m", "zoo", *words[1:]]
    elif words[0] == "python":
        words = [sys.executable, *words[1:], "-p", "no:cacheprovider"]
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1",
           "ZOO_REGISTRY": str(registry)}
    return subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_the_guide_walk_through_runs(tiny_y4m, tmp_path, registry):
    commands, module = walkthrough()
    assert [c.split()[:2] for c in commands] == [
        ["zoo", "new-plugin"], ["pip", "install"], ["python", "-m"], ["zoo", "list"],
        ["zoo", "train"], ["zoo", "eval"], ["zoo", "encode"], ["zoo", "decode"]]
    shutil.copy(tiny_y4m, tmp_path / "clip.y4m")  # "your clips"
    target = tmp_path / "site"
    outputs = {}
    for command in commands:
        words = shlex.split(command)
        result = run(words, tmp_path, target, registry)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        outputs[words[1]] = result.stdout
        if words[1] == "new-plugin":  # the guide's next step: the module replaces the skeleton's
            (tmp_path / "zoo-sharpen" / "src" / "zoo_sharpen" / "__init__.py").write_text(module)
    assert "1 passed" in outputs["-m"]
    assert "options of sharpen" in outputs["list"] and "zoo-sharpen 0.1.0" in outputs["list"]
    weights = tmp_path / "exported" / "weights" / "feng2020-m1-sharpen.safetensors"
    entry = tomllib.loads((tmp_path / "exported" / "registry.toml").read_text())["models"][
        "feng2020-m1-sharpen"]
    assert entry["plugins"] == [*find_model("feng2020-m1").plugins, "sharpen"]
    assert "--plugins" not in commands[5]  # the file names the model it holds
    report = json.loads((tmp_path / "sharpen.json").read_text())
    assert report["model"]["plugins"] == entry["plugins"]
    assert report["model"]["lambdas"] == entry["lambdas"] == list(find_model("feng2020-m1").lambdas)
    assert entry["sha256"] == sha256_file(weights) and entry["weights"] == f"weights/{weights.name}"
    assert entry["recipe"]["precision"] == "fp16"
    assert entry["recipe"]["runs"][0]["init"].endswith("feng2020-m1.safetensors")
    assert entry["recipe"]["runs"][-1]["stages"] == ["sharpen"]  # only the new plugin's stage
    assert report["model"]["weights"] == {"file": weights.name, "sha256": entry["sha256"]}
    assert (tmp_path / "decoded.y4m").is_file()


def test_new_plugin_writes_a_package_for_every_slot_it_offers(tmp_path):
    from zoo.scaffold import OFFERED
    for slot in OFFERED:
        files = new_plugin(f"my-{slot.replace('_', '-')}", slot, tmp_path / slot)
        source = files[2].read_text()
        compile(source, str(files[2]), "exec")
        assert f"def zoo_{slot}(" in source and ("zoo_register_stages" in source) == (
            slot == "post_filter")
        assert tomllib.loads(files[0].read_text())["project"]["entry-points"]["codec_zoo"] == {
            f"my-{slot.replace('_', '-')}": f"zoo_my_{slot}"}


def test_new_plugin_refuses_bad_requests(tmp_path, capsys):
    from zoo.cli import main
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    for args, message in (
            (["cmfr", "--slot", "post_filter"], "a plugin named 'cmfr' is installed already"),
            (["My_Filter", "--slot", "post_filter"], "plugin name 'My_Filter': lowercase"),
            (["mine", "--slot", "compose"], "--slot compose: one of motion_estimation"),
            (["mine", "--slot", "post_filter", "-o", str(tmp_path / "full")], "is not empty")):
        assert main(["new-plugin", *args]) == 2
        assert message in capsys.readouterr().err
