#!/usr/bin/env bash
# The zoo's longest stages on one CUDA GPU in about 10 minutes: the P-frame stages
# (residual, joint, multi-frame) of every P-frame registry model side by side, then
# the GRDN post-filters on their new base models, with the recipe of
# docs/training.md (cosine schedule after a warm-up, the 2 -> 4 -> 7 P-frame cascade,
# validation on fixed crops). Each model starts from its committed weights
# (weights/); its fp16 weights, a registry.toml with their sha256 and recipes, and
# the runs (checkpoints, train.log, curves) go under $OUT, and the checkout is left
# as it is. Each phase stops after LIMIT seconds; run the script again to resume.
#
#   OUT=/tmp/gpu bash scripts/train_gpu.sh
#   DEVICE=cpu ITERS=small OUT=/tmp/x bash scripts/train_gpu.sh   # a few steps: a test of the script
#
# Environment: OUT (required); DEVICE (cuda); ITERS (the P-frame stages' iterations,
# or "small": a few steps at 64x64 on the bundled sample clip); FILTER_ITERS; CROP
# (256); BATCH (8); VALIDATE (validate every N steps); VALIDATION_CROPS (8); DATA
# (training clips; default: shared/data/train and the optional clips installed);
# LIMIT (seconds per phase); THREADS (torch threads per run, 0: PyTorch's default);
# PYTHON (python3); INSTALL (1: pip-install torch and the project first; 0: don't).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the weights and runs}"
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
if [ "${ITERS:-}" = small ]; then
  ITERS=residual=2,joint=2,multi-frame=3 FILTER_ITERS=${FILTER_ITERS:-post-filter=2}
  CROP=${CROP:-64} BATCH=${BATCH:-1} VALIDATE=${VALIDATE:-2} VALIDATION_CROPS=${VALIDATION_CROPS:-1}
  THREADS=${THREADS:-1} LIMIT=${LIMIT:-1800} DATA=${DATA:-zoo/samples/carphone_176x144.mp4}
fi
ITERS=${ITERS:-residual=200,joint=200,multi-frame=300}
FILTER_ITERS=${FILTER_ITERS:-post-filter=300}
CROP=${CROP:-256}
BATCH=${BATCH:-8}
VALIDATE=${VALIDATE:-100}
VALIDATION_CROPS=${VALIDATION_CROPS:-8}
LIMIT=${LIMIT:-280}
THREADS=${THREADS:-0}
DATA=${DATA:-}

if [ "${INSTALL:-1}" = 1 ]; then
  "$PYTHON" -m pip install torch==2.14.1 torchvision==0.29.1
  "$PYTHON" -m pip install -e '.[train]'
fi
mkdir -p "$OUT/logs"
export ZOO_REGISTRY=$OUT/registry.toml  # exports go to $OUT/weights and this copy
[ -f "$ZOO_REGISTRY" ] || cp registry.toml "$ZOO_REGISTRY"

# zoo train with the recipe's options; $1 names the model, for its log and curves.
train() {
  local model=$1; shift
  timeout "$LIMIT" "$PYTHON" -m zoo train --model "$model" --device "$DEVICE" --threads "$THREADS" \
    --crop "$CROP" --batch "$BATCH" --validate-every "$VALIDATE" --validation-crops "$VALIDATION_CROPS" \
    --checkpoint-every 50 ${DATA:+--data $DATA} --out "$OUT/runs" --resume --export --half "$@" \
    >>"$OUT/logs/$model.log" 2>&1 &&
    "$PYTHON" -m zoo train-plot "$OUT/runs/$model" -o "$OUT/runs/$model/curves.png" >>"$OUT/logs/$model.log" 2>&1
}

# Wait for every background run: the ones that finished go into $finished.
declare -A pids=() finished=()
finish() {
  local failed=0
  for model in "${!pids[@]}"; do
    if wait "${pids[$model]}"; then finished[$model]=1
    else echo "$model: did not finish (see $OUT/logs/$model.log)" >&2; failed=1; fi
  done
  pids=()
  return "$failed"
}

status=0
for model in cmfr2025-baseline cmfr2025-cmfr cmfr2025-cmfr-sff cmfr2025 feng2020-m1 feng2020-m3; do
  init=weights/$model.safetensors  # a model not trained yet starts from cmfr2025's fitting tensors
  [ -f "$init" ] || init=weights/cmfr2025.safetensors
  train "$model" --init "$init" --stages residual,joint,multi-frame \
        --iterations "$ITERS" & pids[$model]=$!
done
finish || status=1

# GRDN on its base model's new codec (the base run's trained slots load over the rest).
for pair in feng2020-m2:feng2020-m1 feng2020-m4:feng2020-m3; do
  model=${pair%%:*} base=${pair##*:}
  if [ -z "${finished[$base]:-}" ]; then
    echo "$model: not trained, its base $base did not finish" >&2; status=1; continue
  fi
  train "$model" --init "weights/$model.safetensors" "$OUT/runs/$base/checkpoint.pt" \
        --stages post-filter --iterations "$FILTER_ITERS" & pids[$model]=$!
done
finish || status=1
echo "fp16 weights in $OUT/weights: $(ls "$OUT/weights" 2>/dev/null | tr '\n' ' ')"
exit "$status"
