"""How well is the flow coded? block-motion against a learned flow autoencoder.

For pairs of consecutive frames, DIS (the ``dis-flow`` plugin) estimates the
flow of the current frame from the previous one; each motion coder codes it
and the previous frame is warped by the decoded flow (``zoo.layers.warp``).
Reported per method: the mean bits per pixel of the real strings (``compress``,
not the likelihoods' estimate) and the mean PSNR-RGB of the warped prediction
against the current frame, over all pairs. Rows: no motion (the previous frame
as it is), DIS uncoded (the upper bound of any coder of this flow),
``block-motion`` at each quality (as it codes by default; without its rate-distortion
vector choice; with the flow's block averages as vectors, not fitted), and the motion
coding of a registry model
(``--model``, trained weights, verified) at each quality. No motion refinement:
the prediction from the coded flow alone.

By default the pairs are random 256x256 crops of consecutive training frames
(``zoo.datasets``, seeded, at most 40 frames per clip, as the zoo trains); with
``--clips``, consecutive full frames of those clips, cropped to a multiple of 16
(the registry model's coder is given the flow replicate-padded to a multiple of
64, as the pipeline pads frames, and its output cropped back; bpp counts the
cropped pixels).

    OMP_NUM_THREADS=1 python scripts/motion_coding_check.py --crops 64 --model feng2020-m1
    OMP_NUM_THREADS=1 python scripts/motion_coding_check.py --clips ../shared/data/dev/*.y4m \
        --frames 0 --json motion_coding.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.core.build import ModelSpec, build_codec
from zoo.core.models import open_model
from zoo.io.atomic import atomic_write
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import read_clip
from zoo.nn.layers import warp
from zoo.slots import Reference
from zoo.train.datasets import ClipDataset, training_files

#: (flow, q) -> (strings, flow_hat), a motion coder's ``compress``
Coder = Callable[[Tensor, int, Reference], tuple[list[bytes], Tensor]]


def psnr(a: Tensor, b: Tensor) -> float:
    return 10 * math.log10(1 / max(float(F.mse_loss(a, b)), 1e-10))


def crop_pairs(count: int, crop: int, seed: int) -> Iterator[tuple[str, Tensor, Tensor]]:
    """(label, ref, x) for ``count`` random crops of two consecutive training frames."""
    data = ClipDataset(training_files([]), crop, 40)
    rng = np.random.default_rng(seed)
    frames = data.sample(rng, count, 2).frames
    for i in range(count):
        yield f"crop {i}", frames[i:i + 1, 0], frames[i:i + 1, 1]


def clip_pairs(paths: list[str], frames: int) -> Iterator[tuple[str, Tensor, Tensor]]:
    """(label, ref, x) for consecutive full frames of each clip, cropped to a multiple of 16."""
    for path in paths:
        clip = read_clip(path, frames or None)
        h, w = clip.height // 16 * 16, clip.width // 16 * 16
        rgb = [yuv420_to_rgb(*planes)[..., :h, :w] for planes in clip.frames]
        for i, (ref, x) in enumerate(zip(rgb, rgb[1:])):
            yield f"{Path(path).stem} {i + 1}", ref, x


def padded_coder(compress: Coder, multiple: int = 64) -> Coder:
    """``compress`` on the flow replicate-padded to ``multiple``; flow_hat cropped back."""
    def coder(flow: Tensor, q: int, ref: Reference) -> tuple[list[bytes], Tensor]:
        h, w = flow.shape[-2:]
        big = F.pad(flow, (0, -w % multiple, 0, -h % multiple), mode="replicate")
        frame = F.pad(ref.frame, (0, -w % multiple, 0, -h % multiple), mode="replicate")
        strings, flow_hat = compress(big, q, Reference(frame=frame))
        return strings, flow_hat[..., :h, :w]
    return coder


def measure(pairs: Iterator[tuple[str, Tensor, Tensor]], estimate: Callable[[Tensor, Tensor], Tensor],
            coders: dict[str, tuple[Coder, int]]) -> tuple[dict[str, dict[str, float]], int]:
    """Per row: mean bpp and mean warped PSNR over the pairs; and how many pairs."""
    sums: dict[str, list[float]] = {}

    def add(name: str, bits: float, pixels: int, quality: float) -> None:
        row = sums.setdefault(name, [0.0, 0.0, 0])
        row[0] += bits / pixels
        row[1] += quality
        row[2] += 1

    count = 0
    for _, ref, x in pairs:
        pixels = x.shape[-2] * x.shape[-1]
        flow = estimate(x, ref)
        add("no motion", 0, pixels, psnr(ref, x))
        add("DIS flow, uncoded", 0, pixels, psnr(warp(ref, flow), x))
        for name, (compress, qualities) in coders.items():
            for q in range(qualities):
                strings, flow_hat = compress(flow, q, Reference(frame=ref))
                add(f"{name} q{q}", 8 * sum(len(s) for s in strings), pixels, psnr(warp(ref, flow_hat), x))
        count += 1
    return {k: {"bpp": s[0] / s[2], "psnr": s[1] / s[2]} for k, s in sums.items()}, count


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="feng2020-m1",
                        help="a registry model whose (trained) motion coding to compare ('' for none)")
    parser.add_argument("--crops", type=int, default=64, help="random crops of training frames")
    parser.add_argument("--crop", type=int, default=256, help="crop size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clips", nargs="*", default=[], help="measure on these clips instead of crops")
    parser.add_argument("--frames", type=int, default=10, help="frames per clip (0: all)")
    parser.add_argument("--blocks", help="block-motion.blocks, e.g. 16,16,16,8,8 (default: the plugin's)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    options = {"block-motion": {"blocks": [int(b) for b in args.blocks.split(",")]}} if args.blocks else {}
    codec = build_codec(ModelSpec(("dis-flow", "x265-intra", "block-motion"), options=options)).eval()
    blocks = codec.motion_coding.blocks
    coders: dict[str, tuple[Coder, int]] = {"block-motion": (codec.motion_coding.compress, codec.qualities)}
    for name, change in (("rdo off", {"rdo": False}), ("block averages", {"fit": 0})):
        other = build_codec(ModelSpec(("dis-flow", "x265-intra", "block-motion"),
                                      options={"block-motion": {**options.get("block-motion", {}), **change}}))
        coders[f"block-motion, {name}"] = (other.motion_coding.compress, other.qualities)
    if args.model:
        learned = open_model(args.model).codec
        compress = learned.motion_coding.compress
        coders[f"{args.model} motion coding"] = (padded_coder(compress) if args.clips else compress,
                                                 learned.qualities)

    started = time.perf_counter()
    if args.clips:
        pairs = clip_pairs(args.clips, args.frames)
        source = (f"consecutive frames of {', '.join(Path(p).name for p in args.clips)} "
                  f"({'all' if not args.frames else f'at most {args.frames}'} frames per clip, "
                  f"cropped to a multiple of 16)")
    else:
        pairs = crop_pairs(args.crops, args.crop, args.seed)
        source = (f"{args.crops} random {args.crop}x{args.crop} crops of two consecutive training "
                  f"frames (seed {args.seed})")
    rows, count = measure(pairs, codec.motion_estimation, coders)
    seconds = time.perf_counter() - started

    print(f"\nMotion coding of DIS flow: {source}, {count} pairs; mean bpp of the real strings, "
          f"mean PSNR-RGB of the previous frame warped by the decoded flow "
          f"(block-motion blocks {list(blocks)}; {seconds:.0f} s)\n")
    print("| method | bpp | warped PSNR (dB) |")
    print("|---|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['bpp']:.4f} | {row['psnr']:.2f} |")
    if args.json:
        with atomic_write(args.json, "w") as f:
            json.dump({"source": source, "pairs": count, "blocks": list(blocks),
                       "model": args.model or None, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
