#!/usr/bin/env bash
# A style classifier for drum grooves, by ear; not shipped, as it does not beat the note statistics
# (docs/listen.md). Groove MIDI's beats are rendered once through FluidSynth into 30 s clips, each with one of
# seven General MIDI drum kits in turn (the audio is rendered, not recorded), on Groove's official split;
# the model is evaluated on the test clips beside the majority class and a classifier on note statistics
# alone (bench/groove_styles.py).
# Usage: recipes/groove-styles.sh [PATH-TO-GROOVE]   (without a path Groove MIDI is downloaded into the cache)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="groove-styles${1:+:$1}"
start=$SECONDS
.venv/bin/gruve listen train "$DATA" --model crnn --seed 0 --out runs/groove-styles
echo "groove-styles: trained in $((SECONDS - start)) s"
.venv/bin/gruve listen evaluate runs/groove-styles "$DATA" --split test --out runs/groove-styles/test
if [ -n "${1:-}" ]; then
  .venv/bin/python bench/groove_styles.py --groove "$1" --model runs/groove-styles
fi
