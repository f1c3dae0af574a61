#!/usr/bin/env bash
# The JSB Chorales piano-roll benchmark on the Boulanger-Lewandowski (2012) split, from scratch:
#   jsb-gru       a GRU with independent sigmoid outputs per note (the set-up of Chung et al. 2014)
#   jsb-gru-nade  a GRU whose state conditions a NADE over the 88 notes of the next step
#   jsb-lstm      the sigmoid model with an LSTM, for comparison
# Each is trained, copied to gruve/pretrained (the two GRU models) and evaluated on train/valid/test.
# Usage: recipes/jsb.sh [PATH-TO-JSB]   (a folder or file in either published format; without it the
# benchmark pickle is downloaded into the cache)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="jsb${1:+:$1}"
train() {
  local name=$1 ship=$2
  shift 2
  local start=$SECONDS
  .venv/bin/gruve compose pianoroll train "$DATA" --seed 0 --patience 20 --out "runs/$name" "$@"
  echo "$name: trained in $((SECONDS - start)) s"
  if [ "$ship" = ship ]; then cp "runs/$name/model.safetensors" "gruve/pretrained/$name.safetensors"; fi
  .venv/bin/gruve compose pianoroll evaluate "runs/$name" "$DATA"
}
train jsb-gru ship --model gru --hidden 512 --dropout 0.5 --lr 2e-3 --weight-decay 0.1 --ema 0.99
train jsb-gru-nade ship --model gru-nade --hidden 256 --nade-hidden 150 --dropout 0.2 --lr 3e-3 --transpose 3
train jsb-lstm no --model lstm --hidden 512 --dropout 0.5 --lr 2e-3 --weight-decay 0.1 --ema 0.99
