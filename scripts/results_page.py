"""docs/results.md, assembled from the pieces ``scripts/evaluate_zoo.sh`` writes.

Reads ``registry.toml`` (each model's weights sha256 and training recipe) and, under
``--results``: the x264/x265 anchors, each registry model's ``eval-MODEL.json`` (sequence
mode) and ``pframe/eval-MODEL.json``, the tables ``zoo ablate`` wrote (``ablation-*.md``;
their ``.json`` for the weights behind the rows), ``targets.md`` (``scripts/targets.py``)
and the plots. Every figure on the page comes from those files, BD-rates from
:mod:`zoo.eval.compare`. A row evaluated with other weights or plugin options than the
registry's, or on another version of the zoo, is marked stale; a missing piece makes its section say "not run" with the command
that makes it; a missing or unreadable registry or x264 anchor is a one-line error (exit
code 2).

    python scripts/results_page.py -o docs/results.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import zoo
from zoo.core.registry import training_runs
from zoo.eval.compare import DEFAULT_MIN_OVERLAP, bd_reports, check_comparable, figure
from zoo.io.atomic import write_text

RESULTS, REGISTRY = "docs/results", "registry.toml"
#: The ablation tables: registry models whose name starts with the key, in registry order.
#: The ablation tables: each family's stem (``ablation-STEM``), title, and the pattern its
#: registry models' names match (in registry order).
FAMILIES = {"cmfr": ("CMFR family (Shin et al., Sensors 2025)", r"cmfr2025"),
            "feng": ("Feng family (Feng et al., CVPRW 2020), in the layout of their Table 1",
                     r"feng2020-m\d"),
            "feng-msssim": ("Feng family trained with MS-SSIM (Feng et al., CVPRW 2020), in the "
                            "layout of their Table 1", r"feng2020-msssim-m\d")}
#: Target 5: Feng et al.'s Table 1 in p-frame mode, the MSE-trained rows and the rows
#: trained with MS-SSIM (as theirs were; scripts/targets.py judges these when given).
PFRAME_FAMILIES = {"feng": "MSE-trained rows", "feng-msssim": "trained with MS-SSIM"}
PLOTTED = ("cmfr2025-baseline", "cmfr2025", "feng2020-m2")  # the models scripts/evaluate_zoo.sh plots
METRICS = {"psnr-rgb": "PSNR-RGB", "ms-ssim": "MS-SSIM"}
NOT_RUN = "**not run**"
FAIRNESS = ("Fairness: the rows differ in the technique under test; where they differ otherwise "
            "(protocol, untrained rows) the table's notes say so, and the lines below it say where "
            "their training budgets or weights differ.")


class PageError(Exception):
    """A required input is missing or unreadable."""


@dataclass
class Inputs:
    results: Path
    models: dict  #: registry.toml's [models]
    anchors: list[dict]  #: x264 first, then x265 where present
    evals: dict  #: registry model -> its eval JSON (sequence mode), where present
    pframe: dict  #: registry model -> its p-frame mode eval JSON, where present
    output: Path  #: the page, which links to the plots

    def path(self, name: str) -> str:
        return f"{self.results.as_posix()}/{name}"

    def family(self, stem: str) -> list[str]:
        return [m for m in self.models if re.match(FAMILIES[stem][1], m)]


# ------------------------------------------------------------------ reading


def read_json(path: Path, required: bool = False) -> dict | None:
    """A JSON file; None where it is absent and optional."""
    if not path.is_file():
        if required:
            raise PageError(f"{path}: no such file (run scripts/evaluate_zoo.sh)")
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PageError(f"{path}: not valid JSON ({e})") from None


def read_registry(path: Path) -> dict:
    if not path.is_file():
        raise PageError(f"{path}: no such file")
    try:
        models = tomllib.loads(path.read_text()).get("models")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise PageError(f"{path}: not valid TOML ({e})") from None
    if not models:
        raise PageError(f"{path}: no [models] in it")
    return models


def read_inputs(results: Path, registry: Path, output: Path) -> Inputs:
    models = read_registry(registry)
    anchors = [read_json(results / "anchors-x264.json", required=True)]
    anchors += [a for a in [read_json(results / "anchors-x265.json")] if a]
    load = lambda folder: {m: r for m in models  # noqa: E731
                           if (r := read_json(folder / f"eval-{m}.json")) is not None}
    return Inputs(results, models, anchors, load(results), load(results / "pframe"), output)


def read_text(path: Path) -> str | None:
    return path.read_text().strip() if path.is_file() else None


# ------------------------------------------------------------------ weights


def members_of(entry: dict) -> list[str]:
    """A composed model's members (an ensemble's ``members`` option); none for others."""
    return next((o["members"] for o in entry.get("options", {}).values()
                 if isinstance(o, dict) and "members" in o), [])


def expected_sha(name: str, models: dict) -> str | None:
    """The sha256 ``zoo eval`` records for a registry model: its weights file's; for a composed
    model, that of its members' sha256s concatenated (as ``zoo.core.models.open_model``)."""
    entry = models.get(name, {})
    if "sha256" in entry:
        return entry["sha256"]
    shas = [expected_sha(m, models) for m in members_of(entry)]
    if not shas or None in shas:
        return None
    return hashlib.sha256("".join(shas).encode()).hexdigest()


