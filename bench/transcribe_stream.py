"""Streaming speech to text on fsdd-sequences' test sequences: real-time factor on one core, and how far the
partial text lags behind the audio.

Every test sequence is streamed through `gruve.listen.events` (the model's streaming step, greedy CTC frame by
frame) in blocks of `--hop-ms`, on one torch thread; the real-time factor is the compute time over the audio's
length. The lag of a digit is the moment its token enters the partial text (the end of the frame that emits
it, plus the wait for the block holding that frame, at most `--hop-ms`) less the end of its clip in the
sequence (`sequences.csv`'s spans: the FSDD recording whole, so a digit whose recording ends in quiet can be
heard before its clip ends, a negative lag). Tokens are matched to clips in order, on the sequences whose
streamed text is right.
Usage: .venv/bin/python bench/transcribe_stream.py PATH-TO-FSDD [--model fsdd-transcribe] [--hop-ms 40]
"""

import argparse
import csv
import time

import numpy as np
import torch

import gruve
from gruve import audio
from gruve.data.sources import resolve
from gruve.listen.streaming import events
from gruve.nn.fused import compile_kernels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fsdd", help="the FSDD folder fsdd-sequences is made from")
    parser.add_argument("--model", default="fsdd-transcribe")
    parser.add_argument("--hop-ms", type=float, default=40.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    compile_kernels()
    model = gruve.load(args.model)
    sr, hop = model.config.features.sr, args.hop_ms / 1000
    corpus = resolve(f"fsdd-sequences:{args.fsdd}")
    test = [item for item in corpus.items if item.split == "test"]
    with open(test[0].path.parents[1] / "sequences.csv", newline="") as f:
        spans = {row["name"]: [float(s.split("-")[1]) for s in row["spans"].split()] for row in csv.DictReader(f)}
    computed, seconds, lags, right = 0.0, 0.0, [], 0
    for item in test:
        y = audio.load(item.path, sr)
        blocks = [y[i:i + int(hop * sr)] for i in range(0, len(y), int(hop * sr))]
        started = time.perf_counter()
        heard = list(events(model, blocks))
        computed += time.perf_counter() - started
        seconds += len(y) / sr
        finals = " ".join(h.text for h in heard if h.final)
        if finals != item.labels["text"]:
            continue
        right += 1
        # each digit's first text holding it (a pause can end an utterance and start the next): the end of
        # the frame that emitted it, then the wait for its block
        emitted, before = [], 0  # digits of the utterances already final
        for h in heard:
            count = before + len(h.text.split())
            emitted += [np.ceil(h.end / hop) * hop] * (count - len(emitted))
            before = count if h.final else before
        lags += [at - end for at, end in zip(emitted, spans[f"test/{item.path.name}"])]
    lags = np.array(lags) * 1000
    print(f"{len(test)} test sequences, {seconds:.1f} s of audio, blocks of {args.hop_ms:g} ms, one thread")
    print(f"real-time factor {computed / seconds:.4f} ({computed:.2f} s of compute)")
    print(f"streamed text right on {right}/{len(test)} sequences; lag of the partial text behind each digit's "
          f"clip end over {len(lags)} digits: median {np.median(lags):.0f} ms, 90th percentile "
          f"{np.percentile(lags, 90):.0f} ms, 99th {np.percentile(lags, 99):.0f} ms, largest {lags.max():.0f} ms")


if __name__ == "__main__":
    main()
