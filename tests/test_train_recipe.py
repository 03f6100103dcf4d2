"""The training recipe: schedules, cascades, validation, frozen slots, data pinning, loaders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SAMPLE, crop_clip
from zoo.cli import main
from zoo.core.build import ModelSpec, build_codec
from zoo.core.weights import sha256_file
from zoo.errors import ZooError
from zoo.io.video import read_clip, write_y4m
from zoo.train.datasets import TRAIN_CLIPS, ClipDataset, training_files
from zoo.train.trainer import (STAGES, Schedule, StageLoss, TrainOptions, Trainer, cascade_length,
                               default_stages, original_share, parse_cascade, stage_table)

TINY = ("--crop", "64", "--batch", "1", "--threads", "1")


@pytest.fixture(scope="module")
def clip64(tmp_path_factory) -> Path:
    """Two real frames of exactly one 64x64 crop (carphone)."""
    path = tmp_path_factory.mktemp("clips") / "one_64x64.y4m"
    write_y4m(path, crop_clip(read_clip(SAMPLE, 2), 64, 64, 2))
    return path


@pytest.fixture(scope="module")
def clip8(tmp_path_factory) -> Path:
    """Eight real frames, 128x64: room for 64x64 crops of up to seven cascaded P-frames."""
    path = tmp_path_factory.mktemp("clips") / "eight_128x64.y4m"
    write_y4m(path, crop_clip(read_clip(SAMPLE, 8), 128, 64, 8))
    return path


def _train(out: Path, data: Path, *args: str) -> int:
    return main(["train", "--data", str(data), *TINY, "--out", str(out), *args])


def _log(run: Path, event: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "train.log").read_text().splitlines())
            if r["event"] == event]


def test_a_tiny_model_learns_on_one_crop(tmp_path, clip64):
    """A few dozen steps on one 64x64 crop: the loss on it falls, and its rate with it (the
    lite block transforms start complete, so rate falls first, not PSNR rises)."""
    assert _train(tmp_path, clip64, "--stages", "joint", "--iterations", "20", "--lr", "1e-3",
                  "--schedule", "constant", "--validate-every", "20", "--validation-crops", "1") == 0
    before, after = _log(tmp_path / "defaults", "validation")
    assert (before["iteration"], after["iteration"]) == (0, 20)
    assert after["loss"] < 0.7 * before["loss"] and after["bpp"] < 0.7 * before["bpp"]


def test_frozen_slots_keep_their_parameters_and_buffers(tmp_path, clip64):
    """The residual stage of a GRDN model: GRDN's CBAM BatchNorm statistics, the intra
    codec and the motion slots (their entropy bottlenecks' quantiles too) stay as built."""
    plugins = "pixel-residual,gmm,grdn"
    assert _train(tmp_path, clip64, "--plugins", plugins, "--stages", "residual",
                  "--iterations", "3") == 0
    before = build_codec(ModelSpec(tuple(plugins.split(",")))).state_dict()
    after = torch.load(tmp_path / plugins.replace(",", "-") / "checkpoint.pt", map_location="cpu",
                       weights_only=True)["model"]
    frozen = ("intra_coding", "motion_estimation", "motion_coding", "post_filter")
    assert any(k.startswith("post_filter.") and k.endswith("running_var") for k in before)
    assert [k for k in before if k.split(".")[0] in frozen and not torch.equal(before[k], after[k])] == []
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("residual_domain."))


