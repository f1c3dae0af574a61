#!/usr/bin/env bash
# GRU4Rec on the four 30Music slices, each on its own (session-rec's sliding-window protocol in miniature):
# the sessions that start in a slice's last day are its test set, the day before that its validation tail.
# Each slice trains on one CPU thread: first on the training sessions, stopping early on the validation
# tail's MRR@20, then afresh on training and validation together for the epochs found best; then the model
# and every baseline (pop, spop, iknn, sknn, vsknn) are scored on the same test events. Prints each slice's
# table, its training time, and the mean and spread over the slices.
# The shipped `30music` model is slice 3's (the latest five days): cp runs/30music-3/model.safetensors
# gruve/pretrained/30music.safetensors
# Usage: recipes/30music.sh [DATASETS]   (default ../shared/datasets, or $GRUVE_DATASETS)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${GRUVE_DATASETS:-../shared/datasets}}/30music
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for slice in 0 1 2 3; do
  start=$SECONDS
  .venv/bin/gruve recommend train "$data/slice-$slice.tsv" --format 30music --threads 1 --seed 0 \
    --out runs/30music-$slice --overwrite
  echo "slice $slice: trained in $((SECONDS - start)) s"
  .venv/bin/gruve recommend evaluate runs/30music-$slice "$data/slice-$slice.tsv" --out runs/30music-$slice/evaluation
done
.venv/bin/python - <<'PY'
import json, statistics
from gruve import bundle
reports = [json.load(open(f"runs/30music-{s}/evaluation/report.json")) for s in range(4)]
seconds = [bundle.read(f"runs/30music-{s}")[0]["metrics"]["train_seconds"] for s in range(4)]
print("\ntraining seconds per slice (both parts): " + ", ".join(f"{x:.0f}" for x in seconds))
print("mean (standard deviation) over the four slices")
print("| recommender | HR@20 | MRR@20 | HR@5 | MRR@5 |")
print("|---|---|---|---|---|")
for name in reports[0]["results"]:
    cells = []
    for metric in ("hr@20", "mrr@20", "hr@5", "mrr@5"):
        values = [r["results"][name][metric] for r in reports]
        cells.append(f"{statistics.mean(values):.3f} ({statistics.stdev(values):.3f})")
    print(f"| {name} | " + " | ".join(cells) + " |")
PY
