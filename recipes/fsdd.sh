#!/usr/bin/env bash
# The shipped `fsdd-digits` and `fsdd-speakers` models: FSDD's spoken digits and its 6 speakers (closed set),
# on the official split (takes 0-4 are the test set), trained with pink background noise as an extra
# augmentation, each then evaluated on that test set.
# Usage: recipes/fsdd.sh [PATH-TO-FSDD]   (without a path FSDD is downloaded into the cache)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="fsdd${1:+:$1}"
for pair in digit:fsdd-digits speaker:fsdd-speakers; do
  target=${pair%%:*} name=${pair#*:}
  start=$SECONDS
  .venv/bin/gruve listen train "$DATA" --target "$target" --model crnn --epochs 30 --noise pink --seed 0 --out "runs/$name"
  echo "$name: trained in $((SECONDS - start)) s"
  cp "runs/$name/model.safetensors" "gruve/pretrained/$name.safetensors"
  .venv/bin/gruve listen evaluate "$name" "$DATA" --split test --out "runs/$name/test"
done
