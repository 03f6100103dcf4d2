"""Bits of block-motion's vectors under its predictions and under H.264's median one (a study).

For each clip, P-frames 1..N: DIS flow from the source frame t-1 to t, the vectors
block-motion fits to frame t (``feng2020-m1``'s motion coder: 20 Adam steps, quarter-pel)
at blocks of 16 and 32 pixels; their errors under each prediction coded as block-motion
codes them (skip flags and Laplacian errors, scales and skip probability fitted per frame;
no rate-distortion choice, which makes more blocks skip in the zoo). Prints each clip's
bytes for the left prediction, today's choice per frame (left or temporal), the median of
left, above and above-right (above-left at the last column), and the best of the three
per frame. Measured in docs/plugins/block-motion.md:

    python scripts/mv_prediction.py FRAMES CLIP...
"""
import sys
import torch
import torch.nn.functional as F
from zoo.core.models import open_model
from zoo.io.video import read_clip
from zoo.io.color import yuv420_to_rgb
from zoo.slots import Reference

torch.set_num_threads(1)
model = open_model("feng2020-m1").codec
me, mc = model.motion_estimation, model.motion_coding


def median_prediction(v):
    a = F.pad(v[..., :, :-1], (1, 0))          # left
    b = F.pad(v[..., :-1, :], (0, 0, 1, 0))    # above
    c = F.pad(v[..., :-1, 1:], (0, 1, 1, 0))   # above-right
    c_left = F.pad(v[..., :-1, :-1], (1, 0, 1, 0))  # above-left, where above-right is missing
    c[..., -1] = c_left[..., -1]
    a[..., :, 0] = b[..., :, 0]                # first column: no left
    b[..., 0, :] = a[..., 0, :]                # first row: only left
    c[..., 0, :] = a[..., 0, :]
    return torch.stack((a, b, c)).median(0).values


def bits(r):
    return float(mc._bits(r, *mc._fit(r)).sum())


frames_n = int(sys.argv[1])
for path in sys.argv[2:]:
    clip = read_clip(path, frames_n + 1)
    xs = [yuv420_to_rgb(*f) for f in clip.frames]
    for block in (16, 32):
        tot = {"left": 0.0, "today": 0.0, "median": 0.0, "all3": 0.0}
        prev = None
        for t in range(1, len(xs)):
            with torch.inference_mode():
                flow = me(xs[t], xs[t - 1])
            v = mc._fitted(flow, block, xs[t - 1], xs[t])
            preds = mc._predictions(v, block, Reference(frame=xs[t - 1], flow=prev))
            left = bits(v - preds[0])
            temporal = bits(v - preds[1]) if 1 in preds else float("inf")
            med = bits(v - median_prediction(v))
            tot["left"] += left; tot["today"] += min(left, temporal)
            tot["median"] += med; tot["all3"] += min(left, temporal, med)
            prev = mc._dense(v, xs[t].shape[-2:])
        print(path.split("/")[-1], block, {k: round(v / 8) for k, v in tot.items()},
              f"all3 vs today {100 * (tot['all3'] / tot['today'] - 1):+.1f} %", flush=True)