def stale_reason(report: dict | None, name: str, models: dict) -> str | None:
    """Why an evaluation does not describe the registry model: ``"other weights"``,
    ``"other options"`` (the plugin options its coding used, such as block-motion's block sizes
    or x265-intra's QPs, are not the entry's), or ``"zoo X"`` (it ran on another version of
    the zoo, whose streams this one does not decode: a format changed); None when it does (or
    was not run). An ensemble's report records its own options, not its members'."""
    if report is None:
        return None
    model = report.get("model", {})
    if model.get("sha256") != expected_sha(name, models):
        return "other weights"
    if model.get("options", {}) != models.get(name, {}).get("options", {}):
        return "other options"
    if (version := report.get("environment", {}).get("zoo", zoo.__version__)) != zoo.__version__:
        return f"zoo {version}"
    return None


def is_stale(report: dict | None, name: str, models: dict) -> bool:
    return stale_reason(report, name, models) is not None


def weights_cell(report: dict | None, name: str, models: dict) -> str:
    """Whether an evaluation used the registry's weights and options."""
    if report is None:
        return NOT_RUN
    sha = report.get("model", {}).get("sha256") or "none recorded"
    if reason := stale_reason(report, name, models):
        return f"**STALE: {reason}** (`{sha[:12]}`)"
    return f"same (`{sha[:12]}`)"


def stale_models(inp: Inputs) -> list[str]:
    return [m for m in inp.models
            if is_stale(inp.evals.get(m), m, inp.models) or is_stale(inp.pframe.get(m), m, inp.models)]


# ------------------------------------------------------------------ rate points


def label(point: dict) -> int:
    return point.get("quality", point.get("qp"))


def ends(entry: dict) -> tuple[dict, dict]:
    """A sequence's points at its lowest and its highest quality (an anchor's: highest QP first)."""
    points = sorted(entry["points"], key=lambda p: p["quality"] if "quality" in p else -p["qp"])
    return points[0], points[-1]


def at(report: dict, end: int, kind: str, stat: str) -> float:
    """Mean over the sequences of one frame type's statistic at the lowest (0) or highest (1) quality."""
    return mean(ends(s)[end]["summary"][kind][stat] for s in report["sequences"])


def drift(point: dict) -> float:
    """PSNR-RGB of the last P-frame minus the first's (as scripts/frame_types.py)."""
    ps = [f for f in point["frames"] if f["kind"] == "P"]
    return ps[-1]["psnr_rgb"] - ps[0]["psnr_rgb"] if len(ps) > 1 else math.nan


def longest(anchor: dict) -> str:
    return max(anchor["sequences"], key=lambda s: s["frames_coded"])["name"]


def pair(lo: float, hi: float, fmt: str) -> str:
    return " / ".join("-" if math.isnan(v) else format(v, fmt) for v in (lo, hi))


# ------------------------------------------------------------------ sections


def shell(*words: str, comment: str = "", width: int = 100) -> str:
    """One command line, wrapped onto continuation lines."""
    lines = [words[0]]
    for word in words[1:]:
        if len(lines[-1]) + len(word) + 1 > width:
            lines[-1] += " \\"
            lines.append("    " + word)
        else:
            lines[-1] += " " + word
    return "\n".join(lines) + (f"  # {comment}" if comment else "")


