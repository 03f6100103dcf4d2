"""Step-by-step training (Feng et al. 2020), resumable, optionally distributed.

Each stage trains some slot modules with the rest frozen, on its own loss:

=============  ==============================  =========================================
stage          trains                          loss
=============  ==============================  =========================================
intra          intra_coding                    R_intra + λ·d(x, x̂)
motion         motion_estimation               EPE on synthetic motion + warping MSE on clips
motion-coding  motion_coding                   R_motion + λ·MSE(warp(ref, floŵ), ref = x_prev)
residual       refinement, context, residual   R_motion + R_residual + λ·d(x, x̂)
joint          every P-frame slot              R_motion + R_residual + λ·d(x, x̂)
post-filter    post_filter                     d(x, x̂) with the codec frozen
multi-frame    every P-frame slot              the joint loss over cascaded P-frames
=============  ==============================  =========================================

R is in bits per pixel, λ the quality's lambda (a random quality per step, so
one model learns every quality), d is 255²·MSE or (1 − MS-SSIM). The residual
and later stages code against the model's own intra reconstruction of the
previous frame; motion coding warps the original previous frame.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim
from torch import Tensor, nn

from .atomic import atomic_write
from .build import ModelSpec, build_codec
from .config import Config
from .datasets import ClipDataset, SyntheticMotion, load_stills, training_files, worker_seed
from .errors import ZooError
from .layers import warp
from .slots import Reference

#: Lambdas for (1 - MS-SSIM), CompressAI's convention for its ms-ssim models.
MS_SSIM_LAMBDAS = (4.58, 8.73, 16.64, 31.73)
P_SLOTS = ("motion_estimation", "motion_coding", "motion_refinement", "temporal_context",
           "residual_domain")


@dataclass(frozen=True)
class Stage:
    name: str
    trains: tuple[str, ...]  #: codec attributes whose parameters train
    frames: int  #: frames per sample
    lr: float


STAGES = {s.name: s for s in (
    Stage("intra", ("intra_coding",), 1, 5e-4),
    Stage("motion", ("motion_estimation",), 2, 5e-4),
    Stage("motion-coding", ("motion_coding",), 2, 5e-4),
    Stage("residual", ("motion_refinement", "temporal_context", "residual_domain"), 2, 5e-4),
    Stage("joint", P_SLOTS, 2, 1e-4),
    Stage("post-filter", ("post_filter",), 2, 2e-4),
    Stage("multi-frame", P_SLOTS, 4, 1e-4),
)}


def bpp(likelihoods: dict[str, Tensor], pixels: int) -> Tensor:
    return sum(-torch.log2(lik).sum() for lik in likelihoods.values()) / pixels


class StageLoss(nn.Module):
    """The loss of one stage as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, codec: nn.Module, stage: Stage, distortion: str) -> None:
        super().__init__()
        self.codec, self.stage, self.distortion = codec, stage, distortion

    def _d(self, x: Tensor, x_hat: Tensor, q: int) -> Tensor:
        if self.distortion == "ms-ssim":
            return MS_SSIM_LAMBDAS[q] * (1 - ms_ssim(x, x_hat.clamp(0, 1), data_range=1.0, win_size=7))
        return self.codec.config.lambdas[q] * 255**2 * F.mse_loss(x, x_hat)

    def _reference(self, x: Tensor, q: int) -> Reference:
        with torch.no_grad():
            return Reference(frame=self.codec.intra_forward(x, q)["x_hat"].clamp(0, 1))

    def forward(self, frames: Tensor, flow: Tensor | None, q: int) -> tuple[Tensor, dict[str, float]]:
        codec, name = self.codec, self.stage.name
        b, _, _, h, w = frames.shape
        pixels = b * h * w
        if name == "motion":
            ref, x = frames[:, 0], frames[:, 1]
            estimate = codec.motion_estimation(x, ref)
            if flow is not None:
                loss = (estimate - flow[:, 0]).norm(dim=1).mean()
                return loss, {"loss": float(loss), "epe": float(loss)}
            loss = F.mse_loss(warp(ref, estimate), x)
            return loss, {"loss": float(loss), "warp_psnr": _psnr(loss)}
        if name == "intra":
            out = codec.intra_forward(frames[:, 0], q)
            rate = bpp(out["likelihoods"]["intra"], pixels)
            return self._rd(rate, frames[:, 0], out["x_hat"], q)
        if name == "motion-coding":
            ref, x = frames[:, 0], frames[:, 1]
            with torch.no_grad():
                estimate = codec.motion_estimation(x, ref)
            out = codec.motion_coding(estimate, q)
            rate = bpp(out["likelihoods"], pixels)
            return self._rd(rate, x, warp(ref, out["x_hat"]), q)
        ref = self._reference(frames[:, 0], q)
        losses, stats = [], []
        for t in range(1, frames.shape[1]):
            x = frames[:, t]
            out = codec(x, ref, q)
            rate = sum(bpp(group, pixels) for group in out["likelihoods"].values())
            loss, stat = self._rd(rate, x, out["x_hat"], q)
            if name == "post-filter":
                loss = self._d(x, out["x_hat"], q)
            losses.append(loss)
            stats.append(stat)
            ref = out["ref"]
        return sum(losses) / len(losses), {k: float(np.mean([s[k] for s in stats])) for k in stats[0]}

    def _rd(self, rate: Tensor, x: Tensor, x_hat: Tensor, q: int) -> tuple[Tensor, dict[str, float]]:
        loss = rate + self._d(x, x_hat, q)
        return loss, {"loss": float(loss), "bpp": float(rate),
                      "psnr": _psnr(F.mse_loss(x.detach(), x_hat.detach().clamp(0, 1)))}


