"""`sample`: new pieces from a piano-roll model, written as MIDI, WAV and a piano-roll picture, and
`SampleOptions`, how to sample them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from gruve.compose.pianoroll.model import PianoRollModel
from gruve.errors import check, check_at_least, check_positive


@dataclass(kw_only=True)
class SampleOptions:
    """How to sample: how many pieces, how long, how random, what to start from and how fast to play."""

    n: int = 4  # pieces
    steps: int = 64  # time steps per piece, the primer included
    temperature: float = 1.0  # below 1: safer, more repetitive; above 1: wilder
    seed: int = 0  # the same seed gives the same music
    primer: np.ndarray | str | os.PathLike | None = None  # a roll (steps, 88), or a score file whose opening the pieces continue
    primer_steps: int = 8  # of a primer file, how many steps to keep
    qpm: float = 100.0  # tempo of the written MIDI, in quarter notes per minute

    def __post_init__(self):
        check_at_least(self.n, "n", 1)
        check_at_least(self.steps, "steps", 1)
        check_positive(self.temperature, "temperature")
        check_at_least(self.primer_steps, "primer_steps", 1)
        check_positive(self.qpm, "qpm")
        if isinstance(self.primer, (str, os.PathLike)):
            self.primer = Path(self.primer)
            check(self.primer.is_file(), "primer", f"{{primer}} {self.primer} does not exist.")

    def opening(self, steps_per_quarter: int) -> np.ndarray | None:
        """The primer as a roll `(steps, 88)` on the model's grid (None without one); refused if it has no
        notes or leaves no step to sample."""
        if self.primer is None:
            return None
        if isinstance(self.primer, Path):
            from gruve.compose.pianoroll.rolls import score_to_roll
            from gruve.compose.scores import read_score

            roll = score_to_roll(read_score(self.primer), steps_per_quarter)[:self.primer_steps]
            check(bool(roll.any()), "primer", f"{{primer}} {self.primer} has no notes on the piano's keys in its "
                  f"first {self.primer_steps} steps.")
        else:
            roll = np.asarray(self.primer)
        check(len(roll) < self.steps, "steps", f"the primer is {len(roll)} steps long; ask for more {{steps}} than that.")
        return roll


def sample(model: PianoRollModel | str | os.PathLike, options: SampleOptions | None = None,
           out: str | os.PathLike = "runs/samples", say: Callable[[str], None] = print) -> list[Path]:
    """Sample `options.n` pieces from `model` (a PianoRollModel, or a bundle to load) and write each into
    `out` as `sample-N.mid` and `.wav` (where FluidSynth is there), plus one PNG of them all, `samples.png`;
    returns the files written."""
    from gruve import bundle
    from gruve.compose.pianoroll.rolls import roll_to_score
    from gruve.compose.render import write_music

    options = options or SampleOptions()
    if not isinstance(model, PianoRollModel):
        model = bundle.load(model, task="pianoroll")
    primer = options.opening(model.config.steps_per_quarter)
    pieces = model.sample(options.steps, options.n, options.temperature, options.seed,
                          None if primer is None else torch.from_numpy(primer))
    steps_per_quarter = model.config.steps_per_quarter
    scores = [roll_to_score(roll, steps_per_quarter, options.qpm) for roll in pieces.to(torch.uint8).numpy()]
    titles = [f"sample {i} (temperature {options.temperature}, seed {options.seed})" for i in range(1, options.n + 1)]
    return write_music(scores, Path(out), titles, say, 0 if primer is None else len(primer), steps_per_quarter)
