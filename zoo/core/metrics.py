"""Quality and rate metrics: PSNR (RGB and YUV), MS-SSIM and bits per pixel."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

from zoo.errors import ZooError
from .config import ms_ssim_lambda

#: How an encoder weighs a coded candidate's distortion against its bits (:func:`rd_cost`).
RD_CRITERIA = ("rd", "rd-ms-ssim")

#: Standard MS-SSIM scale weights (Wang et al. 2003), finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def _float64(a: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().to("cpu", torch.float64).numpy()
    return np.asarray(a, dtype=np.float64)


def psnr(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB of ``b`` against ``a`` (float64 MSE on the CPU); ``math.inf`` when they are equal."""
    diff = _float64(a) - _float64(b)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak * peak / mse)


def _to_8bit(x: torch.Tensor) -> torch.Tensor:
    """Float64 CPU copy of ``x`` clamped to [0, 1] and rounded to 8-bit levels."""
    return torch.round(x.detach().to("cpu", torch.float64).clamp(0.0, 1.0) * 255.0) / 255.0


def psnr_rgb(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """PSNR of RGB frames (1, 3, H, W) in [0, 1], both first rounded to 8-bit levels."""
    return psnr(_to_8bit(x), _to_8bit(x_hat))


def psnr_yuv(orig: Planes, dec: Planes) -> dict[str, float]:
    """Per-plane PSNR (peak 255) of uint8 YUV planes, plus ``yuv = (6 y + u + v) / 8``."""
    y, u, v = (psnr(o, d, peak=255.0) for o, d in zip(orig, dec))
    return {"y": y, "u": u, "v": v, "yuv": (6.0 * y + u + v) / 8.0}


def ms_ssim_params(height: int, width: int) -> tuple[int, int]:
    """Scales ``L`` and Gaussian window size for MS-SSIM on a frame of this size.

    pytorch_msssim's ``ms_ssim`` asserts ``min(H, W) > (win - 1) * 2**4``
    whatever the number of weights, i.e. it only accepts the 5-scale setting.
    We apply the same rule per number of scales, ``min(H, W) > (win - 1) *
    2**(L - 1)``, which also keeps the coarsest scale at least ``win`` wide so
    that no Gaussian smoothing is skipped. The window stays at the standard 11
    and ``L`` is the largest of 5..1 that fits; only when not even ``L = 1``
    fits does the window shrink to the largest odd size (down to 3) that does.
    E.g. 416x240 -> (5, 11), 160x80 -> (3, 11), 80x32 -> (2, 11), 8x8 -> (1, 7).
    """
    side = min(height, width)
    for levels in range(len(MS_SSIM_WEIGHTS), 0, -1):
        if side > 10 * 2 ** (levels - 1):
            return levels, 11
    if side < 3:
        raise ZooError(f"a {width}x{height} frame is too small for MS-SSIM (needs at least 3x3)")
    return 1, side if side % 2 else side - 1


def ms_ssim_rgb(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """MS-SSIM of RGB frames (1, 3, H, W) in [0, 1], both first rounded to 8-bit levels.

    Identical to ``pytorch_msssim.ms_ssim(x, x_hat, data_range=1.0)`` (sigma
    1.5, K = (0.01, 0.03)) when the frame allows the standard 5 scales and
    11-tap window. Smaller frames use the scales and window of
    :func:`ms_ssim_params`, weighted by the first ``L`` standard weights
    rescaled to the sum of all five (1.0001 as published, so ``L = 5`` is
    unchanged). Each scale is the library's own ``_ssim``, since its
    ``ms_ssim`` rejects fewer scales.
    """
    a, b = _to_8bit(x), _to_8bit(x_hat)
    levels, win_size = ms_ssim_params(*a.shape[-2:])
    weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], dtype=torch.float64)
    weights *= sum(MS_SSIM_WEIGHTS) / weights.sum()
    win = _fspecial_gauss_1d(win_size, 1.5).repeat(a.shape[1], 1, 1, 1)
    factors = []
    for level in range(levels):
        ssim, cs = _ssim(a, b, data_range=1.0, win=win, size_average=False)
        if level < levels - 1:
            factors.append(torch.relu(cs))
            padding = [s % 2 for s in a.shape[2:]]
            a, b = (F.avg_pool2d(t, kernel_size=2, padding=padding) for t in (a, b))
    factors.append(torch.relu(ssim))
    value = torch.prod(torch.stack(factors) ** weights.view(-1, 1, 1), dim=0)
    return float(value.mean())


def rd_cost(x: torch.Tensor, x_hat: torch.Tensor, bits: float, lambdas: tuple[float, ...], q: int,
            criterion: str = "rd", weight: float = 1.0) -> float:
    """A coded candidate's cost in a training loss's units, for the encoder's choices:
    ``bits + weight · λ·255²·SSE/3`` (``rd``: the MSE loss, λ = ``lambdas[q]``) or
    ``bits + weight · λ_ms·(1 - MS-SSIM)·pixels`` (``rd-ms-ssim``: the MS-SSIM loss, λ_ms as
    ``zoo train --distortion ms-ssim`` weighs it, MS-SSIM as :func:`ms_ssim_rgb` measures
    it); ``x`` and ``x_hat`` (1, 3, H, W)."""
    if criterion == "rd-ms-ssim":
        distortion = ms_ssim_lambda(lambdas, q) * (1 - ms_ssim_rgb(x, x_hat)) * x[0, 0].numel()
    else:
        distortion = lambdas[q] * 255**2 * float((x_hat - x).square().sum()) / 3
    return bits + weight * distortion


def bits_per_pixel(num_bytes: int, width: int, height: int, frames: int = 1) -> float:
    """Bits per pixel of ``num_bytes`` spread over ``frames`` frames of ``width`` x ``height``."""
    return 8.0 * num_bytes / (width * height * frames)
