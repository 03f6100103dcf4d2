"""Ablations: a table in the form of Feng et al.'s Table 1, with BD figures.

Every row (a plugin set or a registry model) is evaluated with
:func:`zoo.eval.evaluate.evaluate` on the same sequences, in the mode ``zoo bench``
codes (low-delay sequences) unless told otherwise. The table shows, at one
rate point per row, which components are on, the data size, the model size,
MS-SSIM, PSNR and the CLIC score (Feng et al., "Learned Video Compression with
Feature-level Residuals", CVPRW 2020, Table 1); beside it, each row's BD-rate
(PSNR-RGB and MS-SSIM) and BD-PSNR against the first row and each anchor, with
the overlap and the number of sequences each rests on, over the set and per
class (:mod:`zoo.eval.compare`). Rows and anchors measured under different
protocols are refused unless ``allow_cross_protocol``, and then the table
lists the differences.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Sequence

from zoo.core.build import ModelSpec
from zoo.core.manager import Zoo
from zoo.core.registry import find_model, load_registry
from zoo.errors import ZooError
from .compare import DEFAULT_MIN_OVERLAP, METHODS, bd_reports, check_comparable, figure, protocol_of
from .evaluate import ModelRequest, NullProgress, SequenceSpec, Table, evaluate

#: JSON key -> (metric, BD quantity, column title, unit)
BD_COLUMNS = {"bd-rate psnr-rgb": ("psnr-rgb", "rate", "BD-rate PSNR-RGB", "%"),
              "bd-rate ms-ssim": ("ms-ssim", "rate", "BD-rate MS-SSIM", "%"),
              "bd-psnr psnr-rgb": ("psnr-rgb", "psnr", "BD-PSNR-RGB", "dB")}
BD_AVERAGING = ("per sequence on its own rate points; a sequence whose curves overlap less than "
                "the threshold gives no number; mean over a class's sequences that give one, "
                "then over classes")


# ------------------------------------------------------------------ rows


@dataclass(frozen=True)
class Row:
    label: str
    request: ModelRequest


def parse_rows(rows: str | None, models: str | None, preset: str = "lite",
               options: dict | None = None, untrained: bool = False,
               device: str = "cpu") -> list[Row]:
    """``--rows "a; b,c"`` (plugin sets; ``defaults`` for the default plugins) or
    ``--models m1,m2`` (registry models)."""
    if bool(rows) == bool(models):
        raise ZooError("give either --rows (plugin sets) or --models (registry models)")
    out: list[Row] = []
    if models:
        for name in (m.strip() for m in models.split(",")):
            if name:
                out.append(Row(name, ModelRequest(name=name, untrained=untrained, device=device)))
    else:
        for text in (r.strip() for r in rows.split(";")):
            if not text:
                continue
            plugins = () if text == "defaults" else tuple(
                p.strip() for p in text.split(",") if p.strip())
            out.append(Row(",".join(plugins) or "defaults",
                           ModelRequest(spec=ModelSpec(plugins, preset, dict(options or {})),
                                        untrained=untrained, device=device)))
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
           mode: str = "sequence", workers: int = 1, anchor_runs: Sequence[dict] = (), progress: NullProgress = NullProgress(),
           **table_options: Any) -> dict | None:
    """Evaluate every row and build the table (None on torchrun ranks > 0);
    ``table_options`` go to :func:`tabulate`, checked before any evaluation."""
    if table_options.get("method", "pchip") not in METHODS:
        raise ZooError(f"unknown interpolation {table_options['method']!r} "
                       f"(choose from {', '.join(METHODS)})")
    for run in anchor_runs:  # refused before any evaluation, as tabulate would refuse after
        proto = protocol_of(run)
        if not table_options.get("allow_cross_protocol") and (proto is None or proto["mode"] != mode):
            raise ZooError(f"anchor {run['name']} was not measured in {mode} mode "
                           f"({'no protocol recorded' if proto is None else proto['mode']}); pass "
                           f"--allow-cross-protocol to compare them anyway")
    reports = []
    for row in rows:
        report = evaluate(row.request, specs, qualities=qualities, mode=mode, workers=workers,
                          progress=progress)
        if report is None:
            return None
        reports.append(report)
    return tabulate(reports, [row.label for row in rows], anchor_runs=anchor_runs, **table_options)


def tabulate(reports: list[dict], labels: Sequence[str] | None = None, *,
             anchor_runs: Sequence[dict] = (), table_quality: int | None = None,
             method: str = "pchip", min_overlap: float = DEFAULT_MIN_OVERLAP,
             allow_cross_protocol: bool = False) -> dict:
    """The table of already evaluated reports (``zoo eval`` JSON), first row the reference;
    every row and anchor must share its protocol unless ``allow_cross_protocol``."""
    if not 0.0 <= min_overlap <= 1.0:
        raise ZooError(f"--min-overlap must be between 0 and 1, got {min_overlap}")
    for report in reports:
        if not isinstance(report.get("model"), dict):
            what = "a conventional anchor: give it with --anchors" if report.get("kind") == "anchor" \
                else "no model recorded"
            raise ZooError(f"{report['name']} is not a zoo eval result ({what})")
    differences = check_comparable([*reports, *anchor_runs], allow_cross_protocol)
    labels = list(labels) if labels is not None else [r["name"] for r in reports]
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
                 "clic_score": res["clic-score"][k], "bpp": res["bpp"][k], "bd": {}}
        for name, against in [("#1", reports[0])] + [(run["name"], run) for run in anchor_runs]:
            entry["bd"][name] = {key: bd_reports(against, report, metric, quantity=quantity,
                                                 method=method, min_overlap=min_overlap)
                                 for key, (metric, quantity, _, _) in BD_COLUMNS.items()}
        table.append(entry)
    untrained = [e["model"] for e in table if not e["trained"]]
    mode = reports[0].get("mode")
    return {
        "name": "ablation",
        "description": f"zoo ablate, mode {mode}, {len(reports)} rows"
                       + (", untrained rows: " + ", ".join(untrained) if untrained else ""),
        "protocol": {"mode": mode, "table_point": "highest quality of each row" if table_quality is None
                     else f"quality {table_quality}", "bd": f"bjontegaard, {method} interpolation",
                     "min_overlap": min_overlap, "bd_averaging": BD_AVERAGING,
                     "distortions": "PSNR-RGB; MS-SSIM (RGB) in dB for BD-rate; BD-PSNR on PSNR-RGB",
                     "anchors": [run["name"] for run in anchor_runs],
                     "cross_protocol": differences,
                     "metrics": reports[0]["protocol"]},
        "components": comps,
        "table": table,
        "runs": reports,
    }


def _cell(data: dict, key: str) -> str:
    return figure(data).cell(BD_COLUMNS[key][3])


def table_view(result: dict) -> Table:
    """The table as strings: the form of Feng et al.'s Table 1."""
    comps = result["components"]
    columns = ["#", "model", *comps, "data size (B)", "model size (B)", "MS-SSIM", "PSNR (dB)",
               "CLIC score"]
    view = Table(f"ablation ({result['protocol']['mode']} mode, "
                 f"{result['protocol']['table_point']})", columns)
    for e in result["table"]:
        view.rows.append([str(e["#"]), e["model"] + ("" if e["trained"] else " (untrained)"),
                          *("✓" if e["components"][c] else "" for c in comps), str(e["data_size"]),
                          str(e["model_size"]), f"{e['ms_ssim']:.4f}", f"{e['psnr']:.2f}",
                          f"{e['clic_score']:.4g}"])
    return view


