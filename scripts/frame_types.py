"""I-frames and P-frames apart: where a results file's bits and quality go.

For each results file (zoo eval or zoo bench JSON) and rate point, the mean
over its sequences of the I-frames' and the P-frames' bpp and PSNR-RGB, the
P-frames' bpp split into motion, residual and side (framing, CRC, header;
"-" for anchors, whose streams are not split; I-frame columns "-" in p-frame mode),
the share of P-frames coded without a residual (skipped), and the PSNR drop from the
first P-frame to the last (error propagation; ``--span N``: from the mean of the
first N P-frames to the mean of the last N, which a sawtooth of skipped frames moves
less); ``--clip NAME``: that sequence alone (target 2's drift per quality):

    python scripts/frame_types.py docs/results/eval-cmfr2025.json docs/results/anchors-x264.json
    python scripts/frame_types.py --clip park_160x80_25 docs/results/eval-feng2020-msssim-m1.json
    python scripts/frame_types.py --clip park_160x80_25 --span 6 docs/results/eval-feng2020-msssim-m1.json
"""

from __future__ import annotations

import argparse
import json
from statistics import mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--clip", help="only this sequence (its name, e.g. park_160x80_25)")
    parser.add_argument("--span", type=int, default=1, metavar="N",
                        help="the drop from the mean of the first N P-frames to the last N's")
    args = parser.parse_args()
    if args.span < 1:
        parser.error("--span must be at least 1")
    print("| results | point | I bpp | I PSNR-RGB | P bpp | P motion | P residual | P side | "
          "P skipped | P PSNR-RGB | first P -> last P (dB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in args.results:
        report = json.load(open(path))
        sequences = [s for s in report["sequences"] if args.clip in (None, s["name"])]
        if not sequences:
            parser.error(f"{path}: no sequence named {args.clip}")
        for k, point in enumerate(sequences[0]["points"]):
            label = point.get("quality", point.get("qp"))
            rows = [s["points"][k] for s in sequences]
            p_frames = [[f for f in r["frames"] if f["kind"] == "P"] for r in rows]
            drop = mean(psnr(ps[-args.span:]) - psnr(ps[:args.span]) for ps in p_frames)
            split = [part(rows, name) for name in ("motion", "residual", "side")]
            print(f"| {report['name']} | {label} | {intra(rows, 'bpp', 3)} | {intra(rows, 'psnr_rgb', 2)} | "
                  f"{mean(r['summary']['P']['bpp'] for r in rows):.3f} | {' | '.join(split)} | "
                  f"{skipped(sum(p_frames, []))} | "
                  f"{mean(r['summary']['P']['psnr_rgb'] for r in rows):.2f} | {drop:+.2f} |")


def psnr(frames: list[dict]) -> float:
    return mean(f["psnr_rgb"] for f in frames)


def intra(rows: list[dict], key: str, digits: int) -> str:
    """Mean I-frame figure, or "-" where the rows have no I-frames (p-frame mode)."""
    if not all("I" in r["summary"] for r in rows):
        return "-"
    return f"{mean(r['summary']['I'][key] for r in rows):.{digits}f}"


def skipped(frames: list[dict]) -> str:
    """The share of P-frames whose record holds no residual, or "-" where records are not split."""
    if not all("bytes_split" in f for f in frames):
        return "-"
    return f"{mean('residual' not in f['bytes_split'] for f in frames):.0%}"


def part(rows: list[dict], name: str) -> str:
    """Mean P-frame bpp of one part of the records, or "-" where results have no split."""
    splits = [r["summary"]["P"].get("bpp_split") for r in rows]
    if not all(splits):
        return "-"
    return f"{mean(s.get(name, 0.0) for s in splits):.3f}"


if __name__ == "__main__":
    main()
