#!/usr/bin/env bash
# The shipped `fsdd-speakers` model: which of FSDD's 6 speakers is talking (closed set, same official split).
# Usage: recipes/fsdd-speakers.sh [PATH-TO-FSDD]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="fsdd${1:+:$1}"
.venv/bin/gruve listen train "$DATA" --target speaker --model crnn --epochs 30 --seed 0 --out runs/fsdd-speakers
cp runs/fsdd-speakers/model.safetensors gruve/pretrained/fsdd-speakers.safetensors
.venv/bin/gruve listen evaluate fsdd-speakers "$DATA" --split test --out runs/fsdd-speakers/test
