"""``zoo speed``, reporting: the table, the notes on the targets, the plot and the Markdown.

A report is what :func:`zoo.eval.speed.measure.benchmark` returns (and ``zoo speed``
writes as JSON). The targets it is judged against are data, not code: a
:class:`Targets` read from a TOML file (``targets.toml`` beside this module holds
the issue's) and passed in; ``zoo speed --targets FILE`` judges against others,
and a report records the targets it was measured for. Without targets, no row
is marked and no target is noted.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from zoo.errors import ZooError
from .measure import REFERENCE, Options

BEGIN_MARK = "<!-- zoo speed: begin -->"
END_MARK = "<!-- zoo speed: end -->"

#: The issue's targets, the file ``zoo speed`` reads unless told ``--targets``.
DEFAULT_TARGETS = Path(__file__).with_name("targets.toml")


# ------------------------------------------------------------------ targets


@dataclass(frozen=True)
class Targets:
    """What a run is judged against."""

    model: str  #: the registry model the decode-speed target is for
    decode_ratio: float  #: ``model`` decodes at least this many times as fast as ssf2020
    peak_gib: float  #: peak memory at ``peak_size`` on CPU, encode and decode, below this
    peak_size: tuple[int, int]  #: (width, height)
    entropy_share: float  #: entropy coding's share of P-frame decode time, below this

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "targets") -> "Targets":
        """From a TOML table or a report's ``targets``; ZooError naming a missing or bad key."""
        kinds = {"model": str, "decode_ratio": (int, float), "peak_gib": (int, float),
                 "peak_size": list, "entropy_share": (int, float)}
        for key, kind in kinds.items():
            value = data.get(key) if isinstance(data, Mapping) else None
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ZooError(f"{where}: {key} is missing or not a {_kind_name(kind)}")
        size = data["peak_size"]
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ZooError(f"{where}: peak_size must be [width, height], got {size!r}")
        return cls(data["model"], float(data["decode_ratio"]), float(data["peak_gib"]),
                   (size[0], size[1]), float(data["entropy_share"]))

    def as_dict(self) -> dict[str, Any]:
        """As a report records them (JSON)."""
        return {"model": self.model, "decode_ratio": self.decode_ratio, "peak_gib": self.peak_gib,
                "peak_size": list(self.peak_size), "entropy_share": self.entropy_share}

    @property
    def decode_label(self) -> str:
        return f"decode ≥{self.decode_ratio:g}× {REFERENCE}"

    @property
    def peak_label(self) -> str:
        return f"peak <{self.peak_gib:g} GiB"

    @property
    def entropy_label(self) -> str:
        return f"entropy <{100 * self.entropy_share:g}%"


def _kind_name(kind: Any) -> str:
    return "number" if isinstance(kind, tuple) else {str: "string", list: "list"}[kind]


