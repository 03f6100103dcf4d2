"""Colour conversion between 8-bit YUV 4:2:0 planes and RGB tensors.

BT.709 matrix, *limited* ("TV", studio) range: Y spans [16, 235] and Cb/Cr
span [16, 240] around 128, as in the y4m test sequences. RGB is float in
[0, 1]. The arithmetic runs in float64.

Chroma filters (both assume centred, i.e. ``C420jpeg``, chroma siting):

* upsampling (YUV -> RGB) repeats each chroma sample over its 2x2 block
  (nearest neighbour) and crops to the luma size;
* downsampling (RGB -> YUV) takes the mean of each 2x2 block, replicating the
  last row/column when a side is odd.

So nearest-upsampled chroma downsamples back to itself and the round trip
YUV -> RGB -> YUV is exact up to rounding for colours inside the RGB gamut.
"""

from __future__ import annotations

import numpy as np
import torch

_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB

#: RGB in [0, 1] -> (Y, Cb, Cr) 8-bit code values: ``yuv = _RGB_TO_YUV @ rgb + _OFFSET``.
_RGB_TO_YUV = np.array([
    [219.0 * _KR, 219.0 * _KG, 219.0 * _KB],
    [224.0 * -_KR / (2 * (1 - _KB)), 224.0 * -_KG / (2 * (1 - _KB)), 224.0 * 0.5],
    [224.0 * 0.5, 224.0 * -_KG / (2 * (1 - _KR)), 224.0 * -_KB / (2 * (1 - _KR))],
])
_OFFSET = np.array([16.0, 128.0, 128.0])
_YUV_TO_RGB = np.linalg.inv(_RGB_TO_YUV)


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> torch.Tensor:
    """Convert uint8 planes Y (H, W), U and V (ceil(H/2), ceil(W/2)) to RGB.

    Returns a float32 tensor (1, 3, H, W) clamped to [0, 1].
    """
    h, w = y.shape
    chroma = [np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)[:h, :w] for c in (u, v)]
    yuv = np.stack([y, *chroma]).astype(np.float64) - _OFFSET[:, None, None]
    rgb = np.einsum("ij,jhw->ihw", _YUV_TO_RGB, yuv)
    return torch.from_numpy(np.clip(rgb, 0.0, 1.0)).float().unsqueeze(0)


def rgb_to_yuv420(rgb: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert RGB (1, 3, H, W) in [0, 1] to uint8 planes Y, U, V (4:2:0).

    Values are rounded to nearest and clipped to [0, 255].
    """
    if rgb.dim() != 4 or rgb.shape[:2] != (1, 3):
        raise ValueError(f"expected an RGB tensor of shape (1, 3, H, W), got {tuple(rgb.shape)}")
    x = rgb[0].detach().to("cpu", torch.float64).numpy()
    yuv = np.einsum("ij,jhw->ihw", _RGB_TO_YUV, x) + _OFFSET[:, None, None]
    h, w = x.shape[1:]
    chroma = np.pad(yuv[1:], ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    chroma = chroma.reshape(2, (h + 1) // 2, 2, (w + 1) // 2, 2).mean(axis=(2, 4))
    y, u, v = (np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (yuv[0], *chroma))
    return y, u, v
