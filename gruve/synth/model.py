"""The sample-level synthesiser: one GRU that reads the previous audio sample and writes the next
(WaveRNN-style), conditioned on a sound's label, on where in the sound it is, and optionally on a log-mel
spectrogram (then it is a small vocoder for the listen capability's features).

The GRU's input is a sum of embeddings: the previous sample's levels, the label, the position (a few
fixed curves of the time since the onset, so the envelope of a one-shot is something the model can
follow) and the mel frame. Being a sum, each becomes a table of input gates for generation, and the
fused kernel (`gruve.nn.fused.sample_scan`) only adds rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gruve.errors import GruveError
from gruve.features import FeatureConfig, LogMel
from gruve.nn import RecurrentStack
from gruve.nn.heads import LEVELS, SampleHead

POSITION_SCALES = (0.01, 0.05, 0.2, 0.8)  # seconds: the decays of the position curves
TAIL_SECONDS = 0.1


@dataclass
class SynthConfig:
    labels: list[str]
    output: str = "mulaw"  # or "dual" (coarse and fine bytes of 16-bit samples)
    sample_rate: int = 16000
    seconds: float = 1.0  # training sounds are cut or padded with silence to this length
    hidden: int = 256
    head: int = 256  # units of each output's hidden layer
    embed: int = 64  # size of the GRU input (the sum of the embeddings)
    mel: dict | None = None  # a FeatureConfig's fields when conditioned on log-mel frames

    @property
    def samples(self) -> int:
        return round(self.seconds * self.sample_rate)


def temperature_curve(steps: int, sample_rate: int, temperature: float, tail: float | None = None) -> np.ndarray:
    """The temperature of each sample, `(steps,)`: `temperature` at the onset, easing to `tail` (if given) with
    a time constant of TAIL_SECONDS. In float64, as the kernel divided by one temperature before it took one
    per sample: the same seed still gives the same sounds."""
    if tail is None:
        return np.full(steps, temperature, np.float64)
    seconds = np.arange(steps) / sample_rate
    return tail + (temperature - tail) * np.exp(-seconds / TAIL_SECONDS)


def position_features(t: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Curves of the time since the onset `t` (samples): linear, square root and decays, `(..., 6)`."""
    seconds = t.float()[..., None] / sample_rate
    decays = [torch.exp(-seconds / scale) for scale in POSITION_SCALES]
    return torch.cat([seconds, seconds.sqrt(), *decays], dim=-1)


