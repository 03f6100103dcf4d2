"""Figures a reviewer can trust: one protocol per comparison, devices, long runs, what a result records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo.eval.evaluate
from zoo.cli import main
from zoo.eval.compare import protocol_differences

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chain(tiny_y4m, tmp_path_factory):
    """The documented chain: bench, then eval in both modes, 2 frames, qualities 0 and 3."""
    out = tmp_path_factory.mktemp("chain")
    data = ["--data", str(tiny_y4m), "--frames", "2"]
    assert main(["bench", "x264", *data, "--qps", "22,32,42,51", "-o", str(out / "x264.json")]) == 0
    for name, mode in (("seq", "sequence"), ("pf", "pframe")):
        assert main(["eval", "--untrained", "--plugins", "masked-residual", *data, "--qualities",
                     "0,3", "--mode", mode, "-o", str(out / f"{name}.json")]) == 0
    return out


def test_the_documented_chain_cannot_print_a_cross_protocol_bd_rate(chain, capsys):
    out = chain
    # eval's default mode is bench's: their results compare
    assert main(["ablate", "--from", str(out / "seq.json"), "--anchors", str(out / "x264.json"),
                 "-o", str(out / "ok")]) == 0
    assert "| 1 | masked-residual | x264 |" in (out / "ok.md").read_text()
    capsys.readouterr()
    # a P-frame-mode result against low-delay anchors or rows: refused, nothing written
    for cmd in (["ablate", "--from", str(out / "pf.json"), "--anchors", str(out / "x264.json"),
                 "-o", str(out / "bad")],
                ["ablate", "--from", str(out / "seq.json"), str(out / "pf.json"), "-o", str(out / "bad")],
                ["plot", str(out / "seq.json"), str(out / "pf.json"), "-o", str(out / "bad.png")]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert "different protocols (mode " in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1 or "error:" in err.splitlines()[0]
    assert not list(out.glob("bad*"))
    # an explicit override, and the table says so
    assert main(["ablate", "--from", str(out / "seq.json"), str(out / "pf.json"),
                 "--allow-cross-protocol", "-o", str(out / "cross")]) == 0
    assert "CROSS-PROTOCOL comparison" in (out / "cross.md").read_text()
    result = json.loads((out / "cross.json").read_text())
    assert any("mode pframe vs sequence" in d for d in result["protocol"]["cross_protocol"])


def test_ablate_refuses_pframe_rows_against_anchors_before_evaluating(chain, tiny_y4m, monkeypatch):
    monkeypatch.setattr(zoo.eval.ablate, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    assert main(["ablate", "--rows", "masked-residual", "--untrained", "--data", str(tiny_y4m),
                 "--mode", "pframe", "--anchors", str(chain / "x264.json"),
                 "-o", str(chain / "never")]) == 2


def test_protocols_differ_in_frames_and_intra_period():
    def report(frames, period):
        return {"name": "r", "mode": "sequence", "sequences": [
            {"class": "c", "name": "s", "frames_coded": frames, "intra_period": period}]}
    assert protocol_differences(report(3, 0), report(3, 0)) == []
    assert protocol_differences(report(3, 0), report(5, 0)) == ["c/s: frames 5 vs 3"]
    assert protocol_differences(report(3, 0), report(3, 4)) == ["c/s: intra period 4 vs 0"]
    assert "records no protocol" in protocol_differences(report(3, 0), {"name": "x", "results": {}})[0]


def test_a_result_records_protocol_versions_device_bit_split_and_warmup(chain):
    report = json.loads((chain / "seq.json").read_text())
    proto = report["protocol"]
    assert proto["mode"] == "sequence" and proto["colour"].startswith("8-bit 4:2:0")
    assert proto["intra_period"] == {"clips/tiny_72x48": 0} and report["decoded"] is True
    env = report["environment"]
    assert env["device"] == "cpu" and env["torch"] == torch.__version__
    assert env["coding_threads"] == 1  # what coding ran on, whatever the process's threads
    assert env["plugins"]["masked-residual"].startswith("codec-zoo ")
    point = report["sequences"][0]["points"][0]
    split = point["summary"]["P"]["bpp_split"]
    assert split["motion"] > 0 and split["residual"] > 0 and split["side"] > 0
    assert sum(split.values()) == pytest.approx(point["summary"]["P"]["bpp"])
    frames = point["frames"]
    assert sum(f["bytes_split"]["intra"] for f in frames if f["kind"] == "I") > 0
    # the first frames a process codes with a model are timed apart
    assert "warmup_encode_seconds" in point["summary"]["all"]


def test_entropy_estimate_is_marked_and_not_compared_with_decoded_results(tiny_y4m, tmp_path, capsys):
    # Trained weights: an untrained model's latents are outliers to its hyperprior, which the
    # coder codes by escape for far fewer bits than their bounded likelihoods estimate. The
    # model the weights file records, every residual coded (the estimate skips none).
    args = ["eval", "--weights", str(ROOT / "weights" / "cmfr2025-baseline.safetensors"),
            "--option", "pipeline.skip=false", "--data", str(tiny_y4m), "--frames", "2",
            "--qualities", "0,3"]
    out, written = tmp_path / "estimate.json", tmp_path / "seq.json"
    assert main([*args, "-o", str(written)]) == 0
    assert main([*args, "--entropy-estimate", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["decoded"] is False and "ENTROPY ESTIMATE" in report["description"]
    assert "ENTROPY ESTIMATE" in report["protocol"]["rate"]
    coded = json.loads(written.read_text())
    # the estimate is close to the coded latents' bytes (the stream adds headers and framing)
    latents = sum(n for f in coded["sequences"][0]["points"][1]["frames"]
                  for part, n in f["bytes_split"].items() if part != "side")
    estimated = report["sequences"][0]["points"][1]["bytes"]
    # (within 10 %: the coder's escapes code the rare outlier for fewer bits than its
    # bounded likelihood says)
    assert 0.8 * latents < estimated < 1.1 * latents
    assert latents < coded["sequences"][0]["points"][1]["bytes"]
    capsys.readouterr()
    assert main(["ablate", "--from", str(written), str(out), "-o", str(tmp_path / "e")]) == 2
    assert "rate entropy estimate vs bytes written" in capsys.readouterr().err


def test_eval_resume_keeps_the_sequences_already_in_the_output(tiny_y4m, tmp_path, monkeypatch):
    second = tmp_path / "second.y4m"
    second.write_bytes(tiny_y4m.read_bytes())
    out = tmp_path / "r.json"
    args = ["eval", "--untrained", "--data", str(tiny_y4m), str(second), "--frames", "2",
            "--qualities", "0", "-o", str(out)]
    real = zoo.eval.evaluate.evaluate_sequence
    calls = []

    def interrupted(model, spec, *a, **k):
        calls.append(spec.name)
        if spec.name == "second":
            raise KeyboardInterrupt
        return real(model, spec, *a, **k)

    monkeypatch.setattr(zoo.eval.evaluate, "evaluate_sequence", interrupted)
    assert main(args) == 130
    partial = json.loads(out.read_text())
    assert partial["partial"] and [s["name"] for s in partial["sequences"]] == ["tiny_72x48"]
    assert main(["ablate", "--from", str(out), "-o", str(tmp_path / "t")]) == 2  # unfinished
    calls.clear()
    monkeypatch.setattr(zoo.eval.evaluate, "evaluate_sequence",
                        lambda model, spec, *a, **k: calls.append(spec.name) or real(model, spec, *a, **k))
    assert main([*args, "--resume"]) == 0
    assert calls == ["second"]
    final = json.loads(out.read_text())
    assert "partial" not in final and [s["name"] for s in final["sequences"]] == ["tiny_72x48", "second"]
    # another evaluation in the same output is not mixed in
    assert main([*args, "--resume", "--mode", "pframe"]) == 2


def test_progress_is_plain_lines_when_not_a_terminal(tiny_y4m, tmp_path, capsys):
    assert main(["bench", "x264", "--data", str(tiny_y4m), "--frames", "2", "--qps", "30",
                 "-o", str(tmp_path / "lines.json")]) == 0
    err = capsys.readouterr().err
    assert "[1/1] x264 clips/tiny_72x48" in err and "done in" in err and "\x1b[" not in err


def test_compressai_published_results_convert_kbps_with_the_frame_given(chain, tmp_path, capsys):
    published = tmp_path / "ssf.json"
    published.write_text(json.dumps({"name": "ssf2020", "results": {
        "bitrate": [1000.0, 2000.0], "psnr-rgb": [30.0, 33.0], "ms-ssim-rgb": [0.95, 0.97]}}))
    png = tmp_path / "rd.png"
    assert main(["plot", str(published), "-o", str(png)]) == 2
    assert "--bitrate-frame" in capsys.readouterr().err
    assert main(["plot", str(published), "--bitrate-frame", "100x10@1", "-o", str(png)]) == 0
    from zoo.eval.evaluate import FrameFormat, load_runs
    run, = load_runs(published, FrameFormat.parse("1000x100@10"))
    assert run["results"]["bpp"] == [1.0, 2.0]  # 10^6 bits a second over 10^6 pixels a second
    assert main(["plot", str(published), "--bitrate-frame", "100x10", "-o", str(png)]) == 2


def test_version_and_help_list_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("codec-zoo ")
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("list", "run", "train", "encode", "decode", "eval", "bench", "ablate", "speed",
                    "plot"):
        assert f"    {command} " in text


@pytest.mark.parametrize("command", ["run", "encode", "decode", "eval", "ablate"])
def test_device_is_an_option_everywhere_and_cuda_is_refused_without_it(command, tiny_y4m, tmp_path,
                                                                        capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the refusal is not what happens")
    args = {"run": ["run", "--untrained", "--input", str(tiny_y4m), "--out", str(tmp_path)],
            "encode": ["encode", str(tiny_y4m), "-o", str(tmp_path / "x.bin"), "--untrained"],
            "decode": ["decode", str(tmp_path / "x.bin"), "-o", str(tmp_path / "x.y4m")],
            "eval": ["eval", "--untrained", "--data", str(tiny_y4m), "-o", str(tmp_path / "e.json")],
            "ablate": ["ablate", "--rows", "defaults", "--untrained", "--data", str(tiny_y4m),
                       "-o", str(tmp_path / "a")]}[command]
    if command == "decode":
        assert main(["encode", str(tiny_y4m), "-o", str(tmp_path / "x.bin"), "--untrained",
                     "--frames", "1"]) == 0
    capsys.readouterr()
    assert main([*args, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "Traceback" not in err
    assert not (tmp_path / "x.y4m").exists() and not (tmp_path / "e.json").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_eval_on_cuda_decodes_bit_exactly(tiny_y4m, tmp_path):
    out = tmp_path / "cuda.json"
    assert main(["eval", "--untrained", "--data", str(tiny_y4m), "--frames", "2", "--qualities", "0",
                 "--device", "cuda", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["environment"]["device"].startswith("cuda")