def load_targets(path: str | os.PathLike[str] = DEFAULT_TARGETS) -> Targets:
    """Targets from a TOML file (see ``targets.toml`` beside this module)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ZooError(f"{path}: cannot read speed targets ({e})") from None
    return Targets.from_dict(data, str(path))


def recorded_targets(report: dict) -> Targets | None:
    """The targets a report was measured for; None if it records none."""
    data = report.get("targets")
    return Targets.from_dict(data, "the report's targets") if data else None


# ------------------------------------------------------------------ reporting


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A report written by an earlier run (``-o``)."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ZooError(f"{path}: cannot read a zoo speed report ({e})") from e
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise ZooError(f"{path} is not a zoo speed report")
    return report


def targets(r: dict, t: Targets | None) -> dict[str, bool]:
    """The targets of ``t`` that apply to this row, met or not, by label."""
    out: dict[str, bool] = {}
    if "error" in r or t is None:
        return out
    if r["model"] == t.model and r.get("dec_ratio") is not None:
        out[t.decode_label] = r["dec_ratio"] >= t.decode_ratio
    if (r["width"], r["height"]) == t.peak_size and r["device"] == "cpu":
        out[t.peak_label] = r["peak_rss_gib"] < t.peak_gib
    if not r.get("reference") and not math.isnan(r["entropy_share"]):
        out[t.entropy_label] = r["entropy_share"] < t.entropy_share
    return out


def _fps(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


COLUMNS = ["model", "size", "device", "enc fps", "dec fps", "enc ×ssf", "dec ×ssf",
           "peak GiB", "entropy % (rANS %)", "exact"]


def rows(report: dict, t: Targets | None = None) -> list[list[str]]:
    """One row of strings per result, ✓ / ✗ where a target of ``t`` applies."""
    out = []
    for r in report["results"]:
        size = f"{r['width']}x{r['height']}"
        if "error" in r:
            out.append([r["model"], size, r["device"], "-", "-", "-", "-", "-", "-", r["error"]])
            continue
        met = targets(r, t)
        decode_mark, peak_mark, entropy_mark = (_mark(met.get(label)) for label in (
            (t.decode_label, t.peak_label, t.entropy_label) if t else (None, None, None)))
        ratio = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        peak = f"{r['peak_rss_gib']:.2f}"
        if r.get("peak_cuda_gib") is not None:
            peak += f" (GPU {r['peak_cuda_gib']:.2f})"
        entropy = f"{100 * r['entropy_share']:.1f} ({100 * r['rans_share']:.1f})"
        out.append([r["model"], size, r["device"], _fps(r["enc_fps"]), _fps(r["dec_fps"]),
                    ratio(r.get("enc_ratio")),
                    ratio(r.get("dec_ratio")) + decode_mark,
                    peak + peak_mark,
                    entropy + entropy_mark,
                    "yes" if r["exact"] else "NO"])
    return out


def notes(report: dict, t: Targets | None = None) -> list[str]:
    """The targets of ``t``, met or missed, in words; then what else a reader must know."""
    res = [r for r in report["results"] if "error" not in r]
    lines = _target_notes(res, t) if t else []
    inexact = [f"{r['model']} {r['width']}x{r['height']}" for r in res if not r["exact"]]
    if inexact:
        lines.append("decoded frames differ from the encoder's reconstruction: " + ", ".join(inexact))
    before = (report.get("load_average") or {}).get("before")
    if before and before[0] >= 0.5:
        lines.append(f"the machine was busy before the run started (load average {before[0]} on "
                     f"{report['machine'].get('cpus')} CPUs): these figures are contended")
    return lines


def _target_notes(res: list[dict], t: Targets) -> list[str]:
    lines = []
    target = [r for r in res if r["model"] == t.model and r.get("dec_ratio") is not None]
    if target:
        met = all(r["dec_ratio"] >= t.decode_ratio for r in target)
        detail = ", ".join(f"{r['width']}x{r['height']} {r['device']} {r['dec_ratio']:.2f}×"
                           for r in target)
        lines.append(f"{t.model} decodes ≥{t.decode_ratio:g}× as fast as {REFERENCE} at "
                     f"every size: {'met' if met else 'missed'} ({detail})")
    big = [r for r in res if (r["width"], r["height"]) == t.peak_size and r["device"] == "cpu"
           and not r.get("reference")]
    if big:
        over = [r["model"] for r in big if r["peak_rss_gib"] >= t.peak_gib]
        lines.append(f"{t.peak_size[1]}p CPU peak memory <{t.peak_gib:g} GiB: "
                     + ("met by every model" if not over else f"missed by {', '.join(over)}")
                     + f" (max {max(r['peak_rss_gib'] for r in big):.2f} GiB)")
    zoo_rows = [r for r in res if not r.get("reference")]
    if zoo_rows:
        worst = max(zoo_rows, key=lambda r: r["entropy_share"])
        lines.append(f"entropy coding <{100 * t.entropy_share:g}% of decode: "
                     f"{'met' if worst['entropy_share'] < t.entropy_share else 'missed'} "
                     f"(max {100 * worst['entropy_share']:.1f}%, {worst['model']} "
                     f"{worst['width']}x{worst['height']}"
                     + ("" if all(r.get("trained") for r in zoo_rows) else
                        "; untrained latents are mostly zeros, which makes entropy coding look cheap")
                     + ")")
    return lines


def markdown(report: dict, t: Targets | None = None, plot: str | None = None) -> str:
    """The table, the command and the notes (on the targets of ``t``), in Markdown."""
    m = report["machine"]
    lines = [f"Command: `{report['command']}`", "",
             f"Machine: {m['processor']}, {m['cpus']} CPUs, {m.get('cuda', 'no GPU')}; "
             f"PyTorch {m['torch']}, CompressAI {m['compressai']}, "
             f"{report['results'][0].get('threads', m['default_threads']) if report['results'] else '?'}"
             f" threads, allocator {report['results'][0].get('allocator', '?') if report['results'] else '?'}"
             f" (zoo.core.allocator); {report['date']}; load average before/after "
             f"{(report['load_average']['before'] or ['?'])[0]} / "
             f"{(report['load_average']['after'] or ['?'])[0]}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows(report, t)]
    lines.append("")
    lines += [f"- {n}" for n in notes(report, t)]
    lines += ["", "Where decode time goes (seconds per P-frame, exclusive: each part without "
              "the parts and entropy coding it calls):", "",
              "| model | size | device | decode s/frame | by part |", "|---|---|---|---|---|"]
    for r in report["results"]:
        if "error" in r:
            continue
        parts = sorted(r["decode_parts_s"].items(), key=lambda kv: -kv[1])
        total = r["dec_s_per_frame"]
        cells = ", ".join(f"{k} {v:.3g} ({100 * v / total:.0f}%)" for k, v in parts
                          if v >= 0.005 * total)
        lines.append(f"| {r['model']} | {r['width']}x{r['height']} | {r['device']} | "
                     f"{total:.3g} | {cells} |")
    counted = [r for r in report["results"] if "error" not in r and r.get("decode_macs_per_pixel")]
    if counted:
        lines += ["", "Convolution multiply-accumulates per source pixel of a P-frame decode "
                  "(`--profile-ops`):", "", "| model | size | kMAC/pixel | by part |",
                  "|---|---|---|---|"]
        for r in counted:
            macs = r["decode_macs_per_pixel"]
            cells = ", ".join(f"{k} {v / 1e3:.1f}k" for k, v in macs.items() if v)
            lines.append(f"| {r['model']} | {r['width']}x{r['height']} | "
                         f"{sum(macs.values()) / 1e3:.1f} | {cells} |")
    if plot:
        lines += ["", f"![seconds per P-frame against pixels per frame]({plot})"]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, text: str, relative_plot: str | None = None) -> None:
    """Replace the block between the markers in ``path`` (or write a new file)."""
    block = f"{BEGIN_MARK}\n{text}{END_MARK}"
    if path.is_file():
        old = path.read_text()
        if BEGIN_MARK in old and END_MARK in old:
            head, rest = old.split(BEGIN_MARK, 1)
            tail = rest.split(END_MARK, 1)[1]
            path.write_text(head + block + tail)
            return
        path.write_text(old.rstrip("\n") + "\n\n" + block + "\n")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block + "\n")


def plot(report: dict, output: str | os.PathLike[str]) -> None:
    """Seconds per P-frame (encode, decode) against pixels per frame, log-log."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = [r for r in report["results"] if "error" not in r]
    if not res:
        raise ZooError("no measurement to plot")
    series: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in res:
        series[(r["model"], r["device"])].append(r)
    colours = plt.get_cmap("tab20").colors
    names = sorted({m for m, _ in series if m != REFERENCE})
    several_devices = len({d for _, d in series}) > 1
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    for ax, key, what in ((axes[0], "enc_s_per_frame", "encode"),
                          (axes[1], "dec_s_per_frame", "decode")):
        for (model, device), points in sorted(series.items()):
            points = sorted(points, key=lambda r: r["pixels"])
            ref = model == REFERENCE
            ax.plot([r["pixels"] for r in points], [r[key] for r in points],
                    marker="o", linewidth=2.5 if ref else 1.2,
                    linestyle="--" if ref else ("-" if device == "cpu" else ":"),
                    color="black" if ref else colours[names.index(model) % len(colours)],
                    label=model + (f" ({device})" if several_devices else ""))
        refs = sorted((r for r in res if r["model"] == REFERENCE and r["device"] == res[0]["device"]),
                      key=lambda r: r["pixels"])
        if len({r["pixels"] for r in refs}) > 1:  # cost proportional to pixels, through ssf2020's first point
            lo, hi = refs[0], refs[-1]
            ax.plot([lo["pixels"], hi["pixels"]], [lo[key], lo[key] * hi["pixels"] / lo["pixels"]],
                    color="grey", linewidth=0.8, linestyle=(0, (1, 3)), label="∝ pixels")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("pixels per frame")
        ax.set_title(f"{what}: seconds per P-frame")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds per P-frame")
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle(f"zoo speed — {report['machine']['processor']}, "
                 f"{res[0].get('threads', '?')} threads, {report['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(output, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_report(report: dict, opts: Options, t: Targets | None = None) -> list[Path]:
    """The JSON report, and the plot and the Markdown table (judged against ``t``) when
    asked; paths written."""
    written = []
    out = Path(opts.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(report, indent=1, allow_nan=True))
    os.replace(tmp, out)
    written.append(out)
    if opts.plot:
        Path(opts.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(report, opts.plot)
        written.append(Path(opts.plot))
    if opts.markdown:
        md = Path(opts.markdown)
        image = None
        if opts.plot:
            image = os.path.relpath(Path(opts.plot).resolve(), md.resolve().parent)
        write_markdown(md, markdown(report, t, image))
        written.append(md)
    return written
