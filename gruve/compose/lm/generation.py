"""`generate`: new pieces from a music language model, written as MIDI, WAV and a piano-roll picture,
and `GenerateOptions`, how to sample them (checked once, here, whoever asks: the CLI or Python)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from gruve.compose.lm import tokens
from gruve.compose.lm.config import TRANSPOSITION, UNSHIFTED
from gruve.errors import OptionError, check, check_at_least, check_positive

if TYPE_CHECKING:
    from gruve.compose.lm.model import MusicLM

MAX_TOKENS = 4096  # the most tokens of a piece asked for in bars: a runaway piece stops there


def parse_conditions(text: str) -> dict[str, str]:
    """`"style=funk,beat_type=fill"` as `{"style": "funk", "beat_type": "fill"}`; a label given twice is refused."""
    chosen: dict[str, str] = {}
    for pair in text.split(",") if text.strip() else []:
        label, _, value = pair.strip().partition("=")
        label, value = label.strip(), value.strip()
        check(bool(label and value), "conditions",
              f"{{conditions}} takes LABEL=VALUE pairs separated by commas, e.g. style=funk (got {pair.strip()!r}).")
        check(label not in chosen, "conditions", f"{{conditions}} gives {label} twice ({chosen.get(label)} and {value}).")
        chosen[label] = value
    return chosen


@dataclass(kw_only=True)
class GenerateOptions:
    """How to sample: how many pieces, how long, how random, and what to start from and condition on."""

    n: int = 4  # pieces, sampled at once
    bars: int | None = 16  # each piece has this many bars (None: up to `tokens`)
    tokens: int = MAX_TOKENS  # the most tokens per piece
    temperature: float = 1.0  # below 1: safer, more repetitive; above 1: wilder
    top_k: int = 0  # only among the k likeliest tokens (0: no limit)
    top_p: float = 0.95  # nucleus sampling: only among the likeliest tokens holding this probability (1: all)
    seed: int = 0  # the same seed gives the same music
    primer: np.ndarray | str | os.PathLike | None = None  # token ids, or a score file whose opening the pieces continue
    primer_bars: int = 2  # of a primer file, how many bars to keep
    conditions: dict[str, str] | str = field(default_factory=dict)  # label: value, or "label=value,..."; a label
    # left out is drawn per piece (the transposition: 0, the corpus's own keys)
    may_end: bool = False  # let a piece end (EOS) before its `bars`, as the corpus's pieces do

    def __post_init__(self):
        check_at_least(self.n, "n", 1)
        check_at_least(self.bars, "bars", 1, optional=True)
        check_at_least(self.tokens, "tokens", 1)
        check_positive(self.temperature, "temperature")
        check_at_least(self.top_k, "top_k", 0)
        check(0 < self.top_p <= 1, "top_p", f"{{top_p}} must be above 0 and at most 1 (got {self.top_p}).")
        check_at_least(self.primer_bars, "primer_bars", 1)
        check_at_least(self.seed, "seed", 0)
        if isinstance(self.conditions, str):
            self.conditions = parse_conditions(self.conditions)
        if isinstance(self.primer, (str, os.PathLike)):
            self.primer = Path(self.primer)
            check(self.primer.is_file(), "primer", f"{{primer}} {self.primer} does not exist.")

    def check_model(self, model: MusicLM) -> None:
        """Refuse labels and values `model` was not trained on."""
        known = model.config.conditions
        for label, value in self.conditions.items():
            if label not in known:
                raise OptionError("conditions", f"this model is conditioned on {', '.join(known) or 'nothing'}, "
                                  f"not {label!r}" + (f"; give {','.join(f'{k}=VALUE' for k in known)}." if known else "."))
            if value not in known[label]:
                raise OptionError("conditions", f"this model knows no {label} {value!r}; it knows: {', '.join(known[label])}.")

    def primer_ids(self, tokenizer) -> np.ndarray:
        """The token ids the pieces continue (none without a primer): a primer file's first `primer_bars` bars."""
        if self.primer is None:
            return np.zeros(0, dtype=np.int64)
        if isinstance(self.primer, Path):
            return tokens.primer_ids(tokenizer, self.primer, self.primer_bars)
        return np.asarray(self.primer, dtype=np.int64)

    def draw_conditions(self, model: MusicLM, rng: np.random.Generator) -> list[dict[str, str]]:
        """Each piece's value of every label the model is conditioned on: the one asked for, or one drawn
        at random for a label left out (for the transposition: 0, the corpus's own keys)."""
        return [{label: self.conditions.get(label) or (UNSHIFTED if label == TRANSPOSITION else str(rng.choice(values)))
                 for label, values in model.config.conditions.items()} for _ in range(self.n)]


@dataclass
class Generated:
    """What `generate` made: the token ids of each piece, the labels each was conditioned on, the share of
    each piece's tokens that decode, and the files written."""

    pieces: list[np.ndarray]
    conditions: list[dict[str, str]]
    validity: list[float]
    written: list[Path]

    @property
    def tokens(self) -> int:
        """Tokens generated, over all pieces."""
        return sum(len(p) for p in self.pieces)


def generate(model: MusicLM | str | os.PathLike, options: GenerateOptions | None = None,
             out: str | os.PathLike = "runs/generated", say: Callable[[str], None] = print) -> Generated:
    """Sample `options.n` pieces from `model` (a MusicLM, or a bundle to load: a shipped name, a file or a
    run folder) and write each into `out` as `sample-N.mid` and `.wav` (through FluidSynth, where it is
    installed), with one piano-roll picture of them all, `samples.png`."""
    from gruve import bundle

    options = options or GenerateOptions()
    lm = model if not isinstance(model, (str, os.PathLike)) else bundle.load(model, task="compose")
    pieces, conditions = lm.generate(options)
    titles = [f"sample {i} (temperature {options.temperature}, top-p {options.top_p}, seed {options.seed}"
              + "".join(f", {label}={value}" for label, value in values.items()) + ")"
              for i, values in enumerate(conditions, 1)]
    written, validity = write_pieces(lm, pieces, Path(out), titles, say=say)
    return Generated(pieces, conditions, validity, written)


def write_pieces(model: MusicLM, pieces: list[np.ndarray], out: Path, titles: list[str],
                 say: Callable[[str], None] = print) -> tuple[list[Path], list[float]]:
    """Decode each piece and write it as MIDI, WAV and one piano-roll PNG; returns the files and each
    piece's validity (the share of its tokens that decode)."""
    from gruve.compose.render import write_music

    scores, validity = [], []
    for number, ids in enumerate(pieces, 1):
        score, valid = tokens.decode(model.tokenizer, ids, model.config.drums)
        scores.append(score)
        validity.append(valid)
        if valid < 1.0:
            say(f"sample-{number}: {(1 - valid):.1%} of its tokens broke the grammar and were left out")
    return write_music(scores, out, titles, say), validity