def dev_folder(anchor: dict) -> str:
    return os.path.commonpath([str(Path(s["path"]).parent) for s in anchor["sequences"]])


def commands(inp: Inputs) -> dict[str, str]:
    """Each step of scripts/evaluate_zoo.sh, by what it makes."""
    dev, qps = dev_folder(inp.anchors[0]), ",".join(map(str, inp.anchors[0]["results"]["qp"]))
    anchors = f"{inp.path('anchors-x264.json')},{inp.path('anchors-x265.json')}"
    out = {"anchors": shell("zoo bench x264,x265 --data", dev, "--qps", qps, "-o", inp.path("anchors.json")),
           "eval": shell("zoo eval --model MODEL --data", dev, "--workers 2 --record -o",
                         inp.path("eval-MODEL.json"), comment="each model in EVAL"),
           "pframe-eval": shell("zoo eval --model MODEL --data", dev, "--mode pframe --workers 2 -o",
                                inp.path("pframe/eval-MODEL.json"), comment="each Feng model in EVAL")}
    for stem in FAMILIES:
        out[f"ablation-{stem}"] = shell("zoo ablate --from", *(inp.path(f"eval-{m}.json")
                                                               for m in inp.family(stem)),
                                        "--anchors", anchors, "-o", inp.path(f"ablation-{stem}"))
    for stem in PFRAME_FAMILIES:
        out[f"pframe-ablation-{stem}"] = shell("zoo ablate --from", *(inp.path(f"pframe/eval-{m}.json")
                                                                      for m in inp.family(stem)),
                                               "-o", inp.path(f"pframe/ablation-{stem}"))
    for metric in METRICS:
        out[f"plot-{metric}"] = shell("zoo plot", *(inp.path(f"eval-{m}.json") for m in PLOTTED),
                                      inp.path("anchors-x26?.json"), "--metric", metric,
                                      "-o", inp.path(f"rd-{metric}.png"))
    out["targets"] = shell("python scripts/targets.py --models", inp.path("eval-*.json"), "--anchors",
                           inp.path("anchors-x264.json"), "--pframe", inp.path("pframe/eval-*.json"),
                           "--plot", inp.path("drift.png"), ">", inp.path("targets.md"))
    results = "" if inp.results.as_posix() == RESULTS else f" --results {inp.results.as_posix()}"
    out["page"] = f"python scripts/results_page.py{results} -o {inp.output.as_posix()}"
    return out


def not_run(what: str, command: str) -> str:
    return f"{NOT_RUN}: no `{what}`. It is made by:\n\n```bash\n{command}\n```"


def header(inp: Inputs) -> list[str]:
    out = [f"# Results: the registry models on `{dev_folder(inp.anchors[0])}`",
           f"Generated by `scripts/results_page.py` from `registry.toml` and the files under "
           f"`{inp.results.as_posix()}/`, which `scripts/evaluate_zoo.sh` writes: do not edit by hand."]
    if stale := stale_models(inp):
        out.append(f"> **STALE: {len(stale)} of {len(inp.models)} models' figures on this page come "
                   f"from other weights, options or zoo versions than registry.toml's and this "
                   f"checkout's** ({', '.join(stale)}): they "
                   f"do not describe the committed models. Evaluate them again with\n"
                   f"> `EVAL=\"{' '.join(stale)}\" bash scripts/evaluate_zoo.sh`.")
    return out


def weights_section(inp: Inputs) -> list[str]:
    rows = ["| model | registry sha256 | eval-MODEL.json (sequence mode) | pframe/eval-MODEL.json |",
            "|---|---|---|---|"]
    for name, entry in inp.models.items():
        sha = expected_sha(name, inp.models)
        reg = "none" if sha is None else f"`{sha[:12]}`" + ("" if "sha256" in entry else " (its members')")
        rows.append(f"| {name} | {reg} | {weights_cell(inp.evals.get(name), name, inp.models)} | "
                    f"{weights_cell(inp.pframe.get(name), name, inp.models)} |")
    return ["## Which weights",
            "Each registry model's weights (sha256 of its weights file in `registry.toml`; an "
            "ensemble's is that of its members' sha256s) against the sha256 its evaluation recorded, "
            "the entry's plugin options against those the evaluation coded with, and the zoo's "
            "version against the one it ran on. A stale row measures other weights, options or "
            "code than the committed ones.", "\n".join(rows)]


