#!/usr/bin/env bash
# Trains every registry model of codec-zoo (lite layout; the fixed parts dis-flow motion,
# block-motion coding and x265-intra I-frames need no training), resumable after any
# interruption, one torch thread per process (THREADS, DEVICE=cuda on a GPU). Two
# streams side by side use both cores.
#
#   bash scripts/train_zoo.sh model NAME        # NAME's P-frame stages (or its post-filter)
#   bash scripts/train_zoo.sh stream NAME...    # several models, one after the other
#   bash scripts/train_zoo.sh export NAME...    # fp16 weights, sha256 and recipe into registry.toml
#
# Every P-frame model starts with DCVC's distortion-only stage (reconstruction), so that
# its latent carries the frame before the rate term presses on it. RECIPE=budget is the
# budget of the first weights plus that stage: reconstruction 400, residual 800, joint
# 800, multi-frame 200 steps (cascade 2/4/7) of 2x128² crops; post-filter 800.
# RECIPE=long (the default) is issue 14's campaign: 1,000 + 3 x 2,000 steps of 2x192²
# crops, most of the multi-frame stage on 7-frame cascades. RECIPE=continue trains the
# registry's weights (weights/NAME.safetensors; FROM=RUNS2: those of an earlier run,
# RUNS2/NAME/checkpoint.pt) further: joint 1,200 and multi-frame 600
# steps of 2x128² crops; a post-filter model 400 post-filter steps on its
# base model's continued P-frame stages. ITERS (P-frame stages) and POST_ITERS
# (post-filter) override a recipe's iterations, e.g. ITERS=joint=800,multi-frame=1400,
# STAGES a P-frame model's stages (e.g. multi-frame), CROP_SIZE its crops and
# BATCH_SIZE its batch; DATA the training clips (a folder or globs, default: zoo
# train's own); CHECKPOINT_EVERY (100) the steps between checkpoints;
# LAMBDAS and INTRA_QPS another quality ladder and its I-frame QPs (one per quality),
# e.g. LAMBDAS=0.00015,0.0004,0.001,0.0025,0.0063,0.016 INTRA_QPS=40,36,32,28,24,20
# (a run from registry weights of another ladder starts its gains where the new
# lambdas put them: zoo.nn.gains.across_ladders). BLOCKS gives block-motion's block size
# per quality (e.g. BLOCKS=32,32,32,16,16,16, the CMFR registry models' since 2026-12-06:
# docs/plugins/block-motion.md), so that the run trains, and its export records, the motion
# coding the registry entry codes with. DISTORTION=ms-ssim trains with
# 1 - MS-SSIM; the feng2020-msssim-mN models are feng2020-mN trained so, and with
# RECIPE=continue they start from feng2020-mN's (MSE) weights. TRAIN_ARGS adds options
# to every zoo train of the run, e.g. TRAIN_ARGS="--cascade 7:1 --frame-weights 0.7,1.3".
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/v3}
FIXED=block-motion,dis-flow,x265-intra
# The registry's I-frame QPs (registry.toml, docs/plugins/x265-intra.md); the v7 weights
# were trained against the plugin's default (42..22), runs from v8 on against these.
INTRA_QPS=${INTRA_QPS:-32,27,22,17,12}

P_STAGES=reconstruction,residual,joint,multi-frame CONTINUE=
case "${RECIPE:-long}" in
  continue) P_STAGES=joint,multi-frame P_ITERS=joint=1200,multi-frame=600; PF_ITERS=post-filter=400
            BATCH=2; CROP=128; CONTINUE=1 ;;
  budget) P_ITERS=reconstruction=400,residual=800,joint=800,multi-frame=200; PF_ITERS=post-filter=800; BATCH=2; CROP=128 ;;
  long) P_ITERS=reconstruction=1000,residual=2000,joint=2000,multi-frame=2000; PF_ITERS=post-filter=2000; BATCH=2; CROP=192 ;;
  *) echo "RECIPE is budget, long or continue" >&2; exit 2 ;;
esac
P_ITERS=${ITERS:-$P_ITERS} PF_ITERS=${POST_ITERS:-$PF_ITERS} CROP=${CROP_SIZE:-$CROP} BATCH=${BATCH_SIZE:-$BATCH}
P_STAGES=${STAGES:-$P_STAGES}

plugins() {  # the model's technique plugins (registry.toml adds the fixed parts)
  case "$1" in
    cmfr2025-baseline) echo masked-residual ;;
    cmfr2025-cmfr) echo cmfr ;;
    cmfr2025-cmfr-sff) echo cmfr,sff ;;
    cmfr2025) echo cmfr,sff,refiner ;;
    feng2020-m1) echo pixel-residual,gmm ;;
    feng2020-m2) echo pixel-residual,gmm,grdn ;;
    feng2020-m3) echo feature-residual,gmm ;;
    feng2020-m4) echo feature-residual,gmm,grdn ;;
    feng2020-msssim-m*) plugins "feng2020-${1#feng2020-msssim-}" ;;
    *) echo "unknown model $1" >&2; exit 2 ;;
  esac
}

base() {  # a model whose P-frame stages a post-filter model starts from
  case "$1" in
    feng2020-m2) echo feng2020-m1 ;; feng2020-m4) echo feng2020-m3 ;;
    feng2020-msssim-m2) echo feng2020-msssim-m1 ;; feng2020-msssim-m4) echo feng2020-msssim-m3 ;;
  esac
}

weights() {  # the weights a continued run of the model starts from: FROM's run, else the registry's
  [ -n "${FROM:-}" ] && { echo "$FROM/$1/checkpoint.pt"; return; }
  local own="weights/$1.safetensors"
  [ -f "$own" ] || own="weights/feng2020-${1#feng2020-msssim-}.safetensors"
  echo "$own"
}

train() {
  zoo train --device "${DEVICE:-cpu}" --threads "${THREADS:-1}" --checkpoint-every "${CHECKPOINT_EVERY:-100}" \
            --validate-every 200 --resume --option "x265-intra.qps=$INTRA_QPS" \
            ${BLOCKS:+--option "block-motion.blocks=$BLOCKS"} \
            ${LAMBDAS:+--lambdas "$LAMBDAS"} ${DATA:+--data $DATA} --distortion "${DISTORTION:-mse}" "$@" ${TRAIN_ARGS:-}
}

model() {
  local name=$1 from own=()
  from=$(base "$name")
  [ -n "$CONTINUE" ] && own=("$(weights "$name")")
  if [ -n "$from" ]; then
    until [ -f "$RUNS/$from/done" ]; do sleep 60; done
    train --plugins "$FIXED,$(plugins "$name")" --init "${own[@]}" "$RUNS/$from/checkpoint.pt" \
          --stages post-filter --iterations "$PF_ITERS" --batch "$BATCH" --crop "$CROP" \
          --out "$RUNS/$name"
  else
    train --plugins "$FIXED,$(plugins "$name")" ${own[@]+--init "${own[@]}"} \
          --stages "$P_STAGES" --iterations "$P_ITERS" --batch "$BATCH" \
          --crop "$CROP" --out "$RUNS/$name"
  fi
  ln -sfn "$(realpath "$(ls -d "$RUNS/$name"/*/ | head -1)checkpoint.pt")" "$RUNS/$name/checkpoint.pt"
  touch "$RUNS/$name/done"
}

case "${1:-}" in
  model) model "$2" ;;
  stream) shift; for name in "$@"; do model "$name"; done ;;
  export)
    shift
    python3 scripts/export_weights.py "$RUNS" "$@" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
