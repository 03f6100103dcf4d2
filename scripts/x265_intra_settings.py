"""BD-rate of x265 intra settings against the x265-intra plugin's (preset medium).

Codes the first frame of each clip with libx265 (the plugin's code path:
zoo.eval.anchors.encode with its PARAMS) at QP 47 … 27 under each setting,
decodes it with PyAV and measures PSNR-RGB (or, ``--metric ms-ssim``, MS-SSIM
in dB); prints each setting's mean BD-rate (bjontegaard, pchip) against preset
medium. Measured in docs/plugins/x265-intra.md.

    python scripts/x265_intra_settings.py ../shared/data/train/foreman_352x288.264 ...
"""

import argparse
import math

import bjontegaard
import numpy as np

from zoo.core.metrics import ms_ssim_rgb, psnr_rgb
from zoo.eval.anchors import decode, encode
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import read_clip
from zoo.plugins.x265_intra import PARAMS

PSNR_TUNED = PARAMS + ":psy-rd=0:psy-rdoq=0:aq-mode=0"
SSIM_TUNED = PARAMS + ":psy-rd=0:psy-rdoq=0:aq-mode=2"  # x265's tune ssim
SETTINGS = {"medium": ("medium", PARAMS), "medium, psy and aq off": ("medium", PSNR_TUNED),
            "slow": ("slow", PARAMS), "slow, psy and aq off": ("slow", PSNR_TUNED),
            "veryslow, psy and aq off": ("veryslow", PSNR_TUNED),
            "veryslow, psy off, aq-mode 2": ("veryslow", SSIM_TUNED)}
METRICS = {"psnr-rgb": psnr_rgb,
           "ms-ssim": lambda x, x_hat: -10 * math.log10(max(1 - ms_ssim_rgb(x, x_hat), 1e-10))}
QPS = (47, 42, 37, 32, 27)


def curve(clip, preset: str, params: str, metric) -> tuple[list[float], list[float]]:
    x = yuv420_to_rgb(*clip.frames[0])
    rates, psnrs = [], []
    for qp in QPS:
        (data, _), = encode(clip, "x265", qp, preset, intra_period=1, params=params)[0]
        decoded, _ = decode(data, "x265", clip.width, clip.height)
        rates.append(8 * len(data) / (clip.width * clip.height))
        psnrs.append(metric(x, yuv420_to_rgb(*decoded.frames[0])))
    return rates, psnrs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--metric", choices=sorted(METRICS), default="psnr-rgb")
    args = parser.parse_args()
    curves = {name: [] for name in SETTINGS}
    for path in args.clips:
        clip = read_clip(path, max_frames=1)
        for name, (preset, params) in SETTINGS.items():
            curves[name].append(curve(clip, preset, params, METRICS[args.metric]))
    reference = curves.pop("medium")
    print(f"| x265 intra setting | BD-rate {args.metric.upper()} vs medium (mean) | per clip |\n|---|---:|---|")
    for name, runs in curves.items():
        bd = [bjontegaard.bd_rate(*ref, *run, method="pchip") for ref, run in zip(reference, runs)]
        print(f"| {name} | {np.mean(bd):+.1f} % | {' / '.join(f'{v:+.1f}' for v in bd)} |")


if __name__ == "__main__":
    main()
