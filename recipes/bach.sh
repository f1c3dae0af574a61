#!/usr/bin/env bash
# The shipped `bach-chorales` language model: a 2x256 GRU over REMI tokens of the Bach chorales that come
# with music21 (nothing to download; converted to MIDI once into the cache), on a seeded 80/10/10 split by
# chorale, with transposition by up to 5 semitones that the model is told of (--condition transposition), so
# that it generates in Bach's keys. Trained for 20 epochs on one CPU thread (29 min), copied to
# gruve/pretrained, then evaluated against the 41 held-out chorales (300 generated pieces, each as long as
# a held-out chorale drawn at random, beside the 369 other chorales shuffled and as they are), with three
# generation seeds.
# Usage: recipes/bach.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
start=$SECONDS
.venv/bin/gruve compose train bach --hidden 256 --layers 2 --dropout 0.3 --transpose 5 --epochs 20 --seed 0 \
  --condition transposition --out runs/bach-chorales
echo "bach-chorales: trained in $((SECONDS - start)) s"
cp runs/bach-chorales/model.safetensors gruve/pretrained/bach-chorales.safetensors
for seed in 0 1 2; do  # the split is the model's own (its training seed, 0) whatever the generation seed
  .venv/bin/gruve compose evaluate bach-chorales --reference bach --n 300 --seed $seed \
    --out runs/bach-chorales/evaluation-$seed
done