def test_entropy_bottleneck_densities_learn_at_density_lr_times_the_rate(tmp_path, clip64):
    """Adam moves a parameter by about the learning rate per step: after 4 constant-rate
    steps only the densities (matrices, biases, factors) may have moved beyond 4 x lr."""
    lr, steps = 1e-4, 4
    assert _train(tmp_path, clip64, "--stages", "residual", "--iterations", str(steps),
                  "--lr", str(lr), "--schedule", "constant", "--warmup", "0",
                  "--density-lr", "20") == 0
    before = build_codec(ModelSpec()).state_dict()
    ckpt = torch.load(tmp_path / "defaults" / "checkpoint.pt", map_location="cpu", weights_only=True)
    moved = {k: float((ckpt["model"][k] - before[k]).abs().max()) for k in before
             if k.startswith("residual_domain.") and before[k].is_floating_point() and before[k].numel()}
    density = {k: v for k, v in moved.items()
               if "entropy_bottleneck" in k and k.rsplit(".", 2)[-2] in ("matrices", "biases", "factors")}
    assert density and max(density.values()) > 4 * steps * lr
    assert max(v for k, v in moved.items() if k not in density and "quantiles" not in k) < 1.5 * steps * lr
    assert ckpt["lineage"][-1]["density_lr"] == 20


def test_schedules_warm_up_then_decay():
    cosine = Schedule("cosine", 1e-3, 0.1, 100)
    assert [cosine(i) for i in range(3)] == pytest.approx([1e-4, 2e-4, 3e-4])
    assert cosine(10) == pytest.approx(1e-3) and cosine(99) == pytest.approx(1e-5, rel=0.05)
    step = Schedule("step", 1e-3, 0.0, 100)
    assert (step(79), step(80)) == (1e-3, pytest.approx(1e-4))
    assert Schedule("constant", 1e-3, 0.0, 100)(99) == 1e-3


def test_resume_continues_the_schedule_and_appends_a_run_to_the_lineage(tmp_path, clip64):
    def options(out: Path, resume: bool = False) -> TrainOptions:
        return TrainOptions(spec=ModelSpec(), name="defaults", stages=["intra"],
                            iterations={"intra": 6}, out=out, data=[str(clip64)], batch=1, crop=64,
                            resume=resume, checkpoint_every=1, threads=1, lr={"intra": 1e-3},
                            warmup=0.5)

    def stop_at_3(stage, it, total, stats):
        if it == 3:
            raise KeyboardInterrupt

    whole, cut = tmp_path / "whole" / "defaults", tmp_path / "cut" / "defaults"
    Trainer(options(whole)).run()
    with pytest.raises(KeyboardInterrupt):
        Trainer(options(cut), stop_at_3).run()
    Trainer(options(cut, resume=True)).run()
    lrs = [{r["iteration"]: r["lr"] for r in _log(run, "step")} for run in (whole, cut)]
    assert lrs[0] == lrs[1] and lrs[0][1] == pytest.approx(1e-3 / 3) and lrs[0][6] < lrs[0][4]
    runs = torch.load(cut / "checkpoint.pt", weights_only=True)["lineage"]
    assert len(runs) == 2 and "resumed" not in runs[0]
    assert runs[1]["resumed"] == {"done": [], "stage": "intra", "iteration": 2}
    assert all(run["lr"] == {"intra": 1e-3} and run["warmup"] == 0.5 for run in runs)
    # a new stage on resume is a third run; resuming a finished run adds none
    for _ in range(2):
        assert _train(tmp_path / "cut", clip64, "--stages", "intra,motion-coding", "--iterations",
                      "intra=6,motion-coding=1", "--resume") == 0
    runs = torch.load(cut / "checkpoint.pt", weights_only=True)["lineage"]
    assert len(runs) == 3 and runs[2]["resumed"] == {"done": ["intra"], "iteration": 0}


