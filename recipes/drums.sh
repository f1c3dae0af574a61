#!/usr/bin/env bash
# The shipped `drums` synthesiser: a 256-unit GRU over 8-bit mu-law samples at 16 kHz, by class and loudness
# envelope (generation draws the envelope of a training sound of the class), on the drum
# one-shots of ../shared/datasets/drums (kick, snare, hihat, tom, cymbal, clap), whole kits held out for
# validation; at its end `synth train` fits the model's output equaliser to the training sounds (the
# shipped bundle's was fitted by `gruve synth equalise drums --data DATA`, the same function, on the weights
# this recipe trained before train did it). Then the yardstick: three listen classifiers trained on the real
# sounds label 50 generated sounds per class (also before the equaliser, and shaped noise), and each class's
# log-spectral distance to the real sounds is set against white noise's.
# Trained 10 epochs on one CPU thread (67 min).
# Usage: recipes/drums.sh PATH-TO-DRUMS
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?give the drums folder, e.g. ../shared/datasets/drums}
start=$SECONDS
.venv/bin/gruve synth train "$DATA" --hidden 256 --head 256 --epochs 10 --seed 0 --envelope --out runs/drums
echo "drums: trained in $((SECONDS - start)) s"
cp runs/drums/model.safetensors gruve/pretrained/drums.safetensors
for judge in 0 1 2; do  # classifiers differ: three judges, each trained with its own seed
  .venv/bin/gruve listen train "$DATA" --out runs/drums-classifier-$judge --seed $judge
  for temperature in 1.0 1.05; do
    .venv/bin/gruve synth evaluate drums --data "$DATA" --classifier runs/drums-classifier-$judge --n 50 \
      --temperature $temperature --out runs/drums/evaluation-$judge-$temperature
  done
done
