#!/usr/bin/env bash
# Train the lite configuration of every registry model with the recipe of
# docs/training.md: shared stages once, then every model of a family on the same
# data, crops and iterations, from the same shared stages; each stage's learning
# rate warms up and then follows SCHEDULE, the multi-frame stage follows the
# CASCADE curriculum, and every VALIDATE steps train.log gets the loss, bpp and
# PSNR on fixed training crops (zoo train-plot draws them). Every command resumes
# from its checkpoint, so the script can simply be run again after an
# interruption. Two lanes run side by side, one torch thread each (2 cores); on a
# GPU set DEVICE=cuda. (The committed weights came from this script as it was at
# commit e704b53: constant learning rates, 3 cascaded P-frames; docs/training.md.)
#
#   bash scripts/train_zoo.sh shared     # intra, motion, motion coding
#   bash scripts/train_zoo.sh models     # every model, exported to weights/
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
DEVICE=${DEVICE:-cpu}
THREADS=${THREADS:-1}
MODEL_ITERS=${MODEL_ITERS:-residual=800,joint=800,multi-frame=200}  # per P-frame model, both families
FILTER_ITERS=${FILTER_ITERS:-post-filter=800}        # GRDN, codec frozen
CROP=${CROP:-128}                                    # of the P-frame models and filters
SCHEDULE=${SCHEDULE:-cosine}
CASCADE=${CASCADE:-2:0.2,4:0.3,7:0.5}
VALIDATE=${VALIDATE:-200}
# Run the given functions side by side; fail if any of them fails.
lanes() {
  local pids=() failed=0
  for lane in "$@"; do "$lane" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  return "$failed"
}
train() {
  zoo train --device "$DEVICE" --threads "$THREADS" --checkpoint-every 100 --schedule "$SCHEDULE" \
            --validate-every "$VALIDATE" --resume "$@"
}

INTRA=$RUNS/shared-intra/defaults/checkpoint.pt
MOTION=$RUNS/shared-motion/defaults/checkpoint.pt
FENG=$RUNS/feng-shared/pixel-residual-gmm/checkpoint.pt

intra_lane() {
  train --stages intra --iterations intra=11000 --crop 128 --batch 8 --out "$RUNS/shared-intra"
}

motion_lane() {
  train --stages motion,motion-coding --iterations motion=1600,motion-coding=2500 --crop 128 --batch 8 \
        --out "$RUNS/shared-motion"
}

# A P-frame model on top of shared stages: residual with motion frozen, joint,
# then cascaded P-frames against error propagation.
p_model() {
  local model=$1; shift
  train --model "$model" --init "$@" --stages residual,joint,multi-frame --iterations "$MODEL_ITERS" \
        --cascade "$CASCADE" --crop "$CROP" --batch 2 --out "$RUNS/models" --export --half
}

# GRDN on a trained codec, the codec frozen (Feng et al.'s step-by-step order).
post_filter() {
  train --model "$1" --init "$RUNS/models/$2/checkpoint.pt" --stages post-filter \
        --iterations "$FILTER_ITERS" --crop "$CROP" --batch 2 --out "$RUNS/models" --export --half
}

cmfr_lane() {
  for model in cmfr2025-baseline cmfr2025-cmfr cmfr2025-cmfr-sff; do
    p_model "$model" "$INTRA" "$MOTION"
  done
}

feng_lane() {
  # The Gaussian mixture changes every entropy model, so the intra and motion
  # codecs adapt to it once, for all four Feng models.
  train --plugins pixel-residual,gmm --init "$INTRA" "$MOTION" --stages intra,motion-coding \
        --iterations intra=1500,motion-coding=800 --crop 128 --batch 8 --out "$RUNS/feng-shared"
  p_model feng2020-m1 "$FENG"
  p_model feng2020-m3 "$FENG"
  p_model cmfr2025 "$INTRA" "$MOTION"
  post_filter feng2020-m2 feng2020-m1
  post_filter feng2020-m4 feng2020-m3
}

case "${1:-}" in
  shared) lanes intra_lane motion_lane ;;
  models) lanes cmfr_lane feng_lane ;;
  *) echo "usage: $0 shared|models" >&2; exit 2 ;;
esac
