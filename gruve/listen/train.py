"""Training audio classifiers: the LightningModule, the data it reads, and cross-validation."""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
import torchmetrics
from torch.utils.data import DataLoader, Dataset

from gruve import audio, bundle
from gruve.data.cache import FeatureCache
from gruve.data.sources import DataError, resolve, split, write_split
from gruve.features import FeatureConfig
from gruve.listen.augment import AugmentConfig, augment
from gruve.listen.evaluate import classification_report, clip_probabilities
from gruve.listen.model import AudioClassifier, ClassifierConfig
from gruve.training import TrainOptions, build_trainer, load_best, provenance, resume_path


@dataclass
class ListenOptions:
    """What to train: data, target and model; everything has a default that gives a good model."""

    data: str
    target: str | None = None
    architecture: str = "crnn"
    hidden_size: int = 128
    num_layers: int = 2
    pooling: str | None = None  # default: the corpus's, else attention
    dropout: float = 0.2
    window: float | None = None
    features: dict = field(default_factory=dict)
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    noise: str | None = None  # a folder of background sounds, or "white" / "pink"
    test_fold: int | None = None
    strict: bool = False
    cache_dir: Path | None = None


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
    def pad(batch):
        lengths = torch.tensor([f.shape[1] for f, _ in batch])
        features = torch.full((len(batch), batch[0][0].shape[0], int(lengths.max())), floor)
        for i, (f, _) in enumerate(batch):
            features[i, :, :f.shape[1]] = f
        return features, lengths, torch.tensor([label for _, label in batch])
    return pad


