"""Piano-roll models: a recurrent network over binary frames of 88 notes, with a sigmoid or NADE output.

`gru` is the set-up of Chung et al. (2014): independent sigmoid outputs per note. `gru-nade` conditions a
NADE over the notes of the next frame on the GRU state, as RNN-NADE does (Boulanger-Lewandowski et al.
2012), and is trained by exact likelihood. `lstm`, `lstm-nade`, `rnn` and `rnn-nade` are there to compare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gruve.compose.rolls import LOWEST, NOTES
from gruve.errors import GruveError
from gruve.nn.heads import HEADS
from gruve.nn.pooling import frame_mask
from gruve.nn.recurrent import CELLS, RecurrentStack

MODELS = [f"{cell}{suffix}" for cell in CELLS for suffix in ("", "-nade")]


@dataclass
class PianoRollConfig:
    model: str = "gru"  # cell, then "-nade" for a NADE output
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.3
    nade_hidden: int = 150
    steps_per_quarter: int = 1  # what one step means, for writing MIDI

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown piano-roll model {self.model!r}; choose one of {', '.join(MODELS)}")

    @property
    def cell(self) -> str:
        return self.model.split("-")[0]

    @property
    def head(self) -> str:
        return "nade" if self.model.endswith("-nade") else "sigmoid"


class PianoRollModel(nn.Module):
    """p(frame_t | frames_<t); the first frame is predicted from a silent start frame."""

    task = "pianoroll"

    def __init__(self, config: PianoRollConfig):
        super().__init__()
        self.config = config
        self.rnn = RecurrentStack(config.cell, NOTES, config.hidden, config.layers, dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        extra = {"hidden_size": config.nade_hidden} if config.head == "nade" else {}
        self.head = HEADS[config.head](config.hidden, NOTES, **extra)

    @classmethod
    def from_meta(cls, meta: dict) -> PianoRollModel:
        return cls(PianoRollConfig(**meta["config"]))

    def contexts(self, rolls: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`rolls (B, T, 88)`; the state that predicts each frame, `(B, T, hidden)`."""
        inputs = F.pad(rolls[:, :-1], (0, 0, 1, 0))  # shift right behind a silent start frame
        return self.dropout(self.rnn(inputs, lengths))

    def real_frames(self, rolls: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The state that predicts each real frame, `(N, hidden)`, and that frame, `(N, 88)`; padding left out."""
        mask = frame_mask(lengths, rolls.shape[1], rolls.shape[0], rolls.device)
        return self.contexts(rolls, lengths)[mask], rolls[mask]

    def log_prob(self, rolls: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The log-likelihood of each frame, `(B, T)`, zero past each piece's length."""
        mask = frame_mask(lengths, rolls.shape[1], rolls.shape[0], rolls.device)
        out = torch.zeros(mask.shape, device=rolls.device)
        out[mask] = self.head.log_prob(*self.real_frames(rolls, lengths))
        return out

    def step(self, frame: torch.Tensor, state=None):
        """Feed one frame `(B, 88)`; returns the context for the next frame and the new state."""
        return self.rnn.step(frame, state)

    def onnx_graphs(self) -> list:
        """What `gruve export` writes: one sampling step (see `_SampleStep`), the NADE or sigmoid output inside."""
        from gruve.export import Graph

        names = ["hidden", "cell"] if self.config.cell == "lstm" else ["hidden"]
        state = [torch.zeros(self.config.layers, 2, self.config.hidden) for _ in names]
        frame, noise, temperature = torch.randint(0, 2, (2, NOTES)).float(), torch.rand(2, NOTES), torch.ones(1)
        axes = {"frame": {0: "batch"}, "noise": {0: "batch"}, "next_frame": {0: "batch"},
                **{n: {1: "batch"} for n in names}, **{f"{n}_out": {1: "batch"} for n in names}}
        usage = ("Start from a silent frame and zero states; each call samples the next frame, drawing unit d as "
                 "noise[d] < p(unit d); feed next_frame and the *_out states back.")
        check = (torch.zeros(1, NOTES), *(torch.randn(self.config.layers, 1, self.config.hidden) for _ in names),
                 torch.rand(1, NOTES), torch.full((1,), 0.7))
        return [Graph("", _SampleStep(self), (frame, *state, noise, temperature),
                      ["frame", *names, "noise", "temperature"], ["next_frame", *(f"{n}_out" for n in names)], axes,
                      {"config": asdict(self.config),
                       "notes": f"{NOTES} keys from MIDI note {LOWEST}", "usage": usage}, check=[check])]

    @torch.no_grad()
    def sample(self, steps: int, n: int = 1, temperature: float = 1.0, seed: int | None = None,
               primer: torch.Tensor | None = None) -> torch.Tensor:
        """`n` pieces of `steps` frames, `(n, steps, 88)`, continuing `primer (P, 88)` when given."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        frame, state = torch.zeros(n, NOTES), None
        frames = []
        if primer is not None:
            for t in range(primer.shape[0]):
                _, state = self.step(frame, state)
                frame = primer[t].float().expand(n, NOTES)
                frames.append(frame)
        while len(frames) < steps:
            context, state = self.step(frame, state)
            frame = self.head.sample(context, temperature, generator)
            frames.append(frame)
        return torch.stack(frames[:steps], dim=1)


class _SampleStep(nn.Module):
    """One generation step for export: the last frame and the state in, the next sampled frame and the
    state out; `noise (batch, 88)` is uniform in [0, 1) and `temperature` a one-element tensor."""

    def __init__(self, model: PianoRollModel):
        super().__init__()
        self.model = model
        self.lstm = model.config.cell == "lstm"

    def forward(self, frame: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        *state, noise, temperature = rest
        context, state = self.model.step(frame, tuple(state) if self.lstm else state[0])
        state = list(state) if self.lstm else [state]
        return (self.model.head.sample(context, temperature, noise=noise), *state)


def score(model: PianoRollModel, pieces: list[torch.Tensor], batch_size: int = 32) -> dict:
    """NLL per time step (summed over the notes, averaged over all frames pooled) and frame accuracy
    (Bay et al. 2009: TP / (TP + FP + FN), counted over all frames pooled)."""
    model.eval()
    nll, frames, tp, fp, fn = 0.0, 0, 0.0, 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(pieces), batch_size):
            contexts, truth = model.real_frames(*pad(pieces[start : start + batch_size]))
            nll -= model.head.log_prob(contexts, truth).sum().item()
            frames += len(truth)
            guess = model.head.mode(contexts)  # the most likely frame given the true frames before it
            tp += (guess * truth).sum().item()
            fp += (guess * (1 - truth)).sum().item()
            fn += ((1 - guess) * truth).sum().item()
    return {"nll": nll / frames, "accuracy": tp / max(tp + fp + fn, 1.0), "frames": frames}


def pad(pieces: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(p) for p in pieces])
    return nn.utils.rnn.pad_sequence([p.float() for p in pieces], batch_first=True), lengths


def evaluate(model: PianoRollModel, sets) -> dict[str, dict]:
    """`score` on every non-empty split of a `rolls.RollSets`."""
    return {split: score(model, [torch.from_numpy(p) for p in pieces])
            for split, pieces in sets.splits.items() if pieces}


def write_samples(model: PianoRollModel, out: Path, n: int = 4, steps: int = 64, temperature: float = 1.0,
                  seed: int = 0, primer: np.ndarray | None = None, qpm: float = 100.0,
                  say: Callable[[str], None] = print) -> list[Path]:
    """Sample `n` pieces and write each as MIDI and WAV (where FluidSynth is there), plus one PNG of them all."""
    from gruve.compose.render import write_music
    from gruve.compose.rolls import roll_to_score

    if n < 1 or steps < 1:
        raise GruveError("--n and --steps must be at least 1.")
    if temperature <= 0:
        raise GruveError(f"--temperature must be above 0 (got {temperature}).")
    if primer is not None and len(primer) >= steps:
        raise GruveError(f"the primer is {len(primer)} steps long; ask for more --steps than that.")
    pieces = model.sample(steps, n, temperature, seed, None if primer is None else torch.from_numpy(primer))
    scores = [roll_to_score(roll, model.config.steps_per_quarter, qpm) for roll in pieces.to(torch.uint8).numpy()]
    titles = [f"sample {i} (temperature {temperature}, seed {seed})" for i in range(1, n + 1)]
    return write_music(scores, out, titles, say, 0 if primer is None else len(primer), model.config.steps_per_quarter)
