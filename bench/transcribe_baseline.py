"""Speech to text on fsdd-sequences' test sequences (seen speakers): the CTC model against the baseline a user
could build from gruve before it, energy-based segmentation plus the shipped `fsdd-digits` classifier on each
segment; WER and CER of both, through jiwer, on the same sequences.

The baseline cuts a recording where its log-mel frames' level (dB, summed over the bins) stays more than
`--below` dB under the recording's loudest frame, joins stretches of sound less than `--join-ms` apart,
drops those shorter than `--min-ms`, and labels each with `fsdd-digits` (the mean over its windows, as
`predict` labels a clip). Both models were trained on FSDD takes 10-49 of the same six speakers (the test
sequences are made of takes 0-4), so the comparison is fair.
Usage: .venv/bin/python bench/transcribe_baseline.py PATH-TO-FSDD [--model fsdd-transcribe]
"""

import argparse

import numpy as np
import torch

import gruve
from gruve.data.cache import FeatureCache
from gruve.data.sources import resolve
from gruve.listen.evaluation import clip_probabilities
from gruve.listen.model import _frame_db
from gruve.listen.transcription import error_rates, hypotheses


def segments(features: np.ndarray, below: float, join: int, shortest: int) -> list[tuple[int, int]]:
    """The stretches of sound of a recording's log-mel `features`, as (first frame, frame after the last)."""
    level = _frame_db(torch.from_numpy(features)).numpy()
    loud = level > level.max() - below
    runs, start = [], None
    for t, on in enumerate([*loud, False]):
        if on and start is None:
            start = t
        elif not on and start is not None:
            if runs and start - runs[-1][1] < join:
                runs[-1] = (runs[-1][0], t)
            else:
                runs.append((start, t))
            start = None
    return [(a, b) for a, b in runs if b - a >= shortest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fsdd", help="the FSDD folder fsdd-sequences is made from")
    parser.add_argument("--model", default="fsdd-transcribe")
    parser.add_argument("--below", type=float, default=35.0)
    parser.add_argument("--join-ms", type=float, default=60.0)
    parser.add_argument("--min-ms", type=float, default=80.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = resolve(f"fsdd-sequences:{args.fsdd}")
    test = [item for item in corpus.items if item.split == "test"]
    references = [item.labels["text"] for item in test]
    paths = [str(item.path) for item in test]

    recogniser = gruve.load(args.model)
    loaded, _ = FeatureCache(recogniser.config.features).load(test)
    ctc = error_rates(references, hypotheses(recogniser, [f for _, f in loaded]), paths)

    classifier = gruve.load("fsdd-digits")
    features = classifier.config.features
    frame_ms = 1000 * features.hop_length / features.sr
    loaded, _ = FeatureCache(features).load(test)
    heard = []
    for _, f in loaded:
        cuts = segments(f, args.below, int(args.join_ms / frame_ms), int(args.min_ms / frame_ms))
        if not cuts:
            heard.append("")
            continue
        probabilities = clip_probabilities(classifier, [np.ascontiguousarray(f[:, a:b]) for a, b in cuts])
        heard.append(" ".join(classifier.labels[i] for i in probabilities.argmax(1).tolist()))
    baseline = error_rates(references, heard, paths)

    print(f"{len(test)} test sequences of fsdd-sequences (seen speakers), {ctc['words']} digits")
    for name, report in ((f"{args.model} (CTC)", ctc), ("energy segments + fsdd-digits", baseline)):
        print(f"{name:32} WER {report['wer']:.2%}   CER {report['cer']:.2%}")


if __name__ == "__main__":
    main()
