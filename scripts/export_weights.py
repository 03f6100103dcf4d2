"""Export trained registry models from their training runs into the zoo's registry.

    python scripts/export_weights.py RUNS NAME...
    python scripts/export_weights.py RUNS NAME... --to DIR

For each NAME, ``RUNS/NAME/checkpoint.pt`` (written by ``scripts/train_zoo.sh``; of a
run that did not finish, its newest checkpoint, and the recipe says where it stopped)
becomes ``weights/NAME.safetensors`` (fp16); ``registry.toml``'s entry gets the
sha256, the recipe (every run that trained the weights, oldest first; a run that
started from registered weights names them with the recipe that trained them), and
the plugin options and quality ladder (``lambdas``, when not the default) the last
run trained with.

``--to DIR`` looks at a campaign still running: the newest checkpoint of NAME's run
becomes ``DIR/NAME.safetensors`` (fp16), ``registry.toml`` is left alone, and the
``zoo eval`` options that open it are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zoo.core.build import ModelSpec, build_codec
from zoo.core.registry import load_registry
from zoo.core.weights import save_weights
from zoo.train.trainer import checkpoint_lineage, export, load_checkpoint


def with_recipes(lineage: list[dict], models: dict) -> list[dict]:
    """``lineage`` where each start from a registry model's weights file (by sha256)
    carries that model's recipe, which the file would otherwise be all that names."""
    recipes = {m.sha256: m.extra.get("recipe") for m in models.values() if m.sha256}
    for run in lineage:
        if run.get("init") and not recipes.get(run.get("sha256")):
            print(f"warning: {run['init']} (sha256 {run.get('sha256', '?')[:16]}) is no registry "
                  "model's weights: how it was trained is not recorded; add it to the recipe by hand",
                  file=sys.stderr)
    return [{**run, "recipe": recipes[run["sha256"]]}
            if run.get("init") and recipes.get(run.get("sha256")) else run for run in lineage]


def checkpoint_path(runs: Path, name: str) -> Path:
    """NAME's checkpoint: the finished run's link, else the one its run is writing."""
    done = runs / name / "checkpoint.pt"
    return done if done.exists() else max((runs / name).glob("*/checkpoint.pt"),
                                          key=lambda p: p.stat().st_mtime)


def stopped(lineage: list[dict], progress: dict) -> list[dict]:
    """``lineage`` whose last run, if it stopped before the end (a time limit), says
    where: its recipe then does not claim iterations it never ran."""
    done = progress.get("done", ())
    left = [stage for stage in lineage[-1].get("stages", ()) if stage not in done] if lineage else []
    if not left:
        return lineage
    iteration = progress.get("iteration", 0) if progress.get("stage") == left[0] else 0
    return [*lineage[:-1], {**lineage[-1], "stopped_at": {"stage": left[0], "iteration": iteration}}]


def eval_options(spec: ModelSpec, path: Path) -> str:
    """The ``zoo eval`` options that open ``path`` as ``spec``."""
    options = [f"--option {plugin}.{key}={','.join(map(str, v)) if isinstance(v, list) else json.dumps(v)}"
               for plugin, values in spec.options.items() for key, v in values.items()]
    ladder = [f"--lambdas {','.join(map(str, spec.lambdas))}"] if spec.lambdas else []
    return " ".join([f"--plugins {','.join(spec.plugins)} --preset {spec.preset}", *options,
                     *ladder, f"--weights {path}"])


def exported_spec(entry, lineage: list[dict]) -> ModelSpec:
    """The model a run's weights are: the quality ladder and options the last run trained
    with (runs before they were recorded: the entry's). On the entry's own ladder the
    entry's other options stay (the encoder's decisions, block-motion.choices or
    pipeline.skip, which training does not set); a new ladder would leave per-quality
    ones wrong, so with one only the run's count."""
    last = lineage[-1] if lineage else {}
    trained, ladder = last.get("options", entry.options), tuple(last.get("lambdas", entry.lambdas))
    options = trained if ladder != tuple(entry.lambdas) else {
        p: {**entry.options.get(p, {}), **trained.get(p, {})} for p in {**entry.options, **trained}}
    return ModelSpec(tuple(entry.plugins), entry.preset, options, ladder)


def main(runs: Path, names: list[str], to: Path | None = None) -> None:
    models = load_registry()
    for name in names:
        entry = models[name]
        ckpt = load_checkpoint(checkpoint_path(runs, name))
        lineage = stopped(checkpoint_lineage(ckpt), ckpt["progress"])
        spec = exported_spec(entry, lineage)
        codec = build_codec(spec)
        codec.load_state_dict(ckpt["model"])
        if to:
            codec.update(force=True)
            sha = save_weights(codec, path := to / f"{name}.safetensors", half=True,
                               spec=spec.to_dict())
            at = ckpt["progress"]
            print(f"{name} ({at.get('stage')} step {at.get('iteration')}; done: {', '.join(at['done'])}):"
                  f" {path} sha256 {sha}\n  zoo eval {eval_options(spec, path)}")
            continue
        recipe = {"precision": "fp16", "runs": with_recipes(lineage, models)}
        path, sha = export(codec, name, recipe, half=True, spec=spec)
        print(f"exported {name}: {path} sha256 {sha}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--to", type=Path, help="a running campaign's checkpoints, as files here")
    args = parser.parse_args()
    main(args.runs, args.names, args.to)
