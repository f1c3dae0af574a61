"""Training the music language model: token windows, the LightningModule, held-out NLL per token, and the
`train` verb."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import lightning as L
import numpy as np
import torch
import torchmetrics
from torch.utils.data import DataLoader, Dataset, IterableDataset

from gruve import training
from gruve.compose import corpus as corpora
from gruve.compose.lm import tokens
from gruve.compose.lm.config import TRANSPOSITION, LMConfig
from gruve.compose.lm.model import MusicLM
from gruve.compose.lm.scoring import CHUNK, Encoded, Whole, collate, encode, held_out_nll, lookback_rows, nll_sum
from gruve.data.items import DataError
from gruve.compose.checks import check_training
from gruve.errors import OptionError, check, check_at_least
from gruve.training import TrainOptions



@dataclass(kw_only=True)
class LMOptions:
    """What to train; every option has a default that trains a sound model on a small corpus."""

    corpus: str  # a folder of scores or a known corpus (`gruve.compose.corpus.load`)
    split_by: str = "file"  # a folder's split unit: file, or top-level folder (one song's versions on one side)
    exclude: tuple[str, ...] | str = ()  # globs of paths in a folder corpus to leave out, e.g. */versions/*
    tokenizer: str = "REMI"  # REMI, TSD, MIDILike or Structured
    hidden_size: int = 256  # GRU units per layer (also the token embedding size: the output is tied)
    num_layers: int = 2
    dropout: float = 0.3  # on embeddings, between layers and on the output
    conditions: tuple[str, ...] | str = ()  # labels of the corpus to condition on, e.g. style and beat_type for
    # groove, or "style,beat_type"; "transposition": how far `transpose` moved each window
    window: int = 256  # tokens per training window
    carry_state: bool = False  # play each piece from its start in consecutive windows, the state carried between them
    lookback: bool = False  # feed the model what the bar before played at each point (tokens.Lookback)
    batch_size: int = 32  # windows per batch
    lr: float = 2e-3  # AdamW's, halved after 2 epochs without progress
    weight_decay: float = 0.01
    transpose: int = 5  # augmentation: shift pitched pieces by up to this many semitones
    tempo: int = 2  # augmentation: shift tempo tokens by up to this many steps
    cache_dir: Path | None = None

    def __post_init__(self):
        if isinstance(self.conditions, str):
            self.conditions = tuple(label.strip() for label in self.conditions.split(",") if label.strip())
        self.conditions = tuple(self.conditions)
        self.exclude = (self.exclude,) if isinstance(self.exclude, str) else tuple(self.exclude)
        check(self.split_by in corpora.SPLIT_BY, "split_by",
              f"{{split_by}} must be one of {', '.join(corpora.SPLIT_BY)} (got {self.split_by!r}).")
        repeated = sorted({label for label in self.conditions if self.conditions.count(label) > 1})
        check(not repeated, "conditions", f"{{conditions}} names {', '.join(repeated)} more than once.")
        check(self.tokenizer in tokens.TOKENIZERS, "tokenizer",
              f"unknown tokenizer {self.tokenizer!r}; {{tokenizer}} must be one of {', '.join(tokens.TOKENIZERS)}.")
        check_training(self)
        check_at_least(self.window, "window", 2)
        check_at_least(self.tempo, "tempo", 0)
        check(TRANSPOSITION not in self.conditions or self.transpose > 0, "conditions",
              f"{{conditions}} {TRANSPOSITION} needs pieces transposed in training: {{transpose}} above 0.")
        if self.lookback:
            tokens.Lookback(tokens.build(self.tokenizer))  # refuses a tokenizer without bars, before any data is read


class Windows(Dataset):
    """Training windows: every epoch, each piece gives one random window per `window` tokens it holds."""

    def __init__(self, data: Encoded, window: int, augment: tokens.Augmenter, seed: int):
        self.data, self.window, self.augment = data, window, augment
        self.index = [i for i, ids in enumerate(data.ids) for _ in range(math.ceil((len(ids) - 1) / window))]
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        piece = self.index[i]
        rows = self.data.rows(piece)
        start = int(self.rng.integers(0, max(1, rows.shape[1] - self.window)))
        rows, shift = self.augment(rows[:, start:start + self.window + 1], self.rng)
        return torch.from_numpy(rows), self.data.condition(piece, shift)


class Streams(IterableDataset):
    """Truncated backpropagation through time: every epoch the pieces, augmented, are dealt to `rows` rows, and
    each row plays its pieces from start to end, one after another, in consecutive windows of `window` tokens.
    A batch is the next window of every row, `(ids, lengths, condition, lookback, fresh)`, `fresh` marking the rows
    whose piece starts there (their carried state is cleared); a row with no pieces left gives empty windows.

    Pieces are dealt longest first to the row with the fewest windows so far, so every epoch has as many
    batches (ties are broken at random, and each row's pieces are then shuffled)."""

    def __init__(self, data: Encoded, window: int, rows: int, augment: tokens.Augmenter, pad: int, seed: int):
        self.data, self.window, self.rows, self.augment, self.pad = data, window, rows, augment, pad
        self.windows = [math.ceil((len(ids) - 1) / window) for ids in data.ids]
        self.rng = np.random.default_rng(seed)
        self.batches = max(sum(self.windows[i] for i in row) for row in self._deal(np.random.default_rng(0)))

    def _deal(self, rng: np.random.Generator) -> list[list[int]]:
        order = sorted(rng.permutation(len(self.windows)), key=lambda i: -self.windows[i])
        rows, loads = [[] for _ in range(self.rows)], [0] * self.rows
        for piece in order:
            row = int(np.argmin(loads))
            rows[row].append(piece)
            loads[row] += self.windows[piece]
        return rows

    def __len__(self):
        return self.batches

    def __iter__(self):
        rows = self._deal(self.rng)
        for row in rows:
            self.rng.shuffle(row)
        plays = [[(piece, *self.augment(self.data.rows(piece), self.rng)) for piece in row] for row in rows]
        cursor = [[0, 0] for _ in rows]  # which of its pieces each row plays, and where in it
        empty = [0] * max(len(c) for c in self.data.conditions)
        for _ in range(self.batches):
            ids = torch.full((self.rows, 1 + (self.data.lookback is not None), self.window + 1), self.pad, dtype=torch.long)
            lengths, conditions = torch.zeros(self.rows, dtype=torch.long), []
            fresh = torch.ones(self.rows, dtype=torch.bool)
            for r, (at, start) in enumerate(cursor):
                if at == len(plays[r]):
                    conditions.append(empty)
                    continue
                piece, played, shift = plays[r][at]
                chunk = played[:, start:start + self.window + 1]
                ids[r, :, :chunk.shape[1]], lengths[r], fresh[r] = torch.from_numpy(chunk), chunk.shape[1], start == 0
                conditions.append(self.data.condition(piece, shift))
                cursor[r] = [at, start + self.window] if start + self.window < played.shape[1] - 1 else [at + 1, 0]
            yield (ids[:, 0], lengths, torch.tensor(conditions, dtype=torch.long).reshape(self.rows, -1),
                   lookback_rows(ids), fresh)


class LMTask(L.LightningModule):
    """Lightning's view of a MusicLM: next-token NLL to train on, NLL per token over whole valid pieces to
    monitor, AdamW with the learning rate halved on a plateau."""

    def __init__(self, model: MusicLM, lr: float, weight_decay: float):
        super().__init__()
        self.model, self.lr, self.weight_decay = model, lr, weight_decay
        self.val_nll = torchmetrics.MeanMetric()  # weighted by tokens: NLL per token over all valid tokens
        self.carried: torch.Tensor | None = None  # the state at the end of the last `Streams` batch

    def on_train_epoch_start(self):
        self.carried = None

    def training_step(self, batch, _):
        ids, lengths, condition, lookback, *fresh = batch
        state = None
        if fresh and self.carried is not None:  # `Streams`: go on from where each row's piece stopped
            state = self.carried * (~fresh[0]).to(self.carried.dtype)[None, :, None]
        total, count, state = nll_sum(self.model, ids, lengths, condition, lookback, state=state)
        if fresh:
            self.carried = state.detach()
        loss = total / max(count, 1)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(lengths), sync_dist=True)
        return loss

    def validation_step(self, batch, _):
        total, count, _ = nll_sum(self.model, *batch, CHUNK)
        self.val_nll.update(total / max(count, 1), count)
        self.log("val_loss", self.val_nll, on_epoch=True, prog_bar=True, batch_size=len(batch[0]))

    def on_validation_epoch_end(self):
        self.log("val_ppl", math.exp(min(float(self.val_nll.compute()), 50.0)), prog_bar=True)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss"}}