def _psnr(mse: Tensor) -> float:
    return 10 * math.log10(1 / max(float(mse), 1e-10))


@dataclass
class TrainOptions:
    spec: ModelSpec
    name: str
    stages: list[str]
    iterations: dict[str, int]
    out: Path
    data: list[str]
    batch: int = 4
    crop: int = 128
    distortion: str = "mse"
    device: str = "cpu"
    resume: bool = False
    init: list[Path] | None = None
    checkpoint_every: int = 50
    seed: int = 0
    threads: int = 0  #: torch threads (0: PyTorch's default)


def _atomic_save(obj: Any, path: Path) -> None:
    with atomic_write(path) as f:
        torch.save(obj, f)


def load_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any]:
    """A checkpoint written by :class:`Trainer`. ``weights_only=True``: tensors and plain
    containers only, so a pickle that would run code is refused, as is anything that is
    not a checkpoint (a ZooError naming the file)."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        if type(e).__name__ == "UnpicklingError":  # weights_only refused a Python object
            reason = "it holds Python objects, not only tensors; refusing to unpickle them"
        else:
            reason = re.sub(r"\x1b\[[0-9;]*m", "", (str(e).strip().splitlines() or [""])[0])[:160]
        raise ZooError(f"{path} is not a checkpoint this zoo can load ({type(e).__name__}"
                       + (f": {reason})" if reason else ")")) from e
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise ZooError(f"{path} is not a checkpoint this zoo can load (no model state)")
    return ckpt


def trained_slots(lineage: list[dict[str, Any]]) -> set[str]:
    """The codec attributes that the runs of ``lineage`` trained."""
    return {slot for run in lineage for stage in run.get("stages", ()) if stage in STAGES
            for slot in STAGES[stage].trains}


def checkpoint_lineage(ckpt: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs that produced a checkpoint's weights, oldest first."""
    if "lineage" in ckpt:
        return list(ckpt["lineage"])
    return [{"stages": list(ckpt.get("progress", {}).get("done", []))}]


