"""Metrics (PSNR, MS-SSIM, bpp) and the BT.709 limited-range colour conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim, ssim

from zoo.core.metrics import bits_per_pixel, ms_ssim_params, ms_ssim_rgb, psnr, psnr_rgb, psnr_yuv
from zoo.errors import ZooError
from zoo.io.color import rgb_to_yuv420, yuv420_to_rgb


def smooth_rgb(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A random but smooth frame (1, 3, H, W) inside [0.1, 0.9]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 8 + 2, width // 8 + 2, generator=g)
    up = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)
    return 0.1 + 0.8 * up.clamp(0, 1)


def noisy(x: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    return (x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))).clamp(0, 1)


# --- PSNR and bpp ----------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 4, 10])
def test_psnr_of_constant_offset(k):
    a = torch.full((1, 3, 8, 8), 0.5)
    assert psnr(a, a + k / 255) == pytest.approx(20 * math.log10(255 / k), abs=1e-4)
    planes = np.full((8, 8), 100, dtype=np.uint8)
    assert psnr(planes, planes + k, peak=255.0) == pytest.approx(20 * math.log10(255 / k), abs=1e-9)


def test_psnr_identical_is_inf():
    a = np.arange(12, dtype=np.uint8)
    assert psnr(a, a) == math.inf


def test_psnr_rgb_rounds_to_8bit_levels():
    x = torch.randint(0, 256, (1, 3, 8, 8)).float() / 255
    assert psnr_rgb(x, x + 0.4 / 255) == math.inf  # same 8-bit file
    assert psnr_rgb(x, (x + 0.6 / 255).clamp(0, 1)) < 100  # one level off
    assert psnr_rgb(x * 0, x * 0 + 3 / 255) == pytest.approx(20 * math.log10(255 / 3))


def test_psnr_yuv_weighting():
    y, u, v = (np.full(s, 100, dtype=np.uint8) for s in ((4, 6), (2, 3), (2, 3)))
    scores = psnr_yuv((y, u, v), (y + 1, u + 2, v - 4))
    expected = {"y": 20 * math.log10(255), "u": 20 * math.log10(255 / 2), "v": 20 * math.log10(255 / 4)}
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value)
    assert scores["yuv"] == pytest.approx((6 * expected["y"] + expected["u"] + expected["v"]) / 8)
    assert scores["y"] > scores["yuv"] > scores["v"]


def test_bits_per_pixel():
    assert bits_per_pixel(1000, 100, 10, frames=2) == pytest.approx(4.0)
    assert bits_per_pixel(48, 8, 6) == pytest.approx(8.0)


# --- MS-SSIM ---------------------------------------------------------------------------------

def test_ms_ssim_params():
    assert ms_ssim_params(240, 416) == (5, 11)
    assert ms_ssim_params(161, 161) == (5, 11)
    assert ms_ssim_params(160, 416) == (4, 11)
    assert ms_ssim_params(80, 160) == (3, 11)
    assert ms_ssim_params(32, 80) == (2, 11)
    assert ms_ssim_params(11, 11) == (1, 11)
    assert ms_ssim_params(8, 8) == (1, 7)
    assert ms_ssim_params(3, 40) == (1, 3)
    with pytest.raises(ZooError, match="too small"):
        ms_ssim_params(2, 40)


@pytest.mark.parametrize("height, width", [(240, 416), (80, 160), (32, 80), (8, 8)])
def test_ms_ssim_identical_and_decreasing(height, width):
    x = smooth_rgb(height, width)
    assert ms_ssim_rgb(x, x) == pytest.approx(1.0, abs=1e-6)
    light, heavy = ms_ssim_rgb(x, noisy(x, 0.02)), ms_ssim_rgb(x, noisy(x, 0.1))
    assert 1.0 > light > heavy > 0.0


def test_ms_ssim_matches_pytorch_msssim_at_full_size():
    x = smooth_rgb(240, 416)
    x_hat = noisy(x, 0.05)
    q, q_hat = (torch.round(t.double() * 255) / 255 for t in (x, x_hat))
    reference = float(ms_ssim(q, q_hat, data_range=1.0))
    assert ms_ssim_rgb(x, x_hat) == pytest.approx(reference, abs=1e-9)


def test_single_scale_ms_ssim_is_ssim():
    # Grey frames: equal channels, so the mean over channels commutes with the power.
    x = smooth_rgb(16, 24)[:, :1].expand(1, 3, 16, 24)
    x_hat = noisy(x[:, :1], 0.05).expand(1, 3, 16, 24)
    q, q_hat = (torch.round(t.double() * 255) / 255 for t in (x, x_hat))
    reference = float(ssim(q, q_hat, data_range=1.0)) ** sum((0.0448, 0.2856, 0.3001, 0.2363, 0.1333))
    assert ms_ssim_rgb(x, x_hat) == pytest.approx(reference, abs=1e-9)


# --- colour conversion -----------------------------------------------------------------------

def test_known_bt709_limited_range_values():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    y, u, v = rgb_to_yuv420(rgb)
    assert (y[0, 0], u[0, 0], v[0, 0]) == (63, 102, 240)  # BT.709 red
    for level, value in [(16, 0.0), (235, 1.0)]:
        grey = np.full((1, 1), 128, np.uint8)
        planes = (np.full((2, 2), level, np.uint8), grey, grey)
        assert torch.allclose(yuv420_to_rgb(*planes), torch.full((1, 3, 2, 2), value), atol=1e-6)


def test_odd_size_shapes_and_chroma_filters():
    rgb = smooth_rgb(17, 33)
    y, u, v = rgb_to_yuv420(rgb)
    assert y.shape == (17, 33) and u.shape == v.shape == (9, 17) and y.dtype == np.uint8
    out = yuv420_to_rgb(y, u, v)
    assert out.shape == (1, 3, 17, 33) and out.dtype == torch.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    # The last chroma column covers only luma column 32: it is that column's chroma.
    _, u_col, _ = rgb_to_yuv420(rgb[..., 32:33])
    np.testing.assert_array_equal(u[:, -1], u_col[:, 0])


def test_colour_round_trip():
    y, u, v = rgb_to_yuv420(smooth_rgb(240, 416))
    y2, u2, v2 = rgb_to_yuv420(yuv420_to_rgb(y, u, v))
    assert np.abs(y.astype(int) - y2).max() <= 1
    assert np.abs(u.astype(int) - u2).max() <= 1 and np.abs(v.astype(int) - v2).max() <= 1
    assert psnr_yuv((y, u, v), (y2, u2, v2))["yuv"] > 45
