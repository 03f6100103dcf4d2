"""Run a ``zoo`` command whose ensembles weigh the distortion in their member choice by
``$ENSEMBLE_WEIGHT`` (an experiment, not the zoo).

An ensemble keeps, per P-frame, the member of lowest ``bits + λ·distortion`` (its
option ``criterion``; zoo.plugins.ensemble). In this process that cost is ``bits + w·λ·
distortion``, w = ``$ENSEMBLE_WEIGHT`` (default 1: the zoo's). The patch is made on
import, so that ``--workers`` processes (spawned: they import this module again) make it
too. Measured in docs/evaluation.md ("Skipped frames"):

    ENSEMBLE_WEIGHT=3 python scripts/ensemble_weight.py eval --model M --data CLIPS -o OUT.json
"""

import os
import sys

from zoo.core.metrics import RD_CRITERIA, rd_cost
from zoo.errors import ZooError
from zoo.plugins.ensemble import Ensemble


def patch(weight: float) -> None:
    def cost(self, x, x_hat, bits, q):
        if self.criterion not in RD_CRITERIA:
            raise ZooError(f"$ENSEMBLE_WEIGHT weighs an rd criterion's distortion, not {self.criterion}")
        return rd_cost(x, x_hat, bits, self.lambdas, q, self.criterion, weight)

    Ensemble._cost = cost


patch(float(os.environ.get("ENSEMBLE_WEIGHT", "1")))
if __name__ == "__main__":
    from zoo.cli import main
    sys.exit(main(sys.argv[1:]))
