"""Evaluating an audio classifier: accuracy, macro-F1, per-class precision and recall, confusion matrix."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import (multiclass_accuracy, multiclass_confusion_matrix,
                                                    multiclass_f1_score, multiclass_precision,
                                                    multiclass_recall)

from gruve import bundle, files
from gruve.data.cache import FeatureCache
from gruve.data.sources import Corpus, DataError, Item, merges, relabel, resolve, split
from gruve.errors import OptionError, check
from gruve.listen.model import AudioClassifier
from gruve.listen.transcriber import Transcriber

SPLITS = ("train", "valid", "test")
TOO_FEW = 30  # clips below which one clip moves accuracy by more than 3 points: too small a test set to trust


@dataclass(kw_only=True)
class EvaluateOptions:
    """What to score a model on (which split, which label) and where the report goes."""

    split: str = "test"  # train, valid or test
    target: str | None = None  # the label to score against (default: the one the model learnt)
    test_fold: int | None = None  # for fold corpora: the test fold (default: the model's)
    out: Path | None = Path("runs/evaluate")  # where report.json and confusion.png go (None: write nothing)
    strict: bool = False  # stop at the first unreadable file instead of skipping it
    cache_dir: Path | None = None  # cache for downloads and features
    beam: int = 1  # a transcription model's decoding: greedy (1), or a prefix beam search of this many prefixes

    def __post_init__(self):
        check(self.beam >= 1, "beam", f"{{beam}} must be at least 1 (got {self.beam}).")
        check(self.split in SPLITS, "split", f"{{split}} {self.split} is not one of {', '.join(SPLITS)}.")
        self.out = None if self.out is None else Path(self.out)
        self.cache_dir = None if self.cache_dir is None else Path(self.cache_dir)


def clip_probabilities(model: AudioClassifier, features: list[np.ndarray]) -> torch.Tensor:
    """`(clips, classes)`: each clip's mean window probability, as `predict` computes it."""
    model.eval()
    return torch.stack([model.window_probabilities(torch.from_numpy(f))[1].mean(0) for f in features])


def classification_report(labels: list[str], truth: list[int], probs: torch.Tensor) -> dict:
    """Accuracy, macro-F1, per-class precision, recall, support, times predicted and whether macro-F1 counts
    the class, the confusion matrix of `probs` `(clips, classes)` against the true class indices `truth`, and
    whether the clips are too few to trust (`TOO_FEW`).

    Macro-F1 (torchmetrics') averages over the classes that are in the test set or were predicted: a class
    with no test clips counts (as F1 0) only when the model predicted it."""
    n, y, pred = len(labels), torch.tensor(truth), probs.argmax(1)
    precision = multiclass_precision(pred, y, n, average=None, zero_division=0)
    recall = multiclass_recall(pred, y, n, average=None, zero_division=0)
    support, predicted = torch.bincount(y, minlength=n), torch.bincount(pred, minlength=n)
    return {
        "clips": len(truth),
        "too_small": len(truth) < TOO_FEW,
        "accuracy": float(multiclass_accuracy(pred, y, n, average="micro")),
        "macro_f1": float(multiclass_f1_score(pred, y, n, average="macro", zero_division=0)),
        "per_class": {label: {"precision": float(precision[i]), "recall": float(recall[i]), "support": int(support[i]),
                              "predicted": int(predicted[i]), "in_macro_f1": bool(support[i] + predicted[i] > 0)}
                      for i, label in enumerate(labels)},
        "labels": labels,
        "confusion": multiclass_confusion_matrix(pred, y, n).tolist(),
    }


