"""Motion coding without training: block motion vectors, entropy-coded as in a classical codec.

Neither Shin et al. (2025) nor Feng et al. (2020) innovates in how the flow is
coded; both inherit DVC's flow autoencoder (Lu et al., CVPR 2019). On this
project's budget that autoencoder stays weak (on 8 random 256² training crops,
``feng2020-m1``'s gives a 27.8-28.2 dB warped prediction at 0.031-0.073 bpp, these
block vectors 32.0 dB at 0.023 bpp; ``scripts/motion_coding_check.py``, tables in
docs/plugins/block-motion.md), so this plugin puts a conventional coder in its slot,
as H.264/HEVC code motion:

- the dense flow is averaged over blocks of ``blocks[q]`` pixels (16 or 8), and with
  option ``choices`` also over blocks of each of those sizes: they are the coder's
  ``alternatives``, the pipeline codes the P-frame with each and keeps the cheapest
  in rate + λ·distortion (an encoder's mode decision; the record says which); with a
  reference frame, the vectors are then fitted (option ``fit``: Adam steps, lr
  0.2 px) so that the decoder's prediction, the reference warped by the vectors'
  bilinear interpolation, matches the frame being coded (``target``, which the
  pipeline gives the encoder), or without it the dense flow's own prediction
  (averages, then interpolation, blur motion edges: −6.9 % BD-rate for
  feng2020-m1's weights on five training clips, docs/plugins/block-motion.md);
  then they are rounded to quarter-pel vectors;
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
- a skip flag per block says whether it sends its prediction (both components of
  the error zero), coded with one probability per frame that the encoder fits
  and writes in the header (H.264's P_Skip and HEVC's merge in spirit: on static
  content most blocks skip, and a flag costs a fraction of a bit where two zero
  errors cost two or more);
- a frame whose every block skips (static content, or motion its prediction
  already gives) is a record of two bytes, the block size and the mode, with no
  rANS string (HEVC's slice of skipped CUs costs a few bits per CU plus the slice
  header; the five-byte header and the rANS coder's four-byte flush were most of
  such a frame's bytes at the lowest qualities);
- the prediction errors of the other blocks are coded with a discretised
  Laplacian whose scale (one per component and frame, from CompressAI's scale
  table) the encoder fits and writes in the header: flags and errors in one
  string of CompressAI's rANS coder, the Laplacian's tables built by a
  ``GaussianConditional`` with the Laplacian's distribution function;
- the decoder interpolates the vectors bilinearly to a dense flow, a smooth
  (overlapped-block-like) field that the motion refinement slot may refine.

Stated: block motion with predictive coding, skipped blocks and rate-constrained
vector choice (H.264/HEVC), vectors searched against the frame being coded.
Inferred: the block sizes per quality, one block size per frame, the Laplacian, one
skip probability per frame (no context), the bilinear interpolation, fitting by
gradient steps from the flow's averages, and measuring the rate-distortion choice's distortion against the
flow's own prediction (against the frame it gained less: see the doc).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from compressai._CXX import pmf_to_quantized_cdf
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import GaussianConditional
from torch import Tensor, nn

from zoo.core.config import Config
from zoo.core.guard import check_symbols, padding, trimmed
from zoo.core.hookspecs import hookimpl
from zoo.core.plugin_info import Option, PluginInfo
from zoo.errors import ZooError
from zoo.nn.layers import warp
from zoo.slots import Reference

PEL = 4  #: vectors in quarter pixels
SMALL_BLOCKS = 2  #: the highest qualities code 8x8 blocks, the others 16x16
SCALES = torch.exp(torch.linspace(math.log(0.11), math.log(64.0), 64))  #: Laplacian scales
SKIPS = torch.sigmoid(torch.linspace(-6.0, 6.0, 64))  #: probabilities that a block skips
SPATIAL, TEMPORAL = 0, 1
HEADER = 5  #: bytes: block size, mode, the two Laplacian scale indexes, the skip index
SKIPPED = 2  #: bytes of a record whose every block skips: block size and mode alone
FIT_LR = 0.2  #: pixels: Adam's step size when the vectors are fitted


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

    def __init__(self, blocks: tuple[int, ...], lambdas: tuple[float, ...] = (), fit: int = 0,
                 choices: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.blocks = tuple(blocks)
        self.lambdas = tuple(lambdas)  #: per quality; empty: no rate-distortion choice
        self.fit = fit  #: Adam steps fitting the vectors to the frame being coded
        self.choices = tuple(choices)  #: the other block sizes the encoder tries at every quality
        self.laplace = LaplacianConditional(SCALES.tolist(), tail_mass=1e-6)
        self.laplace.update()
        for module in self.laplace.modules():  # fixed tables and bounds: not state to save
            for name, value in list(module.named_buffers(recurse=False)):
                delattr(module, name)
                module.register_buffer(name, value, persistent=False)
        # rANS tables: the Laplacian's, one per scale, then a flag's (0 coded, 1 skipped)
        # for each skip probability; fixed, kept as the lists the coder takes.
        lengths = self.laplace._cdf_length.tolist()
        cdfs = [row[:n] for row, n in zip(self.laplace._quantized_cdf.tolist(), lengths)]
        cdfs += [pmf_to_quantized_cdf([1.0 - p, p, 0.0], 16) for p in SKIPS.tolist()]
        self._tables = (cdfs, lengths + [4] * len(SKIPS), self.laplace._offset.tolist() + [0] * len(SKIPS))

    def sizes(self, q: int) -> tuple[int, ...]:
        """The block sizes a record at quality ``q`` may have: ``blocks[q]``, then the choices."""
        return (self.blocks[q], *(b for b in self.choices if b != self.blocks[q]))

    def alternatives(self, q: int) -> int:
        """How many ways the encoder may code a flow at quality ``q``: one per block size."""
        return len(self.sizes(q))

    def _vectors(self, flow: Tensor, block: int) -> Tensor:
        return torch.round(F.avg_pool2d(flow, block, ceil_mode=True) * PEL)

    def _fitted(self, flow: Tensor, block: int, frame: Tensor, target: Tensor | None) -> Tensor:
        """Quarter-pel vectors whose interpolated flow warps ``frame`` closest to ``target``
        (the frame being coded; without it, ``frame`` warped by ``flow``), in MSE, after
        ``self.fit`` Adam steps from the block averages."""
        with torch.inference_mode(False), torch.enable_grad():
            flow, frame = flow.detach().clone(), frame.detach().clone()
            target = warp(frame, flow) if target is None else target.detach().clone()
            v = F.avg_pool2d(flow, block, ceil_mode=True).requires_grad_(True)
            adam = torch.optim.Adam([v], lr=FIT_LR)
            for _ in range(self.fit):
                adam.zero_grad()
                F.mse_loss(warp(frame, self._dense(v * PEL, flow.shape[-2:])), target).backward()
                adam.step()
        return torch.round(v.detach() * PEL)

    def _predictions(self, v: Tensor, block: int, ref: Reference | None) -> dict[int, Tensor]:
        """Left neighbour (above for the first column); the previous flow's vector if known."""
        left = torch.cat((F.pad(v[..., :-1, :1], (0, 0, 1, 0)), v[..., :, :-1]), dim=-1)
        out = {SPATIAL: left}
        if ref is not None and ref.flow is not None:
            out[TEMPORAL] = self._vectors(ref.flow, block)
        return out

    @staticmethod
    def _skipped(residual: Tensor) -> Tensor:
        """(B, h, w): the blocks whose error is zero in both components."""
        return (residual == 0).all(1)

    def _fit(self, residual: Tensor) -> tuple[Tensor, Tensor]:
        """Per sample, the index into :data:`SCALES` of each component's scale (the mean
        |error| of the coded blocks), (B, 2), and into :data:`SKIPS` of the skip
        probability that codes the flags in the fewest bits, (B,)."""
        skipped = self._skipped(residual).flatten(1)
        coded = (~skipped).sum(1).clamp_min(1)[:, None]
        fitted = (residual.abs().flatten(2).sum(-1) / coded).clamp_min(float(SCALES[0]))
        scales = (fitted.log()[..., None] - SCALES.to(fitted).log()).abs().argmin(-1)
        n, k = skipped.shape[1], skipped.sum(1, keepdim=True).to(fitted)
        p = SKIPS.to(fitted)
        skips = (-k * p.log2() - (n - k) * (1 - p).log2()).argmin(-1)
        return scales, skips

    def _likelihoods(self, residual: Tensor, scales: Tensor, skips: Tensor) -> dict[str, Tensor]:
        """The flags' likelihoods, (B, 1, h, w), and the coded blocks' errors', (B, 2, h, w),
        1 where a block skips."""
        skipped = self._skipped(residual)[:, None]
        p = SKIPS.to(residual)[skips].view(-1, 1, 1, 1)
        sizes = SCALES.to(residual)[scales][..., None, None].expand_as(residual)
        errors = self.laplace.likelihood_lower_bound(self.laplace._likelihood(residual, sizes))
        return {"skip": torch.where(skipped, p, 1 - p),
                "y": torch.where(skipped, torch.ones_like(errors), errors)}

    def _bits(self, residual: Tensor, scales: Tensor, skips: Tensor) -> Tensor:
        """(B, h, w) bits of each block: its flag and, if coded, its two errors."""
        return sum(-torch.log2(lik).sum(1) for lik in self._likelihoods(residual, scales, skips).values())

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

    def _rd_choice(self, v: Tensor, prediction: Tensor, ref: Reference, q: int, block: int,
                   spatial: bool, fit: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """Per block in coding order, its own vector or its prediction, whichever costs
        less in bits + λ·255²·SSE/3 (SSE: the change of the block's translated
        prediction; bits: under the scales and skip probability ``fit``); the chosen
        vectors and each sample's distortion term."""
        lam = self.lambdas[q] * 255**2 / 3
        target = self._translated(ref.frame, v, block, 0, 0)
        chosen, cost = v.clone(), v.new_zeros(v.shape[0])

        def decide(top: int, left: int, p: Tensor) -> None:
            h, w = p.shape[-2:]
            own = v[..., top:top + h, left:left + w]
            pred = self._translated(ref.frame, p, block, top, left)
            y0, x0 = top * block, left * block
            error = pred - target[..., y0:y0 + pred.shape[-2], x0:x0 + pred.shape[-1]]
            sse = self._block_sums(error.square().sum(1), block)
            skip = self._bits(torch.zeros_like(own), *fit) + lam * sse < self._bits(own - p, *fit)
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

    def _choose(self, flow: Tensor, q: int, block: int, ref: Reference | None,
                target: Tensor | None = None) -> tuple[Tensor, ...]:
        """Vectors of ``block`` pixels, and per sample the cheaper prediction's mode, residual,
        scale and skip indexes. The rate-distortion choice runs twice, the second time under
        the scales and skip probability of the first's choice."""
        rd = bool(self.lambdas) and ref is not None and ref.frame is not None
        v = (self._fitted(flow, block, ref.frame, target) if self.fit and ref is not None
             and ref.frame is not None else self._vectors(flow, block))
        modes, vectors, residuals, fits, costs = [], [], [], [], []
        for mode, prediction in self._predictions(v, block, ref).items():
            chosen, cost, fit = v, 0.0, self._fit(v - prediction)
            for _ in range(2 if rd else 0):
                chosen, cost = self._rd_choice(v, prediction, ref, q, block, mode == SPATIAL, fit)
                fit = self._fit(chosen - prediction if mode == TEMPORAL else
                                chosen - self._predictions(chosen, block, None)[SPATIAL])
            if mode == SPATIAL:  # the left neighbours are the chosen vectors
                prediction = self._predictions(chosen, block, None)[SPATIAL]
            residuals.append(chosen - prediction)
            fits.append(fit)  # the last choice's scales and skip probability
            costs.append(self._bits(residuals[-1], *fits[-1]).flatten(1).sum(1) + cost)
            modes.append(mode)
            vectors.append(chosen)
        best, sample = torch.stack(costs).argmin(0), torch.arange(v.shape[0], device=v.device)
        return (torch.stack(vectors)[best, sample], torch.tensor(modes, device=v.device)[best],
                torch.stack(residuals)[best, sample], torch.stack([f[0] for f in fits])[best, sample],
                torch.stack([f[1] for f in fits])[best, sample])

    @staticmethod
    def _dense(v: Tensor, size: tuple[int, int]) -> Tensor:
        return F.interpolate(v / PEL, size=size, mode="bilinear", align_corners=False)

    def forward(self, flow: Tensor, q: int, ref: Reference | None = None,
                target: Tensor | None = None) -> dict:
        v, _, r, scales, skips = self._choose(flow.detach(), q, self.blocks[q], ref, target)
        return {"x_hat": self._dense(v, flow.shape[-2:]), "likelihoods": self._likelihoods(r, scales, skips)}

    def compress(self, flow: Tensor, q: int, ref: Reference | None = None,
                 target: Tensor | None = None, alternative: int = 0) -> tuple[list[bytes], Tensor]:
        block = self.sizes(q)[alternative]
        v, mode, r, scales, skips = self._choose(flow, q, block, ref, target)
        if v.shape[0] != 1:
            raise ValueError("block motion codes one frame at a time")
        skipped = self._skipped(r)[0]
        if bool(skipped.all()):  # every vector its prediction: nothing for rANS to say
            return [bytes((block, int(mode[0])))], self._dense(v, flow.shape[-2:])
        flags = skipped.flatten().int().tolist()
        errors = [r[0, c][~skipped].int().tolist() for c in range(2)]
        encoder = BufferedRansEncoder()
        for symbols, index in ((flags, len(SCALES) + int(skips[0])),
                               (errors[0], int(scales[0, 0])), (errors[1], int(scales[0, 1]))):
            check_symbols(symbols)
            encoder.encode_with_indexes(symbols, [index] * len(symbols), *self._tables)
        header = bytes((block, int(mode[0]), int(scales[0, 0]), int(scales[0, 1]), int(skips[0])))
        return [header + trimmed(encoder.flush())], self._dense(v, flow.shape[-2:])

    def _decode_errors(self, body: bytes, r: Tensor, ix: int, iy: int, skip: int) -> None:
        """Decodes a record's rANS body into ``r`` (1, 2, h, w): the skip flags, then the
        coded blocks' two errors under the header's scale indexes."""
        grid = r.shape[-2:]
        decoder = RansDecoder()
        decoder.set_stream(body + bytes(padding(len(body), 3 * grid[0] * grid[1])))
        flags = torch.tensor(decoder.decode_stream([len(SCALES) + skip] * grid[0] * grid[1], *self._tables))
        if not bool(((flags == 0) | (flags == 1)).all()):
            raise ValueError("block-motion skip flags are corrupt")
        coded = flags.view(grid) == 0
        for c, index in enumerate((ix, iy)):
            r[0, c][coded] = torch.tensor(decoder.decode_stream([index] * int(coded.sum()), *self._tables),
                                          dtype=torch.float32)

    def decompress(self, strings: list[bytes], size: tuple[int, int], q: int,
                   ref: Reference | None = None) -> Tensor:
        length = len(strings[0]) if len(strings) == 1 else -1
        if length != SKIPPED and length < HEADER:
            raise ValueError(f"a block-motion record is one string of {SKIPPED} bytes (every block "
                             f"skipped) or of at least {HEADER}")
        block, mode = strings[0][:SKIPPED]
        ix, iy, skip = strings[0][SKIPPED:HEADER] or (0, 0, 0)
        if (block not in self.sizes(q) or mode not in (SPATIAL, TEMPORAL)
                or max(ix, iy, skip) >= len(SCALES)):
            raise ValueError("block-motion header does not match this model")
        if mode == TEMPORAL and (ref is None or ref.flow is None):
            raise ValueError("block-motion record predicts from a flow the reference lacks")
        grid = (math.ceil(size[0] / block), math.ceil(size[1] / block))
        r = torch.zeros(1, 2, *grid)
        if length > SKIPPED:
            self._decode_errors(strings[0][HEADER:], r, ix, iy, skip)
        if mode == TEMPORAL:
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
    fit = config.option("block-motion", "fit", 20)
    if not isinstance(fit, int) or isinstance(fit, bool) or fit < 0:
        raise ZooError(f"block-motion: option fit must be a number of steps >= 0, got {fit!r}")
    choices = tuple(config.option("block-motion", "choices", None) or ())
    if not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 255 for b in (*blocks, *choices)):
        raise ZooError(f"block-motion: block sizes must be 1..255 pixels, got {[*blocks, *choices]}")
    return BlockMotionCoder(blocks, config.lambdas if rdo else (), fit, choices)


@hookimpl
def zoo_describe() -> PluginInfo:
    return PluginInfo(summary="block motion vectors, quarter-pel, predictive Laplacian coding "
                              "(no training)", paper="as H.264/HEVC; Lu et al., CVPR 2019 for the slot",
                      options=(Option("blocks", list, None, "block size per quality index "
                                      "(default: 16, and 8 for the two highest qualities)",
                                      item=int),
                                   Option("rdo", bool, True, "rate-distortion optimised vectors "
                                          "(a block sends its prediction where that is cheaper)"),
                                   Option("fit", int, 20, "Adam steps fitting the vectors to the "
                                          "frame being coded (0: block averages)"),
                                   Option("choices", list, None, "other block sizes the encoder "
                                          "codes each P-frame with, keeping the cheapest in "
                                          "rate + λ·distortion (default: none)", item=int)))