def commands_section(cmds: dict[str, str]) -> list[str]:
    steps = "\n".join(cmds[k] for k in cmds if k != "page")
    return ["## How this page was made",
            "```bash\nEVAL=\"MODEL...\" bash scripts/evaluate_zoo.sh  # default EVAL: every model\n```",
            "evaluates the models named in `EVAL` again (the others' existing `eval-MODEL.json` are "
            "reused) and runs:", f"```bash\n{steps}\n{cmds['page']}\n```"]


def lambdas(inp: Inputs) -> str:
    found = {tuple(r["lambdas"]) for e in inp.models.values()
             for r in e.get("recipe", {}).get("runs", [])[-1:] if "lambdas" in r}
    return "; ".join(", ".join(map(str, sorted(ls))) for ls in sorted(found)) or "none recorded"


def training_clips(inp: Inputs) -> set[str]:
    return {Path(f).stem for e in inp.models.values() for r in training_runs(e.get("recipe", {}))
            for f in r.get("data", {})}


def protocol_section(inp: Inputs) -> list[str]:
    """Data and protocol: every number from the anchors' and the evaluations' JSON."""
    x264, report = inp.anchors[0], next(iter(inp.evals.values()), None)
    clips = ", ".join(f"`{s['name']}` {s['width']}x{s['height']} ({s['frames_coded']} frames)"
                      for s in x264["sequences"])
    trained_on = sorted(training_clips(inp) & {s["name"] for s in x264["sequences"]})
    classes = sorted({s["class"] for s in x264["sequences"]})
    periods = sorted({s["intra_period"] for s in x264["sequences"]}, key=str)
    qps = ", ".join(map(str, x264["results"]["qp"]))
    counts = sorted({len(r["results"]["quality"]) for r in inp.evals.values()})
    text = [f"**Data.** The {len(x264['sequences'])} clips of `{dev_folder(x264)}`: {clips}; every "
            f"frame; class{'es' if len(classes) > 1 else ''} {', '.join(classes)}; "
            + (f"**trained on**: {', '.join(trained_on)}." if trained_on
               else "none of them in any recipe's training data.")]
    if report:
        proto = report["protocol"]
        text.append(f"**Protocol** (`docs/evaluation.md`), {report['mode']} mode: {proto['coding']}; "
                    f"intra period {', '.join(map(str, periods))}. Rates: {proto['rate']}. Metrics: "
                    f"{proto['distortion']}. Averages: {proto['averaging']}.")
    text.append(f"**Anchors.** {'; '.join(a['description'] for a in inp.anchors)}; at QP {qps}; rates: "
                f"{x264['protocol']['rate']}.")
    text.append(f"**Qualities.** Each learned model at all its qualities "
                f"({' or '.join(map(str, counts)) or 'none evaluated'} per model), its recipe's λs "
                f"({lambdas(inp)}).")
    text.append(f"**BD figures** (bjontegaard, pchip interpolation): per sequence on its own rate "
                f"points, averaged over the sequences whose curves overlap by at least "
                f"{DEFAULT_MIN_OVERLAP * 100:.0f} % (the common quality interval over the union); every "
                f"cell says its overlap and how many sequences it rests on, and is n/a where none "
                f"qualifies.")
    return ["## Data and protocol", *text]


def run_budget(run: dict) -> tuple[str, int]:
    """A recipe run's stages x iterations (a resumed run from where it resumed) and its steps."""
    resumed = run.get("resumed", {})
    stages = [s for s in run["stages"] if s not in resumed.get("done", [])]
    start = {resumed["stage"]: resumed.get("iteration", 0)} if resumed.get("stage") else {}
    parts = [f"{s} {run['iterations'][s]}" + (f" from {start[s]}" if start.get(s) else "") for s in stages]
    return ("resumed: " if resumed else "") + ", ".join(parts), sum(
        run["iterations"][s] - start.get(s, 0) for s in stages)


