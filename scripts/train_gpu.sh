#!/usr/bin/env bash
# The longest stages of the zoo's P-frame models on one CUDA GPU within one 10-minute
# command: scripts/train_zoo.sh's RECIPE=continue (joint and multi-frame stages from the
# committed weights/, on the 2 -> 4 -> 7 P-frame cascade) for every model of MODELS side
# by side, each stopped after LIMIT seconds; then their fp16 weights, a registry.toml
# with their sha256 and recipes (a run stopped by LIMIT says where), and the runs' logs
# and curves (runs.tar.gz) go under $OUT. The checkout's own weights/ and registry.toml
# are left as they are: copy the files from $OUT over them to adopt the weights.
#
#   OUT=/tmp/gpu bash scripts/train_gpu.sh
#   DEVICE=cpu ITERS=small INSTALL=0 OUT=/tmp/x bash scripts/train_gpu.sh  # a test, on CPU
#
# A device machine that reaches no package index and cannot see ../shared gets both
# carried in the checkout (git-ignored folders): wheels of the packages it lacks in
# .whl/ (INSTALL=wheels, the default: installed without an index; PyTorch is the
# machine's own) and training clips in DATA (default .gpu/data, else train_zoo.sh's).
#
# Environment: OUT (required); MODELS (the four CMFR models); DEVICE (cuda); ITERS
# (joint=200,multi-frame=500, or "small": a few steps at 64x64); BATCH_SIZE (8);
# CROP_SIZE (256); LAMBDAS and INTRA_QPS (the quality ladder and its I-frame QPs;
# default the six-quality ladder of the v9 weights); LIMIT (seconds of training);
# INSTALL (wheels, pip: from the index, 0: nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the weights and logs}"
export DEVICE=${DEVICE:-cuda} RECIPE=continue THREADS=${THREADS:-1}
MODELS=${MODELS:-cmfr2025-baseline cmfr2025-cmfr cmfr2025-cmfr-sff cmfr2025}
if [ "${ITERS:-}" = small ]; then
  ITERS=joint=2,multi-frame=3 BATCH_SIZE=${BATCH_SIZE:-1} CROP_SIZE=${CROP_SIZE:-64}
fi
export ITERS=${ITERS:-joint=200,multi-frame=500} BATCH_SIZE=${BATCH_SIZE:-8}
export CROP_SIZE=${CROP_SIZE:-256} CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-25}
export LAMBDAS=${LAMBDAS:-0.00015,0.0004,0.001,0.0025,0.0063,0.016}
export INTRA_QPS=${INTRA_QPS:-40,36,32,28,24,20}
LIMIT=${LIMIT:-460}
[ -z "${DATA:-}" ] && [ -d .gpu/data ] && DATA=.gpu/data
export DATA=${DATA:-}

case "${INSTALL:-wheels}" in
  wheels) python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
          export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
          python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . ;;
  pip) python3 -m pip install torch==2.14.1 torchvision==0.29.1 && python3 -m pip install -e '.[train]' ;;
  0) ;;
  *) echo "INSTALL is wheels, pip or 0" >&2; exit 2 ;;
esac

PATH=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH  # zoo
export RUNS=${RUNS:-/tmp/gpu-runs} ZOO_REGISTRY=$OUT/registry.toml  # exports: $OUT/weights
mkdir -p "$OUT" "$RUNS"
cp registry.toml "$ZOO_REGISTRY"
declare -A pids=()
for model in $MODELS; do
  timeout "$LIMIT" bash scripts/train_zoo.sh model "$model" >"$RUNS/$model.log" 2>&1 & pids[$model]=$!
done
trained=() status=0
for model in $MODELS; do  # a run stopped by LIMIT (124) is exported too, a failed one not
  rc=0; wait "${pids[$model]}" || rc=$?
  if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then trained+=("$model")
  else echo "$model failed (exit $rc): see $RUNS/$model.log" >&2; status=1; fi
done
[ ${#trained[@]} -gt 0 ] && bash scripts/train_zoo.sh export "${trained[@]}"
for model in "${trained[@]}"; do
  zoo train-plot "$(ls -d "$RUNS/$model"/*/ | head -1)" -o "$RUNS/$model/curves.png" || true
done
tar -czf "$OUT/runs.tar.gz" -C "$RUNS" --exclude='*.pt' .
rm -f "$OUT"/*.lock
echo "fp16 weights in $OUT/weights: ${trained[*]}"
exit "$status"