class WaveGRU(nn.Module):
    task = "synth"

    def __init__(self, config: SynthConfig):
        super().__init__()
        self.config = config
        size = config.embed
        self.head = SampleHead(config.hidden, config.head, config.output)
        self.previous = nn.ModuleList(nn.Embedding(LEVELS, size) for _ in range(self.head.parts))
        self.label = nn.Embedding(len(config.labels), size)
        self.position = nn.Linear(len(POSITION_SCALES) + 2, size)
        if config.mel is not None:
            self.features = LogMel(FeatureConfig(**config.mel))
            self.mel = nn.Conv1d(self.features.config.n_mels, size, 3, padding=1)  # sees the frames either side
        self.rnn = RecurrentStack("gru", size, config.hidden)

    @classmethod
    def from_meta(cls, meta: dict) -> WaveGRU:
        return cls(SynthConfig(**meta["config"]))

    @property
    def hop(self) -> int:
        return self.features.config.hop_length if self.config.mel else 1

    def label_index(self, label: str) -> int:
        if label not in self.config.labels:
            raise GruveError(f"this model knows no label {label!r}; it knows: {', '.join(self.config.labels)}.")
        return self.config.labels.index(label)

    def mel_frames(self, y: torch.Tensor) -> torch.Tensor:
        """The conditioning of each mel frame of waveforms `y (batch, samples)`, `(batch, frames, embed)`."""
        return self.mel(self.features(y) / 20).transpose(1, 2)  # dB / 20: of order one

    def forward(self, previous: torch.Tensor, label: torch.Tensor, start: torch.Tensor,
                frames: torch.Tensor | None = None) -> torch.Tensor:
        """GRU outputs `(batch, time, hidden)` for windows whose previous samples' levels are `previous
        (batch, time, parts)`, of sounds `label (batch,)`, starting `start (batch,)` samples after the onset;
        `frames` is `mel_frames` of the whole sounds for a mel-conditioned model."""
        t = start[:, None] + torch.arange(previous.shape[1], device=previous.device)
        return self.rnn.rnn(self.inputs(previous, label, t, frames))[0]

    def inputs(self, previous: torch.Tensor, label: torch.Tensor, t: torch.Tensor,
               frames: torch.Tensor | None) -> torch.Tensor:
        """The GRU's input `(batch, time, embed)` at samples `t (batch, time)` after the onset."""
        x = self.label(label)[:, None] + self.position(position_features(t, self.config.sample_rate))
        for part, embedding in enumerate(self.previous):
            x = x + embedding(previous[..., part])
        if frames is not None:
            index = (t // self.hop).clamp(max=frames.shape[1] - 1)
            x = x + torch.gather(frames, 1, index[..., None].expand(-1, -1, frames.shape[2]))
        return x

    def prepare(self, labels: list[str], seconds: float | None, like: torch.Tensor | None) -> tuple:
        """Checked label indices, sample count and mel conditioning for a generation request."""
        if self.config.mel is not None and like is None:
            raise GruveError("this model is a vocoder (conditioned on log-mel frames): give --like FILE to resynthesise.")
        if self.config.mel is None and like is not None:
            raise GruveError("this model is not conditioned on log-mel frames, so it takes no --like.")
        label = torch.tensor([self.label_index(name) for name in labels])
        steps = round((seconds if seconds is not None else like.shape[-1] / self.config.sample_rate)
                      * self.config.sample_rate)
        if steps < 1:
            raise GruveError("--seconds must be more than 0.")
        frames = None if like is None else self.mel_frames(like.expand(len(labels), -1))
        return label, steps, frames

    @torch.inference_mode()
    def generate(self, labels: list[str], seconds: float | None = 1.0, temperature: float = 1.0, seed: int = 0,
                 like: torch.Tensor | None = None, tail_temperature: float | None = None) -> np.ndarray:
        """One sound per entry of `labels`, all at once through the fused kernel, `(n, samples)` float32.
        A mel-conditioned model resynthesises `like (samples,)` (of `seconds`, default its length)."""
        for name, value in (("--temperature", temperature), ("--tail-temperature", tail_temperature)):
            if value is not None and value <= 0:
                raise GruveError(f"{name} must be above 0 (got {value}).")
        self.eval()
        label, steps, frames = self.prepare(labels, seconds, like)
        uniform = np.random.default_rng(seed).random((steps, len(labels), self.head.parts), dtype=np.float32)
        curve = temperature_curve(steps, self.config.sample_rate, temperature, tail_temperature)
        return self.head.decode(torch.from_numpy(self.levels(label, steps, frames, curve, uniform))).T.numpy()

    def levels(self, label: torch.Tensor, steps: int, frames: torch.Tensor | None, temperature: np.ndarray,
               uniform: np.ndarray) -> np.ndarray:
        """The fused kernel's levels `(time, batch, parts)` for `uniform (time, batch, parts)` draws, each
        sample at its `temperature (time,)`."""
        from gruve.nn.fused import fused_gru, sample_scan

        ((w_ih, b_ih, w_hh, b_hh),) = fused_gru(self.rnn.rnn).layers

        def gates(x: torch.Tensor) -> np.ndarray:  # embeddings to input gates
            return np.ascontiguousarray(x.detach().float().numpy() @ w_ih.T, dtype=np.float32)

        batch = len(label)
        position = self.position(position_features(torch.arange(steps), self.config.sample_rate))
        frame_gates = gates(frames) if frames is not None else np.zeros((batch, 1, 3 * self.config.hidden), np.float32)
        hop = self.hop if frames is not None else steps + 1
        head = self.head
        stack = lambda layers, name: np.ascontiguousarray(  # noqa: E731
            torch.stack([getattr(layer, name) for layer in layers]).detach().numpy())
        coarse_now = (head.coarse_now.weight.detach().numpy() if head.coarse_now is not None
                      else np.zeros((LEVELS, self.config.head), np.float32))
        levels = np.empty(uniform.shape, np.int64)
        first = np.repeat(head.silence.numpy()[None], batch, axis=0)
        sample_scan(np.stack([gates(e.weight) for e in self.previous]), gates(self.label(label)) + b_ih,
                    gates(position), frame_gates, hop, w_hh, b_hh, stack(head.hidden, "weight"),
                    stack(head.hidden, "bias"), np.ascontiguousarray(coarse_now), stack(head.out, "weight"),
                    stack(head.out, "bias"), temperature, uniform, first,
                    np.zeros((batch, self.config.hidden), np.float32), levels)
        return levels

    @torch.inference_mode()
    def levels_torch(self, label: torch.Tensor, steps: int, frames: torch.Tensor | None, temperature: np.ndarray,
                     uniform: np.ndarray) -> np.ndarray:
        """What `levels` computes, as a plain torch loop of one `nn.GRU` call and the head per sample: the
        reference the kernel is tested against, and the naive baseline the benchmark times."""
        head, batch = self.head, len(label)
        previous = head.silence.expand(batch, head.parts)[:, None]
        state, out = None, torch.empty(uniform.shape, dtype=torch.long)
        draws = torch.from_numpy(uniform)
        for t in range(steps):
            h, state = self.rnn.rnn(self.inputs(previous, label, torch.full((batch, 1), t), frames), state)
            coarse = None
            for part in range(head.parts):
                probabilities = torch.softmax(head.logits(h[:, 0], part, coarse) / float(temperature[t]), dim=-1)
                cdf = probabilities.cumsum(-1)
                chosen = torch.searchsorted(cdf, (draws[t, :, part] * cdf[:, -1])[:, None], right=True)[:, 0]
                out[t, :, part] = coarse = chosen.clamp(max=LEVELS - 1)
            previous = out[t][:, None]
        return out.numpy()
