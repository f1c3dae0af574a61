"""Piano-roll models: a recurrent network over binary frames of 88 notes, with a sigmoid or NADE output.

`gru` is the set-up of Chung et al. (2014): independent sigmoid outputs per note. `gru-nade` conditions a
NADE over the notes of the next frame on the GRU state, as RNN-NADE does (Boulanger-Lewandowski et al.
2012), and is trained by exact likelihood. `lstm`, `lstm-nade`, `rnn` and `rnn-nade` are there to compare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gruve.compose.pianoroll.rolls import LOWEST, NOTES
from gruve.errors import check
from gruve.nn.heads import HEADS
from gruve.nn.pooling import frame_mask
from gruve.nn.recurrent import CELLS, RecurrentStack

ARCHITECTURES = [f"{cell}{suffix}" for cell in CELLS for suffix in ("", "-nade")]


@dataclass
class PianoRollConfig:
    """What a PianoRollModel is (everything a bundle needs to rebuild it)."""

    architecture: str = "gru"  # cell, then "-nade" for a NADE output
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.3
    nade_hidden: int = 150
    steps_per_quarter: int = 1  # what one step means, for writing MIDI

    def __post_init__(self):
        check(self.architecture in ARCHITECTURES, "architecture", f"unknown piano-roll {{architecture}} "
              f"{self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}.")

    @property
    def cell(self) -> str:
        """The recurrent cell: gru, lstm or rnn."""
        return self.architecture.split("-")[0]

    @property
    def head(self) -> str:
        """The output: nade, or sigmoid (independent notes)."""
        return "nade" if self.architecture.endswith("-nade") else "sigmoid"


class PianoRollModel(nn.Module):
    """p(frame_t | frames_<t); the first frame is predicted from a silent start frame."""

    task = "pianoroll"
    config_class = PianoRollConfig  # what a bundle's "config" is read as (see `gruve.bundle.load`)

    def __init__(self, config: PianoRollConfig):
        super().__init__()
        self.config = config
        self.rnn = RecurrentStack(config.cell, NOTES, config.hidden_size, config.num_layers, dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        extra = {"hidden_size": config.nade_hidden} if config.head == "nade" else {}
        self.head = HEADS[config.head](config.hidden_size, NOTES, **extra)

    @staticmethod
    def describe(meta: dict) -> tuple[str, str]:
        """What a bundle of this model is and its headline test score, for `gruve models`."""
        metrics = meta.get("metrics", {})
        return meta["config"]["architecture"], f"NLL {metrics['test_nll']:.2f}" if "test_nll" in metrics else "-"

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
        state = [torch.zeros(self.config.num_layers, 2, self.config.hidden_size) for _ in names]
        frame, noise, temperature = torch.randint(0, 2, (2, NOTES)).float(), torch.rand(2, NOTES), torch.ones(1)
        axes = {"frame": {0: "batch"}, "noise": {0: "batch"}, "next_frame": {0: "batch"},
                **{n: {1: "batch"} for n in names}, **{f"{n}_out": {1: "batch"} for n in names}}
        usage = ("Start from a silent frame and zero states; each call samples the next frame, drawing unit d as "
                 "noise[d] < p(unit d); feed next_frame and the *_out states back.")
        check = (torch.zeros(1, NOTES), *(torch.randn(self.config.num_layers, 1, self.config.hidden_size) for _ in names),
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
