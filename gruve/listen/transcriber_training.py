"""Training speech recognisers: CTC over data with a `text` column (a manifest `path,text[,speaker][,split]` or
`fsdd-sequences`), through the one Trainer set-up of `gruve.training`, as `gruve.listen.train` trains a classifier.

`gruve.listen.train` hands its options here when the target it is given (or the data's first) is `text`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.text import CharErrorRate, WordErrorRate

from gruve import training
from gruve.data.cache import FeatureCache
from gruve.data.items import Corpus, DataError
from gruve.data.sources import describe_grouping, split
from gruve.errors import OptionError
from gruve.features import FeatureConfig
from gruve.listen.augment import augment
from gruve.listen.evaluation import split_record
from gruve.listen.fitting import ListenOptions, WarmupCosine, keep_split, noise_bank, report_skipped
from gruve.listen.transcriber import BLANK, Transcriber, TranscriberConfig
from gruve.listen.transcription import EVERY, error_rates, hypotheses, utterances, where
from gruve.training import TrainOptions

# ListenOptions that only a classifier has: a transcription run refuses them rather than ignore them.
CLASSIFIER_ONLY = ("pooling", "window", "answer", "merge", "exclude", "silence_class", "test_fold", "noise_folder")


# SpecAugment's time masks for CTC: each at most this fraction of an utterance (60 ms of a 3 s one). A
# classifier's tenth of a clip hides whole words of a digit string, whose text still says them.
TIME_MASK = 0.02


class Batches(Dataset):
    """Cached features with their token indices, whole (CTC needs all of an utterance), in batches of
    utterances of about one length: padded to the longest of a random batch, a batch of 2 to 7 digits would
    be half padding. The DataLoader shuffles the batches (`batch_size=None`); each is what `collate` makes."""

    def __init__(self, examples: list[tuple[np.ndarray, list[int]]], batch_size: int, floor: float):
        order = sorted(range(len(examples)), key=lambda i: examples[i][0].shape[1])
        self.batches = [[examples[i] for i in order[j:j + batch_size]] for j in range(0, len(order), batch_size)]
        self.floor = floor

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        return collate(self.batches[i], self.floor)


def collate(batch: list[tuple[np.ndarray, list[int]]], floor: float):
    """Utterances padded with `floor` (silence, in dB), as `(features, lengths in frames, the targets one after
    another, each target's length)`, the form `torch.nn.CTCLoss` takes."""
    lengths = torch.tensor([f.shape[1] for f, _ in batch])
    features = torch.full((len(batch), batch[0][0].shape[0], int(lengths.max())), floor)
    for i, (f, _) in enumerate(batch):
        features[i, :, :f.shape[1]] = torch.from_numpy(f)
    targets = torch.tensor([token for _, ids in batch for token in ids])
    return features, lengths, targets, torch.tensor([len(ids) for _, ids in batch])


class TranscribeTask(WarmupCosine):
    """How a recogniser learns: CTC loss on augmented features (gain, background noise, SpecAugment with short
    time masks; no mixup or time shift, which would scramble the words' order), AdamW with a warm-up and cosine schedule;
    validation loss, WER and CER (greedy decoding) each epoch."""

    def __init__(self, model: Transcriber, options: ListenOptions, noise_bank: torch.Tensor | None = None):
        super().__init__()
        self.model, self.options = model, options
        self.augmentation = replace(options.augment_config(), mixup=0.0, shift=0.0, time_width=TIME_MASK)
        self.register_buffer("noise_bank", noise_bank, persistent=False)
        self.ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)
        self.val_wer, self.val_cer = WordErrorRate(), CharErrorRate()

    def _loss(self, features, lengths, targets, target_lengths):
        logits, frames = self.model.logits(features, lengths)
        log_probs = torch.log_softmax(logits, -1)
        return self.ctc(log_probs.transpose(0, 1), targets, frames, target_lengths), log_probs, frames

    def training_step(self, batch, _):
        """CTC loss of an augmented batch."""
        features, lengths, targets, target_lengths = batch
        features, lengths, _ = augment(features, lengths, torch.zeros(len(lengths), 1), self.augmentation,
                                       self.model.feature_mean, self.model.config.features.amin, self.noise_bank)
        loss = self._loss(features, lengths, targets, target_lengths)[0]
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(lengths),
                 sync_dist=True)
        return loss

    def validation_step(self, batch, _):
        """Loss, WER and CER of a batch as it is, without augmentation."""
        features, lengths, targets, target_lengths = batch
        loss, log_probs, frames = self._loss(features, lengths, targets, target_lengths)
        heard = [self.model.decode(p[:n]).text for p, n in zip(log_probs, frames.tolist())]
        said = [self.model.text(ids.tolist()) for ids in targets.split(target_lengths.tolist())]
        self.val_wer(heard, said)
        self.val_cer(heard, said)
        self.log("val_loss", loss, prog_bar=True, batch_size=len(lengths), sync_dist=True)
        self.log("val_wer", self.val_wer, prog_bar=True, batch_size=len(lengths))
        self.log("val_cer", self.val_cer, batch_size=len(lengths))


def train_transcriber(options: ListenOptions, run: TrainOptions, corpus: Corpus, say=print) -> dict:
    """Train a recogniser on the `text` of `corpus` (read from `options.data`) and write
    `run.out/model.safetensors`; returns its summary: the model's path and metrics (test WER and CER)."""
    defaults = ListenOptions(data=options.data)
    for name in CLASSIFIER_ONLY:
        if getattr(options, name) != getattr(defaults, name):
            raise OptionError(name, f"{{{name}}} is for classifiers; {options.data} has a text column, so this "
                                    "run trains a transcription model.")
    for note in corpus.notes:
        say(note)
    lines = {item.path: line for line, item in enumerate(corpus.items, start=2)}
    corpus, skipped = utterances(corpus, options.data)
    parts = split(corpus, EVERY, None, run.seed, group_by=options.group_by)
    grouped = describe_grouping(corpus, EVERY, parts, options.group_by)
    if grouped:
        say(grouped)
    if not parts["train"]:
        raise DataError(f"{options.data} has no training utterances with text.")
    if not any(i.split for i in corpus.items):
        keep_split(parts, "text", run)
    feature_config = FeatureConfig(**{**corpus.defaults.get("features", {}), **options.features})
    cache = FeatureCache(feature_config, options.cache_dir)
    loaded = {}
    for name, part in parts.items():
        loaded[name], failures = cache.load(part, options.strict, f"{name} audio")
        skipped += failures
    train_text = [item.labels["text"] for item, _ in loaded["train"]]
    unit = options.unit or corpus.defaults.get("unit", "characters")
    tokens = sorted({c for text in train_text for c in (text if unit == "characters" else text.split())})
    config = TranscriberConfig(tokens=tokens, unit=unit, features=feature_config,
                               architecture=options.architecture, hidden_size=options.hidden_size,
                               num_layers=options.num_layers, dropout=options.dropout)
    model = Transcriber(config)
    model.set_normalisation([f for _, f in loaded["train"]])
    examples = {}
    for name, part in loaded.items():
        examples[name] = []
        for item, features in part:
            ids = model.encode(item.labels["text"])
            if ids is None:
                skipped.append((item.path, f"{where(options.data, item, lines[item.path])} has {unit} that no training text has "
                                           f"({item.labels['text']!r})"))
            else:
                examples[name].append((features, ids, item))
    report_skipped(skipped, run.out, say)
    run = replace(run, max_epochs=run.max_epochs or corpus.defaults.get("epochs", 60))
    say(f"training {config.architecture} to transcribe {corpus.name}: {len(examples['train'])} train, "
        f"{len(examples['valid'])} valid, {len(examples['test'])} test utterances, {len(tokens)} {unit} "
        f"({''.join(tokens) if unit == 'characters' else ' '.join(tokens[:10])}), "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, a frame every "
        f"{1000 * model.seconds_per_frame:g} ms")
    noise = noise_bank(options.noise, cache, model) if options.noise and options.augment else None
    task = TranscribeTask(model, options, noise)
    floor = feature_config.floor_db
    train_loader = DataLoader(Batches([(f, ids) for f, ids, _ in examples["train"]], options.batch_size, floor),
                              batch_size=None, shuffle=True)
    valid_loader = (DataLoader(Batches([(f, ids) for f, ids, _ in examples["valid"]], 64, floor), batch_size=None)
                    if examples["valid"] else None)
    metrics = training.fit(task, run, train_loader, valid_loader)
    if examples["test"]:
        report = error_rates([item.labels["text"] for _, _, item in examples["test"]],
                             hypotheses(model, [f for f, _, _ in examples["test"]]))
        metrics.update(test_wer=report["wer"], test_cer=report["cer"])
    meta = {"task": "transcribe", "config": config.to_dict(), "target": "text", "metrics": metrics}
    path = training.save_model(run, model, meta, options.data, options, corpus=corpus.name,
                               split=split_record(options.data, parts, run.seed))
    return {"model": str(path), "skipped": len(skipped), **metrics}
