"""The session-based baselines on the four 30Music slices, each slice on its own (session-rec's sliding-window
protocol in miniature): the sessions that start in a slice's last day are its test set, the rest its training
set; items seen once in training are dropped, and test items absent from training removed
(`gruve.recommend.load_split`'s defaults). The baselines have nothing to tune on the validation day, so each is
fitted on every session before the test day (`Split.train_and_valid`, what the final GRU4Rec of `gruve
recommend train` is fitted on too) and scored by `gruve.recommend.evaluate` on every test event after a
session's first, ranked against all catalogue items, ties counted against it.
Prints one table per slice, with the seconds each baseline took to fit and to score, then the mean and
standard deviation over the slices of HR@20 and MRR@20.
Usage: .venv/bin/python bench/recommend_baselines.py [--data DATASETS]  (the folder holding 30music/)
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

from gruve.recommend.baselines import BASELINES
from gruve.recommend.evaluation import evaluate, results_table
from gruve.recommend.sessions import load_split

SLICES = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("GRUVE_DATASETS", "../shared/datasets")),
                        help="the datasets folder, holding 30music/slice-{0..3}.tsv (default: $GRUVE_DATASETS)")
    args = parser.parse_args()
    per_slice, seconds = [], {baseline.name: [] for baseline in BASELINES}
    for number in range(SLICES):
        started = time.perf_counter()
        split = load_split(args.data / "30music" / f"slice-{number}.tsv", "30music")
        loading = time.perf_counter() - started
        sessions, catalogue = split.train_and_valid()
        fitted, fit_seconds = [], {}
        for baseline in BASELINES:
            started = time.perf_counter()
            fitted.append(baseline(sessions, catalogue))
            fit_seconds[baseline.name] = time.perf_counter() - started
        report = evaluate(fitted, split.test, catalogue)
        per_slice.append(report)
        for name, r in report["results"].items():
            seconds[name].append(fit_seconds[name] + r["seconds"])
        print(f"## slice {number}: {len(sessions)} training sessions ({len(split.train)} train + {len(split.valid)} "
              f"valid), {len(split.test)} test, {len(catalogue)} items (read in {loading:.2f} s"
              f"{', from the cache' if split.report['cached'] else ''})\n")
        print(results_table(report))
        print("\nseconds: " + ", ".join(f"{name} fit {fit_seconds[name]:.2f} + score {r['seconds']:.2f}"
                                        for name, r in report["results"].items()) + "\n")
    print(f"## mean ± standard deviation over the {SLICES} slices\n")
    print("| recommender | HR@20 | MRR@20 | seconds per slice (fit + score) |\n|---|---|---|---|")
    for name in seconds:
        hr = [r["results"][name]["hr@20"] for r in per_slice]
        mrr = [r["results"][name]["mrr@20"] for r in per_slice]
        print(f"| {name} | {np.mean(hr):.3f} ± {np.std(hr):.3f} | {np.mean(mrr):.3f} ± {np.std(mrr):.3f} | "
              f"{np.mean(seconds[name]):.2f} |")


if __name__ == "__main__":
    main()
