"""Training audio classifiers: the LightningModule, the data it reads, and cross-validation; `train` hands
data with a text column to the transcriber's training (the options both take are in `fitting`)."""

from __future__ import annotations

import statistics
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
import torchmetrics
from torch.utils.data import DataLoader, Dataset

from gruve import files, training
from gruve.data.cache import FeatureCache
from gruve.data.sources import DataError, describe_grouping, merges, relabel, resolve, split
from gruve.features import FeatureConfig
from gruve.listen.augment import augment
from gruve.listen.evaluation import classification_report, clip_probabilities, split_record
from gruve.listen.model import AudioClassifier, ClassifierConfig
from gruve.listen.fitting import ListenOptions, WarmupCosine, keep_split, noise_bank, report_skipped
from gruve.training import TrainOptions


class Clips(Dataset):
    """Cached features with label indices; training crops a random window, evaluation the centre."""

    def __init__(self, examples: list[tuple[np.ndarray, int]], window_frames: int, train: bool):
        self.examples, self.window_frames, self.train = examples, window_frames, train

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, i):
        features, label = self.examples[i]
        extra = features.shape[1] - self.window_frames
        if extra > 0:
            start = int(np.random.randint(0, extra + 1)) if self.train else extra // 2
            features = features[:, start:start + self.window_frames]
        return torch.from_numpy(np.ascontiguousarray(features)), label


def collate(floor: float):
    """A DataLoader's `collate_fn` that pads clips of different lengths with `floor` (silence, in dB) and
    returns `(features, lengths in frames, labels)`."""

    def pad(batch):
        lengths = torch.tensor([f.shape[1] for f, _ in batch])
        features = torch.full((len(batch), batch[0][0].shape[0], int(lengths.max())), floor)
        for i, (f, _) in enumerate(batch):
            features[i, :, :f.shape[1]] = f
        return features, lengths, torch.tensor([label for _, label in batch])
    return pad


class ListenTask(WarmupCosine):
    """How a classifier learns: cross-entropy on augmented (possibly mixed, so soft) targets, AdamW with a
    warm-up and cosine schedule; validation loss and accuracy each epoch."""

    def __init__(self, model: AudioClassifier, options: ListenOptions, noise_bank: torch.Tensor | None = None):
        super().__init__()
        self.model, self.options, self.augmentation = model, options, options.augment_config()
        self.register_buffer("noise_bank", noise_bank, persistent=False)
        classes = len(model.labels)
        self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=classes)

    def training_step(self, batch, _):
        """Cross-entropy of an augmented batch against its (after mixup, soft) targets."""
        features, lengths, labels = batch
        targets = F.one_hot(labels, len(self.model.labels)).float()
        features, lengths, targets = augment(features, lengths, targets, self.augmentation,
                                             self.model.feature_mean, self.model.config.features.amin,
                                             self.noise_bank)
        logits = self.model.classify(features, lengths)
        loss = -(targets * F.log_softmax(logits, -1)).sum(-1).mean()
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(labels), sync_dist=True)
        return loss

    def validation_step(self, batch, _):
        """Loss and accuracy of a batch as it is, without augmentation."""
        features, lengths, labels = batch
        logits = self.model.classify(features, lengths)
        self.val_accuracy(logits, labels)
        self.log("val_loss", F.cross_entropy(logits, labels), prog_bar=True, batch_size=len(labels), sync_dist=True)
        self.log("val_acc", self.val_accuracy, prog_bar=True, batch_size=len(labels))


@training.run_folder
def train(options: ListenOptions, run: TrainOptions, say=print) -> dict:
    """Train one model on `options.data` and write `run.out/model.safetensors` (with `curves.png`, and
    `split.csv` where the split was drawn at random); returns its summary: the model's path and metrics."""
    corpus = resolve(options.data, options.cache_dir, options.noise_folder, options.silence_class)
    target = corpus.target(options.target)
    if target == "text":
        from gruve.listen.transcriber_training import train_transcriber

        return train_transcriber(options, run, corpus, say)
    corpus = relabel(corpus, target, merges(options.merge), options.exclude)
    for note in corpus.notes:
        say(note)
    labels = corpus.labels(target)
    if len(labels) < 2:
        raise DataError(f"{options.data} has only one class of {target!r}; a classifier needs at least two.")
    parts = split(corpus, target, options.test_fold, run.seed, group_by=options.group_by)
    grouped = describe_grouping(corpus, target, parts, options.group_by)
    if grouped:
        say(grouped)
    if not parts["train"]:
        raise DataError(f"{options.data} has no training items for target {target!r}.")
    if not any(i.split or i.fold is not None for i in corpus.items):
        keep_split(parts, target, run)
    feature_config = FeatureConfig(**{**corpus.defaults.get("features", {}), **options.features})
    cache = FeatureCache(feature_config, options.cache_dir)
    examples, skipped = _load_examples(parts, labels, target, cache, options.strict)
    report_skipped(skipped, run.out, say)
    window = options.window or corpus.defaults.get("window") or _auto_window(examples["train"], feature_config)
    config = ClassifierConfig(labels=labels, features=feature_config, architecture=options.architecture,
                              hidden_size=options.hidden_size, num_layers=options.num_layers,
                              pooling=options.pooling or corpus.defaults.get("pooling", "attention"),
                              dropout=options.dropout, window=window,
                              answer=options.answer or corpus.defaults.get("answer", "segments"))
    run = replace(run, max_epochs=run.max_epochs or corpus.defaults.get("epochs", 60))
    model = AudioClassifier(config)
    model.set_normalisation([f for f, _ in examples["train"]])
    for line in _describe_run(options, corpus, config, examples):
        say(line)
    say(f"training {config.architecture} on {corpus.name} ({target}): {len(examples['train'])} train, "
        f"{len(examples['valid'])} valid, {len(examples['test'])} test clips, {len(labels)} classes, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters")
    if corpus.noise is not None and options.noise is None and options.augment:
        options = replace(options, noise=str(corpus.noise))
        say(f"mixing {corpus.noise} into training clips as background noise")
    noise = noise_bank(options.noise, cache, model) if options.augment_config().noise else None
    task = ListenTask(model, options, noise)
    floor = feature_config.floor_db
    train_loader = DataLoader(Clips(examples["train"], config.window_frames, True), options.batch_size,
                              shuffle=True, collate_fn=collate(floor), drop_last=len(examples["train"]) > options.batch_size)
    valid_loader = (DataLoader(Clips(examples["valid"], config.window_frames, False), 64, collate_fn=collate(floor))
                    if examples["valid"] else None)
    metrics = training.fit(task, run, train_loader, valid_loader)
    if examples["test"]:
        probs = clip_probabilities(model, [f for f, _ in examples["test"]])
        report = classification_report(labels, [y for _, y in examples["test"]], probs)
        metrics.update(test_accuracy=report["accuracy"], test_macro_f1=report["macro_f1"])
    meta = {"task": "listen", "config": config.to_dict(), "target": target, "metrics": metrics}
    path = training.save_model(run, model, meta, options.data, options, corpus=corpus.name, test_fold=options.test_fold,
                               split=split_record(options.data, parts, run.seed))
    return {"model": str(path), "skipped": len(skipped), **metrics}


