"""Comparisons a reviewer can trust: one protocol per comparison, BD figures with their evidence.

**Protocol.** Two results are compared only when they were measured the same
way: the same mode (``sequence`` or ``pframe``), the same rate (bytes written
and decoded, or an entropy estimate), the same colour handling, the same
sequences, and on each the same frames and intra period. A results file that
does not record these (e.g. a published CompressAI file) has an unknown
protocol. :func:`check_comparable` refuses any difference unless the caller
allows it, and then returns the differences so that the table can say them.

**BD figures.** The ``bjontegaard`` package's ``bd_rate`` (log10 rate as a
function of quality) and ``bd_psnr`` (quality as a function of log10 rate),
per sequence on its own rate points. Each carries the *overlap* of the two
curves along the axis it integrates over (quality for BD-rate, log10 rate for
BD-PSNR), measured as ``bjontegaard`` does: the common interval over the union
of the two. A sequence whose overlap is below ``min_overlap`` gives no number.
A set figure is the mean over classes of the mean over a class's sequences
that gave one, and it says how many sequences it rests on; with none it is
``n/a`` with the overlap it had.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from zoo.errors import ZooError

METHODS = ("pchip", "akima", "cubic")
DEFAULT_MIN_OVERLAP = 0.5

#: Metric name -> (per-frame statistic in a sequence's points, keys of a report's ``results``).
METRICS = {"psnr-rgb": ("psnr_rgb", ("psnr-rgb", "psnr")),
           "psnr-yuv": ("psnr_yuv", ("psnr-yuv",)),
           "ms-ssim": ("ms_ssim", ("ms-ssim-rgb", "ms-ssim"))}

#: How ``zoo eval`` and ``zoo bench`` measure colour (both through :mod:`zoo.core.coding`).
COLOUR = "8-bit 4:2:0 frames, BT.709 limited range"


# ------------------------------------------------------------------ protocols


def protocol_of(report: dict) -> dict[str, Any] | None:
    """What must match for two results to be compared; None when the file does not say."""
    proto = report.get("protocol") or {}
    mode = report.get("mode") or proto.get("mode")
    if mode is None or not report.get("sequences"):
        return None
    return {"mode": mode,
            "rate": "entropy estimate" if report.get("decoded") is False else "bytes written",
            "colour": proto.get("colour", COLOUR),
            "sequences": {f"{s['class']}/{s['name']}": {"frames": s.get("frames_coded"),
                                                        "intra period": s.get("intra_period")}
                          for s in report["sequences"]}}


def protocol_differences(a: dict, b: dict) -> list[str]:
    """How ``b`` was measured differently from ``a`` (empty: the same protocol)."""
    pa, pb = protocol_of(a), protocol_of(b)
    unknown = [r["name"] for r, p in ((a, pa), (b, pb)) if p is None]
    if unknown:
        return [f"{' and '.join(unknown)} record{'s' if len(unknown) == 1 else ''} no protocol "
                f"(mode, intra period, frames per sequence)"]
    out = [f"{key} {pb[key]} vs {pa[key]}" for key in ("mode", "rate", "colour") if pa[key] != pb[key]]
    sa, sb = pa["sequences"], pb["sequences"]
    if sa.keys() != sb.keys():
        out.append(f"sequences differ ({len(sa.keys() & sb.keys())} in common of "
                   f"{len(sa)} and {len(sb)})")
    for key in sorted(sa.keys() & sb.keys()):
        for what in ("frames", "intra period"):
            if sa[key][what] != sb[key][what]:
                out.append(f"{key}: {what} {sb[key][what]} vs {sa[key][what]}")
    return out


def check_comparable(reports: Sequence[dict], allow: bool = False) -> list[str]:
    """Each report's protocol against the first's: a ZooError at the first difference
    unless ``allow``; returns the differences (``"name vs name: ..."``)."""
    found = []
    for other in reports[1:]:
        diffs = protocol_differences(reports[0], other)
        if diffs and not allow:
            more = f" and {len(diffs) - 1} more" if len(diffs) > 1 else ""
            raise ZooError(f"{other['name']} and {reports[0]['name']} were measured under "
                           f"different protocols ({diffs[0]}{more}); pass --allow-cross-protocol "
                           f"to compare them anyway")
        found += [f"{other['name']} vs {reports[0]['name']}: {d}" for d in diffs]
    return found


# ------------------------------------------------------------------ one pair of curves


@dataclass
class Figure:
    """A BD figure and its evidence: None when it rests on no sequence."""

    value: float | None
    overlap: float  #: mean overlap of the sequences it rests on (of all, when it is n/a)
    sequences: int  #: sequences it rests on
    of: int  #: sequences it could have rested on
    note: str | None = None

    def cell(self, unit: str = "%") -> str:
        """``+312.0 % (78 % overlap, 6/6 seq.)`` or ``n/a (overlap 7 %)``."""
        if self.value is None:
            return f"n/a (overlap {self.overlap * 100:.0f} %)" if math.isfinite(self.overlap) \
                else f"n/a ({self.note or 'no curve'})"
        digits = 1 if unit == "%" else 2
        return (f"{self.value:+.{digits}f} {unit} ({self.overlap * 100:.0f} % overlap, "
                f"{self.sequences}/{self.of} seq.)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _points(rates: Sequence[float], dists: Sequence[float],
            quantity: str) -> list[tuple[float, float]] | str:
    """The usable (rate, quality) points of a curve, or why there are too few."""
    points = [(r, d) for r, d in zip(rates, dists) if math.isfinite(r) and r > 0 and math.isfinite(d)]
    if len(points) < 2:
        return "fewer than 2 rate points with bits and a finite quality"
    points.sort(key=lambda p: _base(*p, quantity))  # bjontegaard wants its base axis in order
    base = [_base(r, d, quantity) for r, d in points]
    if len(set(base)) < len(base):
        return "two rate points with the same " + ("quality" if quantity == "rate" else "rate")
    return points


def _base(rate: float, dist: float, quantity: str) -> float:
    """The axis a BD figure integrates over: quality for BD-rate, log10 rate for BD-PSNR."""
    return dist if quantity == "rate" else math.log10(rate)


def overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """The common interval of two ranges over their union (bjontegaard's measure)."""
    union = max(max(a), max(b)) - min(min(a), min(b))
    common = min(max(a), max(b)) - max(min(a), min(b))
    return max(common, 0.0) / union if union > 0 else 0.0


def bd(rate_anchor: Sequence[float], dist_anchor: Sequence[float], rate_test: Sequence[float],
       dist_test: Sequence[float], *, quantity: str = "rate", method: str = "pchip",
       min_overlap: float = DEFAULT_MIN_OVERLAP) -> Figure:
    """BD-rate (%, ``quantity="rate"``) or BD-PSNR (quality units, ``"psnr"``) of one pair."""
    import bjontegaard
    if method not in METHODS:
        raise ZooError(f"unknown interpolation {method!r} (choose from {', '.join(METHODS)})")
    curves = []
    for which, rates, dists in (("anchor", rate_anchor, dist_anchor), ("test", rate_test, dist_test)):
        points = _points(rates, dists, quantity)
        if isinstance(points, str):
            return Figure(None, math.nan, 0, 1, f"{which}: {points}")
        curves.append(points)
    shared = overlap(*([_base(r, d, quantity) for r, d in c] for c in curves))
    if shared <= 0 or shared < min_overlap:
        return Figure(None, shared, 0, 1, f"overlap {shared * 100:.0f} % < {min_overlap * 100:.0f} %")
    function = bjontegaard.bd_rate if quantity == "rate" else bjontegaard.bd_psnr
    (anchor, test) = ([[r for r, _ in c], [d for _, d in c]] for c in curves)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = function(*anchor, *test, method=method, require_matching_points=False, min_overlap=0)
    return Figure(float(value), shared, 1, 1)


# ------------------------------------------------------------------ reports


def ms_ssim_db(value: float) -> float:
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def sequence_curve(entry: dict, metric: str) -> tuple[list[float], list[float]]:
    """(bpp, quality) of one sequence's rate points; MS-SSIM in dB."""
    alls = [p["summary"]["all"] for p in entry["points"]]
    dists = [a[METRICS[metric][0]] for a in alls]
    if metric == "ms-ssim":
        dists = [ms_ssim_db(d) for d in dists]
    return [a["bpp"] for a in alls], dists


def set_curve(report: dict, metric: str) -> tuple[list[float], list[float]]:
    """(bpp, quality) of a report's set averages; MS-SSIM in dB."""
    res = report["results"]
    keys = [k for k in METRICS[metric][1] if k in res]
    if not keys or "bpp" not in res:
        raise ZooError(f"{report['name']}: its results have no 'bpp' and {METRICS[metric][1][0]!r}")
    dists = [float(v) for v in res[keys[0]]]
    if metric == "ms-ssim":
        dists = [ms_ssim_db(d) for d in dists]
    return [float(v) for v in res["bpp"]], dists


def bd_reports(anchor: dict, test: dict, metric: str = "psnr-rgb", *, quantity: str = "rate",
               method: str = "pchip", min_overlap: float = DEFAULT_MIN_OVERLAP) -> dict[str, Any]:
    """A BD figure of ``test`` against ``anchor``: over the set, per class, per sequence."""
    if not anchor.get("sequences") or not test.get("sequences"):  # e.g. a CompressAI results file
        figure = bd(*set_curve(anchor, metric), *set_curve(test, metric), quantity=quantity,
                    method=method, min_overlap=min_overlap)
        figure.note = "set averages (no per-sequence detail)" + (f"; {figure.note}" if figure.note else "")
        return {"set": figure.to_dict(), "classes": {}, "sequences": {}}
    anchors = {f"{s['class']}/{s['name']}": s for s in anchor["sequences"]}
    per_sequence: dict[str, Figure] = {}
    classes: dict[str, list[str]] = {}
    for entry in test["sequences"]:
        key = f"{entry['class']}/{entry['name']}"
        classes.setdefault(entry["class"], []).append(key)
        if key not in anchors:
            per_sequence[key] = Figure(None, math.nan, 0, 1, "not in the anchor's sequences")
            continue
        per_sequence[key] = bd(*sequence_curve(anchors[key], metric), *sequence_curve(entry, metric),
                               quantity=quantity, method=method, min_overlap=min_overlap)
    per_class = {cls: _combine([per_sequence[k] for k in keys]) for cls, keys in classes.items()}
    return {"set": _combine(list(per_sequence.values()), list(per_class.values())).to_dict(),
            "classes": {c: f.to_dict() for c, f in per_class.items()},
            "sequences": {k: f.to_dict() for k, f in per_sequence.items()}}


def _combine(figures: list[Figure], classes: list[Figure] | None = None) -> Figure:
    """Mean of the figures that have a value (of ``classes``' values when given)."""
    used = [f for f in figures if f.value is not None]
    measured = [f.overlap for f in figures if math.isfinite(f.overlap)]
    if not used:
        notes = sorted({f.note for f in figures if f.note})
        return Figure(None, sum(measured) / len(measured) if measured else math.nan, 0,
                      len(figures), "; ".join(notes) or None)
    means = [f.value for f in (classes if classes is not None else used) if f.value is not None]
    return Figure(sum(means) / len(means), sum(f.overlap for f in used) / len(used), len(used),
                  len(figures))


def figure(data: dict) -> Figure:
    """A :class:`Figure` back from its JSON form."""
    return Figure(**data)
