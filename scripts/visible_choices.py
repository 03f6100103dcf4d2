"""Run a ``zoo`` command whose encoder weighs its choices on the visible frame alone
(an experiment, not the zoo).

The pipeline pads each frame to a multiple of 64 and its encoder's choices (skipped
frame, block size, post-filter or not, ensemble member) weigh the distortion of the
whole padded frame. In this process they weigh the part before padding alone: the
size ``pad`` was given is kept, and the choices' costs crop both pictures to it. The
patch is made on import, so that ``--workers`` processes (spawned: they import this
module again) make it too. Measured in docs/evaluation.md ("Skipped frames"):

    python scripts/visible_choices.py eval --model M --data CLIPS --workers 2 -o OUT.json
"""

import sys

from torch import Tensor

import zoo.core.sequence
import zoo.eval.evaluate
from zoo.core.pipeline import PFrameCodec
from zoo.plugins.ensemble import Ensemble

_visible: tuple[int, int] | None = None  # the size of the frame padded last


def _pad(x: Tensor, pad=zoo.core.sequence.pad) -> Tensor:
    global _visible
    _visible = tuple(x.shape[-2:])
    return pad(x)


def _cropped(*pictures: Tensor) -> list[Tensor]:
    return [p[..., :_visible[0], :_visible[1]] for p in pictures]


def patch() -> None:
    cost, distortion, member_cost = PFrameCodec._cost, PFrameCodec._distortion, Ensemble._cost
    zoo.core.sequence.pad = zoo.eval.evaluate.pad = _pad
    PFrameCodec._cost = lambda self, x, payload, x_hat, q, weight=1.0: cost(
        self, _cropped(x)[0], payload, _cropped(x_hat)[0], q, weight)
    PFrameCodec._distortion = lambda self, x, x_hat, q: distortion(self, *_cropped(x, x_hat), q)
    Ensemble._cost = lambda self, x, x_hat, bits, q: member_cost(self, *_cropped(x, x_hat), bits, q)


patch()
if __name__ == "__main__":
    from zoo.cli import main
    sys.exit(main(sys.argv[1:]))
