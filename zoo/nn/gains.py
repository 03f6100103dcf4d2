"""Variable rate: per-quality channel gains around any entropy model.

One model covers every quality index ``q``: latents are scaled by a learned
gain vector before quantisation and by an inverse gain after it, as in Cui et
al.'s gain units (AAAI 2021) and DCVC-DC's q-scales (CVPR 2023).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.slots import Strings


class GainedEntropyModel(nn.Module):
    """Wraps an entropy-model slot module; every method takes the quality ``q`` and,
    for a latent with a temporal prior, its ``context``."""

    def __init__(self, model: nn.Module, channels: int, lambdas: tuple[float, ...]) -> None:
        super().__init__()
        self.model = model
        # Optimal step size goes as 1/sqrt(lambda), so the gains start there.
        init = torch.tensor(lambdas, dtype=torch.float32).div(max(lambdas)).sqrt()
        self.gain = nn.Parameter(init[:, None].repeat(1, channels))
        self.inverse_gain = nn.Parameter(1.0 / self.gain.detach().clone())

    def _gains(self, q: int) -> tuple[Tensor, Tensor]:
        return self.gain[q].view(1, -1, 1, 1), self.inverse_gain[q].view(1, -1, 1, 1)

    def forward(self, y: Tensor, q: int, context: Tensor | None = None) -> dict:
        g, ig = self._gains(q)
        out = self.model(y * g, *_given(context))
        return {**out, "y_hat": out["y_hat"] * ig}

    def compress(self, y: Tensor, q: int, context: Tensor | None = None) -> tuple[Strings, Tensor]:
        g, ig = self._gains(q)
        strings, y_hat = self.model.compress(y * g, *_given(context))
        return strings, y_hat * ig

    def decompress(self, strings: Strings, shape: tuple[int, int], q: int,
                   context: Tensor | None = None) -> Tensor:
        return self.model.decompress(strings, shape, *_given(context)) * self._gains(q)[1]


def _given(context: Tensor | None) -> tuple[Tensor, ...]:
    """The context argument, passed only when there is one: entropy models built
    without ``context_channels`` take none."""
    return () if context is None else (context,)
