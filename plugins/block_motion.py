"""Motion coding without training: block motion vectors, entropy-coded as in a classical codec.

Neither Shin et al. (2025) nor Feng et al. (2020) innovates in how the flow is
coded; both inherit DVC's flow autoencoder (Lu et al., CVPR 2019). On this
project's budget that autoencoder stays weak (on 8 random 256² training crops,
``feng2020-m1``'s gives a 27.8-28.2 dB warped prediction at 0.031-0.073 bpp, these
block vectors 32.0 dB at 0.023 bpp; ``scripts/motion_coding_check.py``, tables in
docs/plugins/block-motion.md), so this plugin puts a conventional coder in its slot,
as H.264/HEVC code motion:

- the dense flow is averaged over blocks of ``blocks[q]`` pixels (16 or 8) and
  rounded to quarter-pel vectors;
- each vector is predicted from its left neighbour (the first column from the one
  above), or, when the reference carries the previous frame's decoded flow, from
  that flow's vector at the same block (temporal prediction): the encoder takes
  whichever costs fewer bits and says which in the stream;
- the prediction errors are coded with a discretised Laplacian whose scale (one
  per component and frame, from CompressAI's scale table) the encoder fits and
  writes in the header: CompressAI's rANS coder through ``GaussianConditional``
  with the Laplacian's distribution function;
- the decoder interpolates the vectors bilinearly to a dense flow, a smooth
  (overlapped-block-like) field that the motion refinement slot may refine.

Stated: block motion with predictive coding (H.264/HEVC). Inferred: the block
sizes per quality, the Laplacian and the bilinear interpolation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from compressai.entropy_models import GaussianConditional
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.slots import Reference

PEL = 4  #: vectors in quarter pixels
BLOCKS = (16, 16, 16, 8, 8)  #: block size per quality index
SCALES = torch.exp(torch.linspace(math.log(0.11), math.log(64.0), 64))  #: Laplacian scales
SPATIAL, TEMPORAL = 0, 1


class LaplacianConditional(GaussianConditional):
    """CompressAI's conditional entropy model with a Laplacian in place of the Gaussian."""

    def _standardized_cumulative(self, inputs: Tensor) -> Tensor:
        return 0.5 - 0.5 * torch.sign(inputs) * torch.expm1(-inputs.abs())

    @staticmethod
    def _standardized_quantile(quantile: float) -> float:
        return math.log(2 * quantile)