def budget_of(entry: dict) -> dict | None:
    runs = training_runs(entry.get("recipe", {}))
    if not runs:
        return None
    budgets = [run_budget(r) for r in runs]
    steps = [b[1] for b in budgets]
    for i in range(len(runs) - 1):
        if runs[i + 1].get("resumed"):  # run i stopped where run i + 1 picked its plan up
            steps[i] -= budgets[i + 1][1]
    join = lambda key: "/".join(str(v) for v in dict.fromkeys(r.get(key, "-") for r in runs))  # noqa: E731
    return {"runs": len(runs), "stages": "; ".join(b[0] for b in budgets),
            "steps": sum(steps), "crop": join("crop"), "batch": join("batch"),
            "seconds": sum(r.get("seconds", 0.0) for r in runs), "hardware": join("hardware")}


def budget_section(inp: Inputs) -> list[str]:
    rows = ["| model | recipe runs | stages × iterations | steps | crop | batch | seconds | hardware |",
            "|---|---:|---|---:|---:|---:|---:|---|"]
    for name, entry in inp.models.items():
        if b := budget_of(entry):
            rows.append(f"| {name} | {b['runs']} | {b['stages']} | {b['steps']} | {b['crop']} | "
                        f"{b['batch']} | {b['seconds']:.0f} | {b['hardware']} |")
        else:
            members = members_of(entry)
            what = f"ensemble of {', '.join(members)}: no training of its own" if members else \
                "no recipe in registry.toml"
            rows.append(f"| {name} | 0 | {what} | - | - | - | - | - |")
    return ["## Training budget",
            "From each model's `recipe` in `registry.toml` (every run of its lineage; steps: the "
            "iterations each run made: a resumed run's from where it resumed, a run that the next one "
            "resumed up to where it stopped).", "\n".join(rows)]


def anchors_section(inp: Inputs) -> list[str]:
    rows = ["| codec | QP | bpp | PSNR-RGB (dB) | PSNR-YUV (dB) | MS-SSIM |",
            "|---|---:|---:|---:|---:|---:|"]
    for a in inp.anchors:
        res = a["results"]
        rows += [f"| {a['name']} | {qp} | {res['bpp'][k]:.4f} | {res['psnr-rgb'][k]:.2f} | "
                 f"{res['psnr-yuv'][k]:.2f} | {res['ms-ssim-rgb'][k]:.4f} |"
                 for k, qp in enumerate(res["qp"])]
    return ["## The anchors", "Means over the set, as `zoo bench` wrote them.", "\n".join(rows)]


def bd_cell(x264: dict, report: dict) -> tuple[str, list[str]]:
    """BD-rate PSNR-RGB against x264, or why there is none."""
    if report is x264:
        return "-", []
    if diffs := check_comparable([x264, report], allow=True):
        return "not comparable", diffs
    return figure(bd_reports(x264, report)["set"]).cell(), []


def model_row(name: str, report: dict, x264: dict, clip: str, weights: str) -> tuple[str, list[str]]:
    entry = next((s for s in report["sequences"] if s["name"] == clip), None)
    drifts = pair(*(drift(p) for p in ends(entry)), "+.2f") if entry else "-"
    lo, hi = ends(report["sequences"][0])
    bd, notes = bd_cell(x264, report)
    cells = [name, weights, ("QP " if "qp" in lo else "") + f"{label(lo)}–{label(hi)}",
             pair(at(report, 0, "P", "bpp"), at(report, 1, "P", "bpp"), ".3f"),
             pair(at(report, 0, "P", "psnr_rgb"), at(report, 1, "P", "psnr_rgb"), ".2f"),
             pair(at(report, 0, "I", "bpp"), at(report, 1, "I", "bpp"), ".3f"),
             pair(at(report, 0, "I", "psnr_rgb"), at(report, 1, "I", "psnr_rgb"), ".2f"), drifts, bd]
    return "| " + " | ".join(cells) + " |", notes


#: Registry options that are the encoder's own decisions, not the model's: rows that differ
#: in them compare encoders as well as models.
ENCODER_OPTIONS = (("pipeline", "skip"), ("block-motion", "choices"),
                   ("pipeline", "filter_choice"))


