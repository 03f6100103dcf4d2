"""Export trained registry models from their training runs into the zoo's registry.

    python scripts/export_weights.py RUNS NAME...

For each NAME, ``RUNS/NAME/checkpoint.pt`` (written by ``scripts/train_zoo.sh``)
becomes ``weights/NAME.safetensors`` (fp16); ``registry.toml``'s entry gets the
sha256, the recipe (every run that trained the weights, oldest first; a run that
started from registered weights names them with the recipe that trained them), and
the plugin options and quality ladder (``lambdas``, when not the default) the last
run trained with.
"""

from __future__ import annotations

import sys
from pathlib import Path

from zoo.core.build import ModelSpec, build_codec
from zoo.core.registry import load_registry
from zoo.train.trainer import checkpoint_lineage, export, load_checkpoint


def with_recipes(lineage: list[dict], models: dict) -> list[dict]:
    """``lineage`` where each start from a registry model's weights file (by sha256)
    carries that model's recipe, which the file would otherwise be all that names."""
    recipes = {m.sha256: m.extra.get("recipe") for m in models.values() if m.sha256}
    return [{**run, "recipe": recipes[run["sha256"]]}
            if run.get("init") and recipes.get(run.get("sha256")) else run for run in lineage]


def main(runs: Path, names: list[str]) -> None:
    models = load_registry()
    for name in names:
        entry = models[name]
        ckpt = load_checkpoint(runs / name / "checkpoint.pt")
        lineage = checkpoint_lineage(ckpt)
        # the options and quality ladder the last run trained with (runs before they were
        # recorded: the entry's)
        last = lineage[-1] if lineage else {}
        spec = ModelSpec(tuple(entry.plugins), entry.preset, last.get("options", entry.options),
                         tuple(last.get("lambdas", entry.lambdas)))
        codec = build_codec(spec)
        codec.load_state_dict(ckpt["model"])
        recipe = {"precision": "fp16", "runs": with_recipes(lineage, models)}
        path, sha = export(codec, name, recipe, half=True, spec=spec)
        print(f"exported {name}: {path} sha256 {sha}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
