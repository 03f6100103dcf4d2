"""Classical motion estimation: OpenCV's DIS optical flow.

Kroeger, Timofte, Dai & Van Gool, "Fast Optical Flow using Dense Inverse
Search", ECCV 2016, as implemented by OpenCV (``cv2.DISOpticalFlow``): inverse
compositional patch search on an image pyramid, patches densified by weighted
averaging, then variational refinement. Stated by the papers it replaces here:
DVC and DCVC estimate motion with a learned network (SpyNet); motion
estimation runs on the encoder side only, so any estimator fits the slot
without a change to the bitstream or the decoder.

Inferred, not from a paper: frames go to 8-bit grey with OpenCV
(``cv2.cvtColor``, RGB to grey, from the zoo's RGB rounded to 8 bits), DIS
runs with one of OpenCV's presets (``preset``: ``ultrafast``, ``fast`` or
``medium``, the default) on one OpenCV thread, so the flow, and with it the
bitstream, does not depend on the machine's thread count. The flow is
``cv2.DISOpticalFlow.calc(x, ref)``: ``x(p) ≈ ref(p + flow(p))``, channel 0
horizontal, which is the zoo's ``warp(ref, flow) ≈ x``. No parameters: nothing
to train, and ``zoo train`` skips the ``motion`` stage.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.errors import ZooError
from zoo.slots import MotionEstimation

PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
           "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def grey(x: Tensor) -> np.ndarray:
    """An RGB frame (3, H, W) in [0, 1] as 8-bit grey (H, W)."""
    rgb = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb.permute(1, 2, 0).cpu().numpy()), cv2.COLOR_RGB2GRAY)


class DISFlow(MotionEstimation):
    """``forward(x, ref) -> flow`` (B, 2, H, W) in pixels with ``warp(ref, flow) ≈ x``."""

    def __init__(self, preset: str, threads: int = 1) -> None:
        super().__init__()
        self.preset, self.threads = preset, threads

    def forward(self, x: Tensor, ref: Tensor) -> Tensor:
        before = cv2.getNumThreads()
        cv2.setNumThreads(self.threads)
        try:
            dis = cv2.DISOpticalFlow_create(PRESETS[self.preset])
            flows = [dis.calc(grey(xi), grey(ri), None) for xi, ri in zip(x, ref)]
        finally:
            cv2.setNumThreads(before)
        return torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).contiguous().to(x.device, x.dtype)


@hookimpl
def zoo_motion_estimation(config: Config) -> nn.Module:
    preset = config.option("dis-flow", "preset", "medium")
    if preset not in PRESETS:
        raise ZooError(f"dis-flow: unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    return DISFlow(preset)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="OpenCV's DIS optical flow (encoder side, not trained)",
                      paper="Kroeger et al., ECCV 2016", api=1,
                      options=(Option("preset", str, "medium", "OpenCV's DIS preset",
                                      choices=tuple(PRESETS)),))
