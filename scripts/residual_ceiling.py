"""What a model's residual domain can reconstruct at most, in CLIC's P-frame protocol.

Each P-frame of a clip predicts from the original previous frame (``zoo eval --mode
pframe``'s protocol, motion estimated and coded as the model codes it). Per model,
PSNR-RGB of: the residual domain's reconstruction with its latent rounded at each
quality (the training forward in eval mode; bpp is the entropy model's estimate for
the residual latent and its hyper-latent, not coded bytes); the prediction (with the
highest quality's motion); the reconstruction with that latent *unquantised* (the
transforms alone: a ceiling no rate reaches).

    python scripts/residual_ceiling.py ../shared/data/dev/parkjoy_480x256_50.y4m \\
        feng2020-msssim-m1 feng2020-msssim-m3 --frames 5
"""

from __future__ import annotations

import argparse
import sys

import torch

from zoo.core.metrics import psnr_rgb
from zoo.core.models import open_model
from zoo.core.pipeline import PFrameCodec, pad_to
from zoo.core.sequence import padded_size
from zoo.errors import ZooError
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import read_clip
from zoo.slots import Context


def ceiling(name: str, frames: list[torch.Tensor]) -> dict[str, float]:
    codec = next(m for m in open_model(name).codec.eval().modules() if isinstance(m, PFrameCodec))
    rd = codec.residual_domain
    h, w = frames[0].shape[-2:]
    size = padded_size(h, w)
    sums: dict[str, list[float]] = {}
    contexts: list[Context] = []  # the temporal context of each forward, as it gave it
    codec.temporal_context.register_forward_hook(lambda module, args, ctx: contexts.append(ctx))
    with torch.no_grad():
        for prev, x in zip(frames, frames[1:]):
            xp = pad_to(x, size)
            for q in range(codec.config.qualities):
                out = codec(xp, codec.reference(pad_to(prev, size)), q)
                likelihoods = out["likelihoods"]["residual"].values()
                bits = -sum(float(v.clamp_min(1e-9).log2().sum()) for v in likelihoods)
                x_hat = out["x_hat"][..., :h, :w].clamp(0, 1)
                sums.setdefault(f"q{q}", []).append(psnr_rgb(x, x_hat))
                sums.setdefault(f"q{q} bpp", []).append(bits / (h * w))
            ctx = contexts[-1]
            prepared = rd.prepare(ctx)
            x_rec = rd.synthesise(rd.analyse(xp, ctx, prepared), ctx, prepared)[0]
            for key, y in (("prediction (q top)", ctx.prediction), ("unquantised", x_rec)):
                sums.setdefault(key, []).append(psnr_rgb(x, y[..., :h, :w].clamp(0, 1)))
    return {k: sum(v) / len(v) for k, v in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--frames", type=int, default=5, help="frames read (P-frames: one fewer)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        frames = [yuv420_to_rgb(*planes) for planes in read_clip(args.clip, args.frames).frames]
        rows = {name: ceiling(name, frames) for name in args.models}
    except ZooError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    qualities = max(sum(k.endswith("bpp") for k in row) for row in rows.values())
    keys = [k for q in range(qualities) for k in (f"q{q}", f"q{q} bpp")] + [
        "prediction (q top)", "unquantised"]
    print("| model | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, row in rows.items():
        cells = ("-" if k not in row else f"{row[k]:.3f}" if "bpp" in k else f"{row[k]:.2f}"
                 for k in keys)
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
