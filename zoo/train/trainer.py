"""Step-by-step training (Feng et al. 2020), resumable, optionally distributed.

Each stage trains some slot modules with the rest frozen, on its own loss:

=============  ==============================  =========================================
stage          trains                          loss
=============  ==============================  =========================================
intra          intra_coding                    R_intra + λ·d(x, x̂)
motion         motion_estimation               EPE on synthetic motion + warping MSE on clips
motion-coding  motion_coding                   R_motion + λ·MSE(warp(ref, floŵ), ref = x_prev)
reconstruction refinement, context, residual   λ·d(x, x̂): no rate (DCVC's second stage)
residual       refinement, context, residual   R_motion + R_residual + λ·d(x, x̂)
joint          every P-frame slot              R_motion + R_residual + λ·d(x, x̂)
multi-frame    every P-frame slot              the joint loss over cascaded P-frames
post-filter    post_filter                     d(x, x̂) with the codec frozen
=============  ==============================  =========================================

R is in bits per pixel, λ the quality's lambda (a random quality per step, so
one model learns every quality), d is 255²·MSE or (1 − MS-SSIM). The residual
and later stages code against the model's own intra reconstruction of the
previous frame (``--reference original``: against the original previous frame,
CLIC's P-frame protocol; ``mixed``: either, drawn per step, the original with
probability 0.5, or F with ``mixed:F``); motion coding warps
the original previous frame. A stage whose modules have no parameters
(``x265-intra``'s intra stage, ``dis-flow``'s motion stage) is skipped, and
``train.log`` says so.

The recipe: each stage's learning rate follows a :class:`Schedule` (linear
warm-up, then constant, cosine or a 10x step down), a function of the stage's
iteration, so a resumed stage continues it where it stopped (the entropy
bottlenecks' densities at ``density_lr`` times it); the multi-frame
stage follows a cascade curriculum (2, then 4, then 7 cascaded P-frames by
default), optionally weighting each P-frame's distortion; frozen slots run in
``eval()`` (their BatchNorm statistics stay put); every ``validate_every`` steps
the stage's loss, bpp and PSNR on a fixed set of training crops go to
``train.log`` (``zoo train-plot`` draws them), for P-frames with the PSNR of the
motion-compensated prediction (what the residual adds) and of the last cascaded
frame (what the cascade loses).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim
from torch import Tensor, nn

from zoo.core.build import ModelSpec, build_codec
from zoo.core.config import LAMBDAS, Config, ms_ssim_lambda
from zoo.core.manager import PLUGIN_TAG, Zoo
from zoo.core.registry import load_registry
from zoo.core.weights import file_spec, sha256_file, widened
from zoo.errors import ZooError
from zoo.io.atomic import atomic_write
from zoo.nn.gains import PER_QUALITY, across_ladders
from zoo.nn.layers import warp
from zoo.slots import Reference
from .auxiliary import auxiliary, densities
from .datasets import ClipDataset, SyntheticMotion, load_stills, pin, training_files, worker_seed

P_SLOTS = ("motion_estimation", "motion_coding", "motion_refinement", "temporal_context",
           "residual_domain")
SCHEDULES = ("constant", "cosine", "step")
#: The multi-frame stage's curriculum: (cascaded P-frames, fraction of its iterations).
CASCADE = ((2, 0.2), (4, 0.3), (7, 0.5))
#: The seed of the validation crops: the same crops for every run and resume.
VALIDATION_SEED = 20200614


@dataclass(frozen=True)
class Stage:
    name: str
    trains: tuple[str, ...]  #: codec attributes whose parameters train
    frames: int  #: frames per sample (the multi-frame stage: from its cascade)
    lr: float  #: base learning rate (``--lr`` overrides it)
    #: a plugin's stage: the loss of one coded P-frame, ``loss(x, out, distortion)``
    loss: Callable[[Tensor, dict, Callable[[Tensor, Tensor], Tensor]], Tensor] | None = None
    default: bool = True  #: run when ``--stages`` is not given


def _distortion_only(x: Tensor, out: dict, distortion: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """The reconstruction stage's loss. Without a rate term the latent grows until the
    decoder uses it: a conditional coder, whose decoder can lean on the context alone,
    otherwise settles on the prediction with an empty latent (issue 14's finding)."""
    return distortion(x, out["x_hat"])


STAGES = {s.name: s for s in (
    Stage("intra", ("intra_coding",), 1, 5e-4),
    Stage("motion", ("motion_estimation",), 2, 5e-4),
    Stage("motion-coding", ("motion_coding",), 2, 5e-4),
    Stage("reconstruction", ("motion_refinement", "temporal_context", "residual_domain"), 2, 5e-4,
          loss=_distortion_only),
    Stage("residual", ("motion_refinement", "temporal_context", "residual_domain"), 2, 5e-4),
    Stage("joint", P_SLOTS, 2, 1e-4),
    Stage("multi-frame", P_SLOTS, 0, 1e-4),
)}
#: The built-in stages that code no P-frame: plugins' loss terms do not apply to them.
FRAME_FREE = ("intra", "motion", "motion-coding")
#: What plugin stages may train: the codec attributes that hold a slot's module.
ATTRIBUTES = (*P_SLOTS, "post_filter", "intra_coding")
#: Where the modules of the slots that sit inside others are.
HOLDERS = {"fusion": ("residual_domain",),
           "entropy_model": ("intra_coding", "motion_coding", "residual_domain")}


@dataclass(frozen=True)
class LossTerm:
    """A plugin's loss term: ``weight * term(x, out)`` added per coded P-frame of ``stages``."""

    name: str
    term: Callable[[Tensor, dict], Tensor]
    stages: tuple[str, ...] = ("residual", "joint", "multi-frame")
    weight: float = 1.0


def _registered(kind: type, plugin: Any, args: tuple, fields: dict[str, Any]) -> Any:
    try:
        return kind(*args, **fields)
    except TypeError as e:
        raise ZooError(f"plugin {plugin.name!r} registered a {kind.__name__.lower()} "
                       f"the zoo cannot read: {e}") from None


def stage_table(spec: ModelSpec) -> dict[str, Stage]:
    """The built-in stages, then those the model's active plugins register
    (``zoo_register_stages``)."""
    table = dict(STAGES)
    config = Config.from_preset(spec.preset, spec.options, spec.lambdas)
    for plugin, args, fields in Zoo.load().select(spec.plugins).collect(
            "zoo_register_stages", config=config):
        stage = _registered(Stage, plugin, args, {"frames": 2, "lr": 1e-4, **fields})
        stage = replace(stage, trains=tuple(stage.trains))
        if stage.name in table:
            raise ZooError(f"plugin {plugin.name!r} registers stage {stage.name!r}, "
                           f"which this model already has")
        unknown = [t for t in stage.trains if t not in ATTRIBUTES]
        if unknown or not stage.trains or stage.frames < 2:
            raise ZooError(f"plugin {plugin.name!r}: stage {stage.name!r} must train some of "
                           f"{', '.join(ATTRIBUTES)} on 2 frames or more")
        table[stage.name] = stage
    return table


def loss_terms(spec: ModelSpec, stages: dict[str, Stage]) -> list[LossTerm]:
    """The loss terms the model's active plugins register (``zoo_register_losses``)."""
    config = Config.from_preset(spec.preset, spec.options, spec.lambdas)
    terms = []
    for plugin, args, fields in Zoo.load().select(spec.plugins).collect(
            "zoo_register_losses", config=config):
        term = _registered(LossTerm, plugin, args, fields)
        term = replace(term, stages=tuple(term.stages))
        bad = [s for s in term.stages if s not in stages or s in FRAME_FREE]
        if bad:
            raise ZooError(f"plugin {plugin.name!r}: loss term {term.name!r} names stage "
                           f"{bad[0]!r}, which is not a P-frame stage of this model")
        terms.append(term)
    return terms


@dataclass(frozen=True)
class Schedule:
    """A stage's learning rate at each iteration: a linear warm-up over the first
    ``warmup`` fraction of the stage, then constant, a cosine decay to 1/100, or a 10x
    step down for the last 20 % (as CompressAI's examples drop 10x on a plateau)."""

    kind: str
    lr: float
    warmup: float
    total: int

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ZooError(f"unknown schedule {self.kind!r} (schedules: {', '.join(SCHEDULES)})")

    def __call__(self, it: int) -> float:
        ramp = int(self.warmup * self.total)
        if it < ramp:
            return self.lr * (it + 1) / ramp
        progress = (it - ramp) / max(1, self.total - ramp)
        if self.kind == "cosine":
            return self.lr * (0.01 + 0.99 * (1 + math.cos(math.pi * progress)) / 2)
        if self.kind == "step":
            return self.lr * (0.1 if progress >= 0.8 else 1.0)
        return self.lr


def cascade_length(cascade: tuple[tuple[int, float], ...], it: int, total: int) -> int:
    """The number of cascaded P-frames at iteration ``it`` of ``total``."""
    edge = 0.0
    for p_frames, fraction in cascade:
        edge += fraction
        if it < edge * total:
            return p_frames
    return cascade[-1][0]


def bpp(likelihoods: dict[str, Tensor], pixels: int) -> Tensor:
    return sum(-torch.log2(lik).sum() for lik in likelihoods.values()) / pixels


class StageLoss(nn.Module):
    """The loss of one stage as a module, so DistributedDataParallel can wrap it.
    ``frame_weights`` weight the distortion of the 1st, 2nd, ... cascaded P-frame
    (cycled), as DCVC-DC weights the frames of its hierarchical quality cycle.
    ``reference`` is what each P-frame predicts from: ``"decoded"``, the model's own
    I-frame and then the cascade's decoded frames (low delay), or ``"original"``, the
    original previous frame (CLIC's P-frame protocol, ``zoo eval --mode pframe``), or
    ``"mixed"``/``"mixed:F"``: the caller says which, per call (``original``)."""

    def __init__(self, codec: nn.Module, stage: Stage, distortion: str,
                 frame_weights: tuple[float, ...] = (), terms: tuple[LossTerm, ...] = (),
                 reference: str = "decoded") -> None:
        super().__init__()
        self.codec, self.stage, self.distortion = codec, stage, distortion
        self.frame_weights = frame_weights
        self.reference = reference
        self.terms = terms  #: plugins' loss terms, added per coded P-frame

    def _d(self, x: Tensor, x_hat: Tensor, q: int) -> Tensor:
        lambdas = self.codec.config.lambdas
        if self.distortion == "ms-ssim":
            similarity = ms_ssim(x, x_hat.clamp(0, 1), data_range=1.0, win_size=7)
            return ms_ssim_lambda(lambdas, q) * (1 - similarity)
        return lambdas[q] * 255**2 * F.mse_loss(x, x_hat)

    def _reference(self, x: Tensor, q: int) -> Reference:
        with torch.no_grad():
            return self.codec.reference(self.codec.intra_forward(x, q)["x_hat"].clamp(0, 1))

    def forward(self, frames: Tensor, flow: Tensor | None, q: int,
                original: bool = False) -> tuple[Tensor, dict[str, float]]:
        codec, name = self.codec, self.stage.name
        original = self.reference == "original" or (self.reference != "decoded" and original)
        b, _, _, h, w = frames.shape
        pixels = b * h * w
        if name == "motion":
            ref, x = frames[:, 0], frames[:, 1]
            estimate = codec.motion_estimation(x, ref)
            if flow is not None:
                loss = (estimate - flow[:, 0]).norm(dim=1).mean()
                return loss, {"loss": float(loss.detach()), "epe": float(loss.detach())}
            loss = F.mse_loss(warp(ref, estimate), x)
            return loss, {"loss": float(loss.detach()), "warp_psnr": _psnr(loss.detach())}
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
        ref = None if original else self._reference(frames[:, 0], q)
        losses, stats = [], []
        for t in range(1, frames.shape[1]):
            x = frames[:, t]
            if original:
                ref = codec.reference(frames[:, t - 1])
            out = codec(x, ref, q)
            rate = sum(bpp(group, pixels) for group in out["likelihoods"].values())
            weight = self.frame_weights[(t - 1) % len(self.frame_weights)] if self.frame_weights else 1.0
            loss, stat = self._rd(rate, x, out["x_hat"], q, weight)
            if self.stage.loss is not None:
                loss = self.stage.loss(x, out, lambda a, b: self._d(a, b, q))
            stat["prediction_psnr"] = _psnr(F.mse_loss(x, out["aux"]["prediction"].detach().clamp(0, 1)))
            for term in self.terms:
                value = term.term(x, out)
                loss = loss + term.weight * value
                stat[term.name] = float(value.detach())
            losses.append(loss)
            stats.append(stat)
            ref = out["ref"]
        mean = {k: float(np.mean([s[k] for s in stats])) for k in stats[0]}
        return sum(losses) / len(losses), {**mean, "last_psnr": stats[-1]["psnr"]}

    def _rd(self, rate: Tensor, x: Tensor, x_hat: Tensor, q: int,
            weight: float = 1.0) -> tuple[Tensor, dict[str, float]]:
        loss = rate + weight * self._d(x, x_hat, q)
        return loss, {"loss": float(loss.detach()), "bpp": float(rate.detach()),
                      "psnr": _psnr(F.mse_loss(x.detach(), x_hat.detach().clamp(0, 1)))}


def _psnr(mse: Tensor) -> float:
    return 10 * math.log10(1 / max(float(mse), 1e-10))


@dataclass
class TrainOptions:
    spec: ModelSpec
    name: str
    stages: list[str]
    iterations: dict[str, int]  #: per stage, "*" for every stage
    out: Path
    data: list[str]
    batch: int = 4
    crop: int = 128
    downscale: float = 1.0  #: crops drawn from regions up to this many times larger (``ClipDataset``)
    distortion: str = "mse"
    device: str = "cpu"
    resume: bool = False
    init: list[Path] | None = None
    fresh: tuple[str, ...] = ()  #: plugins whose modules ``init`` leaves as built (``--init-from``)
    checkpoint_every: int = 50
    seed: int = 0  #: the crops drawn and the training noise
    threads: int = 0  #: torch threads (0: PyTorch's default)
    lr: dict[str, float] = field(default_factory=dict)  #: per stage, "*"; else the stage's own
    schedule: str = "cosine"
    warmup: float = 0.05  #: fraction of each stage's iterations
    cascade: tuple[tuple[int, float], ...] = CASCADE
    frame_weights: tuple[float, ...] = ()
    reference: str = "decoded"  #: P-frame stages: "decoded" (low delay), "original" (CLIC), "mixed[:F]"
    validate_every: int = 0  #: 0: no validation
    validation_crops: int = 8
    density_lr: float = 10.0  #: learning-rate factor of the factorized densities (``densities``)


def _per_stage(values: dict[str, Any], stage: str, default: Any) -> Any:
    return values.get(stage, values.get("*", default))


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


def trained_slots(lineage: list[dict[str, Any]], stages: dict[str, Stage] = STAGES) -> set[str]:
    """The codec attributes that the runs of ``lineage`` trained (stages by ``stages``)."""
    return {slot for run in lineage for stage in run.get("stages", ()) if stage in stages
            for slot in stages[stage].trains}


def checkpoint_lineage(ckpt: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs that produced a checkpoint's weights, oldest first."""
    if "lineage" in ckpt:
        return list(ckpt["lineage"])
    return [{"stages": list(ckpt.get("progress", {}).get("done", []))}]


def load_matching(codec: nn.Module, path: Path, stages: dict[str, Stage] = STAGES,
                  fresh: tuple[str, ...] = ()) -> tuple[list[str], list[dict[str, Any]]]:
    """Load the trained tensors of ``path`` that fit ``codec``: shared stages are
    reused instead of retrained. From a checkpoint, only the slots its runs
    trained (the rest are still their initial values); from safetensors, every
    tensor whose name and shape fit. The modules the plugins ``fresh`` built stay
    as they are. Per-quality tensors trained for another quality ladder (that of the
    checkpoint's last run, or the one a weights file records, or that of the registry
    model whose weights file it is; else the default) are carried to the codec's (``zoo.nn.gains.across_ladders``).
    Returns the names loaded and the lineage."""
    if path.suffix == ".safetensors":
        import safetensors.torch
        try:
            state = safetensors.torch.load_file(str(path))
        except Exception as e:
            raise ZooError(f"{path} is not a safetensors file this zoo can load "
                           f"({type(e).__name__})") from e
        lineage = [{"init": str(path), "sha256": sha256_file(path)}]
        ladder = tuple((file_spec(path) or {}).get("lambdas") or ()) or next(
            (e.spec.lambdas for e in load_registry().values() if e.sha256 == lineage[0]["sha256"]), ())
    else:
        ckpt = load_checkpoint(path)
        lineage = checkpoint_lineage(ckpt)
        slots = trained_slots(lineage, stages)
        state = {k: v for k, v in ckpt["model"].items() if k.split(".")[0] in slots}
        ladder = tuple(lineage[-1].get("lambdas", ())) if lineage else ()
    state = _to_ladder(codec, state, tuple(ladder) or LAMBDAS)
    own = codec.state_dict()
    kept = _built_by(codec, fresh)
    fitting = widened({k: v for k, v in state.items()
                       if k in own and own[k].shape == v.shape and k not in kept}, own)
    own.update(fitting)
    codec.load_state_dict(own)
    return sorted(fitting), lineage


def _to_ladder(codec: nn.Module, state: dict[str, Tensor], ladder: tuple[float, ...]) -> dict[str, Tensor]:
    """``state`` with the per-quality tensors of ``ladder`` carried to the codec's."""
    new = codec.config.lambdas if hasattr(codec, "config") else ladder
    if new == ladder:
        return state
    state = dict(state)
    for prefix, module in codec.named_modules():
        for name in getattr(module, PER_QUALITY, ()):
            key = f"{prefix}.{name}" if prefix else name
            if key in state and state[key].shape[0] == len(ladder):
                state[key] = across_ladders(state[key].float(), ladder, new)
    return state


def _built_by(codec: nn.Module, plugins: tuple[str, ...]) -> set[str]:
    """The state-dict keys of the modules that ``plugins`` built (see ``PLUGIN_TAG``)."""
    keys: set[str] = set()
    for prefix, module in codec.named_modules():
        if getattr(module, PLUGIN_TAG, (None,))[0] in plugins:
            keys |= {f"{prefix}.{k}" if prefix else k for k in module.state_dict()}
    return keys


class Trainer:
    """Runs the stages in order, checkpointing atomically; ``resume`` continues, as a new
    run in the lineage."""

    def __init__(self, opts: TrainOptions, report: Callable[[str, int, int, dict], None] | None = None):
        self.opts = opts
        self.report = report or (lambda *a: None)
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        opts.out.mkdir(parents=True, exist_ok=True)
        self.checkpoint = opts.out / "checkpoint.pt"
        self.log_path = opts.out / "train.log"
        self.skipped: list[str] = []  #: stages whose modules have no parameters (not run)
        self.history: list[dict[str, Any]] = []  #: the runs before this one
        self.record: dict[str, Any] | None = None  #: this run (None: it had nothing to train)
        self.stages = stage_table(opts.spec)  #: the built-in stages and the plugins'
        self.terms = loss_terms(opts.spec, self.stages)  #: the plugins' loss terms

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
        torch.manual_seed(worker_seed(opts.seed))  # the training noise (crops: per stage, below)
        state: dict[str, Any] = {"done": [], "stage": None, "iteration": 0}
        ckpt = None
        if opts.resume and self.checkpoint.is_file():
            ckpt = load_checkpoint(self.checkpoint, opts.device)
            codec.load_state_dict(ckpt["model"])
            state = ckpt["progress"]
            self.history = checkpoint_lineage(ckpt)
            self._log({"event": "resume", **state})
        else:
            self._log({"event": "start", "stages": opts.stages})
            for path in opts.init or ():
                keys, lineage = load_matching(codec, path, self.stages, opts.fresh)
                self.history += lineage
                self._log({"event": "init", "from": str(path), "tensors": len(keys)})
        self._started = time.perf_counter()
        if all(name in state["done"] for name in opts.stages):
            return codec
        files = training_files(opts.data)
        clips = ClipDataset(files, opts.crop, downscale=opts.downscale)
        for name, note in clips.upscaled.items():
            self._log({"event": "upscale", "file": name, "note": note})
        for name, note in clips.skipped.items():
            self._log({"event": "skip-clip", "file": name, "reason": note})
        self.record = self._record(pin(files), clips.upscaled)
        if ckpt is not None:
            check_pinned(self.history[-1], self.record["data"], self.checkpoint)
            self.record["resumed"] = {k: v for k, v in state.items() if v is not None}
        synthetic = SyntheticMotion(load_stills()) if "motion" in opts.stages else None
        for name in opts.stages:
            if name in state["done"]:
                continue
            start = state["iteration"] if state["stage"] == name else 0
            self._run_stage(codec, self.stages[name], start, clips, synthetic, state,
                            ckpt if start else None)
            state = {"done": [*state["done"], name], "stage": None, "iteration": 0}
            self._save(codec, state, None, None)
        return codec

    def _run_stage(self, codec, stage: Stage, start: int, clips, synthetic, state, ckpt) -> None:
        opts = self.opts
        total = _per_stage(opts.iterations, stage.name, 0)
        for p in codec.parameters():
            p.requires_grad_(False)
        modules = [getattr(codec, m) for m in stage.trains]
        # Declared auxiliary parameters (entropy bottlenecks' quantiles) fit by their own
        # loss; a frozen slot's stay as they are, like the rest of it.
        aux = auxiliary(modules)
        params = aux.excluded(p for m in modules for p in m.parameters())
        if not params:  # fixed modules (x265-intra, dis-flow): nothing to learn here
            self.skipped.append(stage.name)
            self._log({"event": "skip", "stage": stage.name,
                       "reason": f"no trainable parameters in {', '.join(stage.trains)}"})
            return
        for p in params + aux.parameters:
            p.requires_grad_(True)
        multi = stage.name == "multi-frame"
        share = original_share(opts.reference)
        terms = tuple(t for t in self.terms if stage.name in t.stages)
        loss_module: nn.Module = StageLoss(codec, stage, opts.distortion,
                                           opts.frame_weights if multi else (), terms,
                                           opts.reference)
        validator = loss_module
        if self.world > 1:
            loss_module = nn.parallel.DistributedDataParallel(loss_module, find_unused_parameters=True)
        schedule = Schedule(opts.schedule, _per_stage(opts.lr, stage.name, stage.lr), opts.warmup, total)
        fast = {id(p) for p in densities(modules)}
        groups = [{"params": [p for p in params if id(p) not in fast], "scale": 1.0},
                  {"params": [p for p in params if id(p) in fast], "scale": opts.density_lr}]
        optimizer = torch.optim.Adam([g for g in groups if g["params"]], lr=schedule(start))
        aux_optimizer = torch.optim.Adam(aux.parameters, lr=1e-3) if aux.parameters else None
        rng = np.random.default_rng([worker_seed(opts.seed), list(self.stages).index(stage.name),
                                     start])
        if ckpt is not None and ckpt.get("optimizer"):
            try:
                optimizer.load_state_dict(ckpt["optimizer"])
            except ValueError as e:  # a checkpoint from before the density group
                self._log({"event": "optimizer-restart", "stage": stage.name, "reason": str(e)})
            if aux_optimizer is not None:
                aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
        longest = max(p for p, _ in opts.cascade) + 1 if multi else stage.frames
        validation = (clips.sample(np.random.default_rng(VALIDATION_SEED), opts.validation_crops,
                                   longest).frames.to(opts.device)
                      if opts.validate_every and self.rank == 0 else None)
        if validation is not None and start == 0:
            self._validate(validator, validation, 0)
        _train_modes(codec, stage)
        started = time.perf_counter()
        sums: dict[str, list[float]] = {}  # stats since the last step record, averaged there
        for it in range(start, total):
            for group in optimizer.param_groups:
                group["lr"] = schedule(it) * group["scale"]
            q = int(rng.integers(codec.config.qualities))
            frames = cascade_length(opts.cascade, it, total) + 1 if multi else stage.frames
            if stage.name == "motion" and synthetic is not None and it % 2 == 0:
                batch = synthetic.sample(rng, opts.batch, opts.crop)
            else:
                batch = clips.sample(rng, opts.batch, frames)
            mixed = share not in (0.0, 1.0)
            original = mixed and bool(rng.random() < share)
            loss, stats = loss_module(batch.frames.to(opts.device),
                                      batch.flow.to(opts.device) if batch.flow is not None else None, q,
                                      original)
            if mixed:  # the step record's share of steps drawn in CLIC's protocol
                stats = {**stats, "original": float(original)}
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            if aux_optimizer is not None:
                aux_optimizer.zero_grad()
                aux.loss().backward()
                aux_optimizer.step()
            for k, v in stats.items():
                sums.setdefault(k, []).append(v)
            self.report(stage.name, it + 1, total, stats)
            if (it + 1) % opts.checkpoint_every == 0 or it + 1 == total:
                progress = {**state, "stage": stage.name, "iteration": it + 1}
                self._save(codec, progress, optimizer, aux_optimizer)
                self._log({"event": "step", "stage": stage.name, "iteration": it + 1, "q": q,
                           "frames": frames, "lr": schedule(it),
                           "seconds": time.perf_counter() - started,
                           **{k: float(np.mean(v)) for k, v in sums.items()}})
                sums = {}
            if validation is not None and ((it + 1) % opts.validate_every == 0 or it + 1 == total):
                self._validate(validator, validation, it + 1)
                _train_modes(codec, stage)

    def _validate(self, loss: StageLoss, frames: Tensor, iteration: int) -> None:
        """The stage's loss, bpp and PSNR on the validation crops, at every quality,
        with the codec in eval() (quantized by rounding, as it codes); a ``mixed`` run's
        also against the original previous frames, as ``original_loss`` etc."""
        loss.codec.eval()
        qualities = range(loss.codec.config.qualities)
        with torch.no_grad():
            per_quality = [loss(frames, None, q)[1] for q in qualities]
            original = ([loss(frames, None, q, True)[1] for q in qualities]
                        if loss.reference.startswith("mixed") and loss.stage.name not in FRAME_FREE
                        else [])
        mean = {k: float(np.mean([s[k] for s in per_quality])) for k in per_quality[0]}
        if original:
            mean.update({f"original_{k}": float(np.mean([s[k] for s in original]))
                         for k in ("loss", "bpp", "psnr")})
        self._log({"event": "validation", "stage": loss.stage.name, "iteration": iteration,
                   **mean, "per_quality": per_quality})

    def _record(self, data: dict[str, str], upscaled: dict[str, str]) -> dict[str, Any]:
        """This run, as the last entry of the lineage: its options and data (by sha256)."""
        opts = self.opts
        record: dict[str, Any] = {
            "model": list(opts.spec.plugins), "options": opts.spec.options, "stages": list(opts.stages),
            "iterations": {s: _per_stage(opts.iterations, s, 0) for s in opts.stages},
            "lr": {s: _per_stage(opts.lr, s, self.stages[s].lr) for s in opts.stages},
            "schedule": opts.schedule, "warmup": opts.warmup, "density_lr": opts.density_lr,
            "seed": opts.seed,
            "batch": opts.batch * self.world, "crop": opts.crop,
            "downscale": opts.downscale, "distortion": opts.distortion,
            "lambdas": list(Config.from_preset(opts.spec.preset, lambdas=opts.spec.lambdas).lambdas),
            "data": data, "hardware": _hardware(opts.device, self.world), "seconds": 0.0}
        if upscaled:
            record["upscaled"] = upscaled
        if "multi-frame" in opts.stages:
            record["cascade"] = [{"p_frames": p, "fraction": f} for p, f in opts.cascade]
            if opts.frame_weights:
                record["frame_weights"] = list(opts.frame_weights)
        if opts.reference != "decoded":
            record["reference"] = opts.reference
        if opts.validate_every:
            record["validation"] = {"every": opts.validate_every, "crops": opts.validation_crops}
        return record

    def current_lineage(self) -> list[dict[str, Any]]:
        """The lineage with this run's wall time so far."""
        if self.record is None:
            return list(self.history)
        seconds = round(time.perf_counter() - self._started, 1)
        return [*self.history, {**self.record, "seconds": seconds}]

    def _save(self, codec, progress, optimizer, aux_optimizer) -> None:
        if self.rank != 0:
            return
        _atomic_save({"model": codec.state_dict(), "progress": progress,
                      "lineage": self.current_lineage(),
                      "optimizer": optimizer.state_dict() if optimizer else None,
                      "aux_optimizer": aux_optimizer.state_dict() if aux_optimizer else None},
                     self.checkpoint)


def _train_modes(codec: nn.Module, stage: Stage) -> None:
    """The stage's slots in train(), the frozen ones in eval(): a frozen BatchNorm's
    statistics do not move."""
    codec.train()
    for name, child in codec.named_children():
        child.train(name in stage.trains)


def check_pinned(run: dict[str, Any], data: dict[str, str], source: Path) -> None:
    """The files that a resumed run trained on must still be there, unchanged."""
    pinned = run.get("data", {})
    if isinstance(pinned, list):  # a run recorded before data was pinned: names only
        pinned = dict.fromkeys(pinned)
    for name, sha in pinned.items():
        if name not in data:
            raise ZooError(f"{name}, in the recipe of {source}, is not in the training data now")
        if sha and data[name] != sha:
            raise ZooError(f"{name} changed since {source} trained on it "
                           f"(sha256 {sha[:12]}…, now {data[name][:12]}…)")


def _hardware(device: str, world: int) -> str:
    import platform
    if device == "cuda":
        chip = torch.cuda.get_device_name()
    else:
        chip = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return f"{chip} ({device})" + (f" x {world} processes" if world > 1 else "")


def default_stages(stages: dict[str, Stage], slots: tuple[str, ...] = ()) -> list[str]:
    """The stages run when ``--stages`` is not given; with ``slots``, only those that
    train a module of one of them (a new plugin on top of a trained model)."""
    held = {h for s in slots for h in HOLDERS.get(s, (s,))}
    return [name for name, stage in stages.items()
            if stage.default and (not slots or held & set(stage.trains))]


def parse_per_stage(text: str, option: str, kind: type,
                    stages: dict[str, Stage] = STAGES) -> dict[str, Any]:
    """``"500"`` (every stage) or ``"motion=2000,joint=500"``, values of type ``kind``."""
    try:
        if "=" not in text:
            return {"*": kind(text)}
        values = {k.strip(): kind(v) for k, v in (item.split("=", 1) for item in text.split(","))}
    except ValueError as e:
        raise ZooError(f"{option} {text!r}: give N or stage=N,stage=N") from e
    unknown = [k for k in values if k not in stages]
    if unknown:
        raise ZooError(f"{option}: unknown stage {unknown[0]!r} (stages: {', '.join(stages)})")
    return values


def original_share(reference: str) -> float:
    """The share of steps whose P-frames predict from the original previous frames:
    ``decoded`` 0, ``original`` 1, ``mixed`` 0.5, ``mixed:F`` F (0 < F < 1)."""
    fixed = {"decoded": 0.0, "original": 1.0, "mixed": 0.5}
    if reference in fixed:
        return fixed[reference]
    kind, _, share = reference.partition(":")
    try:
        value = float(share)
    except ValueError:
        value = -1.0
    if kind != "mixed" or not 0 < value < 1:
        raise ZooError(f"--reference {reference!r}: give decoded, original, mixed or mixed:F with 0 < F < 1")
    return value


def parse_cascade(text: str) -> tuple[tuple[int, float], ...]:
    """``"2:0.2,4:0.3,7:0.5"``: cascaded P-frames and the fraction of the multi-frame
    stage's iterations spent on them, in that order."""
    try:
        cascade = tuple((int(p), float(f)) for p, f in (item.split(":") for item in text.split(",")))
    except ValueError as e:
        raise ZooError(f"--cascade {text!r}: give P:FRACTION,P:FRACTION") from e
    if any(p < 1 or f <= 0 for p, f in cascade) or not math.isclose(sum(f for _, f in cascade), 1):
        raise ZooError(f"--cascade {text!r}: P-frames from 1, fractions above 0 that sum to 1")
    return cascade


def export(codec: nn.Module, name: str, recipe: dict[str, Any], half: bool = False,
           registry: Path | None = None, spec: ModelSpec | None = None) -> tuple[Path, str]:
    """Write ``weights/<name>.safetensors`` beside ``registry`` (default: the zoo's
    ``registry.toml``) and record it, its sha256 and the recipe there; with ``spec``,
    the model's plugins, preset, options and ladder too, there and in the file.
    The summary recorded for the weights it replaces (``results``) is dropped."""
    from zoo.core.registry import compact_recipe, registry_path, update_registry
    from zoo.core.weights import save_weights
    codec.update(force=True)
    registry = registry or registry_path()
    path = registry.parent / "weights" / f"{name}.safetensors"
    sha = save_weights(codec, path, half=half, spec=spec.to_dict() if spec else None)
    fields = spec.to_dict() if spec else {}
    update_registry(name, {**fields, "weights": f"weights/{path.name}", "sha256": sha,
                           "recipe": compact_recipe(recipe),
                           "results": None}, registry)  # measured on other weights
    return path, sha


#: What ``zoo train-plot`` draws, where a stage logs it.
PLOTTED = ("loss", "bpp", "psnr", "epe", "warp_psnr")


def plot_training(run: Path, output: Path) -> list[str]:
    """Draw the step and validation records of a run's ``train.log`` (since its last
    fresh start) into ``output``: one row per stage, one panel per quantity, against
    the stage's iteration. Returns the stages drawn."""
    from matplotlib.figure import Figure
    log = run / "train.log" if run.is_dir() else run
    if not log.is_file():
        raise ZooError(f"{run}: no train.log there")
    curves: dict[str, dict[tuple[str, str], dict[int, float]]] = {}
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by an interruption
            continue
        if record.get("event") == "start":
            curves = {}
        elif record.get("event") in ("step", "validation"):
            series = curves.setdefault(record["stage"], {})
            for key in PLOTTED:
                if key in record:  # a resumed stage's later record of an iteration wins
                    series.setdefault((record["event"], key), {})[record["iteration"]] = record[key]
    if not curves:
        raise ZooError(f"{log}: no step or validation records to draw")
    keys = {stage: [k for k in PLOTTED if any(k == key for _, key in series)]
            for stage, series in curves.items()}
    columns = max(len(k) for k in keys.values())
    fig = Figure(figsize=(4 * columns, 2.8 * len(curves)), layout="constrained")
    for row, (stage, series) in zip(fig.subplots(len(curves), columns, squeeze=False), curves.items()):
        for ax in row[len(keys[stage]):]:
            ax.axis("off")
        for ax, key in zip(row, keys[stage]):
            for event, style, label in (("step", ".-", "training"), ("validation", "o-", "validation")):
                points = sorted(series.get((event, key), {}).items())
                if points:
                    ax.plot(*zip(*points), style, label=label, markersize=3)
            ax.set_title(f"{stage}: {key}", fontsize="medium")
            ax.set_xlabel("iteration")
            ax.legend(fontsize="small")
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(output) as f:
        fig.savefig(f, dpi=100, format=output.suffix[1:].lower() or "png")
    return list(curves)
