"""Run a ``zoo`` command whose encoder also tries skipping blocks (an experiment, not the zoo).

In this process, each P-frame is also coded with a fraction of its visible 32x32 blocks
(the ones its prediction matches best, in mean squared error) replaced by the
prediction before the residual domain codes it, so that its residual is zero there, as
in H.264's skipped macroblocks, for each fraction in ``BLOCK_SKIP`` (default
0.25,0.5,0.75; block size ``BLOCK_SIZE``, default 32). Among the frame as the zoo codes
it and these, the encoder keeps the one of least bits + ``skip_weight`` · distortion
(the weight its own skip decision uses). The bitstream is the zoo's: the decoder is
unchanged. The patch is made on import, so that ``--workers`` processes (spawned: they
import this module again) make it too. Measured in docs/evaluation.md ("Skipped
frames"):

    python scripts/block_skip.py eval --model M --data CLIPS --workers 2 -o OUT.json
"""

import os
import sys

import torch
import torch.nn.functional as F

from zoo.core import pipeline

FRACTIONS = [float(v) for v in os.environ.get("BLOCK_SKIP", "0.25,0.5,0.75").split(",")]
BLOCK = int(os.environ.get("BLOCK_SIZE", "32"))


def fill_blocks(x, prediction, fraction, visible):
    """``x`` with ``prediction`` in the ``fraction`` of its visible blocks it matches best."""
    h, w = visible or x.shape[-2:]
    error = (x - prediction)[..., :h, :w].pow(2).mean(dim=1, keepdim=True)
    blocks = F.avg_pool2d(error, BLOCK, ceil_mode=True)
    k = int(fraction * blocks[0].numel())
    if k < 1:
        return x
    threshold = blocks.flatten(1).kthvalue(k, dim=1).values.view(-1, 1, 1, 1)
    mask = F.interpolate((blocks <= threshold).to(x.dtype), scale_factor=BLOCK, mode="nearest")
    mask = F.pad(mask[..., :h, :w], (0, x.shape[-1] - w, 0, x.shape[-2] - h), value=1.0)
    return torch.where(mask.bool(), prediction, x)


def patch() -> None:
    compress, fill_padding = pipeline.PFrameCodec.compress, pipeline.fill_padding

    def with_block_skip(self, x, ref, q, referenced=True, visible=None):
        weight = self.skip_weight if referenced else self.skip_weight_unreferenced
        cost = lambda c: self._cost(x, c[0], c[1], q, weight)  # noqa: E731
        best = compress(self, x, ref, q, referenced, visible)
        for fraction in FRACTIONS:
            pipeline.fill_padding = lambda x, p, v, f=fraction: fill_blocks(fill_padding(x, p, v), p, f, v)
            try:
                candidate = compress(self, x, ref, q, referenced, visible)
            finally:
                pipeline.fill_padding = fill_padding
            if cost(candidate) < cost(best):
                best = candidate
        return best

    pipeline.PFrameCodec.compress = with_block_skip


patch()
if __name__ == "__main__":
    from zoo.cli import main
    sys.exit(main(sys.argv[1:]))
