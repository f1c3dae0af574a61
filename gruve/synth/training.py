"""Training the synthesiser: sounds from a class-per-folder tree or a CSV manifest, random windows with
teacher forcing, validation NLL per sample on whole held-out sounds, and the `train` verb."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import lightning as L
import numpy as np
import torch
import torchmetrics
from torch.utils.data import DataLoader, Dataset

from gruve import audio, bundle, training
from gruve.data.sources import DataError, Item, resolve
from gruve.errors import check, check_at_least, check_positive
from gruve.features import FeatureConfig
from gruve.synth.model import EQUALISER_SOUNDS, SynthConfig, WaveGRU
from gruve.training import TrainOptions


@dataclass(kw_only=True)
class SynthOptions:
    """What to train; every option has a default that suits drum one-shots at 16 kHz."""

    data: str  # a folder with one sub-folder of sounds per label, or a CSV manifest (path,label[,split])
    output: str = "mulaw"  # one of SampleHead.KINDS: mulaw (8-bit mu-law) or dual (coarse and fine bytes)
    sr: int = 16000  # samples per second the model works at
    seconds: float = 1.0  # sounds are cut to this length (shorter ones end in silence)
    hidden_size: int = 256  # GRU units
    head: int = 256  # units of each output layer
    embed: int = 64  # size of the GRU input
    mel: bool = False  # condition on log-mel frames (a vocoder)
    envelope: bool = False  # condition on a loudness envelope
    bands: int = 1  # of the envelope
    lags: int = 1  # previous samples the GRU reads
    timbre: int = 0  # mel bands of the long-term spectrum, with the envelope
    window: int = 1024  # samples per training window
    onset_share: float = 0.25  # share of windows that start at the onset, where the sound is made
    batch_size: int = 32
    lr: float = 2e-3  # Adam's, halved after 2 epochs without progress
    valid_share: float = 0.1

    def __post_init__(self):
        from gruve.nn.heads import SampleHead

        check(self.output in SampleHead.KINDS, "output",
              f"{{output}} must be one of {', '.join(SampleHead.KINDS)} (got {self.output!r}).")
        check(self.seconds > 0, "seconds", f"{{seconds}} must be above 0 (got {self.seconds}).")
        check_at_least(self.window, "window", 2)
        check_at_least(self.sr, "sr", 1000)
        check(0 <= self.onset_share <= 1, "onset_share", f"{{onset_share}} must be from 0 to 1 (got {self.onset_share}).")
        check(not (self.mel and self.envelope), "envelope",
              "choose {mel} or {envelope}, not both (log-mel frames already carry the loudness).")
        check_at_least(self.timbre, "timbre", 0)
        check(self.timbre == 0 or self.envelope, "timbre", "{timbre} can be above 0 only with {envelope}.")
        check_at_least(self.lags, "lags", 1)
        check_at_least(self.bands, "bands", 1)
        check(self.bands == 1 or self.envelope, "bands", "{bands} can be more than 1 only with {envelope}.")
        for name in ("batch_size", "hidden_size", "head", "embed"):
            check_at_least(getattr(self, name), name, 1)
        check_positive(self.lr, "lr")


@dataclass
class Sound:
    """A training sound: its levels for the head, its length, its label and its waveform."""

    levels: torch.Tensor  # (samples, parts), padded with silence to the configured length
    length: int  # samples before the padding
    label: int
    wave: torch.Tensor  # (samples,) float, for the mel conditioning


def load_sounds(items: list[Item], model: WaveGRU, say: Callable[[str], None]) -> list[Sound]:
    """Each item's audio at the model's rate, cut or padded to its length; unreadable files are reported and
    skipped."""
    config, sounds, skipped = model.config, [], 0
    for item in items:
        try:
            y = audio.load(item.path, config.sr)[: config.samples]
        except audio.AudioError as error:
            say(f"skipped: {error}")
            skipped += 1
            continue
        wave = torch.zeros(config.samples)
        wave[: len(y)] = torch.from_numpy(y)
        sounds.append(Sound(model.head.encode(wave), len(y), config.labels.index(item.labels["label"]), wave))
    if skipped:
        say(f"{skipped} of {len(items)} files skipped")
    return sounds


def split_by_group(items: list[Item], share: float, seed: int) -> tuple[list[Item], list[Item]]:
    """Train and valid items. A manifest's own split is kept; otherwise whole groups are held out, a group
    being the part of a file name before `__` (a drum kit, say), else the file: a
    held-out sound's kit is never heard in training."""
    if any(i.split for i in items):
        return [i for i in items if i.split == "train"], [i for i in items if i.split in ("valid", "test")]
    groups: dict[str, list[Item]] = {}
    for item in sorted(items, key=lambda i: str(i.path)):
        groups.setdefault(item.path.name.split("__")[0], []).append(item)
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    valid: list[Item] = groups.pop(names.pop())  # at least one group; then those that keep within `share`
    for name in names:
        if len(valid) + len(groups[name]) <= share * len(items):
            valid += groups.pop(name)
    return [i for g in groups.values() for i in g], valid


