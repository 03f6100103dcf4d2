"""How good is a trained motion estimator? Against predicting no motion at all.

End-point error on synthetic motion with known flow (scikit-image stills, as in
training, other random draws), and the PSNR of the warped previous frame on
consecutive frames of clips it was not trained on:

    python scripts/motion_check.py runs/shared-motion/defaults/checkpoint.pt \
        --clips ../shared/data/dev/*.y4m zoo/samples/carphone_176x144.mp4
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zoo.build import ModelSpec, build_codec
from zoo.color import yuv420_to_rgb
from zoo.datasets import SyntheticMotion, load_stills
from zoo.layers import warp
from zoo.train import load_matching
from zoo.video import read_clip


def psnr(mse: float) -> float:
    return 10 * math.log10(1 / max(mse, 1e-10))


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--clips", nargs="+", required=True)
    parser.add_argument("--frames", type=int, default=10)
    args = parser.parse_args()
    codec = build_codec(ModelSpec())
    load_matching(codec, Path(args.checkpoint))
    estimate = codec.motion_estimation.eval()

    rng = np.random.default_rng(12345)
    batch = SyntheticMotion(load_stills()).sample(rng, 32, 128)
    ref, cur, flow = batch.frames[:, 0], batch.frames[:, 1], batch.flow[:, 0]
    epe = (estimate(cur, ref) - flow).norm(dim=1).mean()
    print(f"synthetic motion, 32 crops of 128x128: EPE {float(epe):.2f} px "
          f"(no motion: {float(flow.norm(dim=1).mean()):.2f} px)")

    for path in args.clips:
        clip = read_clip(path, args.frames)
        frames = [yuv420_to_rgb(*planes) for planes in clip.frames]
        h, w = frames[0].shape[-2:]
        ph, pw = -(-h // 16) * 16, -(-w // 16) * 16  # the pyramid halves 3 times
        pad = [F.pad(f, (0, pw - w, 0, ph - h), mode="replicate") for f in frames]
        warped = [F.mse_loss(warp(r, estimate(x, r))[..., :h, :w], x[..., :h, :w])
                  for r, x in zip(pad, pad[1:])]
        still = [F.mse_loss(r[..., :h, :w], x[..., :h, :w]) for r, x in zip(pad, pad[1:])]
        print(f"{path}: warped previous frame {psnr(float(np.mean(warped))):.2f} dB "
              f"(previous frame as it is: {psnr(float(np.mean(still))):.2f} dB)")


if __name__ == "__main__":
    main()
