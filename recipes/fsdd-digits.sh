#!/usr/bin/env bash
# The shipped `fsdd-digits` model: spoken digits 0-9 from FSDD, official split (takes 0-4 are the test set).
# Usage: recipes/fsdd-digits.sh [PATH-TO-FSDD]   (without a path FSDD is downloaded into the cache)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="fsdd${1:+:$1}"
.venv/bin/gruve listen train "$DATA" --target digit --model crnn --epochs 30 --seed 0 --out runs/fsdd-digits
cp runs/fsdd-digits/model.safetensors gruve/pretrained/fsdd-digits.safetensors
.venv/bin/gruve listen evaluate fsdd-digits "$DATA" --split test --out runs/fsdd-digits/test