def encoder_options(name: str, models: dict) -> list[tuple[str, str]]:
    """The :data:`ENCODER_OPTIONS` a registry entry codes with; an ensemble's are those
    every member codes with (its members are built from their own entries)."""
    options = models.get(name, {}).get("options", {})
    if members := options.get("ensemble", {}).get("members"):
        each = [encoder_options(m, models) for m in members]
        return [o for o in ENCODER_OPTIONS if all(o in e for e in each)]
    return [(p, k) for p, k in ENCODER_OPTIONS if options.get(p, {}).get(k)]


def encoder_notes(names: list[str], models: dict) -> list[str]:
    """Which of ``names`` code with which :data:`ENCODER_OPTIONS` (their registry entries)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        set_ = [f"`{p}.{k}`" for p, k in encoder_options(name, models)]
        groups.setdefault("with " + (" and ".join(set_) or "none of them"), []).append(name)
    if len(groups) < 2:
        return []
    return ["encoder decisions differ between rows (registry options " + ", ".join(
        f"`{p}.{k}`" for p, k in ENCODER_OPTIONS) + "): " + "; ".join(
        f"{what}: {', '.join(group)}" for what, group in groups.items())]


def models_section(inp: Inputs) -> list[str]:
    x264 = inp.anchors[0]
    clip = longest(x264)
    rows = [f"| model | weights | qualities | P bpp | P PSNR-RGB (dB) | I bpp | I PSNR-RGB (dB) | "
            f"drift on {clip} (dB) | BD-rate PSNR-RGB vs x264 |", "|---|---|---" + "|---:" * 6 + "|"]
    missing = [m for m in inp.models if m not in inp.evals]
    notes = [f"{m}: its eval-MODEL.json is in {r.get('mode')} mode, left out"
             for m, r in inp.evals.items() if r.get("mode") != "sequence"]
    entries = [(m, r, weights_cell(r, m, inp.models))
               for m, r in inp.evals.items() if r.get("mode") == "sequence"]
    for name, report, weights in entries + [(a["name"], a, "anchor") for a in inp.anchors]:
        row, diffs = model_row(name, report, x264, clip, weights)
        rows.append(row)
        notes += [f"protocol difference: {d}" for d in diffs]
    text = [f"Each cell: lowest quality / highest quality (an anchor's: highest QP / lowest); mean over "
            f"the clips of the P-frames' and the I-frames' bpp and PSNR-RGB; drift: PSNR-RGB of the "
            f"last P-frame minus the first's on {clip}, the longest clip.", "\n".join(rows)]
    notes += encoder_notes([m for m, _, _ in entries], inp.models)
    if missing:
        text.append(f"{NOT_RUN}: {', '.join(missing)} (no `eval-MODEL.json`):\n\n```bash\n"
                    f"EVAL=\"{' '.join(missing)}\" bash scripts/evaluate_zoo.sh\n```")
    return ["## The models", *text, *(f"- {n}" for n in notes)]


def demote(markdown: str, levels: int = 2) -> str:
    """An included page's headings, ``levels`` deeper (fenced code left alone)."""
    out, fenced = [], False
    for line in markdown.splitlines():
        fenced ^= line.startswith("```")
        out.append("#" * levels + line if line.startswith("#") and not fenced else line)
    return "\n".join(out)


def ablation_notes(inp: Inputs, rows: list[str], table: dict | None, json_name: str) -> list[str]:
    """Where the rows' training budgets or encoder decisions differ, what registry.toml's
    ``caveat`` says of a row's weights, and whether they are the registry's."""
    budgets: dict[str, list[str]] = {}
    for name in rows:
        if b := budget_of(inp.models.get(name, {})):
            budgets.setdefault(f"{b['steps']} steps, crop {b['crop']}, batch {b['batch']}", []).append(name)
    out = [f"- Training budgets of the rows differ (`registry.toml`): "
           + "; ".join(f"{', '.join(ns)}: {k}" for k, ns in budgets.items()) + "."
           if len(budgets) > 1 else
           f"- Every trained row had the same budget ({next(iter(budgets), 'none recorded')})."]
    out += [f"- **{name}**: {inp.models[name]['caveat']}" for name in rows
            if inp.models.get(name, {}).get("caveat")]
    out += [f"- {note.capitalize()}." for note in encoder_notes(rows, inp.models)]
    if table is None:
        return out + [f"- No `{json_name}`: the weights behind the rows are unknown."]
    stale = [r["name"] for r in table.get("runs", []) if is_stale(r, r["name"], inp.models)]
    return out + [f"- **STALE rows** (evaluated with other weights, options or zoo "
                  f"versions than registry.toml's and this checkout's, `{json_name}`): {', '.join(stale)}." if stale else
                  f"- Every row was evaluated with the registry's weights and options (`{json_name}`)."]