def load_matching(codec: nn.Module, path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Load the trained tensors of ``path`` that fit ``codec``: shared stages are
    reused instead of retrained. From a checkpoint, only the slots its runs
    trained (the rest are still their initial values); from safetensors, every
    tensor whose name and shape fit. Returns the names loaded and the lineage."""
    if path.suffix == ".safetensors":
        import safetensors.torch
        try:
            state = safetensors.torch.load_file(str(path))
        except Exception as e:
            raise ZooError(f"{path} is not a safetensors file this zoo can load "
                           f"({type(e).__name__})") from e
        lineage = [{"init": str(path)}]
    else:
        ckpt = load_checkpoint(path)
        lineage = checkpoint_lineage(ckpt)
        slots = trained_slots(lineage)
        state = {k: v for k, v in ckpt["model"].items() if k.split(".")[0] in slots}
    own = codec.state_dict()
    fitting = {k: v.to(own[k].dtype) for k, v in state.items() if k in own and own[k].shape == v.shape}
    own.update(fitting)
    codec.load_state_dict(own)
    return sorted(fitting), lineage


class Trainer:
    """Runs the stages in order, checkpointing atomically; ``resume`` continues."""

    def __init__(self, opts: TrainOptions, report: Callable[[str, int, int, dict], None] | None = None):
        self.opts = opts
        self.report = report or (lambda *a: None)
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        opts.out.mkdir(parents=True, exist_ok=True)
        self.checkpoint = opts.out / "checkpoint.pt"
        self.log_path = opts.out / "train.log"

    def _log(self, record: dict) -> None:
        if self.rank == 0:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def run(self) -> nn.Module:
        opts = self.opts
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if opts.device == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)
        if opts.threads:
            torch.set_num_threads(opts.threads)
        codec = build_codec(opts.spec).to(opts.device)
        state: dict[str, Any] = {"done": [], "stage": None, "iteration": 0}
        ckpt = None
        if opts.resume and self.checkpoint.is_file():
            ckpt = load_checkpoint(self.checkpoint, opts.device)
            codec.load_state_dict(ckpt["model"])
            state = ckpt["progress"]
            # This run goes on: its record takes the options given now (more
            # iterations, say) and keeps the wall time spent so far.
            runs = ckpt.get("lineage") or [self._record()]
            self.lineage = [*runs[:-1], {**self._record(), "seconds": runs[-1].get("seconds", 0.0)}]
            self._log({"event": "resume", **state})
        else:
            inherited: list[dict[str, Any]] = []
            for path in opts.init or ():
                keys, lineage = load_matching(codec, path)
                inherited += lineage
                self._log({"event": "init", "from": str(path), "tensors": len(keys)})
            self.lineage = [*inherited, self._record()]
        self._seconds_before = self.lineage[-1].get("seconds", 0.0)
        self._started = time.perf_counter()
        clips = ClipDataset(training_files(opts.data))
        synthetic = SyntheticMotion(load_stills()) if "motion" in opts.stages else None
        for name in opts.stages:
            if name in state["done"]:
                continue
            start = state["iteration"] if state["stage"] == name else 0
            self._run_stage(codec, STAGES[name], start, clips, synthetic, state,
                            ckpt if start else None)
            state = {"done": [*state["done"], name], "stage": None, "iteration": 0}
            self._save(codec, state, None, None)
        return codec

    def _run_stage(self, codec, stage: Stage, start: int, clips, synthetic, state, ckpt) -> None:
        opts = self.opts
        total = opts.iterations.get(stage.name, opts.iterations.get("*", 0))
        for p in codec.parameters():
            p.requires_grad_(False)
        params = [p for m in stage.trains for n, p in getattr(codec, m).named_parameters()
                  if not n.endswith("quantiles")]
        for p in params:
            p.requires_grad_(True)
        aux = [p for n, p in codec.named_parameters() if n.endswith("quantiles")]
        for p in aux:
            p.requires_grad_(True)
        loss_module: nn.Module = StageLoss(codec, stage, opts.distortion)
        if self.world > 1:
            loss_module = nn.parallel.DistributedDataParallel(loss_module, find_unused_parameters=True)
        optimizer = torch.optim.Adam(params, lr=stage.lr) if params else None
        aux_optimizer = torch.optim.Adam(aux, lr=1e-3)
        rng = np.random.default_rng([worker_seed(opts.seed), list(STAGES).index(stage.name), start])
        if ckpt is not None and ckpt.get("optimizer") and optimizer is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
            aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
        codec.train()
        started = time.perf_counter()
        last: dict[str, float] = {}  # the motion stage alternates losses: log the latest of each
        for it in range(start, total):
            q = int(rng.integers(codec.config.qualities))
            if stage.name == "motion" and synthetic is not None and (it % 2 == 0 or clips is None):
                batch = synthetic.sample(rng, opts.batch, opts.crop)
            else:
                batch = clips.sample(rng, opts.batch, stage.frames, opts.crop)
            frames = batch.frames.to(opts.device)
            flow = batch.flow.to(opts.device) if batch.flow is not None else None
            loss, stats = loss_module(frames, flow, q)
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
            aux_loss = codec.aux_loss()
            aux_optimizer.zero_grad()
            aux_loss.backward()
            aux_optimizer.step()
            last.update(stats)
            self.report(stage.name, it + 1, total, stats)
            if (it + 1) % opts.checkpoint_every == 0 or it + 1 == total:
                progress = {**state, "stage": stage.name, "iteration": it + 1}
                self._save(codec, progress, optimizer, aux_optimizer)
                self._log({"event": "step", "stage": stage.name, "iteration": it + 1, "q": q,
                           "seconds": time.perf_counter() - started, **last})

    def _record(self) -> dict[str, Any]:
        """This run, as the last entry of the lineage."""
        opts = self.opts
        return {"model": list(opts.spec.plugins), "stages": list(opts.stages),
                "iterations": {s: opts.iterations.get(s, opts.iterations.get("*", 0))
                               for s in opts.stages},
                "batch": opts.batch * self.world, "crop": opts.crop, "distortion": opts.distortion,
                "lambdas": list(Config.from_preset(opts.spec.preset).lambdas),
                "data": [p.name for p in training_files(opts.data)],
                "hardware": _hardware(opts.device, self.world), "seconds": 0.0}

    def current_lineage(self) -> list[dict[str, Any]]:
        """The lineage with this run's wall time so far."""
        seconds = self._seconds_before + time.perf_counter() - self._started
        return [*self.lineage[:-1], {**self.lineage[-1], "seconds": round(seconds, 1)}]

    def _save(self, codec, progress, optimizer, aux_optimizer) -> None:
        if self.rank != 0:
            return
        _atomic_save({"model": codec.state_dict(), "progress": progress,
                      "lineage": self.current_lineage(),
                      "optimizer": optimizer.state_dict() if optimizer else None,
                      "aux_optimizer": aux_optimizer.state_dict() if aux_optimizer else None},
                     self.checkpoint)


def _hardware(device: str, world: int) -> str:
    import platform
    if device == "cuda":
        chip = torch.cuda.get_device_name()
    else:
        chip = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return f"{chip} ({device})" + (f" x {world} processes" if world > 1 else "")


def default_stages(codec_has_post_filter: bool) -> list[str]:
    return [s for s in STAGES if s != "post-filter" or codec_has_post_filter]


def parse_iterations(text: str) -> dict[str, int]:
    """``"500"`` (every stage) or ``"motion=2000,joint=500"``."""
    try:
        if "=" not in text:
            return {"*": int(text)}
        pairs = dict(item.split("=", 1) for item in text.split(","))
        return {k: int(v) for k, v in pairs.items()}
    except ValueError as e:
        raise ZooError(f"--iterations {text!r}: give N or stage=N,stage=N") from e


def export(codec: nn.Module, name: str, recipe: dict[str, Any], half: bool = False) -> tuple[Path, str]:
    """Write ``weights/<name>.safetensors`` and record it, its sha256 and the recipe
    in ``registry.toml``."""
    from .registry import registry_path, update_registry
    from .weights import save_weights
    codec.update(force=True)
    registry = registry_path()
    path = registry.parent / "weights" / f"{name}.safetensors"
    sha = save_weights(codec, path, half=half)
    update_registry(name, {"weights": f"weights/{path.name}", "sha256": sha, "recipe": recipe}, registry)
    return path, sha