class Windows(Dataset):
    """Every epoch, one random window per `window` samples of each padded sound; `onset_share` of them start
    at the onset, where the sound is made, the rest anywhere, the silence after the sound included: a
    generated sound must learn to end as well as to begin."""

    def __init__(self, sounds: list[Sound], window: int, onset_share: float, silence: torch.Tensor, lags: int,
                 seed: int):
        self.sounds, self.window, self.onset_share, self.silence, self.lags = sounds, window, onset_share, silence, lags
        self.index = [i for i, s in enumerate(sounds) for _ in range(max(1, len(s.levels) // window))]
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        sound = self.sounds[self.index[i]]
        last = max(0, len(sound.levels) - self.window)
        start = 0 if self.rng.random() < self.onset_share else int(self.rng.integers(0, last + 1))
        return _example(sound, start, self.window, self.silence, self.lags)


class Whole(Dataset):
    """Whole sounds, scored over their real samples."""

    def __init__(self, sounds: list[Sound], silence: torch.Tensor, lags: int):
        self.sounds, self.silence, self.lags = sounds, silence, lags

    def __len__(self):
        return len(self.sounds)

    def __getitem__(self, i):
        sound = self.sounds[i]
        return _example(sound, 0, len(sound.levels), self.silence, self.lags)


def _example(sound: Sound, start: int, size: int, silence: torch.Tensor, lags: int):
    """Inputs (the `lags` previous samples' levels, `(size, lags, parts)`), targets, mask of real samples,
    label, start and waveform."""
    padded = torch.cat([silence[None].expand(lags, -1), sound.levels])
    targets = padded[start + lags: start + lags + size]
    # row t: the samples before target t, the nearest first
    previous = padded[start: start + size + lags - 1].unfold(0, lags, 1).flip(-1).transpose(1, 2)
    mask = torch.arange(start, start + size) < sound.length
    return previous, targets, mask, sound.label, start, sound.wave


def nll_sum(model: WaveGRU, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed NLL (nats) of the real samples of a batch of `_example`s, and how many there are."""
    previous, targets, mask, label, start, wave = batch
    nll = model.head.nll(model(previous, label, start, model.frames_of(wave)), targets)
    return (nll * mask).sum(), mask.sum()


class SynthTask(L.LightningModule):
    """Teacher-forced training of a WaveGRU: NLL per sample, Adam, the rate halved on a plateau."""

    def __init__(self, model: WaveGRU, lr: float):
        super().__init__()
        self.model, self.lr = model, lr
        self.val_nll = torchmetrics.MeanMetric()

    def training_step(self, batch, _):
        total, count = nll_sum(self.model, batch)
        loss = total / count.clamp(min=1)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]), sync_dist=True)
        return loss

    def validation_step(self, batch, _):
        total, count = nll_sum(self.model, batch)
        self.val_nll.update(total / count.clamp(min=1), count)
        self.log("val_loss", self.val_nll, on_epoch=True, prog_bar=True, batch_size=len(batch[0]))

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss"}}


@torch.inference_mode()
def held_out_nll(model: WaveGRU, sounds: list[Sound], batch_size: int = 8) -> float:
    """NLL per sample in nats over the real samples of whole sounds."""
    model.eval()
    total, count = 0.0, 0
    for batch in DataLoader(Whole(sounds, model.head.silence, model.config.lags), batch_size):
        nll, n = nll_sum(model, batch)
        total, count = total + float(nll), count + int(n)
    return total / max(count, 1)


@training.run_folder
def train(options: SynthOptions, run: TrainOptions, say: Callable[[str], None] = print) -> dict:
    """Train on `options.data`, write `run.out/model.safetensors` and `curves.png`, and score the held-out
    sounds; returns the metrics and the model's path."""
    corpus = resolve(options.data)
    labels = corpus.labels("label") if "label" in corpus.targets else []
    if not labels:
        raise DataError(f"{options.data} gives no 'label' for its sounds (a folder per class, or a 'label' column).")
    mel = FeatureConfig(sr=options.sr).to_dict() if options.mel else None
    config = SynthConfig(labels, options.output, options.sr, options.seconds, options.hidden_size, options.head,
                         options.embed, mel, options.envelope, options.bands, lags=options.lags,
                         timbre=options.timbre)
    model = WaveGRU(config)
    train_items, valid_items = split_by_group([i for i in corpus.items if i.labels.get("label")],
                                              options.valid_share, run.seed)
    train_sounds, valid_sounds = load_sounds(train_items, model, say), load_sounds(valid_items, model, say)
    if not train_sounds or not valid_sounds:
        raise DataError(f"{options.data} needs readable sounds for both training and validation "
                        f"(got {len(train_sounds)} and {len(valid_sounds)}).")
    if options.envelope:
        model.keep_envelopes(torch.stack([s.wave for s in train_sounds]), torch.tensor([s.label for s in train_sounds]))
    conditioned = (", log-mel conditioned" if mel else f", conditioned on an envelope of {options.bands} band(s)"
                   + (f" and a timbre of {options.timbre} mel bands" if options.timbre else "") if options.envelope
                   else "")
    say(f"training a {options.hidden_size}-unit GRU ({options.output} output{conditioned}) on "
        f"{len(train_sounds)} sounds ({len(labels)} labels: {', '.join(labels)}), {len(valid_sounds)} held out; "
        f"{sum(p.numel() for p in model.parameters()):,} parameters")
    silence = model.head.silence
    loader = DataLoader(Windows(train_sounds, options.window, options.onset_share, silence, options.lags, run.seed),
                        options.batch_size, shuffle=True)
    valid = DataLoader(Whole(valid_sounds, silence, options.lags), 8)
    run = replace(run, max_epochs=run.max_epochs or 30)
    fitted = training.fit(SynthTask(model, options.lr), run, loader, valid, gradient_clip=1.0)
    if not mel:
        say("fitting the output equaliser to the training sounds")
        model.fit_equaliser(torch.stack([s.wave for s in train_sounds]), torch.tensor([s.label for s in train_sounds]))
    metrics = {**fitted, "valid_nll_per_sample": round(held_out_nll(model, valid_sounds), 4),
               "valid_sounds": len(valid_sounds)}
    meta = {"task": "synth", "config": asdict(config), "metrics": metrics,
            **({} if mel else {"equaliser": {"data": options.data, "sounds": len(train_sounds),
                                             "generated_per_label": EQUALISER_SOUNDS}})}
    path = training.save_model(run, model, meta, options.data, options, corpus=corpus.name,
                               valid_files=sorted(i.path.name for i in valid_items))
    return {"model": str(path), **metrics}


def equalise(model: str | Path, data: str, out: str | Path, n: int = EQUALISER_SOUNDS,
             say: Callable[[str], None] = print) -> dict:
    """Fit (or refit) `model`'s output equaliser to `data`'s sounds, leaving out those the model was
    validated on, measuring the model's mean spectrum on `n` sounds it generates per label, and write the
    model to `out` (a .safetensors file, or a folder: `out/model.safetensors`): what `train` does at its end,
    for a model trained before it did, or to colour a model after other sounds. Returns the model's path and
    how many sounds it was fitted to."""
    check_at_least(n, "n", 1)
    out = Path(out)
    if out.is_dir() or not out.suffix:
        out = out / "model.safetensors"
    synthesiser = bundle.load(model, task="synth")
    corpus = resolve(data)
    held_out = set(synthesiser.meta.get("training", {}).get("valid_files", []))
    labels = synthesiser.config.labels
    items = [i for i in corpus.items if i.labels.get("label") in labels and i.path.name not in held_out]
    sounds = load_sounds(items, synthesiser, say)
    if not sounds:
        raise DataError(f"{data} has no readable sounds of this model's labels ({', '.join(labels)}) outside "
                        "its held-out ones.")
    say(f"fitting the output equaliser to {len(sounds)} sounds of {data} ({n} generated per label)")
    before = synthesiser.equaliser.clone() if synthesiser.config.equaliser else None
    synthesiser.fit_equaliser(torch.stack([s.wave for s in sounds]), torch.tensor([s.label for s in sounds]), n)
    kept = sorted(set(range(len(labels))) - {s.label for s in sounds})
    if kept:  # fit_equaliser flattens a label it has no sounds of; a refit keeps what the model had
        if before is not None:
            synthesiser.equaliser[kept] = before[kept]
        say(f"kept the gains of {', '.join(labels[i] for i in kept)}"
            f"{' (flat: the model had no equaliser)' if before is None else ''}: {data} has no readable sounds of "
            f"{'it' if len(kept) == 1 else 'them'} to refit from")
    meta = {**synthesiser.meta, "config": asdict(synthesiser.config),
            "equaliser": {"data": data, "sounds": len(sounds), "generated_per_label": n,
                          "kept": [labels[i] for i in kept]}}
    return {"model": str(bundle.save(out, synthesiser, meta)), "sounds": len(sounds)}