class ListenTask(L.LightningModule):
    def __init__(self, model: AudioClassifier, options: ListenOptions, noise_bank: torch.Tensor | None = None):
        super().__init__()
        self.model, self.options = model, options
        self.register_buffer("noise_bank", noise_bank, persistent=False)
        classes = len(model.labels)
        self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=classes)

    def training_step(self, batch, _):
        features, lengths, labels = batch
        targets = F.one_hot(labels, len(self.model.labels)).float()
        features, lengths, targets = augment(features, lengths, targets, self.options.augment,
                                             self.model.feature_mean, self.model.config.features.amin,
                                             self.noise_bank)
        logits = self.model.classify(features, lengths)
        loss = -(targets * F.log_softmax(logits, -1)).sum(-1).mean()
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(labels))
        return loss

    def validation_step(self, batch, _):
        features, lengths, labels = batch
        logits = self.model.classify(features, lengths)
        self.val_accuracy(logits, labels)
        self.log("val_loss", F.cross_entropy(logits, labels), prog_bar=True, batch_size=len(labels))
        self.log("val_acc", self.val_accuracy, prog_bar=True, batch_size=len(labels))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.options.lr, weight_decay=self.options.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self._warmup_cosine)
        return [optimizer], [{"scheduler": schedule, "interval": "step"}]

    def _warmup_cosine(self, step: int) -> float:
        """Linear warm-up over the first 10% of steps, then cosine decay to zero.

        Read from the trainer at each step (not stored in the scheduler's state), so a run resumed
        with more --epochs stretches its schedule instead of failing.
        """
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = max(1, total // 10)
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def train(options: ListenOptions, run: TrainOptions, say=print) -> dict:
    """Train one model on `options.data` and write `run.out/model.safetensors`; returns its summary."""
    L.seed_everything(run.seed, workers=True, verbose=False)  # before the model exists: its initial weights too
    corpus = resolve(options.data, options.cache_dir)
    target = corpus.target(options.target)
    if len(corpus.labels(target)) < 2:
        raise DataError(f"{options.data} has only one class of {target!r}; a classifier needs at least two.")
    parts = split(corpus, target, options.test_fold, run.seed)
    if not parts["train"]:
        raise DataError(f"{options.data} has no training items for target {target!r}.")
    run.out.mkdir(parents=True, exist_ok=True)
    if not any(i.split or i.fold is not None for i in corpus.items):
        write_split(parts, target, run.out / "split.csv")
    feature_config = FeatureConfig(**{**corpus.defaults.get("features", {}), **options.features})
    cache = FeatureCache(feature_config, options.cache_dir)
    labels = corpus.labels(target)
    index = {label: i for i, label in enumerate(labels)}
    examples, skipped = {}, []
    for name, items in parts.items():
        loaded, failures = cache.load(items, options.strict, f"{name} audio")
        examples[name] = [(f, index[item.labels[target]]) for item, f in loaded]
        skipped += failures
    _report_skipped(skipped, run.out, say)
    window = options.window or corpus.defaults.get("window") or _auto_window(examples["train"], feature_config)
    pooling = options.pooling or corpus.defaults.get("pooling", "attention")
    config = ClassifierConfig(labels, feature_config, options.architecture, options.hidden_size, options.num_layers,
                              pooling, options.dropout, window=window)
    run = replace(run, max_epochs=run.max_epochs or corpus.defaults.get("epochs", 60))
    model = AudioClassifier(config)
    model.set_normalisation([f for f, _ in examples["train"]])
    say(f"training {config.architecture} on {corpus.name} ({target}): {len(examples['train'])} train, "
        f"{len(examples['valid'])} valid, {len(examples['test'])} test clips, {len(labels)} classes, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters")
    noise = _noise_bank(options.noise, cache, model) if options.augment.noise else None
    task = ListenTask(model, options, noise)
    floor = feature_config.floor_db
    train_loader = DataLoader(Clips(examples["train"], config.window_frames, True), options.batch_size,
                              shuffle=True, collate_fn=collate(floor), drop_last=len(examples["train"]) > options.batch_size)
    valid_loader = (DataLoader(Clips(examples["valid"], config.window_frames, False), 64, collate_fn=collate(floor))
                    if examples["valid"] else None)
    trainer = build_trainer(run, monitor="val_loss" if valid_loader else None)
    started = time.time()
    trainer.fit(task, train_loader, valid_loader, ckpt_path=resume_path(run))
    seconds = time.time() - started
    load_best(trainer, task)
    model.eval()
    metrics = {"epochs": trainer.current_epoch, "train_seconds": round(seconds, 1)}
    if examples["test"]:
        probs = clip_probabilities(model, [f for f, _ in examples["test"]])
        report = classification_report(labels, [y for _, y in examples["test"]], probs)
        metrics.update(test_accuracy=report["accuracy"], test_macro_f1=report["macro_f1"])
    meta = {
        "task": "listen",
        "config": config.to_dict(),
        "target": target,
        "metrics": metrics,
        "training": {**provenance(options.data, options, run.seed), "corpus": corpus.name,
                     "test_fold": options.test_fold},
    }
    path = bundle.save(run.out / "model.safetensors", model, meta)
    from gruve.plots import training_curves

    training_curves(run.out / "metrics.csv", run.out / "curves.png")
    return {"model": str(path), "skipped": len(skipped), **metrics}


def cross_validate(options: ListenOptions, run: TrainOptions, say=print) -> dict:
    """Train one model per fold (each fold the test set once) and report mean and standard deviation."""
    corpus = resolve(options.data, options.cache_dir)
    if len(corpus.folds) < 2:
        raise DataError(f"{options.data} has no folds; --folds needs a corpus or manifest with a fold column.")
    results = {}
    for fold in corpus.folds:
        say(f"fold {fold} of {len(corpus.folds)}")
        fold_run = TrainOptions(**{**asdict(run), "out": run.out / f"fold{fold}"})
        fold_options = ListenOptions(**{**options.__dict__, "test_fold": fold})
        results[fold] = train(fold_options, fold_run, say)
        say(f"fold {fold}: test accuracy {results[fold]['test_accuracy']:.4f}")
    accuracies = [r["test_accuracy"] for r in results.values()]
    summary = {"folds": results, "mean_accuracy": statistics.mean(accuracies),
               "std_accuracy": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0}
    (run.out / "cross_validation.json").write_text(json.dumps(summary, indent=2))
    return summary


def _auto_window(train: list[tuple[np.ndarray, int]], config: FeatureConfig) -> float:
    """Long enough for 95% of the training clips whole, between 0.5 and 10 seconds."""
    frames = np.percentile([f.shape[1] for f, _ in train], 95)
    return float(np.clip(round(frames * config.hop_length / config.sr, 1), 0.5, 10.0))


def _noise_bank(spec: str | None, cache: FeatureCache, model: AudioClassifier) -> torch.Tensor:
    """Log-mel of background noise: a folder of recordings, or 30 s of generated white or pink noise."""
    if spec in (None, "white", "pink"):
        rng = np.random.default_rng(0)
        spectrum = np.fft.rfft(rng.standard_normal(30 * cache.config.sr))
        if spec == "pink":
            spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        y = torch.from_numpy(np.fft.irfft(spectrum).astype(np.float32))
        with torch.inference_mode():
            return model.features(y[None])[0].clone()
    folder = Path(spec)
    files = sorted(p for p in folder.rglob("*") if audio.is_audio_file(p)) if folder.is_dir() else []
    if not files:
        raise DataError(f"--noise {spec} is not 'white', 'pink' or a folder with audio files.")
    return torch.from_numpy(np.concatenate([cache.get(p) for p in files], axis=1))


def _report_skipped(skipped: list[tuple[Path, str]], out: Path, say) -> None:
    if not skipped:
        return
    (out / "skipped.txt").write_text("".join(f"{path}\t{reason}\n" for path, reason in skipped))
    say(f"skipped {len(skipped)} unreadable file(s), listed in {out / 'skipped.txt'}; the first: {skipped[0][1]}")

