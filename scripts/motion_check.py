"""How good is a motion estimator? Trained SpyNet against DIS and against no motion.

Three measures, each for every estimator: the end-point error (EPE) on
synthetic motion with known flow (scikit-image stills, as in training, other
random draws); the EPE against real ground truth (Middlebury Dimetrodon and
RubberWhale, ``flow10.flo``, frame 10 to 11, unknown flow left out); and the
PSNR of the warped previous frame on consecutive frames of clips nobody trained
on. SpyNet comes from a registry model (``--model``, weights verified) or a
training checkpoint; ``dis-flow`` is the plugin at each ``--dis-presets``.

    python scripts/motion_check.py --model cmfr2025-baseline \
        --clips ../shared/data/dev/*.y4m --flow ../shared/data/flow/middlebury --frames 0
    python scripts/motion_check.py runs/shared-motion/defaults/checkpoint.pt \
        --clips ../shared/data/dev/*.y4m zoo/samples/carphone_176x144.mp4
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.core.build import ModelSpec, build_codec
from zoo.core.models import open_model
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import read_clip
from zoo.nn.layers import warp
from zoo.train.datasets import SyntheticMotion, load_stills
from zoo.train.trainer import load_matching

Estimator = Callable[[Tensor, Tensor], Tensor]  #: (x, ref) -> flow with warp(ref, flow) ≈ x
UNKNOWN_FLOW = 1e9  #: Middlebury marks pixels without ground truth with larger values


def psnr(mse: float) -> float:
    return 10 * math.log10(1 / max(mse, 1e-10))


def padded(x: Tensor, multiple: int = 16) -> Tensor:
    """Replicate-pad right and bottom (SpyNet's pyramid halves 3 times)."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="replicate")


def estimators(args: argparse.Namespace) -> dict[str, Estimator]:
    found: dict[str, Estimator] = {}
    for name in args.model:
        found[f"spynet ({name})"] = open_model(name).codec.motion_estimation
    if args.checkpoint:
        codec = build_codec(ModelSpec())
        load_matching(codec, Path(args.checkpoint))
        found[f"spynet ({Path(args.checkpoint).name})"] = codec.motion_estimation.eval()
    for preset in filter(None, args.dis_presets.split(",")):
        codec = build_codec(ModelSpec(("dis-flow",), options={"dis-flow": {"preset": preset}}))
        found[f"dis-flow ({preset})"] = codec.motion_estimation
    return found


def synthetic_epe(estimate: Estimator, batch) -> float:
    ref, cur, flow = batch.frames[:, 0], batch.frames[:, 1], batch.flow[:, 0]
    return float((estimate(cur, ref) - flow).norm(dim=1).mean())


def read_png(path: Path) -> Tensor:
    rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255


def middlebury(folder: Path) -> tuple[Tensor, Tensor, Tensor]:
    """Frame 10 (x), frame 11 (ref) and the flow with warp(frame 11, flow) ≈ frame 10."""
    flow = torch.from_numpy(cv2.readOpticalFlow(str(folder / "flow10.flo"))).permute(2, 0, 1)[None]
    return read_png(folder / "frame10.png"), read_png(folder / "frame11.png"), flow


def middlebury_epe(estimate: Estimator, x: Tensor, ref: Tensor, flow: Tensor) -> tuple[float, float]:
    """EPE over the pixels with ground truth; PSNR of frame 11 warped onto frame 10."""
    h, w = x.shape[-2:]
    found = estimate(padded(x), padded(ref))[..., :h, :w]
    known = (flow.abs() < UNKNOWN_FLOW).all(dim=1)
    epe = float((found - flow).norm(dim=1)[known].mean())
    return epe, psnr(float(F.mse_loss(warp(ref, found), x)))


def warped_psnr(estimate: Estimator, frames: list[Tensor]) -> tuple[float, float]:
    """PSNR of the warped previous frames; milliseconds per estimate."""
    h, w = frames[0].shape[-2:]
    pad = [padded(f) for f in frames]
    mses, seconds = [], 0.0
    for r, x in zip(pad, pad[1:]):
        started = time.perf_counter()
        flow = estimate(x, r)
        seconds += time.perf_counter() - started
        mses.append(float(F.mse_loss(warp(r, flow)[..., :h, :w], x[..., :h, :w])))
    return psnr(float(np.mean(mses))), 1000 * seconds / len(mses)


def table(title: str, columns: list[str], rows: dict[str, list[str]]) -> None:
    print(f"\n{title}\n")
    print("| estimator | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", help="a training checkpoint (or safetensors) for SpyNet")
    parser.add_argument("--model", action="append", default=[],
                        help="a registry model whose (trained) SpyNet to check (repeatable)")
    parser.add_argument("--dis-presets", default="ultrafast,fast,medium",
                        help="dis-flow presets to check, comma-separated ('' for none)")
    parser.add_argument("--clips", nargs="*", default=[])
    parser.add_argument("--flow", help="a folder of Middlebury sequences (each with flow10.flo)")
    parser.add_argument("--frames", type=int, default=10, help="frames per clip (0: all)")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    found = estimators(args)
    if not found:
        parser.error("nothing to check: give a checkpoint, --model or --dis-presets")
    none: Estimator = lambda x, ref: x.new_zeros(x.shape[0], 2, *x.shape[-2:])  # noqa: E731
    everyone = {**found, "no motion": none}

    rng = np.random.default_rng(12345)
    batch = SyntheticMotion(load_stills()).sample(rng, 32, 128)
    table("Synthetic motion (32 crops of 128x128, affine + moving patch, up to 6 px): EPE in px",
          ["EPE"], {name: [f"{synthetic_epe(e, batch):.2f}"] for name, e in everyone.items()})

    if args.flow:
        folders = sorted(p.parent for p in Path(args.flow).glob("*/flow10.flo"))
        data = {f.name: middlebury(f) for f in folders}
        rows = {name: [] for name in everyone}
        for name, e in everyone.items():
            for x, ref, flow in data.values():
                epe, quality = middlebury_epe(e, x, ref, flow)
                rows[name] += [f"{epe:.2f}", f"{quality:.2f}"]
        truth = [psnr(float(F.mse_loss(warp(ref, flow.masked_fill(flow.abs() >= UNKNOWN_FLOW, 0)), x)))
                 for x, ref, flow in data.values()]
        rows["ground truth (unknown pixels: 0)"] = [c for t in truth for c in ("0", f"{t:.2f}")]
        columns = [c for f in data for c in (f"{f} EPE", f"{f} warped PSNR")]
        table("Middlebury ground truth (frame 10 from frame 11): EPE in px over known pixels, "
              "PSNR-RGB of frame 11 warped onto frame 10 in dB", columns, rows)

    if args.clips:
        clips = {Path(p).stem: read_clip(p, args.frames or None) for p in args.clips}
        frames = {k: [yuv420_to_rgb(*planes) for planes in c.frames] for k, c in clips.items()}
        largest = max(frames, key=lambda k: frames[k][0].numel())
        rows = {}
        for name, e in list(found.items()) + [("no motion", none)]:
            results = {k: warped_psnr(e, f) for k, f in frames.items()}
            rows[name] = [f"{quality:.2f}" for quality, _ in results.values()]
            rows[name].append(f"{results[largest][1]:.0f}" if name in found else "")
        table("Warped previous frame on consecutive frames: PSNR-RGB in dB (mean MSE over "
              f"the pairs); the estimator's time per pair of {largest}, "
              f"{torch.get_num_threads()} torch thread(s)",
              [f"{k} ({len(f) - 1} pairs)" for k, f in frames.items()] + ["ms / pair"], rows)


if __name__ == "__main__":
    main()
