"""How strongly does an untrained residual coder's latent respond to what it codes?

For each residual-domain plugin, the mean change of the latent ``y`` between coding
the frame and coding the prediction itself, per unit of mean |frame - prediction|,
on consecutive frames of the bundled clip: with the zoo's initialisation and with
PyTorch's default one (every convolution's ``reset_parameters()``). A latent has to
move by about half a quantisation step (0.5 at the highest quality) before it
carries anything; issue 14's conditional coders started at 0.004.

    python scripts/latent_gain.py
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.core.build import ModelSpec, build_codec
from zoo.io.color import yuv420_to_rgb
from zoo.io.video import read_clip
from zoo.slots import Reference

PLUGINS = ("pixel-residual", "feature-residual", "masked-residual", "conditional", "cmfr")
SAMPLE = "zoo/samples/carphone_176x144.mp4"


def latent_gain(codec: nn.Module, ref: torch.Tensor, x: torch.Tensor) -> float:
    rd = codec.residual_domain
    with torch.no_grad():
        ctx = codec.temporal_context(Reference(frame=ref), codec.motion_estimation(x, ref))
        prepared = rd.prepare(ctx)  # every built-in residual domain is a LatentResidualCoder
        moved, still = rd.analyse(x, ctx, prepared), rd.analyse(ctx.prediction, ctx, prepared)
    return float((moved - still).abs().mean() / (x - ctx.prediction).abs().mean())


def main() -> None:
    torch.set_num_threads(1)
    frames = [yuv420_to_rgb(*p)[..., :128, :176] for p in read_clip(SAMPLE, 2).frames]
    print("| residual domain | latent gain, zoo init | latent gain, PyTorch default init |")
    print("|---|---:|---:|")
    for plugin in PLUGINS:
        gains = []
        for default in (False, True):
            torch.manual_seed(0)
            codec = build_codec(ModelSpec(("dis-flow", "x265-intra", plugin))).eval()
            if default:
                for m in codec.residual_domain.modules():
                    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.weight.abs().sum() > 0:
                        m.reset_parameters()
            gains.append(latent_gain(codec, *frames))
        print(f"| `{plugin}` | {gains[0]:.3f} | {gains[1]:.3f} |")


if __name__ == "__main__":
    main()
