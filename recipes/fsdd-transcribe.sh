#!/usr/bin/env bash
# The shipped `fsdd-transcribe` model: speech to text (CTC) on fsdd-sequences, connected digit strings joined
# from FSDD's recordings, seen-speakers protocol (test sequences only from FSDD's test takes 0-4); a causal
# crnn, so it streams. Then its test WER and CER, and the demo recording. Batches of 8: four times the updates
# per epoch of 32, with which CTC was still on its all-blank plateau after 7 epochs of 20 (characters, 2 cores shared).
# Usage: recipes/fsdd-transcribe.sh [PATH-TO-FSDD]   (without a path FSDD is downloaded into the cache)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="fsdd-sequences${1:+:$1}"
start=$SECONDS
.venv/bin/gruve listen train "$DATA" --model crnn --batch-size 8 --seed 0 --out runs/fsdd-transcribe
echo "fsdd-transcribe: trained in $((SECONDS - start)) s"
cp runs/fsdd-transcribe/model.safetensors gruve/pretrained/fsdd-transcribe.safetensors
.venv/bin/gruve listen evaluate fsdd-transcribe "$DATA" --split test --out runs/fsdd-transcribe/test
.venv/bin/gruve listen transcribe fsdd-transcribe examples/digits/sequence_2_0_4_8_6.wav
