"""Encoder-side search: each P-frame's input substituted before it is coded.

Wang et al., "Substitutional Neural Image Compression" (2021), optimise the image
an encoder is given; Lu et al., "Content Adaptive and Error Propagation Aware Deep
Video Compression" (ECCV 2020), adapt a video encoder to each frame. Here the
input of the residual domain is optimised by Adam for the frame's cost under the
MSE models' training objective: the rate of the residual latents (the entropy
models' uniform-noise proxy, as in training) plus λ·255²·MSE of the post-filtered
frame against the source. Motion is estimated and coded from the source first and
kept. The decoder, the bitstream and the weights are unchanged; the search is
greedy (each frame for itself, not for the frames that will predict from it).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Iterator

import torch
from compressai.entropy_models import EntropyModel
from torch import Tensor, nn

from zoo.slots import Context, Reference


@dataclass(frozen=True)
class Search:
    steps: int  #: Adam steps per P-frame (0: none)
    lr: float = 0.003  #: Adam's step size, in units of the [0, 1] pixel range

    def record(self) -> dict[str, Any]:
        return {"method": "input substitution (zoo.core.search)", "steps": self.steps, "lr": self.lr}


@contextmanager
def _noise_proxy(codec: nn.Module) -> Iterator[None]:
    """The codec's entropy models in training mode (noisy, differentiable likelihoods)."""
    models = [m for m in codec.modules() if isinstance(m, EntropyModel) and not m.training]
    for m in models:
        m.train()
    try:
        yield
    finally:
        for m in models:
            m.eval()


def substitute(codec: nn.Module, x: Tensor, ctx: Context, ref: Reference, q: int,
               search: Search) -> Tensor:
    """The input to code in place of ``x`` (a new tensor; the arguments are not changed).
    Runs under the encoder's inference mode: what it differentiates is copied out of it."""
    features = ctx.features  # a lazy context builds its pyramid here, outside autograd
    lam = codec.config.lambdas[q]
    pixels = x.shape[-2] * x.shape[-1]
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.inference_mode(False), torch.enable_grad(), _noise_proxy(codec), \
            torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)  # the same noise for the same frame: encoding stays reproducible
        source = x.clone()
        context = Context(ctx.prediction.clone(), [f.clone() for f in features])
        reference = replace(ref, **{k: v.clone() for k, v in vars(ref).items() if isinstance(v, Tensor)})
        substituted = source.clone().requires_grad_(True)
        optimiser = torch.optim.Adam([substituted], lr=search.lr)
        for _ in range(search.steps):
            out = codec.residual_domain(substituted, context, reference, q)
            rate = sum(-torch.log2(p).sum() for p in out["likelihoods"].values()) / pixels
            x_hat = codec.post_filter(out["x_hat"], q)
            loss = rate + lam * 255**2 * torch.mean((x_hat - source) ** 2)
            (substituted.grad,) = torch.autograd.grad(loss, substituted)
            optimiser.step()
            with torch.no_grad():
                substituted.clamp_(0.0, 1.0)
        return substituted.detach().clone()
