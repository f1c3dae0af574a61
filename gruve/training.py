"""The one place a Lightning Trainer is built, and the one way a training run starts and ends.

Every trainer (listen, compose, piano-roll, synth) does the same three things: it is decorated with
`run_folder` (the folder checked and locked for the run, everything seeded), calls `fit` (Lightning's fit with
progress, checkpoints, early stopping, devices, resume and Ctrl-C, then the best weights back), and ends with
`save_model` (the bundle with its provenance, and the training curves).

Under DDP every rank runs the same command; rank zero alone speaks, writes and saves (see `run_folder`, `fit`).

Imported only when something trains: importing Lightning costs seconds.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins import TorchCheckpointIO
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from gruve import __version__, bundle
from gruve.errors import GruveError, Interrupted, OptionError, check, check_at_least
from gruve.files import atomic_open, atomic_path
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
    num_nodes: int = 1  # machines, each with `devices` devices (Lightning's)
    strategy: str = "auto"  # Lightning's, e.g. ddp
    precision: str | None = None  # Lightning's, e.g. bf16-mixed
    resume: bool = False  # continue from out/checkpoints/last.ckpt
    overwrite: bool = False  # replace the run already in `out` (without it, or `resume`, an existing run is refused)
    threads: int | None = None  # torch threads per process (None: the cores not busy, see `choose_threads`)
    ema: float = 0.0  # decay per step of an exponential moving average of the weights, validated and kept (0: none)
    progress: bool = True  # a progress bar; else one line per epoch

    def __post_init__(self):
        self.out = Path(self.out)
        check_at_least(self.max_epochs, "max_epochs", 1, optional=True)
        check(self.patience >= 0, "patience", f"{{patience}} must be 0 (never stop early) or more (got {self.patience}).")
        check_at_least(self.num_nodes, "num_nodes", 1)
        check_at_least(self.threads, "threads", 1, optional=True)
        check(0 <= self.ema < 1, "ema", f"{{ema}} must be at least 0 (off) and below 1 (got {self.ema}).")
        check(0 <= self.seed < 2**32, "seed", f"{{seed}} must be from 0 to 2**32 - 1 (got {self.seed}).")
        check(not (self.resume and self.overwrite), "overwrite",
              "{resume} continues the run in {out} and {overwrite} replaces it: give one of them.")
        check(self.precision is None or self.precision in PRECISIONS, "precision",
              f"{{precision}} {self.precision} is not one of Lightning's: {', '.join(PRECISIONS)}.")
        check(self.accelerator not in ("gpu", "cuda") or torch.cuda.is_available(), "accelerator",
              f"{{accelerator}} {self.accelerator} asks for a GPU, and torch finds none here; use cpu or auto.")
        check(self.accelerator != "mps" or torch.backends.mps.is_available(), "accelerator",
              "{accelerator} mps asks for Apple's GPU, and torch finds none here; use cpu or auto.")


PRECISIONS = ("16-mixed", "bf16-mixed", "32-true", "16-true", "bf16-true", "64-true", "transformer-engine",
              "transformer-engine-float16", "16", "32", "64", "bf16")  # Lightning's accepted values
LOCK = ".gruve-lock"  # in a run folder while a training writes to it: {"pid", "host", "started"}
RUN_FILES = ("model.safetensors", "checkpoints", "metrics.csv")  # what makes a folder a run (a split alone: a start that failed)


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


def run_folder(train):
    """Decorate a trainer `train(options, run, ...)`: before it runs, `run.out` is checked (a folder, writable,
    not holding another run unless `run.resume` or `run.overwrite` says so) and locked, torch gets its threads
    (see `choose_threads`), and everything is seeded (before the model exists: its initial weights too); the
    lock goes when it returns or fails.

    Lightning's DDP launcher starts the other ranks by running the same command again: those find rank
    zero's folder and lock, so they skip both, and say nothing (rank zero speaks for the run)."""

    @functools.wraps(train)
    def in_run_folder(options, run: TrainOptions, *args, **kwargs):
        quiet_lightning()
        threads, why = choose_threads(run)
        torch.set_num_threads(threads)
        if rank_zero_only.rank != 0:
            sys.stdout = sys.stderr = open(os.devnull, "w")
            L.seed_everything(run.seed, workers=True, verbose=False)
            return train(options, run, *args, **kwargs)
        _claim(run)
        try:
            L.seed_everything(run.seed, workers=True, verbose=False)
            kwargs.get("say", print)(f"{threads} torch thread{'s' if threads > 1 else ''} per process ({why})")
            return train(options, run, *args, **kwargs)
        finally:
            _release(run.out)

    return in_run_folder


