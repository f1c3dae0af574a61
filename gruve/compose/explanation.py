"""Where a compose model was surprised by a piece: the surprisal (NLL in nats) of each token of a language model,
or of each step of a piano-roll model, over the piece's piano roll, and the gate of the model's last
recurrent layer as it read the piece; as arrays (`explain`) and as one picture (`gruve.plots.surprisal`).

Plain torch (no Lightning), so `gruve compose explain` starts without waiting for it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gruve import bundle, files
from gruve.bundle import BundleError
from gruve.compose.corpus import Piece
from gruve.compose.lm import tokens
from gruve.compose.lm.config import TRANSPOSITION
from gruve.compose.lm.model import MusicLM
from gruve.compose.pianoroll import rolls
from gruve.compose.pianoroll.model import PianoRollModel
from gruve.compose.scores import read_score
from gruve.data.items import SPLITS, DataError
from gruve.nn.gates import GATES, gate_activity

SURPRISES = 3  # the most surprising tokens (steps) the summary names


@dataclass
class Explanation:
    """What `explain` found in one piece. Item t is token t + 1 of the piece (after BOS) for a language model,
    step t for a piano-roll model: its surprisal, given everything before it, and the gate of the last
    recurrent layer as it read item t - 1 on the way to predicting item t (both are what the model did
    between the two items)."""

    path: str  # the piece as given: a score file, or SET@SPLIT/INDEX
    model: str  # the model as given
    kind: str  # "language model" or the piano-roll architecture (gru, gru-nade, ...)
    roll: np.ndarray  # (rows, 88) the keys sounding at each row of the piece's piano roll
    roll_step: float  # how much time a row of `roll` stands for, in `time_unit`
    time_unit: str  # "quarter notes", or "steps" for a piano-roll model (its set's own grid)
    drums: bool  # the roll's rows are drum notes (General MIDI names), not keys
    items: list[str]  # what each item is: a token's name, or "step N"
    times: np.ndarray  # (items,) where each item stands in the piece, in `time_unit`
    surprisal: np.ndarray  # (items,) -log p(item | the items before it), in nats
    cell: str  # GRU, LSTM or RNN_TANH (torch's names)
    layer: int  # the recurrent layer whose gate is shown: the last
    gate: np.ndarray | None  # (items, units) that layer's gate (see gruve.nn.GATES); None for a plain RNN
    unconditioned: list[str] = field(default_factory=list)  # labels the model was trained on that a piece lacks
    written: list[Path] = field(default_factory=list)  # explain.png and explain.json, where `explain` wrote them

    @property
    def nll(self) -> float:
        """Mean surprisal: the NLL per token (per step) that scoring gives this piece alone."""
        return float(self.surprisal.mean())

    @property
    def unit(self) -> str:
        """What one item is, in words: token or step."""
        return "token" if self.kind == "language model" else "step"

    @property
    def gate_name(self) -> str | None:
        """What the gate is, in words; None for a plain RNN."""
        return GATES.get(self.cell)

    def surprises(self, n: int = SURPRISES) -> list[tuple[str, float, float]]:
        """The `n` most surprising items as (item, time, surprisal), the most surprising first."""
        return [(self.items[i], float(self.times[i]), float(self.surprisal[i]))
                for i in np.argsort(-self.surprisal, kind="stable")[:n]]

    def summary(self) -> list[str]:
        """What the command line prints: the mean surprisal, the greatest surprises and the files written."""
        lm = self.kind == "language model"
        perplexity = f" (perplexity {math.exp(min(self.nll, 50)):.2f})" if lm else ""
        lines = [f"{self.path}: {len(self.items):,} {self.unit}s, mean surprisal {self.nll:.3f} nats per {self.unit}"
                 f"{perplexity} under {self.model} ({self.kind})",
                 "most surprising: " + "; ".join(f"{item}{f' at quarter note {time:g}' if lm else ''} ({value:.2f} "
                                                 "nats)" for item, time, value in self.surprises())]
        if self.unconditioned:
            lines.append(f"read without the labels it was trained on ({', '.join(self.unconditioned)}): the piece "
                         "has none")
        if self.written:
            lines.append(f"wrote {' and '.join(map(str, self.written))}")
        return lines

    def to_dict(self) -> dict:
        """JSON-ready: every array as (nested) lists."""
        return {"path": self.path, "model": self.model, "kind": self.kind, "unit": self.unit,
                "nll": self.nll, "time_unit": self.time_unit, "roll_step": self.roll_step, "drums": self.drums,
                "lowest_note": rolls.LOWEST, "roll": self.roll.tolist(), "items": self.items,
                "times": self.times.tolist(), "surprisal": self.surprisal.tolist(),
                "surprises": [{"item": i, "time": t, "surprisal": s} for i, t, s in self.surprises()],
                "cell": self.cell, "layer": self.layer, "gate_name": self.gate_name,
                "gate": None if self.gate is None else self.gate.tolist(), "unconditioned": self.unconditioned}


def explain(model: str | os.PathLike | MusicLM | PianoRollModel, piece: str | os.PathLike,
            out: str | os.PathLike | None = None, cache_dir: Path | None = None) -> Explanation:
    """Explain how `model` (a name, a bundle or a loaded language or piano-roll model) reads `piece`: a score
    file (MIDI, MusicXML, ABC, ...) or a piece of a piano-roll set as SET@SPLIT/INDEX (`jsb@test/0`,
    `nottingham:DIR@valid/3`, the set as `gruve compose pianoroll evaluate` takes it). With `out`, also
    write `explain.png` and `explain.json` there.

    A language model reads the piece's tokens from BOS, as written (transposition 0, if it was trained with
    one) and without the corpus labels it was trained on (a score file carries none: the condition embedding
    adds nothing for them); a piano-roll model reads its roll on its own grid, from the silent start frame
    it was trained with. The gate is recomputed from the last recurrent
    layer's weights over its real inputs (`gruve.nn.gate_activity`)."""
    if not isinstance(model, (MusicLM, PianoRollModel)):
        name, model = str(model), bundle.load(model)
        if not isinstance(model, (MusicLM, PianoRollModel)):
            raise BundleError(f"{name} is a {model.meta['task']} model, and this command needs a compose model "
                              "(a language model or a piano-roll model).")
    else:
        name = type(model).__name__
    model.eval()
    score, roll = _read(str(piece), model, cache_dir)
    if out is not None:
        files.writable_folder(out)  # before the work, not after it
    with torch.inference_mode():
        if isinstance(model, MusicLM):
            explanation = _language_model(model, score, str(piece), name)
        else:
            explanation = _piano_roll(model, roll, str(piece), name)
    if out is not None:
        from gruve.plots import surprisal as picture  # matplotlib: only when a picture is drawn

        out = Path(out)
        explanation.written = [picture(explanation, out / "explain.png"),
                               files.write_json(out / "explain.json", explanation.to_dict())]
    return explanation


