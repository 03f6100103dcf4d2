"""`--search` (zoo.core.search, encoder-side input substitution) measured against plain
encoding: each clip coded at the given qualities with and without it, in sequence mode
(``round_trip``: written, read back, decoded by a model opened from the stream, which
knows nothing of the search), and the BD-rate of the one against the other.

    python scripts/input_substitution.py cmfr2025-cmfr ../shared/data/dev/park_160x80_25.y4m \\
        --qualities 0,2,4 --steps 10
"""

from __future__ import annotations

import argparse
import time

import torch

from zoo.core.coding import round_trip
from zoo.core.metrics import bits_per_pixel
from zoo.core.models import open_model
from zoo.core.search import Search
from zoo.eval.compare import bd
from zoo.io.video import read_clip


def measure(name: str, path: str, qualities: list[int], search: Search | None) -> list[dict]:
    model, clip = open_model(name).use_search(search), read_clip(path)
    rows = []
    for q in qualities:
        start = time.perf_counter()
        trip = round_trip(model, clip, q, 0)
        p = [s for s in trip.stats if s.kind == "P"]
        rows.append({"q": q, "bpp": bits_per_pixel(len(trip.data), clip.width, clip.height, len(trip.stats)),
                     "psnr": sum(s.psnr_rgb for s in trip.stats) / len(trip.stats),
                     "drift": p[-1].psnr_rgb - p[0].psnr_rgb, "seconds": time.perf_counter() - start})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--qualities", default="0,2,4")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    qualities, search = [int(q) for q in args.qualities.split(",")], Search(args.steps)
    print(f"{args.model}: --search {search.steps} (Adam, lr {search.lr}) against none, qualities {qualities}")
    print("| clip | q | bpp | PSNR-RGB | drift, dB | seconds | --search: bpp | PSNR-RGB | drift | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in args.clips:
        name = path.rsplit("/", 1)[-1]
        plain, searched = measure(args.model, path, qualities, None), measure(args.model, path, qualities, search)
        for a, b in zip(plain, searched):
            print(f"| {name} | {a['q']} | {a['bpp']:.4f} | {a['psnr']:.2f} | {a['drift']:+.2f} | "
                  f"{a['seconds']:.0f} | {b['bpp']:.4f} | {b['psnr']:.2f} | {b['drift']:+.2f} | {b['seconds']:.0f} |")
        figure = bd([a["bpp"] for a in plain], [a["psnr"] for a in plain],
                    [b["bpp"] for b in searched], [b["psnr"] for b in searched])
        print(f"| {name} | BD-rate PSNR-RGB | {figure.cell()} |", flush=True)


if __name__ == "__main__":
    main()
