"""Evaluating an audio classifier: accuracy, macro-F1, per-class precision and recall, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import (multiclass_accuracy, multiclass_confusion_matrix,
                                                    multiclass_f1_score, multiclass_precision,
                                                    multiclass_recall)

from gruve import bundle, files
from gruve.data.cache import FeatureCache
from gruve.data.sources import DataError, resolve, split
from gruve.errors import check
from gruve.listen.model import AudioClassifier

SPLITS = ("train", "valid", "test")


@dataclass(kw_only=True)
class EvaluateOptions:
    """What to score a model on (which split, which label) and where the report goes."""

    split: str = "test"  # train, valid or test
    target: str | None = None  # the label to score against (default: the one the model learnt)
    test_fold: int | None = None  # for fold corpora: the test fold (default: the model's)
    out: Path | None = Path("runs/evaluate")  # where report.json and confusion.png go (None: write nothing)
    strict: bool = False  # stop at the first unreadable file instead of skipping it
    cache_dir: Path | None = None  # cache for downloads and features

    def __post_init__(self):
        check(self.split in SPLITS, "split", f"{{split}} {self.split} is not one of {', '.join(SPLITS)}.")
        self.out = None if self.out is None else Path(self.out)
        self.cache_dir = None if self.cache_dir is None else Path(self.cache_dir)


def clip_probabilities(model: AudioClassifier, features: list[np.ndarray]) -> torch.Tensor:
    """`(clips, classes)`: each clip's mean window probability, as `predict` computes it."""
    model.eval()
    return torch.stack([model.window_probabilities(torch.from_numpy(f))[1].mean(0) for f in features])


def classification_report(labels: list[str], truth: list[int], probs: torch.Tensor) -> dict:
    """Accuracy, macro-F1, per-class precision, recall and support, and the confusion matrix of `probs`
    `(clips, classes)` against the true class indices `truth`."""
    n, y, pred = len(labels), torch.tensor(truth), probs.argmax(1)
    precision = multiclass_precision(pred, y, n, average=None, zero_division=0)
    recall = multiclass_recall(pred, y, n, average=None, zero_division=0)
    support = torch.bincount(y, minlength=n)
    return {
        "clips": len(truth),
        "accuracy": float(multiclass_accuracy(pred, y, n, average="micro")),
        "macro_f1": float(multiclass_f1_score(pred, y, n, average="macro", zero_division=0)),
        "per_class": {label: {"precision": float(precision[i]), "recall": float(recall[i]), "support": int(support[i])}
                      for i, label in enumerate(labels)},
        "labels": labels,
        "confusion": multiclass_confusion_matrix(pred, y, n).tolist(),
    }


def evaluate(model: str | Path | AudioClassifier, data: str, options: EvaluateOptions | None = None,
             say=print) -> dict:
    """Score `model` (a name, a bundle or a loaded classifier) on one split of `data`; write `report.json`
    and `confusion.png` into `options.out` (unless it is None) and return the report."""
    options = options or EvaluateOptions()
    classifier = model if isinstance(model, AudioClassifier) else bundle.load(model, task="listen")
    corpus = resolve(data, options.cache_dir)
    target = corpus.target(options.target or classifier.meta.get("target"))
    test_fold = options.test_fold
    if test_fold is None:
        test_fold = classifier.meta.get("training", {}).get("test_fold")
    items = split(corpus, target, test_fold)[options.split]
    if not items:
        raise DataError(f"{data} has no {options.split} items for target {target!r}.")
    unknown = sorted({i.labels[target] for i in items} - set(classifier.labels))
    if unknown:
        raise DataError(f"{data} has labels the model does not know: {', '.join(unknown[:5])}.")
    loaded, failures = FeatureCache(classifier.config.features, options.cache_dir).load(
        items, options.strict, f"{options.split} audio")
    for path, reason in failures:
        say(f"skipped: {reason}")
    index = {label: i for i, label in enumerate(classifier.labels)}
    probs = clip_probabilities(classifier, [f for _, f in loaded])
    report = classification_report(classifier.labels, [index[item.labels[target]] for item, _ in loaded], probs)
    name = str(model) if isinstance(model, (str, Path)) else "model"
    report.update(model=name, data=data, split=options.split, target=target, skipped=len(failures))
    if options.out is not None:
        from gruve.plots import confusion_matrix

        files.write_json(options.out / "report.json", report)
        confusion_matrix(report["confusion"], classifier.labels, options.out / "confusion.png",
                         title=f"{Path(name).stem} on {data} ({options.split}): accuracy {report['accuracy']:.1%}")
    return report
