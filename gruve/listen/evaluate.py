"""Evaluating an audio classifier: accuracy, macro-F1, per-class precision and recall, confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import (multiclass_accuracy, multiclass_confusion_matrix,
                                                    multiclass_f1_score, multiclass_precision,
                                                    multiclass_recall)

from gruve import bundle
from gruve.data.cache import FeatureCache
from gruve.data.sources import DataError, resolve, split
from gruve.listen.model import AudioClassifier


def clip_probabilities(model: AudioClassifier, features: list[np.ndarray]) -> torch.Tensor:
    """`(clips, classes)`: each clip's mean window probability, as `predict` computes it."""
    model.eval()
    return torch.stack([model.window_probabilities(torch.from_numpy(f))[1].mean(0) for f in features])


def classification_report(labels: list[str], truth: list[int], probs: torch.Tensor) -> dict:
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


def evaluate(model_name: str, data: str, split_name: str = "test", target: str | None = None,
             test_fold: int | None = None, out: Path | None = None, strict: bool = False,
             cache_dir: Path | None = None, say=print) -> dict:
    """Score a model on one split of DATA; write `report.json` and `confusion.png` into `out`."""
    model = bundle.load(model_name, task="listen")
    corpus = resolve(data, cache_dir)
    target = corpus.target(target or model.meta.get("target"))
    if test_fold is None:
        test_fold = model.meta.get("training", {}).get("test_fold")
    items = split(corpus, target, test_fold)[split_name]
    if not items:
        raise DataError(f"{data} has no {split_name} items for target {target!r}.")
    unknown = sorted({i.labels[target] for i in items} - set(model.labels))
    if unknown:
        raise DataError(f"{data} has labels the model does not know: {', '.join(unknown[:5])}.")
    loaded, failures = FeatureCache(model.config.features, cache_dir).load(items, strict, f"{split_name} audio")
    for path, reason in failures:
        say(f"skipped: {reason}")
    index = {label: i for i, label in enumerate(model.labels)}
    probs = clip_probabilities(model, [f for _, f in loaded])
    report = classification_report(model.labels, [index[item.labels[target]] for item, _ in loaded], probs)
    report.update(model=str(model_name), data=data, split=split_name, target=target, skipped=len(failures))
    if out is not None:
        from gruve.plots import confusion_matrix

        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2))
        confusion_matrix(report["confusion"], model.labels, out / "confusion.png",
                         title=f"{Path(str(model_name)).stem} on {data} ({split_name}): "
                               f"accuracy {report['accuracy']:.1%}")
    return report
