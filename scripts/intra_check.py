"""I-frames: the x265-intra plugin against a registry model's trained learned intra codec.

Codes one frame of each clip as an I-frame at every quality index with each
codec through the zoo's own path (``encode_clip``: the frame converted to RGB,
padded, coded, the bytes decoded again and checked equal to the encoder's
reconstruction), and measures what ``zoo eval`` measures on the decoded 8-bit
frame. The rate is the I-frame's coded bytes (its latent strings: the HEVC
picture for x265-intra, the y and z strings for the learned codec), no
container, over the unpadded pixels:

    python scripts/intra_check.py --model cmfr2025-baseline \
        --clips ../shared/data/dev/*.y4m ../shared/data/train/basketball_gym_426x240.264
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from zoo.core.build import ModelSpec
from zoo.core.coding import encode_clip, frame_stats, to_clip
from zoo.core.models import open_model
from zoo.core.sequence import decode_records
from zoo.io.video import Clip, read_clip


def code(model, clip: Clip, quality: int, seconds: list[float]) -> tuple[float, float]:
    """(bpp, PSNR-RGB) of the clip's one frame coded as an I-frame; adds the encode
    and decode seconds to ``seconds``."""
    started = time.perf_counter()
    _, records, recon = encode_clip(model, clip, quality, intra_period=0)
    encoded = time.perf_counter()
    decoded = list(decode_records(model.codec, records, clip.height, clip.width, quality))
    seconds[0] += encoded - started
    seconds[1] += time.perf_counter() - encoded
    if not torch.equal(decoded[0], recon[0]):
        raise SystemExit(f"{model.name or model.spec.plugins}: the decoder's frame differs")
    size = sum(len(s) for strings in records[0].payload.latents.values() for s in strings)
    stats = frame_stats(clip, to_clip(recon, clip.width, clip.height, clip.fps), records, [size])[0]
    return stats.bpp, stats.psnr_rgb


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cmfr2025-baseline",
                        help="the registry model whose learned intra codec to compare")
    parser.add_argument("--clips", nargs="+", required=True)
    parser.add_argument("--frame", type=int, default=0, help="which frame of each clip")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    learned = open_model(args.model)
    x265 = open_model(spec=ModelSpec(("x265-intra",)), untrained=True)  # its intra has no weights
    print(f"| clip (frame {args.frame}) | q | {args.model} intra bpp | PSNR-RGB | "
          f"x265-intra QP | bpp | PSNR-RGB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    times = [[0.0, 0.0], [0.0, 0.0]]
    for path in args.clips:
        full = read_clip(path, args.frame + 1)
        clip = Clip([full.frames[args.frame]], full.width, full.height, full.fps)
        for q in range(learned.codec.qualities):
            (lb, lp), (xb, xp) = code(learned, clip, q, times[0]), code(x265, clip, q, times[1])
            qp = x265.codec.intra_coding.qps[q]
            print(f"| {Path(path).name} ({clip.width}x{clip.height}) | {q} | {lb:.3f} | {lp:.2f} "
                  f"| {qp} | {xb:.3f} | {xp:.2f} |")
    points = len(args.clips) * learned.codec.qualities
    print(f"\nseconds per I-frame, encode / decode ({torch.get_num_threads()} torch thread(s)): "
          + ", ".join(f"{name} {enc / points:.3f} / {dec / points:.3f}"
                      for name, (enc, dec) in zip((args.model, "x265-intra"), times)))


if __name__ == "__main__":
    main()
