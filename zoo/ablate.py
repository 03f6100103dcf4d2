"""Ablations: a table in the form of Feng et al.'s Table 1, with BD-rates.

Every row (a plugin set or a registry model) is evaluated with
:func:`zoo.evaluate.evaluate` on the same sequences. The table shows, at one
rate point per row, which components are on, the data size, the model size,
MS-SSIM, PSNR and the CLIC score (Feng et al., "Learned Video Compression with
Feature-level Residuals", CVPRW 2020, Table 1); beside them the BD-rate of the
row against the first row and against each anchor, over all rate points.

BD-rate: the ``bjontegaard`` package's ``bd_rate`` (log10 rate interpolated as
a function of the distortion, ``pchip`` by default, over the overlap of the two
curves; negative means fewer bits for the same quality). It is computed per
sequence on that sequence's own curve (bpp against PSNR-RGB, or against
MS-SSIM in dB, ``-10 log10(1 - MS-SSIM)``), averaged per class over the
sequences where it is defined, then over classes.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

from .build import ModelSpec
from .errors import ZooError
from .evaluate import ModelRequest, NullProgress, SequenceSpec, Table, evaluate, load_runs
from .manager import Zoo
from .registry import find_model, load_registry

METHODS = ("pchip", "akima", "cubic")
DISTORTIONS = {"psnr": "psnr_rgb", "ms-ssim": "ms_ssim"}
BD_AVERAGING = ("BD-rate per sequence (its own rate points), mean over a class's sequences "
                "where it is defined, then mean over classes")


# ------------------------------------------------------------------ BD-rate


def ms_ssim_db(value: float) -> float:
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def _curve(rates: Sequence[float], dists: Sequence[float]) -> tuple[list[float], list[float]] | str:
    pairs = sorted((d, r) for r, d in zip(rates, dists)
                   if math.isfinite(r) and r > 0 and math.isfinite(d))
    if len(pairs) < 2:
        return "fewer than 2 rate points with a finite rate and distortion"
    if any(a[0] == b[0] for a, b in zip(pairs, pairs[1:])):
        return "two rate points have the same distortion"
    return [r for _, r in pairs], [d for d, _ in pairs]


def bd_rate(rate_anchor: Sequence[float], dist_anchor: Sequence[float], rate_test: Sequence[float],
            dist_test: Sequence[float], method: str = "pchip") -> tuple[float, str | None]:
    """BD-rate of test against anchor in percent, and a note (why it is NaN, or a warning)."""
    import bjontegaard
    if method not in METHODS:
        raise ZooError(f"unknown interpolation {method!r} (choose from {', '.join(METHODS)})")
    anchor, test = _curve(rate_anchor, dist_anchor), _curve(rate_test, dist_test)
    for which, curve in (("anchor", anchor), ("test", test)):
        if isinstance(curve, str):
            return math.nan, f"{which}: {curve}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = bjontegaard.bd_rate(anchor[0], anchor[1], test[0], test[1], method=method,
                                    require_matching_points=False)
    notes = "; ".join(str(w.message) for w in caught)
    return float(value), notes or None


def sequence_curve(entry: dict, distortion: str) -> tuple[list[float], list[float]]:
    """(bpp, distortion) of one sequence's rate points; MS-SSIM in dB."""
    alls = [p["summary"]["all"] for p in entry["points"]]
    dists = [a[DISTORTIONS[distortion]] for a in alls]
    if distortion == "ms-ssim":
        dists = [ms_ssim_db(d) for d in dists]
    return [a["bpp"] for a in alls], dists


def set_curve(report: dict, distortion: str) -> tuple[list[float], list[float]]:
    """(bpp, distortion) of a report's set averages (``results``); MS-SSIM in dB."""
    res = report["results"]
    key = {"psnr": "psnr-rgb", "ms-ssim": "ms-ssim-rgb"}[distortion]
    dists = res.get(key, res.get(key[:-4], []))
    if distortion == "ms-ssim":
        dists = [ms_ssim_db(d) for d in dists]
    return list(res.get("bpp", [])), list(dists)


def bd_rate_reports(anchor: dict, test: dict, distortion: str = "psnr",
                    method: str = "pchip") -> dict[str, Any]:
    """BD-rate of a report against another, per sequence, per class and over classes."""
    if not anchor.get("sequences") or not test.get("sequences"):  # e.g. a CompressAI results file
        value, note = bd_rate(*set_curve(anchor, distortion), *set_curve(test, distortion),
                              method=method)
        return {"bd_rate": value, "classes": {}, "sequences": {},
                "notes": {"set": "no per-sequence detail: BD-rate of the set averages"
                                 + (f"; {note}" if note else "")}}
    anchors = {f"{s['class']}/{s['name']}": s for s in anchor["sequences"]}
    per_sequence: dict[str, float] = {}
    notes: dict[str, str] = {}
    classes: dict[str, list[float]] = {}
    for entry in test["sequences"]:
        key = f"{entry['class']}/{entry['name']}"
        if key not in anchors:
            notes[key] = "not in the anchor's sequences"
            continue
        value, note = bd_rate(*sequence_curve(anchors[key], distortion),
                              *sequence_curve(entry, distortion), method=method)
        per_sequence[key] = value
        if note:
            notes[key] = note
        if math.isfinite(value):
            classes.setdefault(entry["class"], []).append(value)
    per_class = {c: sum(v) / len(v) for c, v in classes.items()}
    overall = sum(per_class.values()) / len(per_class) if per_class else math.nan
    return {"bd_rate": overall, "classes": per_class, "sequences": per_sequence, "notes": notes}


