"""Decode MACs per pixel of registry models' P-frames, by part (the convolutions
of ``zoo speed --profile-ops``, counted on untrained weights: MACs do not depend
on them, so this runs on a fresh clone).

    python scripts/macs_per_pixel.py [--size 416x240] [--json FILE] [MODEL ...]
    python scripts/macs_per_pixel.py --depth 4 feng2020-m1    # module by module, 4 levels down
"""

from __future__ import annotations

import argparse
import json
import warnings

import torch

from zoo.core.registry import load_registry
from zoo.io.atomic import write_text
from zoo.eval.speed.measure import ZOO_PARTS, _ZooCodec, conv_macs, load_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="registry models (default: every one)")
    parser.add_argument("--size", default="416x240")
    parser.add_argument("--json", help="also write the table here")
    parser.add_argument("--depth", type=int, default=1,
                        help="split by modules this many levels down (1: the slots)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    names = args.models or list(load_registry())
    frames = load_frames(width, height, 3)
    table = {}
    if args.depth == 1:
        print(f"| model | MACs/pixel | {' | '.join(ZOO_PARTS)} |")
        print("|---|---:|" + "---:|" * len(ZOO_PARTS))
    for name in names:
        codec = _ZooCodec(name, "cpu")
        with torch.inference_mode():
            records = [record for record, _, _ in codec.encode(frames)]
            parts = conv_macs(codec, records, height, width, args.depth)
        table[name] = {"total": sum(parts.values()), **parts}
        if args.depth == 1:
            cells = " | ".join(f"{parts.get(p, 0) / 1e3:.1f}k" for p in ZOO_PARTS)
            print(f"| {name} | {table[name]['total'] / 1e3:.1f}k | {cells} |", flush=True)
        else:
            print(f"{name}: {table[name]['total'] / 1e3:.1f}k", flush=True)
            for part, value in parts.items():
                print(f"  {part}: {value / 1e3:.2f}k", flush=True)
    if args.json:
        write_text(args.json, json.dumps({"size": args.size, "macs_per_pixel": table}, indent=1))


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=FutureWarning)
    main()
