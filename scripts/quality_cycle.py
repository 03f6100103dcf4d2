"""Run a ``zoo`` command with per-P-frame quality offsets (an experiment, not the zoo).

In this process, the P-frame ``n`` after each I-frame (n = 1, 2, ...) is coded and
decoded at quality ``q + offsets[(n - 1) % len(offsets)]``, clamped to the model's
ladder, where ``q`` is the stream's: a hierarchical quality structure in low delay,
as HM's low-delay configurations and DCVC-DC (CVPR 2023) use, on weights trained
without one. The patch is made on import, so that ``--workers`` processes (spawned:
they import this module again) make it too. Measured in docs/training.md ("What would close the gap"):

    QCYCLE=0,0,0,1 python scripts/quality_cycle.py eval --model M --data CLIPS --workers 2 -o OUT.json
"""

import os
import sys

from zoo.core.pipeline import PFrameCodec

OFFSETS = [int(v) for v in os.environ.get("QCYCLE", "0").split(",")]


def _quality(codec: PFrameCodec, q: int) -> int:
    codec.p_frames_since_intra += 1
    offset = OFFSETS[(codec.p_frames_since_intra - 1) % len(OFFSETS)]
    return min(max(q + offset, 0), codec.qualities - 1)


def patch() -> None:
    intra_compress, intra_decompress = PFrameCodec.intra_compress, PFrameCodec.intra_decompress
    compress, decompress = PFrameCodec.compress, PFrameCodec.decompress

    def restart(method):
        def at_intra(self, *args, **kwargs):
            self.p_frames_since_intra = 0
            return method(self, *args, **kwargs)
        return at_intra

    PFrameCodec.intra_compress, PFrameCodec.intra_decompress = map(restart, (intra_compress, intra_decompress))
    PFrameCodec.compress = lambda self, x, ref, q, **kw: compress(self, x, ref, _quality(self, q), **kw)
    PFrameCodec.decompress = lambda self, payload, ref, q: decompress(self, payload, ref, _quality(self, q))


patch()
if __name__ == "__main__":
    from zoo.cli import main
    sys.exit(main(sys.argv[1:]))