# ------------------------------------------------------------------ rows


@dataclass(frozen=True)
class Row:
    label: str
    request: ModelRequest


def parse_rows(rows: str | None, models: str | None, preset: str = "lite",
               options: dict | None = None, untrained: bool = False) -> list[Row]:
    """``--rows "a; b,c"`` (plugin sets; ``defaults`` for the default plugins) or
    ``--models m1,m2`` (registry models)."""
    if bool(rows) == bool(models):
        raise ZooError("give either --rows (plugin sets) or --models (registry models)")
    out: list[Row] = []
    if models:
        for name in (m.strip() for m in models.split(",")):
            if name:
                out.append(Row(name, ModelRequest(name=name, untrained=untrained)))
    else:
        for text in (r.strip() for r in rows.split(";")):
            if not text:
                continue
            plugins = () if text == "defaults" else tuple(
                p.strip() for p in text.split(",") if p.strip())
            out.append(Row(",".join(plugins) or "defaults",
                           ModelRequest(spec=ModelSpec(plugins, preset, dict(options or {})),
                                        untrained=untrained)))
    if not out:
        raise ZooError("no rows to evaluate")
    return out


def components(report: dict, registry: dict | None = None) -> list[str]:
    """The plugins a row turns on; a composed model's members' plugins (named by the
    composing plugin's ``members`` option), then the composing plugin."""
    plugins = list(report["model"].get("plugins", []))
    zoo = Zoo.load()
    composers = [p for p in plugins if p in zoo.plugins and "compose" in zoo.plugins[p].slots]
    if not composers:
        return plugins
    registry = registry if registry is not None else load_registry()
    out: list[str] = []
    for composer in composers:
        for member in report["model"].get("options", {}).get(composer, {}).get("members", []):
            for p in find_model(member, registry).plugins:
                if p not in out:
                    out.append(p)
    return out + [p for p in plugins if p not in out]


def _point(report: dict, quality: int | None) -> int:
    res = report["results"]
    if quality is None:
        return len(res["bpp"]) - 1
    if quality not in res.get("quality", []):
        raise ZooError(f"{report['name']} has no quality {quality} (it has {res.get('quality')})")
    return res["quality"].index(quality)


# ------------------------------------------------------------------ the ablation


def ablate(rows: list[Row], specs: list[SequenceSpec], *, qualities: str | None = None,
           mode: str = "pframe", workers: int = 1, anchors: Sequence[str] = (),
           table_quality: int | None = None, method: str = "pchip",
           progress: NullProgress = NullProgress()) -> dict | None:
    """Evaluate every row and build the table (None on torchrun ranks > 0)."""
    if method not in METHODS:
        raise ZooError(f"unknown interpolation {method!r} (choose from {', '.join(METHODS)})")
    reports = []
    for row in rows:
        report = evaluate(row.request, specs, qualities=qualities, mode=mode, workers=workers,
                          progress=progress)
        if report is None:
            return None
        reports.append(report)
    return tabulate(reports, [row.label for row in rows], anchors=anchors,
                    table_quality=table_quality, method=method)


def tabulate(reports: list[dict], labels: Sequence[str] | None = None, *,
             anchors: Sequence[str] = (), table_quality: int | None = None,
             method: str = "pchip") -> dict:
    """The table of already evaluated reports (``zoo eval`` JSON), first row the reference
    (``bd_rate`` refuses an unknown ``method``)."""
    modes = {r.get("mode") for r in reports}
    if len(modes) != 1:
        raise ZooError(f"the rows were evaluated in different modes ({', '.join(map(str, modes))})")
    mode = modes.pop()
    labels = list(labels) if labels is not None else [r["name"] for r in reports]
    anchor_runs = [run for path in anchors for run in load_runs(path)]
    registry = load_registry()
    comps: list[str] = []
    for report in reports:
        comps += [c for c in components(report, registry) if c not in comps]
    table = []
    for i, (label, report) in enumerate(zip(labels, reports)):
        k = _point(report, table_quality)
        res = report["results"]
        on = components(report, registry)
        entry = {"#": i + 1, "model": report["name"], "row": label,
                 "trained": report["model"]["trained"],
                 "components": {c: c in on for c in comps}, "quality": res["quality"][k],
                 "data_size": res["data-size"][k], "model_size": res["model-size"][k],
                 "ms_ssim": res["ms-ssim-rgb"][k], "psnr": res["psnr-rgb"][k],
                 "clic_score": res["clic-score"][k], "bpp": res["bpp"][k], "bd_rate": {}}
        for against in [("#1", reports[0])] + [(run["name"], run) for run in anchor_runs]:
            entry["bd_rate"][against[0]] = {
                d: bd_rate_reports(against[1], report, d, method) for d in DISTORTIONS}
        table.append(entry)
    untrained = [e["model"] for e in table if not e["trained"]]
    return {
        "name": "ablation",
        "description": f"zoo ablate, mode {mode}, {len(reports)} rows"
                       + (", untrained rows: " + ", ".join(untrained) if untrained else ""),
        "protocol": {"mode": mode, "table_point": "highest quality of each row" if table_quality is None
                     else f"quality {table_quality}", "bd_rate": f"bjontegaard.bd_rate, {method}",
                     "bd_rate_averaging": BD_AVERAGING,
                     "distortions": "PSNR-RGB; MS-SSIM (RGB) in dB for BD-rate",
                     "anchors": [run["name"] for run in anchor_runs],
                     "metrics": reports[0]["protocol"]},
        "components": comps,
        "table": table,
        "runs": reports,
    }


