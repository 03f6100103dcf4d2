#!/usr/bin/env bash
# The budget check of issue 13, its first half: cmfr2025-baseline rebuilt on the
# fixed parts (dis-flow motion estimation, x265-intra I-frames), trained for the
# committed weights' budget and crops (motion coding 2500 steps of 8x128²;
# residual 800, joint 800, multi-frame 200 steps of 2x128²), exported to a side
# registry (runs/budget-fixed/registry.toml: the zoo's models plus this one) and
# evaluated on shared/data/dev beside the committed cmfr2025-baseline.
#
#   bash scripts/budget_check.sh train      # resumable
#   bash scripts/budget_check.sh evaluate   # docs/results/budget-baseline-fixed.json and the table
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/budget-fixed}
DEV=${DEV:-../shared/data/dev}
OUT=${OUT:-docs/results}
P=masked-residual,dis-flow,x265-intra
NAME=budget-baseline-fixed
train() { zoo train --plugins $P --threads 1 --checkpoint-every 100 --resume "$@"; }

case "${1:-}" in
  train)
    train --stages motion-coding --iterations motion-coding=2500 --crop 128 --batch 8 --out "$RUNS/shared"
    train --init "$RUNS/shared/masked-residual-dis-flow-x265-intra/checkpoint.pt" \
          --stages residual,joint,multi-frame --iterations residual=800,joint=800,multi-frame=200 \
          --crop 128 --batch 2 --out "$RUNS/model" ;;
  evaluate)
    python - "$RUNS" "$NAME" "$P" <<'PY'
import shutil, sys
from pathlib import Path
from zoo.build import ModelSpec, build_codec
from zoo.registry import update_registry
from zoo.train import load_checkpoint
from zoo.weights import save_weights
runs, name, plugins = Path(sys.argv[1]), sys.argv[2], tuple(sys.argv[3].split(","))
registry = runs / "registry.toml"
shutil.copy("registry.toml", registry)
codec = build_codec(ModelSpec(plugins))
ckpt = load_checkpoint(runs / "model" / "-".join(plugins) / "checkpoint.pt")
codec.load_state_dict(ckpt["model"])
codec.update(force=True)
sha = save_weights(codec, runs / "weights" / f"{name}.safetensors", half=True)
update_registry(name, {"plugins": list(plugins), "preset": "lite",
                       "weights": f"weights/{name}.safetensors", "sha256": sha,
                       "recipe": {"precision": "fp16", "runs": ckpt["lineage"]}}, registry)
print(f"exported {name} ({sha[:16]}…) into {registry}")
PY
    ZOO_REGISTRY="$RUNS/registry.toml" zoo eval --model "$NAME" --data "$DEV" --workers 2 \
        -o "$OUT/$NAME.json"
    python scripts/frame_types.py "$OUT/eval-cmfr2025-baseline.json" "$OUT/$NAME.json" ;;
  *) echo "usage: $0 train|evaluate" >&2; exit 2 ;;
esac
