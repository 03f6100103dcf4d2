#!/usr/bin/env bash
# Evaluate a registry model with another options line, through the registry path (its streams'
# header names the model alone, as `zoo eval --model` writes them), so that its figures compare
# with the registry's own. A copy of the model's registry entry, with OPTIONS in place of its
# options line, and of its weights go to a folder beside OUT; $ZOO_REGISTRY points the encoder
# and the decoder at it. For measurements: the checkout's registry is not touched.
#
#   bash scripts/eval_with_options.sh MODEL 'options = { ... }' OUT.json [zoo eval arguments...]
#
# $ZOO (default `zoo`) is the command run, e.g. ZOO="python scripts/visible_choices.py".
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: $0 MODEL 'options = { ... }' OUT.json [zoo eval arguments...]" >&2; exit 2; }
model=$1 options=$2 out=$3; shift 3
folder=$(dirname "$out")/registry-$(basename "$out" .json)
mkdir -p "$folder/weights"
python3 - "$model" "$options" "$folder" <<'PY'
import shutil, sys, tomllib
model, options, folder = sys.argv[1:]
text = open("registry.toml").read()
start = text.find(f"[models.{model}]\n")
if start < 0 or not options.startswith("options = "):
    sys.exit(f"no registry entry {model!r}, or OPTIONS does not start with 'options = '")
end = text.find("\n[", start + 1)
entry = text[start:] if end < 0 else text[start:end + 1]
line = entry.index("\noptions = ") + 1
entry = entry[:line] + options + entry[entry.index("\n", line):]
weights = tomllib.loads(entry)["models"][model]["weights"]  # also checks the TOML
shutil.copy(weights, f"{folder}/{weights}")
open(f"{folder}/registry.toml", "w").write(entry)
PY
ZOO_REGISTRY=$folder/registry.toml ${ZOO:-zoo} eval --model "$model" -o "$out" "$@"