def _fmt_bd(value: float) -> str:
    return f"{value:+.2f}%" if math.isfinite(value) else "n/a"


def table_view(result: dict) -> Table:
    """The table as strings: the form of Feng et al.'s Table 1 plus BD-rate columns."""
    comps = result["components"]
    against = list(result["table"][0]["bd_rate"]) if result["table"] else []
    columns = ["#", "model", *comps, "data size (B)", "model size (B)", "MS-SSIM", "PSNR (dB)",
               "CLIC score"]
    for name in against:
        columns += [f"BD-rate PSNR vs {name}", f"BD-rate MS-SSIM vs {name}"]
    view = Table(f"ablation ({result['protocol']['mode']} mode, "
                 f"{result['protocol']['table_point']})", columns)
    for e in result["table"]:
        cells = [str(e["#"]), e["model"] + ("" if e["trained"] else " (untrained)"),
                 *("✓" if e["components"][c] else "" for c in comps), str(e["data_size"]),
                 str(e["model_size"]), f"{e['ms_ssim']:.4f}", f"{e['psnr']:.2f}",
                 f"{e['clic_score']:.4g}"]
        for name in against:
            cells += [_fmt_bd(e["bd_rate"][name][d]["bd_rate"]) for d in DISTORTIONS]
        view.rows.append(cells)
    return view


def notes(result: dict) -> list[str]:
    p = result["protocol"]
    lines = [f"Rows evaluated in {p['mode']} mode; table values at the {p['table_point']}; "
             f"data size: bytes over the set; CLIC score = model size + 100 x data size.",
             f"BD-rate: {p['bd_rate']} interpolation (negative: fewer bits at equal quality); "
             f"{p['bd_rate_averaging']}; MS-SSIM in dB.",
             f"Averages: {p['metrics']['averaging']}."]
    reasons: dict[str, set[str]] = {}
    for e in result["table"]:
        for against, by_distortion in e["bd_rate"].items():
            for out in by_distortion.values():
                if not math.isfinite(out["bd_rate"]):
                    for why in out.get("notes", {}).values() or ["no sequence in common"]:
                        reasons.setdefault(why, set()).add(f"#{e['#']} vs {against}")
    for why, where in reasons.items():
        lines.append(f"n/a ({', '.join(sorted(where))}): {why}")
    if "untrained rows" in result["description"]:
        lines.append("Untrained rows run on seeded random weights: their figures say nothing "
                     "about the technique.")
    return lines


def to_markdown(result: dict) -> str:
    view = table_view(result)
    out = ["| " + " | ".join(view.columns) + " |",
           "|" + "|".join("---" if i < 2 else ":---:" if i < 2 + len(result["components"]) else "---:"
                          for i in range(len(view.columns))) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in view.rows]
    return "\n".join(out) + "\n\n" + "\n".join(f"- {n}" for n in notes(result)) + "\n"


def to_csv(result: dict) -> str:
    comps = result["components"]
    against = list(result["table"][0]["bd_rate"]) if result["table"] else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["#", "model", "trained", "quality", *comps, "data_size", "model_size", "ms_ssim",
              "psnr", "clic_score", "bpp"]
    for name in against:
        header += [f"bd_rate_psnr_vs_{name}", f"bd_rate_ms_ssim_vs_{name}"]
    writer.writerow(header)
    for e in result["table"]:
        row = [e["#"], e["model"], e["trained"], e["quality"],
               *(int(e["components"][c]) for c in comps),
               e["data_size"], e["model_size"], e["ms_ssim"], e["psnr"], e["clic_score"], e["bpp"]]
        for name in against:
            row += [e["bd_rate"][name][d]["bd_rate"] for d in DISTORTIONS]
        writer.writerow(row)
    return buffer.getvalue()