@training.run_folder
def train(options: LMOptions, run: TrainOptions, say: Callable[[str], None] = print) -> dict:
    """Train on `options.corpus`, write `run.out/model.safetensors`, and score it on the valid and test pieces."""
    corpus = corpora.load(options.corpus, run.seed, say, options.cache_dir, options.split_by, options.exclude)
    transpose = 0 if corpus.drums else options.transpose  # drum pitches name instruments
    if TRANSPOSITION in options.conditions and not transpose:
        raise OptionError("conditions", f"{{conditions}} {TRANSPOSITION} needs pieces transposed in training: a "
                          "pitched corpus and {transpose} above 0.")
    for label in (c for c in options.conditions if c != TRANSPOSITION):
        if any(label not in p.labels for p in corpus.pieces):
            known = sorted({k for p in corpus.pieces for k in p.labels}) or ["none"]
            raise DataError(f"not every piece of {corpus.name} has a {label!r} label; its labels: {', '.join(known)}.")
    tokenizer = tokens.build(options.tokenizer)
    values = {label: [str(k) for k in range(-transpose, transpose + 1)] if label == TRANSPOSITION
              else corpus.label_values(label) for label in options.conditions}
    config = LMConfig(options.tokenizer, tokens.to_json(tokenizer), len(tokenizer), hidden_size=options.hidden_size,
                      num_layers=options.num_layers, dropout=options.dropout, conditions=values, drums=corpus.drums,
                      lookback=options.lookback)
    data = {split: encode(corpus.split(split), tokenizer, config) for split in ("train", "valid", "test")}
    if not data["train"].ids or not data["valid"].ids:
        raise DataError(f"{options.corpus} needs pieces in both its train and valid parts.")
    model = MusicLM(config)
    model._tokenizer = tokenizer
    say(f"training a {options.num_layers}x{options.hidden_size} GRU on {corpus.name} ({options.tokenizer}, "
        f"{len(tokenizer)} tokens): {len(data['train'].ids)} train pieces ({data['train'].tokens:,} tokens), "
        f"{len(data['valid'].ids)} valid, {len(data['test'].ids)} test; "
        f"{sum(p.numel() for p in model.parameters()):,} parameters")
    augment = tokens.Augmenter(tokenizer, transpose, options.tempo)
    pad = tokenizer.vocab["PAD_None"]
    if options.carry_state:
        loader = DataLoader(Streams(data["train"], options.window, options.batch_size, augment, pad, run.seed), None)
    else:
        loader = DataLoader(Windows(data["train"], options.window, augment, run.seed), options.batch_size,
                            shuffle=True, collate_fn=collate(pad))
    valid = DataLoader(Whole(data["valid"]), 8, collate_fn=collate(pad))
    run = replace(run, max_epochs=run.max_epochs or 100)
    metrics = training.fit(LMTask(model, options.lr, options.weight_decay), run, loader, valid, gradient_clip=1.0)
    for split in ("valid", "test"):
        if data[split].ids:
            metrics.update({f"{split}_{k}": v for k, v in held_out_nll(model, data[split]).items()})
    meta = {"task": "compose", "config": asdict(config), "metrics": metrics}
    path = training.save_model(run, model, meta, options.corpus, options, corpus=corpus.name,
                               skipped=len(corpus.skipped), dropped=corpus.dropped)
    return {"model": str(path), **metrics}
