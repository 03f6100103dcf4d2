"""Weights of one's own: ``--weights FILE`` on run, encode, eval and decode; what a stream
records of them, and the one-line error where a machine lacks them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.core.build import ModelSpec, build_codec
from zoo.core.weights import save_weights, sha256_file
from zoo.io import bitstream

PLUGINS = "pixel-residual,grdn"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """Weights of a model nobody registered (its seeded initial ones, but from a file)."""
    path = tmp_path_factory.mktemp("w") / "mine.safetensors"
    codec = build_codec(ModelSpec(tuple(PLUGINS.split(","))))
    codec.update(force=True)
    save_weights(codec, path, half=True)
    return path


def test_run_with_weights_prints_and_records_their_sha256(weights, tiny_y4m, tmp_path, capsys):
    sha = sha256_file(weights)
    assert main(["run", "--plugins", PLUGINS, "--weights", str(weights), "--input", str(tiny_y4m),
                 "--frames", "2", "--quality", "0", "--out", str(tmp_path)]) == 0
    assert f"weights {weights}: sha256 {sha}" in capsys.readouterr().err
    report = json.loads((tmp_path / "pixel-residual-grdn" / "tiny_72x48.json").read_text())
    assert report["decoded_equals_encoder"] is True
    assert report["model"]["weights"] == {"file": "mine.safetensors", "sha256": sha}
    assert report["model"]["name"] is None and report["model"]["untrained"] is False


def test_eval_records_the_weights_file(weights, tiny_y4m, tmp_path):
    out = tmp_path / "r.json"
    assert main(["eval", "--plugins", PLUGINS, "--weights", str(weights), "--data", str(tiny_y4m),
                 "--frames", "2", "--qualities", "0", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["model"]["sha256"] == sha256_file(weights) and report["model"]["trained"]
    assert report["model"]["weights"]["file"] == "mine.safetensors"
    assert report["model_size"] == {"bytes": weights.stat().st_size,
                                    "source": "weights file mine.safetensors as stored"}


def test_a_stream_names_the_weights_a_decoder_lacks(weights, tiny_y4m, tmp_path, capsys):
    stream, out = tmp_path / "s.bin", tmp_path / "s.y4m"
    assert main(["encode", str(tiny_y4m), "-o", str(stream), "--plugins", PLUGINS,
                 "--weights", str(weights), "--frames", "2"]) == 0
    capsys.readouterr()
    result = _zoo(tmp_path, "decode", str(stream), "-o", str(out))  # a process never given it
    assert result.returncode == 2 and not out.exists()
    assert result.stderr.strip() == (
        f"error: the bitstream was made with weights file mine.safetensors (sha256 "
        f"{sha256_file(weights)}), which this machine lacks; give it with --weights")
    assert main(["decode", str(stream), "-o", str(out), "--weights", str(weights)]) == 0
    assert out.is_file()


def test_a_stream_of_a_model_registered_elsewhere_says_so(tiny_y4m, tmp_path, capsys):
    stream = tmp_path / "s.bin"
    assert main(["encode", str(tiny_y4m), "-o", str(stream), "--model", "feng2020-m1",
                 "--untrained", "--frames", "1"]) == 0
    header, records = bitstream.read(stream)
    header.model = {**header.model, "name": "feng2020-mine"}
    bitstream.write(stream, header, records)
    capsys.readouterr()
    assert main(["decode", str(stream), "-o", str(tmp_path / "s.y4m")]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: the bitstream was made with model 'feng2020-mine', which is not in this zoo's "
        "registry (add its registry entry, or install the plugin that registers it)")


@pytest.mark.parametrize("extra, message", [
    (["--untrained"], "--weights and --untrained exclude each other"),
    (["--weights", "nowhere.safetensors"], "--weights nowhere.safetensors: no such file"),
])
def test_bad_weights_requests_are_one_line_errors(weights, extra, message, capsys):
    args = ["run", "--plugins", PLUGINS, "--weights", str(weights), *extra]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


def _zoo(cwd: Path, *args: str):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_fp16_weights_keep_the_constants_fp16_cannot_hold(weights, tmp_path):
    """A likelihood bound of 1e-9 is 0 in fp16 (then every rate a loss sees is
    infinite): fp16 files keep such tensors in fp32, and files that rounded them load
    the value the model was built with."""
    import safetensors.torch
    import torch

    from zoo.core.weights import widened
    codec = build_codec(ModelSpec(tuple(PLUGINS.split(","))))
    own = codec.state_dict()
    bounds = [k for k in own if k.endswith("likelihood_lower_bound.bound")]
    assert bounds and all(float(own[k]) == pytest.approx(1e-9) for k in bounds)
    stored = safetensors.torch.load_file(str(weights))
    assert all(stored[k].dtype == torch.float32 and float(stored[k]) > 0 for k in bounds)
    rounded = {k: v.half() if v.is_floating_point() else v for k, v in stored.items()}
    assert all(float(rounded[k]) == 0 for k in bounds)
    trained = next(k for k, v in own.items() if v.is_floating_point() and v.numel() > 100)
    rounded[trained] = rounded[trained] * 1.5  # as training would have moved it
    loaded = widened(rounded, own)
    assert all(float(loaded[k]) == pytest.approx(1e-9) for k in bounds)
    assert loaded[trained].dtype == own[trained].dtype
    assert torch.equal(loaded[trained], rounded[trained].float())


def test_a_weights_file_names_the_model_it_holds(tmp_path, tiny_y4m, capsys):
    """The spec saved in a file's metadata opens it with ``--weights`` alone; other plugins
    than the file's get a one-line error and exit code 2."""
    spec = ModelSpec(tuple(PLUGINS.split(",")), lambdas=(0.001, 0.01))
    path = tmp_path / "ladder.safetensors"
    codec = build_codec(spec)
    codec.update(force=True)
    save_weights(codec, path, half=True, spec=spec.to_dict())
    assert main(["run", "--weights", str(path), "--input", str(tiny_y4m), "--frames", "2",
                 "--quality", "1", "--out", str(tmp_path)]) == 0
    report = json.loads(next((tmp_path / "pixel-residual-grdn").glob("*.json")).read_text())
    assert report["model"]["lambdas"] == [0.001, 0.01] and report["decoded_equals_encoder"] is True
    capsys.readouterr()
    assert main(["run", "--plugins", "feature-residual", "--weights", str(path), "--input",
                 str(tiny_y4m), "--frames", "2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds the model pixel-residual,grdn" in err


def test_options_given_with_a_weights_file_add_to_those_it_records(tmp_path, tiny_y4m):
    """``--weights FILE --option ...``: the command's options go over the file's, key by key;
    the file's other options stay."""
    spec = ModelSpec(("block-motion", "dis-flow", "x265-intra", "pixel-residual"),
                     options={"x265-intra": {"qps": [44, 30], "preset": "fast"}}, lambdas=(0.001, 0.01))
    path = tmp_path / "qps.safetensors"
    codec = build_codec(spec)
    codec.update(force=True)
    save_weights(codec, path, half=True, spec=spec.to_dict())
    stream = tmp_path / "a.bin"
    assert main(["encode", "--weights", str(path), "--option", "x265-intra.qps=40,32",
                 "--option", "block-motion.blocks=32,16", str(tiny_y4m), "--frames", "2",
                 "-o", str(stream)]) == 0
    header, _ = bitstream.loads(stream.read_bytes())
    assert header.model["options"] == {"x265-intra": {"qps": [40, 32], "preset": "fast"},
                                       "block-motion": {"blocks": [32, 16]}}
    assert main(["decode", str(stream), "-o", str(tmp_path / "a.y4m")]) == 0
