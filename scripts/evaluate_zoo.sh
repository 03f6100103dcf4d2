#!/usr/bin/env bash
# docs/results.md and every piece of it, on shared/data/dev (never trained on): the x264
# and x265 anchors; the models named in EVAL (default: all) evaluated again in low-delay
# sequences (all qualities, decoded from the written bytes, summary recorded in
# registry.toml) and, the Feng ones (MSE- and MS-SSIM-trained), in p-frame mode (issue 14's
# target 5); the other
# models' existing $OUT/eval-MODEL.json reused (the page marks stale any whose recorded
# sha256 is not registry.toml's); then the ablation tables, the RD plots, the six targets
# (scripts/targets.py) and the page (scripts/results_page.py), from those evaluations.
#
#   bash scripts/evaluate_zoo.sh                       # every model
#   EVAL="feng2020-m1 cmfr2025" bash scripts/evaluate_zoo.sh
#   EVAL= BENCH=0 bash scripts/evaluate_zoo.sh          # the pages alone, from the JSON there
#
# BENCH=0 reuses the anchors there; PFRAME=0 leaves the p-frame mode evaluations as they
# are (the page marks stale those whose weights changed); STATIC=0 likewise the lowest
# quality on the training set's talking-head clips (target 6's static content; the models
# trained on these clips, which the target names: TALKING lists them).
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
DEV=${DEV:-../shared/data/dev}
OUT=${OUT:-docs/results}
# x264/x265 over a wide QP range, so that their curves overlap the learned models'.
QPS=${QPS:-22,27,32,37,42,47,51}
CMFR="cmfr2025-baseline cmfr2025-cmfr cmfr2025-cmfr-sff cmfr2025"
FENG="feng2020-m1 feng2020-m2 feng2020-m3 feng2020-m4 feng2020-m5 feng2020-m6"
FENG_MS="feng2020-msssim-m1 feng2020-msssim-m2 feng2020-msssim-m3 feng2020-msssim-m4"
FENG_MS="$FENG_MS feng2020-msssim-m5 feng2020-msssim-m6"
EVAL="${EVAL-$CMFR $FENG $FENG_MS}"
TRAIN=${TRAIN:-../shared/data/train}
TALKING=${TALKING:-face_man_green_512x512 face_man_office_portrait_720x1280 face_woman_512x512 face_man_glasses_512x480}
files() { local dir=$1; shift; for m in "$@"; do echo "$dir/eval-$m.json"; done; }
mkdir -p "$OUT/pframe" "$OUT/static"

if [ "${BENCH:-1}" != 0 ]; then
  zoo bench x264,x265 --data "$DEV" --qps "$QPS" -o "$OUT/anchors.json"
fi
for model in $EVAL; do
  zoo eval --model "$model" --data "$DEV" --workers 2 --record -o "$OUT/eval-$model.json"
done
for model in $EVAL; do  # target 5: Feng et al.'s Table 1 in p-frame mode
  if [[ " $FENG $FENG_MS " == *" $model "* && "${PFRAME:-1}" != 0 ]]; then
    zoo eval --model "$model" --data "$DEV" --mode pframe --workers 2 -o "$OUT/pframe/eval-$model.json"
  fi
done
if [ "${STATIC:-1}" != 0 ]; then  # target 6: 8 frames (I + 7 P) of each talking head
  for model in $EVAL; do
    zoo eval --model "$model" --data $(for c in $TALKING; do echo "$TRAIN/$c.264"; done) \
      --frames 8 --qualities 0 --workers 2 -o "$OUT/static/eval-$model.json"
  done
fi
ANCHORS="$OUT/anchors-x264.json,$OUT/anchors-x265.json"
zoo ablate --from $(files "$OUT" $CMFR) --anchors "$ANCHORS" -o "$OUT/ablation-cmfr"
zoo ablate --from $(files "$OUT" $FENG) --anchors "$ANCHORS" -o "$OUT/ablation-feng"
zoo ablate --from $(files "$OUT" $FENG_MS) --anchors "$ANCHORS" -o "$OUT/ablation-feng-msssim"
pframe_table() {  # STEM MODEL...: all six, or the page says "not run"
  local stem=$1; shift
  if ls $(files "$OUT/pframe" "$@") >/dev/null 2>&1; then
    zoo ablate --from $(files "$OUT/pframe" "$@") -o "$OUT/pframe/ablation-$stem"
  fi
}
pframe_table feng $FENG
pframe_table feng-msssim $FENG_MS
for metric in psnr-rgb ms-ssim; do
  zoo plot "$OUT"/eval-cmfr2025-baseline.json "$OUT"/eval-cmfr2025.json "$OUT"/eval-feng2020-m2.json \
      "$OUT"/anchors-x26?.json --metric "$metric" -o "$OUT/rd-$metric.png"
done
python scripts/targets.py --models "$OUT"/eval-*.json --anchors "$OUT/anchors-x264.json" \
    --pframe "$OUT"/pframe/eval-*.json --static "$OUT"/static/eval-*.json --plot "$OUT/drift.png" > "$OUT/targets.md.tmp"
mv "$OUT/targets.md.tmp" "$OUT/targets.md"
python scripts/results_page.py --results "$OUT" -o docs/results.md