def test_the_training_data_is_pinned_by_sha256(tmp_path, clip64, clip8, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for clip in (clip64, clip8):
        shutil.copy(clip, data / clip.name)
    out = tmp_path / "runs"
    assert _train(out, data, "--stages", "intra", "--iterations", "1") == 0
    run = torch.load(out / "defaults" / "checkpoint.pt", weights_only=True)["lineage"][-1]
    assert run["data"] == {clip.name: sha256_file(clip) for clip in (clip8, clip64)}
    # a file of the recipe that changed or went missing stops a resume
    (data / clip8.name).write_bytes((data / clip64.name).read_bytes())
    assert _train(out, data, "--stages", "intra,motion-coding", "--iterations", "1", "--resume") == 2
    assert f"{clip8.name} changed since" in capsys.readouterr().err
    (data / clip8.name).unlink()
    assert _train(out, data, "--stages", "intra,motion-coding", "--iterations", "1", "--resume") == 2
    assert f"{clip8.name}, in the recipe of" in capsys.readouterr().err
    # a named file or pattern that matches nothing is an error, not a smaller set
    with pytest.raises(ZooError, match="no training clips found in .*missing.y4m"):
        training_files([str(clip64), str(tmp_path / "missing.y4m")])


def test_validation_uses_the_same_crops_in_every_run(tmp_path, clip8):
    for name in ("a", "b"):
        assert _train(tmp_path / name, clip8, "--stages", "intra", "--iterations", "2",
                      "--validate-every", "1", "--validation-crops", "2") == 0
    a, b = (_log(tmp_path / name / "defaults", "validation") for name in ("a", "b"))
    assert [r["iteration"] for r in a] == [0, 1, 2]
    assert a[0] == b[0] and len(a[0]["per_quality"]) == 5
    assert {"loss", "bpp", "psnr"} <= set(a[0])
    out = tmp_path / "plot.png"
    assert main(["train-plot", str(tmp_path / "a" / "defaults"), "-o", str(out)]) == 0
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 300
    assert main(["train-plot", str(tmp_path), "-o", str(out)]) == 2


def test_the_cascade_curriculum(tmp_path, clip8):
    cascade = parse_cascade("2:0.2,4:0.3,7:0.5")
    assert [cascade_length(cascade, i, 10) for i in range(10)] == [2, 2, 4, 4, 4, 7, 7, 7, 7, 7]
    for bad in ("2:0.5,4:0.4", "0:1", "2", "2:x"):
        with pytest.raises(ZooError, match="--cascade"):
            parse_cascade(bad)
    assert default_stages(stage_table(ModelSpec(("grdn",))))[-2:] == ["multi-frame", "post-filter"]
    assert _train(tmp_path, clip8, "--stages", "multi-frame", "--iterations", "4", "--cascade",
                  "1:0.5,2:0.5", "--frame-weights", "0.5,1.2", "--checkpoint-every", "1") == 0
    assert [r["frames"] for r in _log(tmp_path / "defaults", "step")] == [2, 2, 3, 3]
    run = torch.load(tmp_path / "defaults" / "checkpoint.pt", weights_only=True)["lineage"][-1]
    assert run["cascade"] == [{"p_frames": 1, "fraction": 0.5}, {"p_frames": 2, "fraction": 0.5}]
    assert run["frame_weights"] == [0.5, 1.2]


def test_frame_weights_weight_each_p_frames_distortion(clip8):
    codec = build_codec(ModelSpec()).eval()
    frames = ClipDataset([clip8], 64).sample(np.random.default_rng(0), 1, 3).frames
    with torch.no_grad():
        loss, stats = StageLoss(codec, STAGES["multi-frame"], "mse", (0.0,))(frames, None, 0)
    assert float(loss) == pytest.approx(stats["bpp"], rel=1e-5)  # rate alone


def _references_seen(codec) -> list[torch.Tensor]:
    """The reference frames the codec's P-frame forward receives, appended as it runs."""
    seen: list[torch.Tensor] = []
    forward = codec.forward
    codec.forward = lambda x, ref, q: (seen.append(ref.frame), forward(x, ref, q))[1]
    return seen


def test_original_references_code_each_p_frame_from_the_original_previous_frame(tmp_path, clip8):
    """--reference original (CLIC's P-frame protocol): every P-frame of a cascade predicts
    from the original previous frame; the low-delay default from the decoded one."""
    codec = build_codec(ModelSpec()).eval()
    frames = ClipDataset([clip8], 64).sample(np.random.default_rng(0), 1, 3).frames
    seen = _references_seen(codec)
    with torch.no_grad():
        StageLoss(codec, STAGES["multi-frame"], "mse", reference="original")(frames, None, 0)
        StageLoss(codec, STAGES["multi-frame"], "mse")(frames, None, 0)
    assert torch.equal(seen[0], frames[:, 0]) and torch.equal(seen[1], frames[:, 1])
    assert not torch.equal(seen[2], frames[:, 0]) and not torch.equal(seen[3], frames[:, 1])
    assert _train(tmp_path, clip8, "--stages", "multi-frame", "--iterations", "1", "--cascade", "2:1",
                  "--reference", "original") == 0
    run = torch.load(tmp_path / "defaults" / "checkpoint.pt", weights_only=True)["lineage"][-1]
    assert run["reference"] == "original"
    for bad in ("previous", "mixed:1", "mixed:x"):
        assert main(["train", "--reference", bad, "--iterations", "1", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_mixed_references_are_drawn_per_step_and_validated_both_ways(tmp_path, clip8):
    """--reference mixed: the caller picks the reference per call; a run draws it per
    step, and its validation reports the CLIC protocol beside low delay."""
    codec = build_codec(ModelSpec()).eval()
    frames = ClipDataset([clip8], 64).sample(np.random.default_rng(0), 1, 3).frames
    seen = _references_seen(codec)
    loss = StageLoss(codec, STAGES["multi-frame"], "mse", reference="mixed")
    with torch.no_grad():
        loss(frames, None, 0, True)
        loss(frames, None, 0)
    assert torch.equal(seen[0], frames[:, 0]) and torch.equal(seen[1], frames[:, 1])
    assert not torch.equal(seen[2], frames[:, 0]) and not torch.equal(seen[3], frames[:, 1])
    assert _train(tmp_path, clip8, "--stages", "multi-frame", "--iterations", "2", "--cascade", "2:1",
                  "--reference", "mixed", "--validate-every", "2", "--validation-crops", "1") == 0
    run = torch.load(tmp_path / "defaults" / "checkpoint.pt", weights_only=True)["lineage"][-1]
    assert run["reference"] == "mixed"
    last = _log(tmp_path / "defaults", "validation")[-1]
    assert last["original_psnr"] != last["psnr"] and last["original_bpp"] > 0


@pytest.mark.parametrize("reference, low, high", [("mixed:0.25", 0.1, 0.4), ("mixed:0.75", 0.6, 0.9)])
def test_a_mixed_run_draws_the_original_references_at_its_share(tmp_path, clip64, reference, low, high):
    """Forty steps of --reference mixed:F: the step record's share of steps drawn in
    CLIC's protocol is near F (two standard deviations are 0.14), and each step's
    draw is a 0 or a 1."""
    assert _train(tmp_path, clip64, "--stages", "multi-frame", "--iterations", "40", "--cascade", "1:1",
                  "--reference", reference, "--checkpoint-every", "40") == 0
    (record,) = _log(tmp_path / "defaults", "step")
    assert low < record["original"] < high and record["original"] * 40 == round(record["original"] * 40)


@pytest.mark.parametrize("reference, share", [("decoded", 0.0), ("original", 1.0), ("mixed", 0.5),
                                              ("mixed:0.25", 0.25)])
def test_original_share_of_each_reference(reference, share):
    assert original_share(reference) == share


def test_vimeo_septuplets_load_from_their_list(tmp_path):
    root = tmp_path / "vimeo_septuplet"
    for seq in ("00001/0001", "00001/0002"):
        for i in range(1, 8):
            folder = root / "sequences" / seq
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((64, 96, 3), 30 * i, np.uint8)).save(folder / f"im{i}.png")
    listing = root / "sep_trainlist.txt"
    listing.write_text("00001/0001\n00001/0002\n")
    data = ClipDataset(training_files([str(listing)]), 64)
    assert len(data.clips) == 2 and not data.upscaled
    batch = data.sample(np.random.default_rng(0), 3, 7).frames
    assert batch.shape == (3, 7, 3, 64, 64)
    for seq in batch:
        levels = seq.mean(dim=(1, 2, 3))
        assert torch.all(levels.diff() > 0) or torch.all(levels.diff() < 0)  # im1..im7, maybe reversed
    with pytest.raises(ZooError, match="no training clip has 8 frames"):
        data.sample(np.random.default_rng(0), 1, 8)
    assert _train(tmp_path / "runs", listing, "--stages", "intra", "--iterations", "1") == 0
    run = torch.load(tmp_path / "runs" / "defaults" / "checkpoint.pt", weights_only=True)["lineage"][-1]
    assert run["data"] == {"sep_trainlist.txt": sha256_file(listing)}
    (root / "sequences" / "00001" / "0002" / "im5.png").unlink()
    with pytest.raises(ZooError, match="im5.png, named by .*sep_trainlist.txt, is missing"):
        ClipDataset(training_files([str(listing)]), 64)


@pytest.mark.skipif(not Path(TRAIN_CLIPS).parent.is_dir(), reason="no shared/data/train here")
def test_the_default_sources_hold_every_training_clip():
    clips = [f for f in training_files() if Path(TRAIN_CLIPS).parent in f.parents]
    assert len(clips) == len(list(Path(TRAIN_CLIPS).parent.glob("*.264"))) >= 44


def test_downscaled_crops_come_from_larger_regions_shrunk_with_antialiasing(clip8):
    """--downscale 2 on a 128x64 clip: 64x64 crops drawn from up to 64x64 regions (the clip's
    short side bounds the region), so they equal plain crops; a 128-high clip gives larger ones."""
    plain = ClipDataset([clip8], 64).sample(np.random.default_rng(3), 2, 2).frames
    bounded = ClipDataset([clip8], 64, downscale=2).sample(np.random.default_rng(3), 2, 2).frames
    assert torch.equal(plain, bounded)
    data = ClipDataset([clip8], 32, downscale=2)
    sides = {data._region(np.random.default_rng(s), 64) for s in range(50)}
    assert min(sides) == 32 and 54 <= max(sides) <= 64 and all(s % 2 == 0 for s in sides)
    batch = data.sample(np.random.default_rng(0), 4, 3).frames
    assert batch.shape == (4, 3, 3, 32, 32) and 0 <= float(batch.min()) and float(batch.max()) <= 1
    with pytest.raises(ZooError, match="downscale 0.5"):
        ClipDataset([clip8], 32, downscale=0.5)
    assert main(["train", "--downscale", "0.5", "--iterations", "1"]) == 2


def test_p_frame_stages_report_the_predictions_and_the_last_frames_psnr(clip8):
    """A 3-P-frame cascade reports its mean PSNR, its last P-frame's and its predictions'; a
    one-P-frame sample's last frame is its only one."""
    codec = build_codec(ModelSpec()).eval()
    frames = ClipDataset([clip8], 64).sample(np.random.default_rng(0), 1, 4).frames
    with torch.no_grad():
        _, stats = StageLoss(codec, STAGES["multi-frame"], "mse")(frames, None, 0)
        _, first = StageLoss(codec, STAGES["multi-frame"], "mse")(frames[:, :2], None, 0)
    assert {"prediction_psnr", "last_psnr"} <= set(stats)
    assert first["last_psnr"] == pytest.approx(first["psnr"])
    assert stats["last_psnr"] != pytest.approx(stats["psnr"])
    assert 5 < stats["prediction_psnr"] < 60



def test_the_seed_draws_other_crops_and_noise_and_is_recorded(tmp_path, clip8):
    def losses(name: str, seed: str) -> list[float]:
        assert _train(tmp_path / name, clip8, "--stages", "joint", "--iterations", "2",
                      "--checkpoint-every", "1", "--seed", seed) == 0
        return [r["loss"] for r in _log(tmp_path / name / "defaults", "step")]

    assert losses("a", "0") == losses("b", "0") != losses("c", "1")
    run = torch.load(tmp_path / "c" / "defaults" / "checkpoint.pt", weights_only=True)["lineage"][-1]
    assert run["seed"] == 1 and run["downscale"] == 1.0