def evaluate(model: str | Path | AudioClassifier, data: str, options: EvaluateOptions | None = None,
             say=print) -> dict:
    """Score `model` (a name, a bundle or a loaded classifier) on one split of `data`, the split it was trained
    with (see `split_record`); write `report.json` and `confusion.png` into `options.out` (unless it is None)
    and return the report."""
    options = options or EvaluateOptions()
    if options.out is not None:
        files.writable_folder(options.out)  # before the scoring, not after it
    classifier = (model if isinstance(model, (AudioClassifier, Transcriber))
                  else bundle.load(model, task=("listen", "transcribe")))
    # the model's own data as it was trained on it: the same noise folder and silence class, merges and exclusions
    training = classifier.meta.get("training", {})
    trained = training.get("options", {}) if str(training.get("data")) == str(data) else {}
    corpus = resolve(data, options.cache_dir, trained.get("noise_folder"), trained.get("silence_class", False))
    if isinstance(classifier, Transcriber):
        return _evaluate_transcriber(classifier, model, corpus, data, options, say)
    target = corpus.target(options.target or classifier.meta.get("target"))
    corpus = relabel(corpus, target, merges(trained.get("merge") or []), trained.get("exclude") or [])
    items = _evaluated_items(classifier, model, corpus, data, target, options, say)
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


def _evaluate_transcriber(transcriber: Transcriber, model, corpus: Corpus, data: str, options: EvaluateOptions,
                          say) -> dict:
    """WER, CER and the worst utterances of a speech recogniser on the split of `corpus` it was trained with."""
    from gruve.listen.transcription import EVERY, score, utterances

    if "text" not in corpus.targets:
        raise DataError(f"{data} has no text column; a transcription model is scored on text.")
    check(options.target in (None, "text"), "target", f"{{target}} {options.target}: a transcription model is "
                                                      "scored on text.")
    lines = {item.path: line for line, item in enumerate(corpus.items, start=2)}
    corpus, skipped = utterances(corpus, data)
    for _, reason in skipped:
        say(f"skipped: {reason}")
    items = _evaluated_items(transcriber, model, corpus, data, EVERY, options, say)
    report = score(transcriber, items, data, options.split, lines, options.strict, options.cache_dir, say, options.beam)
    report.update(model=str(model) if isinstance(model, (str, Path)) else "model", skipped=report["skipped"] + len(skipped))
    if options.out is not None:
        files.write_json(options.out / "report.json", report)
    return report


def split_record(data: str, parts: dict[str, list[Item]], seed: int) -> dict:
    """What a bundle keeps of the split it was trained on, for `evaluate`: the protocol of an official split
    (with the seed that carved `valid` from `train` where the data has none) or of folds (with the test fold);
    for a split drawn at random, each part's files, as paths relative to `data`'s folder (see `data_root`)."""
    every = [item for items in parts.values() for item in items]
    if any(item.split for item in every):
        return {"protocol": "official", "seed": seed}
    if any(item.fold is not None for item in every):
        return {"protocol": "folds", "test_fold": next((item.fold for item in parts["test"]), None)}
    root = data_root(data)
    return {"protocol": "random", **{name: [_key(item.path, root) for item in items] for name, items in parts.items()}}


def data_root(data: str) -> Path:
    """The folder that a folder's or a manifest's files are recorded relative to: the folder, or the manifest's."""
    path = Path(data)
    return path if path.is_dir() else path.parent


