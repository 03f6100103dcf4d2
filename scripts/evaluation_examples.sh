#!/usr/bin/env bash
# The measured examples of docs/evaluation.md, on the bundled sample clip:
# anchors, x265 against x264 with its evidence, the default plugins (untrained)
# in both modes, an untrained CMFR ablation with x264 anchors, and the plot.
#
#   bash scripts/evaluation_examples.sh        # writes out/examples/
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/examples}
CLIP=zoo/samples/carphone_176x144.mp4
mkdir -p "$OUT"

zoo bench x264,x265 --data "$CLIP" --frames 10 --qps 22,27,32,37,42,47 -o "$OUT/anchors.json"
python - "$OUT" <<'PY'
import sys
from zoo.eval.compare import bd_reports, figure
from zoo.eval.evaluate import load_runs
out = sys.argv[1]
x264, = load_runs(f"{out}/anchors-x264.json")
x265, = load_runs(f"{out}/anchors-x265.json")
for metric in ("psnr-rgb", "ms-ssim"):
    print(f"x265 vs x264, BD-rate {metric}:", figure(bd_reports(x264, x265, metric)["set"]).cell())
print("x265 vs x264, BD-PSNR-RGB:",
      figure(bd_reports(x264, x265, "psnr-rgb", quantity="psnr")["set"]).cell("dB"))
PY
zoo eval --untrained --data "$CLIP" --frames 10 -o "$OUT/defaults-seq.json"
zoo eval --untrained --mode pframe --data "$CLIP" --frames 10 -o "$OUT/defaults-pframe.json"
zoo eval --untrained --entropy-estimate --data "$CLIP" --frames 10 -o "$OUT/defaults-estimate.json"
zoo ablate --rows "masked-residual; cmfr; cmfr,sff; cmfr,sff,refiner" --untrained \
    --data "$CLIP" --frames 10 --qualities 0,3 --anchors "$OUT/anchors-x264.json" -o "$OUT/ablation"
zoo plot "$OUT/anchors-x264.json" "$OUT/anchors-x265.json" "$OUT/defaults-seq.json" -o "$OUT/rd.png"
# refused: a P-frame-mode result on a chart of low-delay anchors
if zoo plot "$OUT/anchors-x264.json" "$OUT/defaults-pframe.json" -o "$OUT/refused.png"; then
  echo "expected a refusal" >&2; exit 1
fi
