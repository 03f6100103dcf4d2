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
- rate-distortion optimised vectors (option ``rdo``): where a block's own vector
  costs more bits than its prediction saves in distortion, the encoder sends the
  prediction (a zero residual, H.264's skip in spirit), judging the distortion as
  the change of the block's translated prediction, 255²·SSE/3 weighted by the
  quality's λ as in the training loss; flat or static areas, where the flow is
  noise, stop paying for it;
- the prediction errors are coded with a discretised Laplacian whose scale (one
  per component and frame, from CompressAI's scale table) the encoder fits and
  writes in the header: CompressAI's rANS coder through ``GaussianConditional``
  with the Laplacian's distribution function;
- the decoder interpolates the vectors bilinearly to a dense flow, a smooth
  (overlapped-block-like) field that the motion refinement slot may refine.

Stated: block motion with predictive coding and rate-constrained vector choice
(H.264/HEVC). Inferred: the block sizes per quality, the Laplacian, the bilinear
interpolation, and measuring the distortion against the flow's own prediction
(the motion slot does not see the frame being coded).
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
from zoo.errors import ZooError
from zoo.slots import Reference

PEL = 4  #: vectors in quarter pixels
SMALL_BLOCKS = 2  #: the highest qualities code 8x8 blocks, the others 16x16
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

    def __init__(self, blocks: tuple[int, ...], lambdas: tuple[float, ...] = ()) -> None:
        super().__init__()
        self.blocks = tuple(blocks)
        self.lambdas = tuple(lambdas)  #: per quality; empty: no rate-distortion choice
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
        fitted = residual.abs().flatten(2).mean(-1).clamp_min(float(SCALES[0]))
        return (fitted.log()[..., None] - SCALES.to(fitted).log()).abs().argmin(-1)

    def _likelihoods(self, residual: Tensor, indexes: Tensor) -> Tensor:
        scales = SCALES.to(residual)[indexes][..., None, None].expand_as(residual)
        return self.laplace.likelihood_lower_bound(self.laplace._likelihood(residual, scales))

    def _bits(self, residual: Tensor, indexes: Tensor) -> Tensor:
        """(B, h, w) bits of each block's two residual components."""
        return -torch.log2(self._likelihoods(residual, indexes)).sum(1)

    @staticmethod
    def _translated(frame: Tensor, v: Tensor, block: int, top: int, left: int) -> Tensor:
        """The pixels of the blocks ``v`` (B, 2, h, w) covers from block (top, left),
        predicted from ``frame`` by translating each block by its vector."""
        (height, width), y0, x0 = frame.shape[-2:], top * block, left * block
        flow = v.repeat_interleave(block, -2).repeat_interleave(block, -1)
        flow = flow[..., :height - y0, :width - x0] / PEL
        ys, xs = torch.meshgrid(torch.arange(y0, y0 + flow.shape[-2]).to(frame),
                                torch.arange(x0, x0 + flow.shape[-1]).to(frame), indexing="ij")
        grid = torch.stack(((xs + flow[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0,
                            (ys + flow[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0), dim=-1)
        return F.grid_sample(frame, grid, mode="bilinear", padding_mode="border", align_corners=True)

    @staticmethod
    def _block_sums(error: Tensor, block: int) -> Tensor:
        """(B, H, W) per-pixel errors to (B, h, w) per-block sums."""
        error = F.pad(error, (0, -error.shape[-1] % block, 0, -error.shape[-2] % block))
        return error.unflatten(-2, (-1, block)).unflatten(-1, (-1, block)).sum((-3, -1))

    def _rd_choice(self, v: Tensor, prediction: Tensor, ref: Reference, q: int,
                   spatial: bool) -> tuple[Tensor, Tensor]:
        """Per block in coding order, its own vector or its prediction, whichever costs
        less in bits + λ·255²·SSE/3 (SSE: the change of the block's translated
        prediction); the chosen vectors and each sample's distortion term."""
        block, lam = self.blocks[q], self.lambdas[q] * 255**2 / 3
        indexes = self._scale_indexes(v - prediction)
        target = self._translated(ref.frame, v, block, 0, 0)
        chosen, cost = v.clone(), v.new_zeros(v.shape[0])

        def decide(top: int, left: int, p: Tensor) -> None:
            h, w = p.shape[-2:]
            own = v[..., top:top + h, left:left + w]
            pred = self._translated(ref.frame, p, block, top, left)
            y0, x0 = top * block, left * block
            error = pred - target[..., y0:y0 + pred.shape[-2], x0:x0 + pred.shape[-1]]
            sse = self._block_sums(error.square().sum(1), block)
            skip = self._bits(torch.zeros_like(own), indexes) + lam * sse < self._bits(own - p, indexes)
            chosen[..., top:top + h, left:left + w] = torch.where(skip[:, None], p, own)
            cost.add_((lam * sse * skip).flatten(1).sum(1))

        if not spatial:  # temporal: every block's prediction is known up front
            decide(0, 0, prediction)
            return chosen, cost
        for row in range(v.shape[-2]):  # the first column, each from the block above
            decide(row, 0, chosen[..., row - 1:row, :1] if row else torch.zeros_like(v[..., :1, :1]))
        for col in range(1, v.shape[-1]):  # then each column from its left neighbour
            decide(0, col, chosen[..., :, col - 1:col])
        return chosen, cost

    def _choose(self, flow: Tensor, q: int, ref: Reference | None) -> tuple[Tensor, ...]:
        """Vectors, and per sample the cheaper prediction's mode, residual and scale indexes."""
        v = self._vectors(flow, self.blocks[q])
        rd = bool(self.lambdas) and ref is not None and ref.frame is not None
        modes, vectors, residuals, indexes, costs = [], [], [], [], []
        for mode, prediction in self._predictions(v, self.blocks[q], ref).items():
            chosen, cost = self._rd_choice(v, prediction, ref, q, mode == SPATIAL) if rd else (v, 0.0)
            if mode == SPATIAL:  # the left neighbours are the chosen vectors
                prediction = self._predictions(chosen, self.blocks[q], None)[SPATIAL]
            residuals.append(chosen - prediction)
            indexes.append(self._scale_indexes(residuals[-1]))
            costs.append(self._bits(residuals[-1], indexes[-1]).flatten(1).sum(1) + cost)
            modes.append(mode)
            vectors.append(chosen)
        best, sample = torch.stack(costs).argmin(0), torch.arange(v.shape[0], device=v.device)
        return (torch.stack(vectors)[best, sample], torch.tensor(modes, device=v.device)[best],
                torch.stack(residuals)[best, sample], torch.stack(indexes)[best, sample])

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


def default_blocks(qualities: int) -> tuple[int, ...]:
    """Block size per quality index: 16, 16, 16, 8, 8 for five qualities."""
    return tuple(8 if i >= qualities - SMALL_BLOCKS else 16 for i in range(qualities))


@hookimpl
def zoo_motion_coding(config: Config) -> nn.Module:
    rdo = config.option("block-motion", "rdo", True)
    blocks = tuple(config.option("block-motion", "blocks", None) or default_blocks(config.qualities))
    if len(blocks) != config.qualities:
        raise ZooError(f"block-motion: option blocks must give {config.qualities} block sizes, "
                       f"one per quality, got {list(blocks)}")
    return BlockMotionCoder(blocks, config.lambdas if rdo else ())


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="block motion vectors, quarter-pel, predictive Laplacian coding "
                              "(no training)", paper="as H.264/HEVC; Lu et al., CVPR 2019 for the slot",
                      options=(Option("blocks", list, None, "block size per quality index "
                                      "(default: 16, and 8 for the two highest qualities)",
                                      item=int),
                                   Option("rdo", bool, True, "rate-distortion optimised vectors "
                                          "(a block sends its prediction where that is cheaper)")))