def choose_threads(run: TrainOptions) -> tuple[int, str]:
    """Torch threads for each training process, and why: `run.threads`, else `OMP_NUM_THREADS`, else the cores
    this process may use that are not busy (CPU use over a fifth of a second), shared among the processes of
    a CPU DDP run on this machine. Torch's default, a thread per core, costs far more than it gives when
    another job holds some of them: threads that wait on each other (see docs/speed.md)."""
    if run.threads is not None:
        return run.threads, "--threads"
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    import psutil

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else psutil.cpu_count() or 1
    busy = min(cores - 1, round(sum(psutil.cpu_percent(interval=0.2, percpu=True)) / 100))
    local = int(run.devices) if run.accelerator == "cpu" and run.devices.isdigit() else 1
    threads = max(1, (cores - busy) // max(1, local))
    return threads, f"{cores} cores, {busy} busy" + (f", {local} processes" if local > 1 else "")


def _claim(run: TrainOptions) -> None:
    """Check `run.out` and take its lock (see `run_folder`); with `overwrite`, clear the earlier run's
    checkpoints and metrics once the lock is ours (its model is replaced only when the new one is saved)."""
    out = run.out
    if out.exists() and not out.is_dir():
        raise OptionError("out", f"{{out}} {out} is a file, not a folder for a run.")
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if existing and not (run.resume or run.overwrite):
        raise OptionError("out", f"{{out}} {out} already holds a run ({', '.join(existing)}); add {{resume}} to "
                                 "continue it or {overwrite} to replace it.")
    resume_path(run)  # a missing or unreadable checkpoint is refused before anything is written
    try:
        out.mkdir(parents=True, exist_ok=True)
        _lock(out)
    except OSError as error:
        raise OptionError("out", f"{{out}} {out} cannot be written ({error.strerror or error}).") from None
    if run.overwrite:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
        (out / "metrics.csv").unlink(missing_ok=True)


def _lock(out: Path) -> None:
    """Create `out/LOCK` naming this process; a lock of a live process refuses, a stale one is taken over."""
    path = out / LOCK
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):
        try:
            with open(path, "x") as f:
                json.dump(holder, f)
            return
        except FileExistsError:
            other = _lock_holder(path)
            if other.get("pid") != os.getpid():  # a lock of this process is left from an earlier failed call
                if other.get("host") != holder["host"] or _alive(other.get("pid")):
                    raise GruveError(
                        f"{out} is in use by another training (PID {other.get('pid')} on {other.get('host')}, since "
                        f"{other.get('started')}); wait for it to end or train into another --out (if it is gone, "
                        f"delete {path}).") from None
                print(f"{out} was locked by PID {other.get('pid')}, which is no longer running: taking the run "
                      "folder over.", file=sys.stderr)
            path.unlink(missing_ok=True)
    raise GruveError(f"{out} is being locked by another training at this moment; try again.")


