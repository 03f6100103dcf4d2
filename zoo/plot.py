"""Rate-distortion curves: PSNR and MS-SSIM against bpp, one line per run.

Reads the reports of ``zoo eval``, ``zoo bench`` and ``zoo ablate`` (their
``results``), and CompressAI's results files (``{"name", "results": {"bpp",
"psnr-rgb" or "psnr", "ms-ssim-rgb" or "ms-ssim"}}``). MS-SSIM is drawn in dB,
``-10 log10(1 - MS-SSIM)``, as ``compressai.utils.plot`` does.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

from .atomic import atomic_write
from .errors import ZooError
from .evaluate import load_runs


def _series(run: dict, keys: Sequence[str]) -> list[float] | None:
    for key in keys:
        if key in run["results"]:
            return [float(v) for v in run["results"][key]]
    return None


def plot(paths: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str],
         title: str | None = None) -> list[str]:
    """Draw every run of every file into ``output`` (any format matplotlib writes);
    returns the names drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [run for path in paths for run in load_runs(path)]
    if not runs:
        raise ZooError("no results to plot")
    fig, (ax_psnr, ax_ssim) = plt.subplots(1, 2, figsize=(12, 4.8))
    names = []
    for run in runs:
        bpp = _series(run, ["bpp"])
        psnr = _series(run, ["psnr-rgb", "psnr"])
        ssim = _series(run, ["ms-ssim-rgb", "ms-ssim"])
        if bpp is None or (psnr is None and ssim is None):
            raise ZooError(f"{run['name']}: results need 'bpp' and 'psnr-rgb' or 'ms-ssim-rgb'")
        label = run["name"] + ("" if run.get("model", {}).get("trained", True) else " (untrained)")
        style = "--" if run.get("kind") == "anchor" else "-"
        for ax, values in ((ax_psnr, psnr), (ax_ssim, ssim)):
            if values is None:
                continue
            if ax is ax_ssim:
                values = [math.inf if v >= 1 else -10 * math.log10(1 - v) for v in values]
            points = sorted(zip(bpp, values))
            ax.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", label=label)
        names.append(run["name"])
    ax_psnr.set(xlabel="bpp", ylabel="PSNR-RGB (dB)", title="PSNR")
    ax_ssim.set(xlabel="bpp", ylabel="MS-SSIM (dB)", title="MS-SSIM (RGB)")
    for ax in (ax_psnr, ax_ssim):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        # a temporary file renamed into place; the format from the real name
        with atomic_write(output) as f:
            fig.savefig(f, dpi=120, format=output.suffix[1:].lower() or None)
    except (OSError, ValueError) as e:
        raise ZooError(f"{output}: cannot write the plot: {e}") from e
    finally:
        plt.close(fig)
    return names
