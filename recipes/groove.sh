#!/usr/bin/env bash
# The shipped `groove-drums` language model: a 2x256 GRU over REMI tokens of the Groove MIDI Dataset's drum
# performances, conditioned on their style, on whether each is a beat or a fill, and on the drummer (generate
# with --condition style=funk,beat_type=fill,drummer=drummer1; a label left out is drawn at random), on the
# official split (897 train, 124 validation, 129 test performances), with tempo augmentation, and fed with
# each token what the bar before played at that point (--lookback), from windows of 512 tokens (about four
# bars: from two-bar windows it brought more drums into a piece than a drummer does, and lost pitch range).
# Trained for 14 epochs on one CPU thread (50 min, beside other work), copied to gruve/pretrained, then
# evaluated against the 129 test performances (300 generated pieces, each as long as a test performance
# drawn at random and with its labels, beside the 1,021 other performances shuffled and as they are).
# Usage: recipes/groove.sh [PATH-TO-GROOVE]   (without a path the MIDI-only release is downloaded)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DATA="groove${1:+:$1}"
start=$SECONDS
.venv/bin/gruve compose train "$DATA" --condition style,beat_type,drummer --lookback --window 512 --hidden 256 --layers 2 --dropout 0.3 --epochs 14 --seed 0 \
  --out runs/groove-drums
echo "groove-drums: trained in $((SECONDS - start)) s"
cp runs/groove-drums/model.safetensors gruve/pretrained/groove-drums.safetensors
for seed in 0 1 2; do  # pitch range moves by about 0.01 between generation seeds, even with 300 pieces
  .venv/bin/gruve compose evaluate groove-drums --reference "$DATA" --n 300 --seed $seed \
    --out runs/groove-drums/evaluation-$seed
done
