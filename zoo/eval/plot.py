"""Rate-distortion curves: one quality metric against bpp, one line per run, one protocol.

Reads the reports of ``zoo eval``, ``zoo bench`` and ``zoo ablate`` (their
``runs``), and CompressAI's results files (``{"name", "results": {"bpp" or
"bitrate", "psnr-rgb", "psnr-yuv", "ms-ssim-rgb", ...}}``, loaded by
:func:`zoo.eval.evaluate.load_runs`). Every run must share the first run's protocol
(:mod:`zoo.eval.compare`) unless the caller allows otherwise; the chart then says
"cross-protocol" and marks the runs whose protocol differs or is unknown.
MS-SSIM is drawn in dB, ``-10 log10(1 - MS-SSIM)``, as ``compressai.utils.plot`` does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from zoo.errors import ZooError
from zoo.io.atomic import atomic_write
from .compare import check_comparable, protocol_of, set_curve

AXIS = {"psnr-rgb": "PSNR-RGB (dB)", "psnr-yuv": "PSNR-YUV (6Y+U+V)/8 (dB)",
        "ms-ssim": "MS-SSIM (RGB, dB)"}


def parse_limits(text: str | None, flag: str) -> tuple[float, float] | None:
    """``"0,0.5"`` -> (0.0, 0.5)."""
    if not text:
        return None
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise ZooError(f"{flag} takes LOW,HIGH, e.g. 0,0.5, got {text!r}") from None
    if not low < high:
        raise ZooError(f"{flag} {text!r}: LOW must be below HIGH")
    return low, high


def plot(runs: Sequence[dict], output: str | os.PathLike[str], title: str | None = None, *,
         metric: str = "psnr-rgb", xlim: tuple[float, float] | None = None,
         ylim: tuple[float, float] | None = None, allow_cross_protocol: bool = False) -> tuple[list[str], list[str]]:
    """Draw every run into ``output`` (any format matplotlib writes); returns the names drawn
    and the protocol differences allowed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        raise ZooError("no results to plot")
    if metric not in AXIS:
        raise ZooError(f"unknown metric {metric!r} (choose from {', '.join(AXIS)})")
    differences = check_comparable(runs, allow_cross_protocol)
    first = protocol_of(runs[0])
    fig, ax = plt.subplots(figsize=(7, 5))
    names = []
    for run in runs:
        bpp, values = set_curve(run, metric)
        marks = [" (untrained)" if not run.get("model", {}).get("trained", True) else "",
                 " (entropy estimate)" if run.get("decoded") is False else "",
                 " (protocol unknown)" if protocol_of(run) is None else ""]
        style = "--" if run.get("kind") == "anchor" else "-"
        points = sorted(zip(bpp, values))
        ax.plot([p[0] for p in points], [p[1] for p in points], style, marker="o",
                label=run["name"] + "".join(marks))
        names.append(run["name"])
    mode = f"{first['mode']} mode" if first else "protocol unknown"
    label = mode + (", CROSS-PROTOCOL (zoo plot lists the differences)" if differences else "")
    ax.set(xlabel="bpp", ylabel=AXIS[metric], title=f"{title or AXIS[metric]}\n{label}")
    if xlim:
        ax.set_xlim(*xlim)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
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
    return names, differences
