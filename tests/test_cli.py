"""The zoo command, end to end on a tiny real clip."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

from zoo.cli import main, parse_options
from zoo.errors import ZooError
from zoo.io.video import read_clip


def zoo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                          timeout=600)


def test_run_encodes_decodes_and_reports(tiny_y4m, tmp_path, capsys):
    assert main(["run", "--untrained", "--input", str(tiny_y4m), "--intra-period", "2",
                 "--quality", "1", "--out", str(tmp_path)]) == 0
    out = tmp_path / "defaults"
    report = json.loads((out / "tiny_72x48.json").read_text())
    assert report["decoded_equals_encoder"] is True
    assert report["bytes"] == (out / "tiny_72x48.bin").stat().st_size
    assert [f["kind"] for f in report["frames"]] == ["I", "P", "I"]
    assert report["model"]["untrained"] is True
    decoded = read_clip(out / "tiny_72x48.y4m")
    assert (decoded.width, decoded.height, len(decoded.frames)) == (72, 48, 3)
    assert "all" in capsys.readouterr().out


def test_encode_then_decode_from_the_file_alone(tiny_y4m, tmp_path):
    bin_path, y4m = tmp_path / "a.bin", tmp_path / "a.y4m"
    assert main(["encode", str(tiny_y4m), "-o", str(bin_path), "--untrained", "--frames", "2"]) == 0
    assert main(["decode", str(bin_path), "-o", str(y4m)]) == 0
    clip = read_clip(y4m)
    assert len(clip.frames) == 2 and clip.fps == read_clip(tiny_y4m).fps


def test_a_quality_ladder_of_its_own_travels_in_the_stream(tiny_y4m, tmp_path):
    """``--lambdas`` sets the number and trade-offs of the qualities; the decoder
    rebuilds the same ladder from the header alone."""
    from zoo.core.coding import open_for_header
    from zoo.io import bitstream
    bin_path, y4m = tmp_path / "a.bin", tmp_path / "a.y4m"
    assert main(["encode", str(tiny_y4m), "-o", str(bin_path), "--untrained", "--frames", "2",
                 "--lambdas", "0.0005,0.002,0.008", "--quality", "2"]) == 0
    header, _ = bitstream.loads(bin_path.read_bytes())
    assert header.model["lambdas"] == [0.0005, 0.002, 0.008]
    model = open_for_header(header)
    assert model.codec.qualities == 3 and model.spec.lambdas == (0.0005, 0.002, 0.008)
    assert main(["decode", str(bin_path), "-o", str(y4m)]) == 0
    assert main(["encode", str(tiny_y4m), "-o", str(tmp_path / "b.bin"), "--untrained",
                 "--frames", "1", "--lambdas", "0.0018,0.0035,0.0067,0.013,0.025"]) == 0
    assert "lambdas" not in bitstream.loads((tmp_path / "b.bin").read_bytes())[0].model


def test_list_json_shows_plugins_and_models(capsys):
    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    names = {p["name"]: p for p in listing["plugins"]}
    assert names["spynet"]["slots"] == ["motion_estimation"] and names["spynet"]["default"]
    assert names["sff"]["requires"] == ["conditional"]
    models = {m["name"]: m for m in listing["models"]}
    assert models["cmfr2025"]["plugins"][-3:] == ["cmfr", "sff", "refiner"]


def test_list_filters_with_wildcards(capsys):
    assert main(["list", "--models", "--json", "feng2020-m[12]"]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)["models"]] == [
        "feng2020-m1", "feng2020-m2"]


def test_options_parse():
    assert parse_options(["grdn.in_loop=true", "ensemble.members=a,b", "x.k=name"]) == {
        "grdn": {"in_loop": True}, "ensemble": {"members": ["a", "b"]}, "x": {"k": "name"}}
    with pytest.raises(ZooError):
        parse_options(["nodot=1"])


@pytest.mark.parametrize("args,message", [
    (["run", "--plugins", "cmrf", "--untrained"], "unknown plugin 'cmrf' (did you mean 'cmfr'?)"),
    (["run", "--plugins", "cmfr,masked-residual", "--untrained"], "both fill slot residual_domain"),
    (["run", "--model", "feng2020-m9", "--untrained"], "unknown model 'feng2020-m9'"),
    (["run", "--plugins", "grdn", "--option", "grdn.inloop=true", "--untrained"],
     "unknown option grdn.inloop (did you mean grdn.in_loop? grdn's options: in_loop)"),
    (["run"], "no trained weights yet"),
    (["run", "--untrained", "--lambdas", "0.01,0.002"], "lambdas must increase with the quality"),
    (["run", "--untrained", "--lambdas", "0,x"], "--lambdas '0,x'"),
    (["run", "--model", "cmfr2025", "--lambdas", "0.01"], "--lambdas applies to --plugins"),
    (["decode", "missing.bin", "-o", "x.y4m"], "missing.bin"),
])
def test_bad_requests_are_one_line_errors(args, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "x.y4m").exists()


def test_corrupt_bitstream_is_refused(tiny_y4m, tmp_path):
    bin_path = tmp_path / "a.bin"
    assert main(["encode", str(tiny_y4m), "-o", str(bin_path), "--untrained", "--frames", "2"]) == 0
    data = bytearray(bin_path.read_bytes())
    data[-10] ^= 0x40
    bin_path.write_bytes(bytes(data))
    result = zoo("decode", str(bin_path), "-o", str(tmp_path / "out.y4m"))
    assert result.returncode == 2 and "frame 1 is corrupt" in result.stderr
    assert not (tmp_path / "out.y4m").exists()


def test_traceback_is_shown_only_when_asked(capsys, monkeypatch):
    assert main(["run", "--plugins", "nope"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["--traceback", "run", "--plugins", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "zoo/core/manager.py" in err and err.rstrip().endswith("'nope'")
    monkeypatch.setenv("ZOO_TRACEBACK", "1")
    assert main(["run", "--plugins", "nope"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_only_known_third_party_warnings_are_silenced():
    with warnings.catch_warnings(record=True) as seen:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        assert main(["list", "--models", "--json", "nothing"]) == 0
        warnings.warn_explicit("`torch.jit.script` is deprecated. Please switch to `torch.compile`",
                               FutureWarning, "torch/jit/_script.py", 1, module="torch.jit._script")
        warnings.warn_explicit("a plugin's own warning", UserWarning, "zoo_mine.py", 1,
                               module="zoo_mine")
        warnings.warn_explicit("a plugin's deprecation", FutureWarning, "zoo_mine.py", 2,
                               module="zoo_mine")
    assert [str(w.message) for w in seen] == ["a plugin's own warning", "a plugin's deprecation"]


@pytest.mark.parametrize("command", [["eval", "--data", "x.y4m", "-o", "x.json"],
                                     ["train", "--stages", "joint"]])
def test_an_option_on_a_registry_model_is_refused_not_dropped(command, capsys):
    """A registry model's spec is its own: an --option would otherwise be silently ignored."""
    assert main([*command, "--model", "feng2020-m1", "--option", "x265-intra.qps=[44,41,38,35,32]"]) == 2
    err = capsys.readouterr().err
    assert "--option applies to --plugins" in err and len(err.strip().splitlines()) == 1
