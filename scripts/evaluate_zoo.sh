#!/usr/bin/env bash
# The figures of docs/results.md, on shared/data/dev (never trained on): every
# model evaluated once (low-delay sequences, all four qualities, decoded from
# the written bytes) with its summary recorded in registry.toml, the x264 and
# x265 anchors, and both ablation tables built from those evaluations.
#
#   bash scripts/evaluate_zoo.sh     # docs/results/*.json, *.md, *.csv, rd-*.png; registry results
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=${DEV:-../shared/data/dev}
OUT=${OUT:-docs/results}
# x264/x265 over a wide QP range, so that their curves overlap the learned models'.
QPS=${QPS:-22,27,32,37,42,47,51}
CMFR="cmfr2025-baseline cmfr2025-cmfr cmfr2025-cmfr-sff cmfr2025"
FENG="feng2020-m1 feng2020-m2 feng2020-m3 feng2020-m4 feng2020-m5 feng2020-m6"
mkdir -p "$OUT"

zoo bench x264,x265 --data "$DEV" --qps "$QPS" -o "$OUT/anchors.json"
for model in $CMFR $FENG; do
  zoo eval --model "$model" --data "$DEV" --workers 2 --record -o "$OUT/eval-$model.json"
done
ANCHORS="$OUT/anchors-x264.json,$OUT/anchors-x265.json"
zoo ablate --from $(for m in $CMFR; do echo "$OUT/eval-$m.json"; done) --anchors "$ANCHORS" \
    -o "$OUT/ablation-cmfr"
zoo ablate --from $(for m in $FENG; do echo "$OUT/eval-$m.json"; done) --anchors "$ANCHORS" \
    -o "$OUT/ablation-feng"
for metric in psnr-rgb ms-ssim; do
  zoo plot "$OUT"/eval-cmfr2025-baseline.json "$OUT"/eval-cmfr2025.json "$OUT"/eval-feng2020-m2.json \
      "$OUT"/anchors-x26?.json --metric "$metric" -o "$OUT/rd-$metric.png"
done
