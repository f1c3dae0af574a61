"""Training piano-roll models: the LightningModule, the pieces it reads, and the `train` verb."""

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

from gruve import training
from gruve.compose.pianoroll import rolls
from gruve.compose.pianoroll.scoring import evaluate, pad
from gruve.compose.pianoroll.model import ARCHITECTURES, PianoRollConfig, PianoRollModel
from gruve.data.items import DataError
from gruve.compose.checks import check_training
from gruve.errors import check, check_at_least
from gruve.files import write_csv
from gruve.training import TrainOptions


@dataclass(kw_only=True)
class PianoRollOptions:
    """What to train; the defaults are the JSB Chorales recipe."""

    data: str  # a piano-roll set, as `rolls.load` takes it
    architecture: str = "gru"  # gru, gru-nade, lstm, lstm-nade, rnn or rnn-nade
    hidden_size: int = 256  # recurrent units per layer
    num_layers: int = 1
    dropout: float = 0.3  # on the recurrent output (and between layers)
    nade_hidden: int = 150  # hidden units of the NADE output (-nade architectures)
    batch_size: int = 8  # pieces per batch
    lr: float = 1e-3  # AdamW's, halved after 5 epochs without progress
    weight_decay: float = 0.0
    transpose: int = 0  # augmentation: shift each training piece by up to this many semitones
    steps_per_quarter: int = 1  # grid for rolls built from scores
    cache_dir: Path | None = None

    def __post_init__(self):
        check(self.architecture in ARCHITECTURES, "architecture", f"unknown piano-roll {{architecture}} "
              f"{self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}.")
        check_training(self)
        check_at_least(self.nade_hidden, "nade_hidden", 1)
        check_at_least(self.steps_per_quarter, "steps_per_quarter", 1)


class Pieces(Dataset):
    """Training pieces as float rolls, each transposed at random by up to `transpose` semitones."""

    def __init__(self, pieces: list[np.ndarray], transpose: int = 0):
        self.pieces, self.transpose = pieces, transpose

    def __len__(self):
        return len(self.pieces)

    def __getitem__(self, i):
        roll = torch.from_numpy(self.pieces[i]).float()
        shift = random.randint(-self.transpose, self.transpose) if self.transpose else 0
        return transpose(roll, shift)


def transpose(roll: torch.Tensor, semitones: int) -> torch.Tensor:
    """Shift every note by `semitones`; notes pushed off the keyboard are dropped."""
    if semitones == 0:
        return roll
    out = torch.zeros_like(roll)
    if semitones > 0:
        out[:, semitones:] = roll[:, :-semitones]
    else:
        out[:, :semitones] = roll[:, -semitones:]
    return out


class PianoRollTask(L.LightningModule):
    """Lightning's view of a PianoRollModel: NLL per frame to train on, NLL and frame accuracy over the
    valid frames pooled to monitor, AdamW with the learning rate halved on a plateau."""

    def __init__(self, model: PianoRollModel, lr: float, weight_decay: float):
        super().__init__()
        self.model, self.lr, self.weight_decay = model, lr, weight_decay
        self.val_nll = torchmetrics.MeanMetric()  # weighted by frames: NLL per step pooled over all frames
        self.val_acc = torchmetrics.classification.MultilabelJaccardIndex(rolls.NOTES, average="micro")

    def training_step(self, batch, _):
        rolls_, lengths = batch
        loss = -self.model.log_prob(rolls_, lengths).sum() / lengths.sum()
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(lengths), sync_dist=True)
        return loss

    def validation_step(self, batch, _):
        rolls_, lengths = batch
        contexts, truth = self.model.real_frames(rolls_, lengths)
        self.val_nll.update(-self.model.head.log_prob(contexts, truth).mean(), len(truth))
        # frame accuracy of Bay et al. (2009), TP / (TP + FP + FN) over all frames, is the micro Jaccard index
        self.val_acc.update(self.model.head.mode(contexts), truth.long())
        self.log("val_loss", self.val_nll, on_epoch=True, prog_bar=True, batch_size=len(lengths))
        self.log("val_acc", self.val_acc, on_epoch=True, prog_bar=True, batch_size=len(lengths))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss"}}


@training.run_folder
def train(options: PianoRollOptions, run: TrainOptions, say: Callable[[str], None] = print) -> dict:
    """Train on `options.data`, write `run.out/model.safetensors`, and score it on every split."""
    sets = rolls.load(options.data, options.steps_per_quarter, run.seed, say, options.cache_dir)
    if not sets.splits["train"] or not sets.splits["valid"]:
        raise DataError(f"{options.data} needs pieces in both its train and valid parts.")
    if sets.pieces:
        _write_split(sets.pieces, run.out / "split.csv")
    config = PianoRollConfig(options.architecture, options.hidden_size, options.num_layers, options.dropout,
                             options.nade_hidden, sets.steps_per_quarter)
    model = PianoRollModel(config)
    say(f"training {config.architecture} on {sets.name}: {len(sets.splits['train'])} train pieces "
        f"({sets.frames('train'):,} steps), {len(sets.splits['valid'])} valid, {len(sets.splits['test'])} test; "
        f"{sum(p.numel() for p in model.parameters()):,} parameters")
    task = PianoRollTask(model, options.lr, options.weight_decay)
    loader = DataLoader(Pieces(sets.splits["train"], options.transpose), options.batch_size, shuffle=True,
                        collate_fn=pad)
    valid = DataLoader(Pieces(sets.splits["valid"]), 32, collate_fn=pad)
    run = replace(run, max_epochs=run.max_epochs or 200)
    metrics = training.fit(task, run, loader, valid, gradient_clip=1.0)  # clip: RNN blow-ups
    for split, result in evaluate(model, sets, say=say).items():
        metrics.update({f"{split}_nll": result["nll"], f"{split}_accuracy": result["accuracy"]})
    meta = {"task": "pianoroll", "config": asdict(config), "metrics": metrics}
    path = training.save_model(run, model, meta, options.data, options, corpus=sets.name)
    return {"model": str(path), **metrics}


def _write_split(pieces: dict[str, list[str]], path: Path) -> None:
    """Which piece went to which split, as `piece,split` rows."""
    write_csv(path, ["piece", "split"], ((name, split) for split, names in pieces.items() for name in names))