def cross_validate(options: ListenOptions, run: TrainOptions, say=print) -> dict:
    """Train one model per fold (each fold the test set once, its run in `run.out/foldN`) and report mean
    and standard deviation of the test accuracy; also written to `run.out/cross_validation.json`."""
    corpus = resolve(options.data, options.cache_dir)
    if len(corpus.folds) < 2:
        raise DataError(f"{options.data} has no folds; cross-validation needs a corpus or manifest with a fold column.")
    results = {}
    for fold in corpus.folds:
        say(f"fold {fold} of {len(corpus.folds)}")
        results[fold] = train(replace(options, test_fold=fold), replace(run, out=run.out / f"fold{fold}"), say)
        say(f"fold {fold}: test accuracy {results[fold]['test_accuracy']:.4f}")
    accuracies = [r["test_accuracy"] for r in results.values()]
    summary = {"folds": results, "mean_accuracy": statistics.mean(accuracies),
               "std_accuracy": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0}
    files.write_json(run.out / "cross_validation.json", summary)
    return {**summary, "path": str(run.out / "cross_validation.json")}


def _load_examples(parts: dict, labels: list[str], target: str, cache: FeatureCache, strict: bool):
    """Each split's cached features with label indices, and the files that could not be read."""
    index = {label: i for i, label in enumerate(labels)}
    examples, skipped = {}, []
    for name, items in parts.items():
        loaded, failures = cache.load(items, strict, f"{name} audio")
        examples[name] = [(f, index[item.labels[target]]) for item, f in loaded]
        skipped += failures
    return examples, skipped


def _auto_window(train: list[tuple[np.ndarray, int]], config: FeatureConfig) -> float:
    """Long enough for 95% of the training clips whole, but at most twice the median clip; between 0.5 and
    10 seconds. The cap: a tail of long recordings once stretched the window to 10 s over clips of 2.5 s, so
    most of each window was padding; a long clip loses nothing to it (training crops a random window of it,
    and `predict` slides windows over it)."""
    lengths = [f.shape[1] for f, _ in train]
    frames = min(np.percentile(lengths, 95), 2 * np.median(lengths))
    return float(np.clip(round(frames * config.hop_length / config.sr, 1), 0.5, 10.0))


def _describe_run(options: ListenOptions, corpus, config: ClassifierConfig, examples: dict) -> list[str]:
    """What a training run is about to do, line by line: the window and where it came from (with the median
    training clip beside it), the features, and each split's clips per class."""
    features = config.features
    median = float(np.median([f.shape[1] - 1 for f, _ in examples["train"]])) * features.hop_length / features.sr
    if options.window:
        why = "as --window asked"
    elif corpus.defaults.get("window"):
        why = f"the {corpus.name} corpus's default"
    else:
        why = "chosen from the data (95% of training clips whole, at most twice the median)"
    answered = ("with one label, the mean over its windows" if config.answer == "clip"
                else "by its segments, labels in order")
    lines = [f"window {config.window:g} s, {why}; median clip {median:.2f} s; a longer recording is answered "
             f"{answered}",
             f"features: {features.sr} Hz, {features.n_mels} mel bins, n_fft {features.n_fft}, hop_length "
             f"{features.hop_length} ({1000 * features.hop_length / features.sr:g} ms a frame)",
             "clips per class:"]
    width = max(len(str(len(clips))) for clips in examples.values())
    for name, clips in examples.items():
        counts = np.bincount([y for _, y in clips], minlength=len(config.labels))
        classes = ", ".join(f"{label} {n}" for label, n in zip(config.labels, counts))
        lines.append(f"  {name:<5} {len(clips):>{width}} clips: {classes}")
    unlearnt = [label for label, n in zip(config.labels, np.bincount([y for _, y in examples["train"]],
                                                                     minlength=len(config.labels))) if n == 0]
    if unlearnt:
        lines.append(f"no training clips of {', '.join(unlearnt)}: the model cannot learn "
                     f"{'it' if len(unlearnt) == 1 else 'them'} (--exclude leaves a class out)")
    return lines
