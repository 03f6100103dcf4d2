"""Does storing a model's weights as fp16 lose anything measurable?

Codes a clip with the registry model (its fp16 weights file, loaded into fp32
modules) and with the fp32 weights of the training checkpoint it was exported
from, at every quality, and prints the rate and PSNR of both:

    python scripts/precision_check.py cmfr2025 runs/models/cmfr2025/checkpoint.pt \
        --data ../shared/data/dev/vt2people_320x192_12.y4m
"""

from __future__ import annotations

import argparse
import dataclasses

from zoo.core.build import build_codec
from zoo.core.coding import encode_clip, frame_stats, summarise, to_clip
from zoo.core.models import open_model
from zoo.io import bitstream
from zoo.io.video import read_clip
from zoo.train.trainer import load_checkpoint


def measure(model, clip, quality: int) -> dict:
    header, records, recon = encode_clip(model, clip, quality, intra_period=0)
    data = bitstream.dumps(header, records)
    sizes = bitstream.record_sizes(data)
    stats = frame_stats(clip, to_clip(recon, clip.width, clip.height, clip.fps), records, sizes)
    return summarise(stats, len(data), clip.width, clip.height)["all"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("checkpoint")
    parser.add_argument("--data", required=True)
    parser.add_argument("--frames", type=int, default=10)
    args = parser.parse_args()
    clip = read_clip(args.data, args.frames)
    half = open_model(args.model)
    codec = build_codec(half.spec)
    codec.load_state_dict(load_checkpoint(args.checkpoint)["model"])
    codec.update(force=True)
    full = dataclasses.replace(half, codec=codec.eval(), sha256="0" * 64)
    print("quality | bpp fp32 | bpp fp16 | PSNR-RGB fp32 | PSNR-RGB fp16 | delta dB")
    for q in range(half.codec.qualities):
        a, b = measure(full, clip, q), measure(half, clip, q)
        print(f"{q} | {a['bpp']:.4f} | {b['bpp']:.4f} | {a['psnr_rgb']:.3f} | {b['psnr_rgb']:.3f} | "
              f"{b['psnr_rgb'] - a['psnr_rgb']:+.3f}")


if __name__ == "__main__":
    main()