def bd_view(result: dict) -> Table:
    """Each row's BD figures over the set against the first row and each anchor."""
    view = Table(f"BD figures over the set (overlap threshold "
                 f"{result['protocol']['min_overlap'] * 100:.0f} %)",
                 ["#", "model", "vs", *(title for _, _, title, _ in BD_COLUMNS.values())])
    for e in result["table"]:
        for against, figures in e["bd"].items():
            if against == "#1" and e["#"] == 1:
                continue
            view.rows.append([str(e["#"]), e["model"], against,
                              *(_cell(figures[key]["set"], key) for key in BD_COLUMNS)])
    return view


def breakdown_view(result: dict, key: str = "bd-rate psnr-rgb", by: str = "classes") -> Table:
    """One BD figure per class (``by="classes"``) or per sequence (``"sequences"``) for each
    row and reference: a set figure's evidence, e.g. sequences on which two rows code alike."""
    names = sorted({c for e in result["table"] for f in e["bd"].values() for c in f[key][by]})
    view = Table(f"{BD_COLUMNS[key][2]} per {dict(classes='class', sequences='sequence')[by]}",
                 ["#", "model", "vs", *names])
    for e in result["table"]:
        for against, figures in e["bd"].items():
            if against == "#1" and e["#"] == 1:
                continue
            parts = figures[key][by]
            view.rows.append([str(e["#"]), e["model"], against,
                              *(_cell(parts[c], key) if c in parts else "-" for c in names)])
    return view


