"""The one place a Lightning Trainer is built, and the one way a training run starts and ends.

Every trainer (listen, compose, piano-roll, synth) does the same three things: `start` (seed, run folder),
`fit` (Lightning's fit with progress, checkpoints, early stopping, devices and resume, then the best weights
back), and `save_model` (the bundle with its provenance, and the training curves).

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

from gruve import __version__, bundle
from gruve.errors import GruveError, OptionError, check, check_at_least
from gruve.files import atomic_open
from gruve.plots import training_curves


@dataclass(kw_only=True)
class TrainOptions:
    """How a model is trained, whatever it is: where the run goes, how long, on what, from where."""

    out: Path = Path("runs/train")
    max_epochs: int | None = None  # None: the task's default for its data
    patience: int = 12  # epochs without a better validation loss before stopping (0: never stop early)
    seed: int = 0
    accelerator: str = "auto"  # Lightning's: auto, cpu, gpu, mps
    devices: str = "auto"  # Lightning's: auto, a count, or a list
    strategy: str = "auto"  # Lightning's, e.g. ddp
    precision: str | None = None  # Lightning's, e.g. bf16-mixed
    resume: bool = False  # continue from out/checkpoints/last.ckpt
    progress: bool = True  # a progress bar; else one line per epoch

    def __post_init__(self):
        self.out = Path(self.out)
        check_at_least(self.max_epochs, "max_epochs", 1, optional=True)
        check(self.patience >= 0, "patience", f"{{patience}} must be 0 (never stop early) or more (got {self.patience}).")


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


def start(run: TrainOptions) -> None:
    """Seed everything (before the model exists: its initial weights too) and quiet Lightning's chatter."""
    quiet_lightning()
    L.seed_everything(run.seed, workers=True, verbose=False)


def fit(task: L.LightningModule, run: TrainOptions, train_loader, valid_loader=None, *, monitor: str | None = "val_loss",
        gradient_clip: float | None = None, ema: float = 0.0) -> dict:
    """Train `task` (resuming where `run.resume` says), then put the best epoch's weights back into it.

    Returns the metrics every bundle records: epochs trained and seconds spent. Without a validation
    loader nothing is monitored: the run trains for `max_epochs` and keeps the last epoch.
    """
    trainer = build_trainer(run, monitor if valid_loader is not None else None, gradient_clip=gradient_clip, ema=ema)
    started = time.time()
    trainer.fit(task, train_loader, valid_loader, ckpt_path=resume_path(run), weights_only=True)  # data, not code
    seconds = time.time() - started
    load_best(trainer, task)
    task.eval()
    return {"epochs": trainer.current_epoch, "train_seconds": round(seconds, 1)}


def save_model(run: TrainOptions, model: torch.nn.Module, meta: dict, data: str, options, **training) -> Path:
    """Write `run.out/model.safetensors` (`meta` plus how it was trained: provenance and `training`) and
    `run.out/curves.png` from the run's metrics; returns the model's path."""
    meta = {**meta, "training": {**provenance(data, options, run.seed), **training}}
    path = bundle.save(run.out / "model.safetensors", model, meta)
    training_curves(run.out / "metrics.csv", run.out / "curves.png")
    return path


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
        with atomic_open(self.path, newline="") as f:
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
    """The checkpoint to resume from: `out/checkpoints/last.ckpt`, which must exist and read safely when asked for."""
    if not options.resume:
        return None
    last = options.out / "checkpoints" / "last.ckpt"
    if not last.exists():
        raise OptionError("resume", f"{{resume}} found no checkpoint at {last}; start without it.")
    read_checkpoint(last)  # a truncated or code-carrying file is refused here, in one sentence, not mid-fit
    return str(last)


def read_checkpoint(path: str | Path) -> dict:
    """A Lightning checkpoint's contents, read with `weights_only=True`: a checkpoint in a run folder is data,
    and reading it must never run code planted in it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors alike: the file is not a checkpoint we can trust
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GruveError(f"{path} is not a checkpoint gruve can read safely ({reason[:200]}).") from None


def load_best(trainer: L.Trainer, task: L.LightningModule) -> None:
    """Put the weights of the best checkpoint (the last where nothing was monitored) back into `task`."""
    callback = trainer.checkpoint_callback
    path = callback.best_model_path or callback.last_model_path
    task.load_state_dict(read_checkpoint(path)["state_dict"], strict=False)


def provenance(data: str, options, seed: int) -> dict:
    """What a bundle records about how it was trained, so anyone can retrace it."""
    return {"data": data, "command": " ".join(sys.argv), "options": json.loads(json.dumps(asdict(options), default=str)),
            "seed": seed, "gruve": __version__, "torch": torch.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
