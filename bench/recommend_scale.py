"""GRU4Rec at scale: training, scoring and suggesting time, and memory, at 10k, 100k and 1M items.

Made-up listening sessions (items drawn by a Zipf popularity, sessions of 2-20 events), since no data set
here has a million tracks. Each catalogue size runs in a process of its own, with the default options, so
its peak memory is its own: one epoch through `gruve.recommend`'s real training (`fit_model`: Lightning,
session-parallel batches, sampled negatives, sparse Adagrad), then every next item of held-out sessions
ranked against the whole catalogue as `evaluate` ranks it, then `suggest`'s top 20 for one history.
Prints seconds per training step, events trained per second, scoring microseconds per event, the median
warm `suggest`, parameters and peak memory. With `--read-rows N`, also a made-up Last.fm-1K TSV of N rows
(1,000 users, 1M tracks, Zipf plays) read, cut into sessions and split by `load_split`, in a process of its
own: seconds and peak memory, the first time and from the cache.
Usage: .venv/bin/python bench/recommend_scale.py [--items 10000 100000 1000000] [--events 20000] [--threads 1]
                                                 [--read-rows 20000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ONE_SIZE = r"""
import json, resource, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
n_items, n_events, threads = (int(a) for a in sys.argv[1:4])
torch.set_num_threads(threads)
from gruve import recommend
from gruve.recommend.evaluation import conservative_ranks
from gruve.recommend.sessions import Catalogue, Sessions
from gruve.recommend.training import RecommendOptions, fit_model, session_parallel_steps
from gruve.training import TrainOptions

rng = np.random.default_rng(0)
def sessions(events):
    lengths = rng.integers(2, 21, events // 11)
    zipf = 1.0 / np.arange(1, n_items + 1) ** 1.1
    items = rng.choice(n_items, int(lengths.sum()), p=zipf / zipf.sum())
    return Sessions(items=items.astype(np.int64), offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                    times=np.arange(len(items), dtype=np.int64))
train, held_out = sessions(n_events), sessions(2000)
catalogue = Catalogue([str(i) for i in range(n_items)], None, None, None,
                      np.bincount(train.items, minlength=n_items).astype(np.int64))
options = RecommendOptions(data="made-up")
with tempfile.TemporaryDirectory() as out:
    run = TrainOptions(out=Path(out), max_epochs=1, patience=0, threads=threads, progress=False)
    model, metrics = fit_model(options, run, train, None, catalogue, say=lambda _: None)
steps = session_parallel_steps(train.lengths, options.batch_size)
model.eval()
with torch.inference_mode():
    h, _ = model(torch.as_tensor(held_out.items[:-1])[None])
    started = time.perf_counter()
    for start in range(0, h.shape[1], 256):
        conservative_ranks(model.scores(h[0, start:start + 256]).numpy(), held_out.items[1 + start:1 + start + 256])
    scoring = (time.perf_counter() - started) / h.shape[1]
history = [str(i) for i in train.session(0)]
recommend.suggest(model, history, k=20, say=lambda _: None)
times = []
for _ in range(50):
    started = time.perf_counter()
    recommend.suggest(model, history, k=20, say=lambda _: None)
    times.append(time.perf_counter() - started)
print(json.dumps({"items": n_items, "events": len(train.items), "train_seconds": metrics["train_seconds"],
                  "steps": steps, "parameters": sum(p.numel() for p in model.parameters()),
                  "scoring_us": scoring * 1e6, "suggest_ms": statistics.median(times) * 1000,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

READ = r"""
import json, resource, sys, time
from gruve.recommend.sessions import load_split
started = time.perf_counter()
split = load_split(sys.argv[1], format="lastfm", cache_dir=sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "train_sessions": len(split.train),
                  "items": len(split.catalogue), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_lastfm(path: str, rows: int) -> None:
    """A Last.fm-1K-format TSV of `rows` plays: 1,000 users listening a track every 3-4 minutes, with a break
    after one play in ten (at least an hour, long enough that the file spans some 40 days), tracks of a million
    drawn by a Zipf popularity, written a million rows at a time."""
    import numpy as np

    rng = np.random.default_rng(0)
    zipf = 1.0 / np.arange(1, 1_000_001) ** 1.1
    zipf /= zipf.sum()
    clock = np.full(1000, 1_200_000_000)
    breaks = max(3600, int((40 * 86400 / (rows / 1000) - 0.9 * 210) / 0.1))
    with open(path, "w") as f:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            users = rng.integers(0, 1000, n)
            tracks = rng.choice(1_000_000, n, p=zipf)
            gaps = np.where(rng.random(n) < 0.1, breaks, rng.integers(180, 240, n))
            times = np.empty(n, np.int64)
            for user in np.unique(users):  # each user's clock runs on through their plays
                mine = users == user
                times[mine] = clock[user] + np.cumsum(gaps[mine])
                clock[user] = times[mine][-1]
            stamps = np.datetime_as_string(times.astype("datetime64[s]"), unit="s")
            f.writelines(f"user_{u:06d}\t{t}Z\tartist-{k % 50_000}\tArtist {k % 50_000}\ttrack-{k}\tTrack {k}\n"
                         for u, t, k in zip(users, stamps, tracks))


def read_rows(rows: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/lastfm.tsv"
        started = time.perf_counter()
        write_lastfm(path, rows)
        size = os.path.getsize(path) / (1 << 20)
        print(f"\na made-up Last.fm-1K file of {rows:,} rows ({size:,.0f} MB, written in "
              f"{time.perf_counter() - started:.0f} s), read by load_split\n")
        print("| read | seconds | peak MB | training sessions | items |\n|---|---|---|---|---|")
        for what in ("first", "from the cache"):
            done = subprocess.run([sys.executable, "-c", READ, path, f"{folder}/cache"], capture_output=True,
                                  text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {what} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} | {r['train_sessions']:,} | {r['items']:,} |",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--events", type=int, default=20_000, help="training events per size (one epoch)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--read-rows", type=int, default=0, help="also read a made-up Last.fm-1K file of this many rows")
    args = parser.parse_args()
    print(f"made-up sessions, {args.events:,} training events, one epoch, {args.threads} thread(s), "
          f"default options (hidden 128, 2,048 negatives, batch 32)\n")
    print("| items | parameters | peak MB | training s | ms per step | events per s | scoring µs per event "
          "| warm suggest top-20 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for n_items in args.items:
        done = subprocess.run([sys.executable, "-c", ONE_SIZE, str(n_items), str(args.events), str(args.threads)],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {r['items']:,} | {r['parameters']:,} | {r['peak_mb']:,.0f} | {r['train_seconds']:.1f} | "
              f"{r['train_seconds'] / r['steps'] * 1000:.2f} | {r['events'] / r['train_seconds']:,.0f} | "
              f"{r['scoring_us']:.0f} | {r['suggest_ms']:.2f} |", flush=True)
    if args.read_rows:
        read_rows(args.read_rows)


if __name__ == "__main__":
    main()
