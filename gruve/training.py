"""The one place a Lightning Trainer is built: progress, checkpoints, early stopping, devices, resume.

Imported only when something trains: importing Lightning costs seconds.
"""

from __future__ import annotations

import csv
import json
import logging
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger

from gruve import __version__
from gruve.errors import GruveError


@dataclass
class TrainOptions:
    out: Path
    max_epochs: int | None = None  # None: the task's default for its data
    patience: int = 12
    seed: int = 0
    accelerator: str = "auto"
    devices: str = "auto"
    strategy: str = "auto"
    precision: str | None = None
    resume: bool = False
    progress: bool = True


def quiet_lightning() -> None:
    """Lightning's start-up chatter (GPU available, tips on workers) says nothing a user must act on."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*number of training batches.*")
    warnings.filterwarnings("ignore", ".*exists and is not empty.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*no `val_dataloader`.*")
    warnings.filterwarnings("ignore", ".*IterableDataset. has .__len__. defined.*")  # compose --carry-state: one process


def build_trainer(options: TrainOptions, monitor: str | None, mode: str = "min",
                  gradient_clip: float | None = None, ema: float = 0.0) -> L.Trainer:
    """A Trainer that logs metrics to `out/metrics.csv` and keeps `out/checkpoints/{best,last}.ckpt`.

    With a `monitor` (a validation metric) it keeps the best epoch and stops early after
    `patience` epochs without improvement; without one it trains for `max_epochs` and keeps the last.
    With `ema` (a decay such as 0.99) an exponential moving average of the weights is what is validated,
    checkpointed and kept.
    """
    quiet_lightning()
    checkpoints = ModelCheckpoint(dirpath=options.out / "checkpoints", filename="best", monitor=monitor,
                                  mode=mode, save_last=True, enable_version_counter=False)
    callbacks = [checkpoints]
    if ema:
        from lightning.pytorch.callbacks import EMAWeightAveraging

        callbacks.append(EMAWeightAveraging(decay=ema))
    if monitor is not None and options.patience > 0:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=options.patience))
    callbacks.append(RichProgressBar(leave=False) if options.progress else EpochLines())
    if options.resume:
        callbacks.append(KeepEarlierMetrics(options.out / "metrics.csv"))
    return L.Trainer(
        default_root_dir=options.out,
        max_epochs=options.max_epochs,
        accelerator=options.accelerator,
        devices=_devices(options.devices),
        strategy=options.strategy,
        precision=options.precision,
        callbacks=callbacks,
        logger=CSVLogger(options.out, name="", version=""),
        enable_progress_bar=options.progress,
        enable_model_summary=False,
        deterministic=False,
        log_every_n_steps=10,
        gradient_clip_val=gradient_clip,
    )


class EpochLines(Callback):
    """Where there is no terminal for a progress bar (a log file, CI), one line per epoch instead."""

    def on_train_epoch_end(self, trainer, module):
        metrics = " ".join(f"{k} {float(v):.4f}" for k, v in sorted(trainer.callback_metrics.items()))
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {metrics}", file=sys.stderr, flush=True)


class KeepEarlierMetrics(Callback):
    """Lightning's CSV logger starts `metrics.csv` afresh when a run resumes; this puts the epochs from
    before the interruption back in front, so the log and its curves cover the whole run."""

    def __init__(self, path: Path):
        self.path = path
        self.earlier = _read_rows(path)

    def on_fit_end(self, trainer, module):  # called after the logger has written its last rows
        later = _read_rows(self.path)
        resumed_at = min((int(r["epoch"]) for r in later), default=None)
        rows = [r for r in self.earlier if resumed_at is None or int(r["epoch"]) < resumed_at] + later
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            writer.writeheader()
            writer.writerows(rows)


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _devices(devices: str):
    return int(devices) if devices.isdigit() else devices


def resume_path(options: TrainOptions) -> str | None:
    """The checkpoint to resume from: `out/checkpoints/last.ckpt`, which must exist when asked for."""
    if not options.resume:
        return None
    last = options.out / "checkpoints" / "last.ckpt"
    if not last.exists():
        raise GruveError(f"--resume found no checkpoint at {last}; start without --resume.")
    return str(last)


def load_best(trainer: L.Trainer, task: L.LightningModule) -> None:
    """Put the weights of the best checkpoint (the last where nothing was monitored) back into `task`."""
    callback = trainer.checkpoint_callback
    path = callback.best_model_path or callback.last_model_path
    task.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["state_dict"], strict=False)


def provenance(data: str, options, seed: int) -> dict:
    """What a bundle records about how it was trained, so anyone can retrace it."""
    return {"data": data, "command": " ".join(sys.argv), "options": json.loads(json.dumps(asdict(options), default=str)),
            "seed": seed, "gruve": __version__, "torch": torch.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
