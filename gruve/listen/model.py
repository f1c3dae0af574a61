"""The audio classifier: waveform in, class scores out, features and normalisation inside.

Plain torch (no Lightning), so loading a model and predicting starts fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gruve import audio
from gruve.features import FeatureConfig, LogMel
from gruve.nn import AttentionPool, ConvFrontEnd, MeanPool, RecurrentStack, frame_mask

ARCHITECTURES = {  # name: (recurrent cell, bidirectional, conv front end)
    "gru": ("gru", False, False),
    "bigru": ("gru", True, False),
    "crnn": ("gru", False, True),
    "lstm": ("lstm", False, False),
    "rnn": ("rnn", False, False),
}
POOLINGS = ("mean", "attention")


@dataclass
class ClassifierConfig:
    labels: list[str]
    features: FeatureConfig = field(default_factory=FeatureConfig)
    architecture: str = "crnn"
    hidden_size: int = 128
    num_layers: int = 2
    pooling: str = "attention"
    dropout: float = 0.2
    conv_channels: tuple[int, ...] = (16, 32, 64)
    conv_time_pool: tuple[int, ...] = (2, 2, 1)
    window: float = 1.0  # seconds the model sees at once; longer recordings are read in sliding windows

    def __post_init__(self):
        if isinstance(self.features, dict):
            self.features = FeatureConfig(**self.features)
        self.conv_channels, self.conv_time_pool = tuple(self.conv_channels), tuple(self.conv_time_pool)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown model {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def window_frames(self) -> int:
        return self.features.num_frames(int(round(self.window * self.features.sr)))


@dataclass
class Prediction:
    """What a model says about one file: the clip-level top-k and, for long recordings, a timeline."""

    path: str
    top: list[tuple[str, float]]
    timeline: list[tuple[float, float, str, float]]  # (start s, end s, label, probability)

    @property
    def label(self) -> str:
        return self.top[0][0]

    @property
    def probability(self) -> float:
        return self.top[0][1]


class AudioClassifier(nn.Module):
    """Log-mel, per-bin normalisation, optional causal conv front end, recurrent stack, pooling, linear head."""

    task = "listen"

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        cell, bidirectional, conv = ARCHITECTURES[config.architecture]
        n_mels = config.features.n_mels
        self.features = LogMel(config.features)
        # Per-mel-bin statistics of the training set, set once before training (see `set_normalisation`).
        self.register_buffer("feature_mean", torch.zeros(n_mels))
        self.register_buffer("feature_std", torch.ones(n_mels))
        self.frontend = ConvFrontEnd(n_mels, config.conv_channels, config.conv_time_pool) if conv else None
        input_size = self.frontend.output_size if conv else n_mels
        self.recurrent = RecurrentStack(cell, input_size, config.hidden_size, config.num_layers,
                                        bidirectional, config.dropout)
        size = self.recurrent.output_size
        self.pool = AttentionPool(size) if config.pooling == "attention" else MeanPool()
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(size, len(config.labels))

    @classmethod
    def from_meta(cls, meta: dict) -> "AudioClassifier":
        return cls(ClassifierConfig(**meta["config"]))

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    def set_normalisation(self, features: list[np.ndarray]) -> None:
        """Per-bin mean and standard deviation over every frame of `features` (each `(n_mels, frames)`)."""
        frames = np.concatenate(features, axis=1).astype(np.float64)
        self.feature_mean.copy_(torch.from_numpy(frames.mean(1)))
        self.feature_std.copy_(torch.from_numpy(frames.std(1).clip(min=1e-3)))

    def forward(self, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits for waveforms `y` `(batch, samples)`, optionally with each one's length in samples."""
        frames = None if lengths is None else torch.div(lengths, self.config.features.hop_length,
                                                       rounding_mode="floor") + 1
        return self.classify(self.features(y), frames)

    def classify(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits for log-mel `features` `(batch, n_mels, frames)` with each one's length in frames."""
        x = (features - self.feature_mean[:, None]) / self.feature_std[:, None]
        if self.frontend is not None:
            x = self.frontend(x)
            lengths = None if lengths is None else self.frontend.frames_out(lengths)
        else:
            x = x.transpose(1, 2)
        h = self.recurrent(x, lengths)
        mask = frame_mask(lengths, h.shape[1], h.shape[0], h.device)
        return self.head(self.dropout(self.pool(h, mask)))

    @torch.inference_mode()
    def window_probabilities(self, features: torch.Tensor, hop: float = 0.5) -> tuple[list[int], torch.Tensor]:
        """Softmax of each sliding window over one clip's features `(n_mels, frames)`.

        Windows are `config.window` long and start every `hop` windows; the last one ends at the
        clip's end. Returns the windows' first frames and their probabilities `(windows, classes)`.
        """
        size, total = self.config.window_frames, features.shape[1]
        if total <= size:
            starts = [0]
        else:
            step = max(1, int(size * hop))
            starts = list(range(0, total - size, step)) + [total - size]
        windows = torch.stack([features[:, s:s + size] for s in starts]) if len(starts) > 1 else features[None]
        return starts, torch.softmax(self.classify(windows), dim=-1)

    def predict(self, path: str | Path, top_k: int = 3) -> Prediction:
        """Label one audio file: the clip-level top-k, and a window-by-window timeline when it is long."""
        self.eval()
        y = audio.load(path, self.config.features.sr)
        with torch.inference_mode():
            features = self.features(torch.from_numpy(y)[None])[0]
        starts, probs = self.window_probabilities(features)
        return self._prediction(str(path), starts, probs, features.shape[1], top_k)

    def onnx_graphs(self) -> list:
        """What `gruve export` writes: the classifier (waveform in, probabilities out) and, for models that
        can stream, the streaming step with its state in and out (see `gruve.listen.stream`)."""
        from gruve.export import Graph
        from gruve.listen.stream import StreamingClassifier

        sr = self.config.features.sr
        meta = {"labels": self.labels, "features": self.config.features.to_dict(),
                "architecture": self.config.architecture, "window_seconds": self.config.window}
        graphs = [Graph("", _Probabilities(self), (torch.randn(2, sr),), ["waveform"], ["probabilities"],
                        {"waveform": {0: "batch", 1: "samples"}, "probabilities": {0: "batch"}}, meta,
                        check=[(torch.randn(3, int(2.3 * sr)),)])]
        if self.recurrent.bidirectional:
            return graphs
        stream = StreamingClassifier(self)
        names = stream.state_names()
        state = stream.initial_state(2)
        state[0] = torch.randn_like(state[0])
        batch_axis = {name: {1 if name in ("hidden", "cell") else 0: "batch"} for name in names}
        usage = ("Feed samples in multiples of chunk_samples; each chunk gives one probability vector per "
                 "recurrent frame. Start every state at zeros, pool_max at -1e30, and tail at n_fft/2 zeros "
                 "followed by the first n_fft/2 - hop_length samples; states *_out feed the next call. Restart "
                 "the states (not the tail) every segment_frames frames to classify windows as gruve does.")
        graphs.append(Graph(
            "stream", stream, (torch.randn(2, 3 * stream.chunk), *state), ["samples", *names],
            ["probabilities", *(f"{name}_out" for name in names)],
            {"samples": {0: "batch", 1: "samples"}, "probabilities": {0: "batch", 1: "frames"}, **batch_axis,
             **{f"{name}_out": axes for name, axes in batch_axis.items()}},
            {**meta, "chunk_samples": stream.chunk, "state_names": names,
             "segment_frames": max(1, self.config.window_frames // stream.stride), "usage": usage},
            check=[(torch.randn(1, 7 * stream.chunk), *stream.initial_state(1))]))
        return graphs

    def _prediction(self, path: str, starts: list[int], probs: torch.Tensor, total: int, top_k: int) -> Prediction:
        clip = probs.mean(0)
        values, indices = clip.topk(min(top_k, len(self.labels)))
        top = [(self.labels[i], float(v)) for v, i in zip(values, indices)]
        timeline = []
        if len(starts) > 1:
            seconds = self.config.features.hop_length / self.config.features.sr
            size = self.config.window_frames
            for start, p in zip(starts, probs):
                best = int(p.argmax())
                end = min(start + size, total)
                timeline.append((round(start * seconds, 3), round(end * seconds, 3), self.labels[best], float(p[best])))
        return Prediction(path, top, timeline)


class _Probabilities(nn.Module):
    """The exported classifier: class probabilities rather than logits."""

    def __init__(self, model: AudioClassifier):
        super().__init__()
        self.model = model

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(y), dim=-1)
