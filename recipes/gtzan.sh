#!/usr/bin/env bash
# GTZAN music genres (10 genres x 100 excerpts of 30 s) on the fault-filtered artist split of Kereliuk, Sturm and
# Larsen (2015): 443 train / 197 valid / 290 test excerpts, with the repeated, distorted and mislabelled ones left
# out and no artist in two parts; report accuracy on the 290 test excerpts (random 10-fold splits of GTZAN put
# one artist's songs on both sides and inflate accuracy). The settings are the corpus defaults for 30 s music,
# measured on groove-styles (docs/listen.md): 22.05 kHz, 96 mel bins, 10 s windows, each clip answered by the
# mean over its windows. GTZAN is not on our machine: we have not run this recipe, and claim no GTZAN number.
# Usage: recipes/gtzan.sh [PATH-TO-GTZAN]   (the folder with genres/; without a path GTZAN is downloaded)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="gtzan${1:+:$1}"
start=$SECONDS
.venv/bin/gruve listen train "$DATA" --model crnn --seed 0 --out runs/gtzan
echo "gtzan: trained in $((SECONDS - start)) s"
.venv/bin/gruve listen evaluate runs/gtzan "$DATA" --split test --out runs/gtzan/test
