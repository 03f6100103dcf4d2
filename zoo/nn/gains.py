"""Variable rate: per-quality channel gains around any entropy model.

One model covers every quality index ``q``: latents are scaled by a learned
gain vector before quantisation and by an inverse gain after it, as in Cui et
al.'s gain units (AAAI 2021) and DCVC-DC's q-scales (CVPR 2023).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.slots import Strings

#: The class attribute that names a module's per-quality tensors (one row per quality
#: index), which :func:`across_ladders` carries to another quality ladder.
PER_QUALITY = "per_quality"


def across_ladders(rows: Tensor, old: tuple[float, ...], new: tuple[float, ...]) -> Tensor:
    """Per-quality ``rows`` trained for ladder ``old`` (one row per lambda), as the
    rows of ladder ``new``: interpolated piecewise-linearly in log lambda, the end
    segments extended; in log values where every value is positive (gains), else
    in values."""
    x_old = torch.tensor(old, dtype=torch.float64).log()
    if len(old) == 1:
        return rows[:1].expand(len(new), *rows.shape[1:]).clone()
    x_new = torch.tensor(new, dtype=torch.float64).log()
    i = (torch.searchsorted(x_old, x_new) - 1).clamp(0, len(old) - 2)
    t = ((x_new - x_old[i]) / (x_old[i + 1] - x_old[i])).view(-1, *[1] * (rows.dim() - 1))
    positive = bool((rows > 0).all())
    v = (rows.double().log() if positive else rows.double())
    out = v[i] + t * (v[i + 1] - v[i])
    return (out.exp() if positive else out).to(rows.dtype)


class GainedEntropyModel(nn.Module):
    """Wraps an entropy-model slot module; every method takes the quality ``q`` and,
    for a latent with a temporal prior, its ``context``."""

    per_quality = ("gain", "inverse_gain")

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
