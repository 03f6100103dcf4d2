#!/usr/bin/env bash
# BD-rates of the models' evaluations in docs/results against the same files at an earlier
# commit: how much a continued training run (docs/training.md, v13 on) gained on dev, in
# sequence mode and, where both commits have it, p-frame mode. Reads JSON only (no coding).
#
#   bash scripts/compare_to_commit.sh REV MODEL...
#   bash scripts/compare_to_commit.sh 0484f46 feng2020-m1 feng2020-m2
#
# Prints, per model and mode, the row of `zoo ablate --from OLD NEW` (BD-rate PSNR-RGB,
# BD-rate MS-SSIM, BD-PSNR, each with its overlap and sequence count); the tables go to
# $OUT (default: a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
rev=$1; shift
git rev-parse --verify -q "$rev^{commit}" >/dev/null || { echo "unknown commit $rev" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d)}
for model in "$@"; do
  for mode in sequence pframe; do
    file=docs/results/eval-$model.json
    [ "$mode" = pframe ] && file=docs/results/pframe/eval-$model.json
    [ -f "$file" ] && git cat-file -e "$rev:$file" 2>/dev/null || continue
    git show "$rev:$file" > "$OUT/old-$mode-$model.json"
    zoo ablate --from "$OUT/old-$mode-$model.json" "$file" -o "$OUT/$mode-$model" >/dev/null
    row=$(grep -A4 "BD figures over the set" "$OUT/$mode-$model.md" | tail -1)
    echo "$model ($mode, vs $rev): $(echo "$row" | cut -d'|' -f5-7)"
  done
done