class BlockMotionCoder(nn.Module):
    """``forward(flow, q, ref)``, ``compress(flow, q, ref)``, ``decompress(strings, size, q, ref)``;
    no parameters."""

    def __init__(self, blocks: tuple[int, ...]) -> None:
        super().__init__()
        self.blocks = tuple(blocks)
        self.laplace = LaplacianConditional(SCALES.tolist(), tail_mass=1e-6)
        self.laplace.update()
        for module in self.laplace.modules():  # fixed tables and bounds: not state to save
            for name, value in list(module.named_buffers(recurse=False)):
                delattr(module, name)
                module.register_buffer(name, value, persistent=False)

    def _vectors(self, flow: Tensor, block: int) -> Tensor:
        return torch.round(F.avg_pool2d(flow, block, ceil_mode=True) * PEL)

    def _predictions(self, v: Tensor, block: int, ref: Reference | None) -> dict[int, Tensor]:
        """Left neighbour (above for the first column); the previous flow's vector if known."""
        left = torch.cat((F.pad(v[..., :-1, :1], (0, 0, 1, 0)), v[..., :, :-1]), dim=-1)
        out = {SPATIAL: left}
        if ref is not None and ref.flow is not None:
            out[TEMPORAL] = self._vectors(ref.flow, block)
        return out

    def _scale_indexes(self, residual: Tensor) -> Tensor:
        """(B, 2) index into :data:`SCALES` of each component's fitted scale (mean |r|)."""
        fitted = residual.abs().flatten(2).mean(-1).clamp_min(SCALES[0])
        return (fitted.log()[..., None] - SCALES.log()).abs().argmin(-1)

    def _likelihoods(self, residual: Tensor, indexes: Tensor) -> Tensor:
        scales = SCALES.to(residual)[indexes][..., None, None].expand_as(residual)
        return self.laplace.likelihood_lower_bound(self.laplace._likelihood(residual, scales))

    def _choose(self, flow: Tensor, q: int, ref: Reference | None) -> tuple[Tensor, ...]:
        """Vectors, and per sample the cheaper prediction's mode, residual and scale indexes."""
        v = self._vectors(flow, self.blocks[q])
        modes, residuals, indexes, bits = [], [], [], []
        for mode, prediction in self._predictions(v, self.blocks[q], ref).items():
            residuals.append(v - prediction)
            indexes.append(self._scale_indexes(residuals[-1]))
            bits.append(-torch.log2(self._likelihoods(residuals[-1], indexes[-1])).flatten(1).sum(1))
            modes.append(mode)
        best, sample = torch.stack(bits).argmin(0), torch.arange(v.shape[0])
        return (v, torch.tensor(modes)[best], torch.stack(residuals)[best, sample],
                torch.stack(indexes)[best, sample])

    @staticmethod
    def _dense(v: Tensor, size: tuple[int, int]) -> Tensor:
        return F.interpolate(v / PEL, size=size, mode="bilinear", align_corners=False)

    def forward(self, flow: Tensor, q: int, ref: Reference | None = None) -> dict:
        v, _, r, idx = self._choose(flow.detach(), q, ref)
        return {"x_hat": self._dense(v, flow.shape[-2:]), "likelihoods": {"y": self._likelihoods(r, idx)}}

    def compress(self, flow: Tensor, q: int,
                 ref: Reference | None = None) -> tuple[list[bytes], Tensor]:
        v, mode, r, idx = self._choose(flow, q, ref)
        if v.shape[0] != 1:
            raise ValueError("block motion codes one frame at a time")
        indexes = idx[..., None, None].expand_as(r).int()
        body = self.laplace.compress(r, indexes)[0]
        header = bytes((self.blocks[q], int(mode[0]), int(idx[0, 0]), int(idx[0, 1])))
        return [header + body], self._dense(v, flow.shape[-2:])

    def decompress(self, strings: list[bytes], size: tuple[int, int], q: int,
                   ref: Reference | None = None) -> Tensor:
        if len(strings) != 1 or len(strings[0]) < 4:
            raise ValueError("a block-motion record is one string of at least 4 bytes")
        block, mode, ix, iy = strings[0][:4]
        if block != self.blocks[q] or mode not in (SPATIAL, TEMPORAL) or max(ix, iy) >= len(SCALES):
            raise ValueError("block-motion header does not match this model")
        grid = (math.ceil(size[0] / block), math.ceil(size[1] / block))
        indexes = torch.tensor((ix, iy)).view(1, 2, 1, 1).expand(1, 2, *grid).int()
        r = self.laplace.decompress([strings[0][4:]], indexes).float()
        if mode == TEMPORAL:
            if ref is None or ref.flow is None:
                raise ValueError("block-motion record predicts from a flow the reference lacks")
            v = r + self._vectors(ref.flow, block)
        else:
            first = r[..., :, :1].cumsum(-2)
            v = torch.cat((first, r[..., :, 1:]), dim=-1).cumsum(-1)
        return self._dense(v, size)


@hookimpl
def zoo_motion_coding(config: Config) -> nn.Module:
    return BlockMotionCoder(tuple(config.option("block-motion", "blocks", BLOCKS)))


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="block motion vectors, quarter-pel, predictive Laplacian coding "
                              "(no training)", paper="as H.264/HEVC; Lu et al., CVPR 2019 for the slot",
                      options=(Option("blocks", list, BLOCKS, "block size per quality index",
                                      item=int),))
