"""What every capability's command line shares: the consoles, the options every training command takes,
and how a result is printed. Each capability's `cli.py` builds its typer app from these; `gruve/cli.py`
mounts those apps."""

from __future__ import annotations

import functools
import inspect
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

out = Console(markup=False)  # messages hold file names: `take [2].wav` is not rich markup
err = Console(stderr=True, soft_wrap=True, markup=False)

MODEL_HELP = "A model file (.safetensors), a training run folder, or the name of a shipped model (see `gruve models`)."

CACHE_DIR = typer.Option(None, help="Cache for downloads and features (default $GRUVE_CACHE or ~/.cache/gruve).")
SEED = typer.Option(0, help="Seed for splits, initialisation and augmentation.")


def trains(out: str, epochs: str, patience: int = 12, monitored: str = "validation loss"):
    """Give a training command the flags every training shares (`--out`, `--epochs`, `--patience`, `--seed`,
    `--resume`, `--overwrite`, `--threads`, `--ema`, Lightning's `--accelerator`, `--devices`, `--num-nodes`, `--strategy`,
    `--precision`) and hand it the
    TrainOptions they make as its `run` parameter, so each command lists only its own options.

    The parameters are named as TrainOptions' fields, so an OptionError about a field names the flag the
    user typed. `out` and `epochs` say what --out and an unset --epochs mean for this command."""
    shared = {
        "out": (Path, typer.Option(Path(out), "--out", help="Run folder: checkpoints, metrics.csv, curves.png, "
                                                            "model.safetensors.")),
        "max_epochs": (Optional[int], typer.Option(None, "--epochs", help=f"Most epochs to train (default {epochs}).")),
        "patience": (int, typer.Option(patience, help=f"Stop after this many epochs without a better {monitored} "
                                                      "(0: never).")),
        "seed": (int, SEED),
        "resume": (bool, typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint.")),
        "overwrite": (bool, typer.Option(False, "--overwrite", help="Replace the run already in --out (without "
                                                                    "this or --resume, an existing run is refused).")),
        "accelerator": (str, typer.Option("auto", help="Lightning accelerator: auto, cpu, gpu, mps.")),
        "devices": (str, typer.Option("auto", help="Lightning devices: auto, a count, or a list.")),
        "threads": (Optional[int], typer.Option(None, "--threads", help="Torch threads per process (default: the "
                                                                        "cores not busy, or OMP_NUM_THREADS).")),
        "num_nodes": (int, typer.Option(1, "--num-nodes", help="Machines to train on, each with --devices devices "
                                                               "(launch with torchrun or SLURM; see the README).")),
        "strategy": (str, typer.Option("auto", help="Lightning strategy, e.g. ddp.")),
        "precision": (Optional[str], typer.Option(None, help="Lightning precision, e.g. 16-mixed or bf16-mixed.")),
        "ema": (float, typer.Option(0.0, help="Validate and keep an exponential moving average of the weights with "
                                              "this decay per step, e.g. 0.99 (0: off).")),
    }

    def decorate(command):
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "run"]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
                 for name, (annotation, default) in shared.items()]

        @functools.wraps(command)
        def with_run(**values):
            from gruve.training import TrainOptions

            run = TrainOptions(**{name: values.pop(name) for name in shared}, progress=sys.stderr.isatty())
            return command(**values, run=run)

        with_run.__signature__ = inspect.Signature(own + added)
        with_run.__annotations__ = {p.name: p.annotation for p in own + added}
        return with_run

    return decorate


def print_summary(summary: dict) -> None:
    """A training result as a table of metrics, then where the model went."""
    table = Table("metric", "value")
    for key, value in summary.items():
        if key != "model":
            table.add_row(key, str(value) if not isinstance(value, float) or key.endswith("seconds") else f"{value:.4f}")
    out.print(table)
    out.print(f"saved {summary['model']}", soft_wrap=True)