def _read(piece: str, model, cache_dir: Path | None):
    """The piece as a score, and its roll on a piano-roll model's grid (for a language model, on quarter notes,
    its drum notes for a drum model: only to see that it has notes)."""
    lm = isinstance(model, MusicLM)
    spq = 1 if lm else model.config.steps_per_quarter
    drums = lm and model.config.drums
    if "@" in piece and not Path(piece).exists():
        spec, _, where = piece.rpartition("@")
        split, _, index = where.partition("/")
        if split not in SPLITS or not index.isdigit():
            raise DataError(f"{piece}: a piece of a set is SET@SPLIT/INDEX, with SPLIT one of {', '.join(SPLITS)} "
                            f"(e.g. jsb@test/0).")
        sets = rolls.load(spec, spq, say=lambda _: None, cache_dir=cache_dir)
        pieces = sets.splits[split]
        if int(index) >= len(pieces):
            raise DataError(f"{piece}: {spec} has {len(pieces)} {split} pieces, numbered from 0.")
        score = rolls.roll_to_score(pieces[int(index)], sets.steps_per_quarter)
        return score, rolls.score_to_roll(score, spq) if lm else pieces[int(index)]
    score = read_score(Path(piece))
    roll = rolls.score_to_roll(score, spq, drums)
    if roll.sum() < 1:
        raise DataError(f"{piece} holds no {'drum ' if drums else ''}notes in the piano's range to explain.")
    return score, roll


def _language_model(model: MusicLM, score, path: str, name: str) -> Explanation:
    """Surprisal of every token after BOS, and the last layer's gate as it read the token before; the roll is
    on the tokenizer's own grid, so that every note stands on the row of its tokens."""
    from gruve.compose.lm.scoring import encode, lookback_rows, token_nll

    data = encode([Piece(path, score, "test")], model.tokenizer, model.config)  # the transposition's row only
    _, times, steps_per_quarter = tokens.timed(model.tokenizer, score)
    roll = rolls.score_to_roll(score, steps_per_quarter, model.config.drums)
    vocabulary = {i: token for token, i in model.tokenizer.vocab.items()}
    rows = torch.from_numpy(data.rows(0))[None]
    lookback = lookback_rows(rows)
    condition = torch.tensor(data.conditions, dtype=torch.long).reshape(1, -1)
    surprisal, _, _ = token_nll(model, rows[:, 0], torch.tensor([rows.shape[2]]), condition, lookback)
    inputs = model._inputs(rows[:, 0, :-1], condition, None if lookback is None else lookback[:, :-1])
    gate = gate_activity(model.rnn.rnn, inputs)[1]
    times = np.concatenate([times, times[-1:]])  # EOS stands where the last token does
    return Explanation(path=path, model=name, kind="language model", roll=roll, roll_step=1 / steps_per_quarter,
                       time_unit="quarter notes", drums=model.config.drums,
                       items=[vocabulary[int(i)] for i in data.ids[0][1:]], times=times,
                       surprisal=surprisal[0].numpy(), cell="GRU", layer=model.config.num_layers,
                       gate=gate[0].numpy(),
                       unconditioned=[label for label in model.config.conditions if label != TRANSPOSITION])


def _piano_roll(model: PianoRollModel, roll: np.ndarray, path: str, name: str) -> Explanation:
    """Surprisal of every step of the roll, and the last layer's gate as it read the step before."""
    frames = torch.from_numpy(roll).float()[None]
    contexts = model.contexts(frames)
    surprisal = -model.head.log_prob(contexts[0], frames[0])
    gate = gate_activity(model.rnn.rnn, F.pad(frames[:, :-1], (0, 0, 1, 0)))[1]  # behind the silent start frame
    rnn = model.rnn.rnn
    return Explanation(path=path, model=name, kind=model.config.architecture, roll=roll, roll_step=1.0,
                       time_unit="steps", drums=False, items=[f"step {t}" for t in range(len(roll))],
                       times=np.arange(len(roll), dtype=float), surprisal=surprisal.numpy(), cell=rnn.mode,
                       layer=rnn.num_layers, gate=None if gate is None else gate[0].numpy())