def ablation_section(inp: Inputs, stem: str, title: str, command: str, rows: list[str],
                     intro: str = "") -> list[str]:
    """A table ``zoo ablate`` wrote, verbatim, and what it does not say."""
    table = read_text(inp.results / f"{stem}.md")
    if table is None:
        return [f"## {title}", not_run(inp.path(f"{stem}.md"), command)]
    notes = ablation_notes(inp, rows, read_json(inp.results / f"{stem}.json"), inp.path(f"{stem}.json"))
    return [f"## {title}", f"{intro}`{inp.path(stem + '.md')}`, as `zoo ablate` wrote it. {FAIRNESS}",
            table, "\n".join(notes)]


def pframe_section(inp: Inputs, cmds: dict[str, str], stem: str) -> list[str]:
    return ablation_section(
        inp, f"pframe/ablation-{stem}",
        f"Feng et al.'s Table 1 in p-frame mode, {PFRAME_FAMILIES[stem]} (MS-SSIM; target 5)",
        f"{cmds['pframe-eval']}\n{cmds[f'pframe-ablation-{stem}']}", inp.family(stem),
        intro="Each P-frame coded from the original previous frame (the CLIC P-frame protocol of "
              "Feng et al.'s table, whose measure is the BD-rate MS-SSIM column); ")


def plot(inp: Inputs, name: str, alt: str, command: str) -> str:
    if not (inp.results / name).is_file():
        return not_run(inp.path(name), command)
    return f"![{alt}]({Path(os.path.relpath(inp.results / name, inp.output.parent)).as_posix()})"


def targets_section(inp: Inputs, cmds: dict[str, str]) -> list[str]:
    table = read_text(inp.results / "targets.md")
    if table is None:
        return ["## Issue 14's six targets", not_run(inp.path("targets.md"), cmds["targets"])]
    out = ["## Issue 14's six targets", f"`{inp.path('targets.md')}`, as `scripts/targets.py` wrote it.",
           demote(table)]
    return out + [plot(inp, "drift.png", "PSNR-RGB of each P-frame relative to the first", cmds["targets"])]


def plots_section(inp: Inputs, cmds: dict[str, str]) -> list[str]:
    return ["## Rate-distortion curves", *(plot(inp, f"rd-{m}.png", f"{title} against bpp", cmds[f"plot-{m}"])
                                           for m, title in METRICS.items())]


def page(inp: Inputs) -> str:
    cmds = commands(inp)
    sections = [header(inp), weights_section(inp), commands_section(cmds), protocol_section(inp),
                budget_section(inp), anchors_section(inp), models_section(inp)]
    sections += [ablation_section(inp, f"ablation-{stem}", title, cmds[f"ablation-{stem}"], inp.family(stem))
                 for stem, (title, _) in FAMILIES.items()]
    sections += [pframe_section(inp, cmds, stem) for stem in PFRAME_FAMILIES]
    sections += [targets_section(inp, cmds), plots_section(inp, cmds)]
    return "\n\n".join(block for section in sections for block in section) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=RESULTS, help="the folder scripts/evaluate_zoo.sh writes")
    parser.add_argument("--registry", default=REGISTRY)
    parser.add_argument("-o", "--output", required=True, help="the page (written atomically)")
    args = parser.parse_args(argv)
    try:
        text = page(read_inputs(Path(args.results), Path(args.registry), Path(args.output)))
    except PageError as e:
        print(f"results_page.py: {e}", file=sys.stderr)
        return 2
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    write_text(args.output, text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