def _key(path: str | Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _evaluated_items(classifier: AudioClassifier, model, corpus: Corpus, data: str, target: str,
                     options: EvaluateOptions, say) -> list[Item]:
    """The items of `options.split` by the split the model was trained with, saying where that split came from."""
    training = classifier.meta.get("training", {})
    record, source = _recorded_split(training, model)
    wanted = options.split
    listed = record is not None and record["protocol"] == "random"
    own_protocol = any(i.split or i.fold is not None for i in corpus.items)
    if listed and not own_protocol:
        return _listed(record, source, corpus, data, target, wanted, say)
    fold = _test_fold(record or {}, training, corpus, options.test_fold)
    items = split(corpus, target, fold, (record or {}).get("seed", training.get("seed", 0)),
                  group_by=training.get("options", {}).get("group_by"))[wanted]
    if listed:  # data with its own split is scored by it, less any file the model's split puts in another part
        root = data_root(data)
        elsewhere = {key for name in SPLITS if name != wanted for key in record[name]}
        kept = [item for item in items if _key(item.path, root) not in elsewhere]
        say(f"evaluating on the {len(kept)} clips of {data}'s own {wanted} split"
            + (f", less {len(items) - len(kept)} that the model's split ({source}) puts in another part"
               if len(kept) < len(items) else ""))
        items = kept
    elif own_protocol:
        held = f" (fold {fold if fold is not None else corpus.folds[0]} held out)" if corpus.folds else ""
        say(f"evaluating on the {len(items)} clips of {data}'s own {wanted} split{held}")
    else:
        say(f"warning: this model carries no record of the split it was trained on (it was written by an earlier "
            f"gruve), so {data} was split again with its seed: if files were added or removed since it was "
            f"trained, this {wanted} set of {len(items)} clips may include the model's training clips.")
    if not items:
        raise DataError(f"{data} has no {wanted} items for target {target!r}.")
    return items


def _listed(record: dict, source: str, corpus: Corpus, data: str, target: str, wanted: str, say) -> list[Item]:
    """The items of `data` that the model's recorded split lists in part `wanted`.

    A file the record does not list (added since training) is left out rather than scored: the score is then
    the model's own test score, as training measured it, and no file's part depends on what else the folder
    holds. Data the model never saw is scored through a manifest with a split column.
    """
    root = data_root(data)
    keys = [(item, _key(item.path, root)) for item in corpus.items if item.labels.get(target)]
    ours, listed = set(record[wanted]), {key for name in SPLITS for key in record[name]}
    items = [item for item, key in keys if key in ours]
    if not items:
        raise DataError(f"{data} holds none of the {len(ours)} clips of the model's own {wanted} split "
                        f"({source}); to score other data, give a manifest with a 'split' column.")
    say(f"evaluating on the {len(items)} clips of the model's own {wanted} split ({source})")
    new = sum(key not in listed for _, key in keys)
    if new:
        say(f"left out {new} file(s) of {data} that the model's split does not list (added since it was trained)")
    if len(items) < len(ours):
        say(f"{len(ours) - len(items)} of the model's {wanted} clips are no longer in {data}")
    return items


def _test_fold(record: dict, training: dict, corpus: Corpus, asked: int | None) -> int | None:
    """The fold held out as test: the model's, unless `asked`; another fold of the corpus the model was
    trained on is refused, since the model learnt from it."""
    fold = record.get("test_fold", training.get("test_fold"))
    if asked is None:
        return fold
    if fold is not None and asked != fold and training.get("corpus") == corpus.name:
        raise OptionError("test_fold", f"{{test_fold}} {asked} was training data for this model (its test fold is "
                                       f"{fold}); give {fold} or leave it out.")
    return asked


def _recorded_split(training: dict, model) -> tuple[dict | None, str]:
    """The split a model was trained on, as `split_record` gives it, and where it was found: the bundle, else
    (for a bundle written before it kept one) the `split.csv` of its run folder; None when neither has it."""
    if "split" in training:
        record = training["split"]
        known = isinstance(record, dict) and record.get("protocol") in ("official", "folds", "random")
        if not known or record["protocol"] == "random" and not all(isinstance(record.get(s), list) for s in SPLITS):
            raise DataError(f"{model}'s record of the split it was trained on is not one that gruve writes.")
        return record, "stored in the model"
    if not isinstance(model, (str, Path)) or "data" not in training:
        return None, ""
    path = bundle.locate(model).parent / "split.csv"
    if not path.is_file():
        return None, ""
    rows = files.read_csv(path)
    if not rows or not {"path", "split"} <= set(rows[0]) or any(r["split"] not in SPLITS for r in rows):
        raise DataError(f"{path} is not a split that gruve wrote (a path and a split column of {', '.join(SPLITS)}).")
    root = data_root(training["data"])
    return ({"protocol": "random", **{name: [_key(r["path"], root) for r in rows if r["split"] == name]
                                      for name in SPLITS}}, f"from {path}")