def views(result: dict) -> list[Table]:
    """Every table of an ablation, in the order it is shown: the rows, the BD figures over
    the set, per class, and per sequence in both BD-rates."""
    return [table_view(result), bd_view(result), breakdown_view(result),
            *(breakdown_view(result, key, "sequences") for key in ("bd-rate psnr-rgb", "bd-rate ms-ssim"))]


def notes(result: dict) -> list[str]:
    p = result["protocol"]
    lines = [f"Rows evaluated in {p['mode']} mode; table values at the {p['table_point']}; "
             f"data size: bytes over the set; CLIC score = model size + 100 x data size.",
             f"BD figures: {p['bd']} (negative BD-rate: fewer bits at equal quality; positive "
             f"BD-PSNR: more quality at equal rate); {p['bd_averaging']}; each cell gives the mean "
             f"overlap of the curves (in quality for BD-rate, in log rate for BD-PSNR) and the "
             f"sequences it rests on; below {p['min_overlap'] * 100:.0f} % overlap a sequence gives "
             f"no number and a cell with none is n/a; MS-SSIM in dB.",
             f"Averages: {p['metrics']['averaging']}."]
    if p.get("cross_protocol"):
        lines.append("CROSS-PROTOCOL comparison, allowed by --allow-cross-protocol: "
                     + "; ".join(p["cross_protocol"]) + ".")
    if "untrained rows" in result["description"]:
        lines.append("Untrained rows run on seeded random weights: their figures say nothing "
                     "about the technique.")
    return lines


def _markdown_table(view: Table, centred: int = 0) -> list[str]:
    out = ["| " + " | ".join(view.columns) + " |",
           "|" + "|".join("---" if i < 2 else ":---:" if i < 2 + centred else "---:"
                          for i in range(len(view.columns))) + "|"]
    return out + ["| " + " | ".join(row) + " |" for row in view.rows]


def to_markdown(result: dict) -> str:
    first, *rest = views(result)
    out = _markdown_table(first, len(result["components"]))
    for view in rest:
        out += ["", f"{view.title}:", "", *_markdown_table(view)]
    return "\n".join(out) + "\n\n" + "\n".join(f"- {n}" for n in notes(result)) + "\n"


def to_csv(result: dict) -> str:
    """One line per row; per reference and BD figure: value (empty when n/a), overlap, sequences."""
    comps = result["components"]
    against = list(result["table"][0]["bd"]) if result["table"] else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["#", "model", "trained", "quality", *comps, "data_size", "model_size", "ms_ssim",
              "psnr", "clic_score", "bpp"]
    for name in against:
        for key in BD_COLUMNS:
            stem = f"{key.replace(' ', '_').replace('-', '_')}_vs_{name}"
            header += [stem, f"{stem}_overlap", f"{stem}_sequences"]
    writer.writerow(header)
    for e in result["table"]:
        row = [e["#"], e["model"], e["trained"], e["quality"],
               *(int(e["components"][c]) for c in comps),
               e["data_size"], e["model_size"], e["ms_ssim"], e["psnr"], e["clic_score"], e["bpp"]]
        for name in against:
            for key in BD_COLUMNS:
                f = figure(e["bd"][name][key]["set"])
                row += ["" if f.value is None else f.value, f.overlap, f"{f.sequences}/{f.of}"]
        writer.writerow(row)
    return buffer.getvalue()