def _lock_holder(path: Path) -> dict:
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}  # half-written or garbled: no live holder can be named, so it counts as stale


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _release(out: Path) -> None:
    path = out / LOCK
    if _lock_holder(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def fit(task: L.LightningModule, run: TrainOptions, train_loader, valid_loader=None, *, monitor: str | None = "val_loss",
        gradient_clip: float | None = None) -> dict:
    """Train `task` (resuming where `run.resume` says), then put the best epoch's weights back into it.

    Returns the metrics every bundle records: epochs trained and seconds spent over the whole run, resumed
    parts included; after Ctrl-C also `interrupted` (the epoch it stopped in), so that `save_model` saves the
    best model so far and says how to resume. Without a validation loader nothing is monitored: the run
    trains for `max_epochs` and keeps the last epoch. Under DDP only rank zero returns: the other ranks'
    work is done once the fit ends, and they exit.
    """
    trainer = build_trainer(run, monitor if valid_loader is not None else None, gradient_clip=gradient_clip)
    _check_a_batch_each(train_loader, trainer.world_size)
    resume = resume_path(run)
    if resume is not None:
        _check_same_model(task, read_checkpoint(resume), resume)
    try:
        trainer.fit(task, train_loader, valid_loader, ckpt_path=resume, weights_only=True)  # data, not code
    except SystemExit:  # Lightning's answer to Ctrl-C: a graceful stop, then exit
        if not trainer.interrupted:
            raise
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores a second Ctrl-C until here
    if not trainer.is_global_zero:
        raise SystemExit(0)
    if trainer.interrupted and not trainer.checkpoint_callback.last_model_path:
        raise Interrupted("interrupted in epoch 1, before any epoch was complete: nothing was saved.")
    load_best(trainer, task)
    task.eval()
    stopwatch = next(c for c in trainer.callbacks if isinstance(c, Stopwatch))
    metrics = {"epochs": trainer.current_epoch, "train_seconds": round(stopwatch.seconds, 1)}
    return {**metrics, "interrupted": trainer.current_epoch + 1} if trainer.interrupted else metrics


def _check_a_batch_each(loader, world_size: int) -> None:
    """Refuse a loader that drops its last partial batch when each device's share of the data is less than
    one batch: every device would train on nothing (DDP splits the data before batching it)."""
    if not getattr(loader, "drop_last", False) or not hasattr(loader.dataset, "__len__"):
        return
    share = math.ceil(len(loader.dataset) / world_size)
    if share < loader.batch_size:
        devices = f"each of {world_size} devices {share}" if world_size > 1 else f"{share}"
        raise OptionError("batch_size", f"{{batch_size}} {loader.batch_size} is more than the training examples "
                                        f"({devices}), so no whole batch would be trained on; lower {{batch_size}}"
                                        + (" or use fewer devices." if world_size > 1 else "."))


def _check_same_model(task: L.LightningModule, checkpoint: dict, path: str) -> None:
    """Refuse to resume a checkpoint of a differently shaped model (other --hidden, other classes) in one
    sentence, before Lightning fails with a page of size mismatches."""
    saved = checkpoint.get("state_dict", {})
    for name, tensor in task.state_dict().items():
        if name in saved and tuple(saved[name].shape) != tuple(tensor.shape):
            raise OptionError("resume", f"{{resume}}: {path} holds a different model ({name} is "
                              f"{'x'.join(map(str, saved[name].shape))} there and {'x'.join(map(str, tensor.shape))} "
                              "with these options); resume with the options it was trained with, or start afresh "
                              "with {overwrite}.")


def save_model(run: TrainOptions, model: torch.nn.Module, meta: dict, data: str, options, **training) -> Path:
    """Write `run.out/model.safetensors` (`meta` plus how it was trained: provenance and `training`) and
    `run.out/curves.png` from the run's metrics; returns the model's path. A run stopped by Ctrl-C (see
    `fit`) is saved all the same, then raises `Interrupted`, which says where the model is and how to resume."""
    meta = {**meta, "training": {**provenance(data, options, run.seed), "ema": run.ema, **training}}
    path = bundle.save(run.out / "model.safetensors", model, meta)
    training_curves(run.out / "metrics.csv", run.out / "curves.png")
    interrupted = meta.get("metrics", {}).get("interrupted")
    if interrupted:
        raise Interrupted(f"interrupted in epoch {interrupted}: the best model so far (of "
                          f"{meta['metrics']['epochs']} finished epochs) is saved in {path}; to go on: "
                          f"{resume_command()}")
    return path


def resume_command() -> str:
    """The command that continues this run: the one that started it with `--resume` (from Python: `resume=True`)."""
    if Path(sys.argv[0]).name not in ("gruve", "__main__.py"):
        return "call it again with TrainOptions(..., resume=True)"
    args = [a for a in sys.argv[1:] if a != "--overwrite"]
    return shlex.join(["gruve", *args, *([] if "--resume" in args else ["--resume"])])


def build_trainer(options: TrainOptions, monitor: str | None, mode: str = "min",
                  gradient_clip: float | None = None) -> L.Trainer:
    """A Trainer that logs metrics to `out/metrics.csv` and keeps `out/checkpoints/{best,last}.ckpt`.

    With a `monitor` (a validation metric) it keeps the best epoch and stops early after
    `patience` epochs without improvement; without one it trains for `max_epochs` and keeps the last.
    With `options.ema` (a decay such as 0.99) an exponential moving average of the weights is what is validated,
    checkpointed and kept.
    """
    quiet_lightning()
    checkpoints = ModelCheckpoint(dirpath=options.out / "checkpoints", filename="best", monitor=monitor,
                                  mode=mode, save_last=True, enable_version_counter=False)
    callbacks = [checkpoints, Stopwatch()]
    if options.ema:
        from lightning.pytorch.callbacks import EMAWeightAveraging

        callbacks.append(EMAWeightAveraging(decay=options.ema))
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
        num_nodes=options.num_nodes,
        strategy=options.strategy,
        precision=options.precision,
        plugins=[AtomicCheckpointIO()],
        callbacks=callbacks,
        logger=CSVLogger(options.out, name="", version=""),
        enable_progress_bar=options.progress,
        enable_model_summary=False,
        deterministic=False,
        log_every_n_steps=10,
        gradient_clip_val=gradient_clip,
    )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through `files.atomic_path`: a crash mid-save leaves the previous
    checkpoint, never half of one (Lightning writes the file in place)."""

    def save_checkpoint(self, checkpoint: dict, path: _PATH, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class Stopwatch(Callback):
    """Seconds spent training, kept in each checkpoint, so a resumed run counts its earlier parts too."""

    def __init__(self):
        self.earlier, self.started = 0.0, None

    @property
    def seconds(self) -> float:
        return self.earlier + (time.time() - self.started if self.started is not None else 0.0)

    def on_fit_start(self, trainer, module):
        self.started = time.time()

    def state_dict(self) -> dict:
        return {"seconds": self.seconds}

    def load_state_dict(self, state: dict) -> None:
        self.earlier = float(state.get("seconds", 0.0))


class EpochLines(Callback):
    """Where there is no terminal for a progress bar (a log file, CI), one line per epoch instead, with the
    seconds it took, and early in the first epoch its length and an estimate of its time, so a run of hours
    says so in its first minute (from rank zero only)."""

    ESTIMATE_AFTER = 20  # steps of the first epoch timed before its time is estimated

    def __init__(self):
        self.started, self.estimated = 0.0, False

    def on_train_epoch_start(self, trainer, module):
        self.started = time.time()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        steps = trainer.num_training_batches
        if self.estimated or batch_idx + 1 < self.ESTIMATE_AFTER or not trainer.is_global_zero:
            return
        self.estimated = True
        if steps != float("inf") and steps > 2 * self.ESTIMATE_AFTER:
            took = time.time() - self.started
            print(f"{steps:,} steps an epoch; the first {batch_idx + 1} took {took:.1f} s: about "
                  f"{_duration(took / (batch_idx + 1) * steps)} an epoch", file=sys.stderr, flush=True)

    def on_train_epoch_end(self, trainer, module):
        if not trainer.is_global_zero:
            return
        metrics = " ".join(f"{k} {float(v):.4f}" for k, v in sorted(trainer.callback_metrics.items()))
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} ({_duration(time.time() - self.started)}): "
              f"{metrics}", file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    """`42 s`, `3 min 5 s` or `2 h 10 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


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
    if not path:
        raise GruveError("training ended before its first epoch was complete, so there is no model to save; "
                         "train again (with more data for each device, or fewer devices).")
    task.load_state_dict(read_checkpoint(path)["state_dict"], strict=False)


def provenance(data: str, options, seed: int) -> dict:
    """What a bundle records about how it was trained, so anyone can retrace it."""
    return {"data": data, "command": " ".join(sys.argv), "options": json.loads(json.dumps(asdict(options), default=str)),
            "seed": seed, "gruve": __version__, "torch": torch.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
