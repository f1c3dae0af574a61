"""Why a classifier gave a file its label: the log-mel input it saw, each frame's evidence, its recurrent gates
and an occlusion map, as arrays (`explain`) and as one picture (`gruve.plots.explanation`).

Plain torch (no Lightning), so `gruve listen explain` starts fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gruve import audio, bundle, files
from gruve.listen.model import AudioClassifier, Prediction, _frame_db
from gruve.nn.gates import GATES, gate_activity

TOP = 3  # classes whose evidence a clip of one window shows
DECISIVE = 0.8  # the deciding frames hold this share of the evidence for the label over the runner-up
OCCLUSION_STEPS, OCCLUSION_BANDS = 16, 8  # occlusion patches across a window's time and across its mel bands


@dataclass
class Explanation:
    """What `explain` found in one file. Times are in seconds from the file's start; a recording longer than
    the model's window is read in the windows `predict` reads it in, and each frame's numbers come from the
    window whose centre is nearest (as `predict`'s segments tile a recording), so the arrays cover it once."""

    path: str
    prediction: Prediction  # what `predict` says of the file: its label, timeline and segments
    labels: list[str]  # the model's classes, the columns of `frame_logits`
    duration: float  # seconds of audio
    spectrogram: np.ndarray  # (n_mels, frames) the log-mel input in dB, from the model's own feature module
    mel_times: np.ndarray  # (frames,) the centre of each log-mel frame
    frequencies: np.ndarray  # (n_mels,) the frequency in Hz at which each mel filter peaks
    occlusion: np.ndarray  # (n_mels, frames) how far masking the patch of each bin lowers p(its window's label)
    frame_times: np.ndarray  # (steps,) the centre of each recurrent frame (for a crnn, its conv front end's frames)
    frame_seconds: float  # how much audio a recurrent frame stands for
    frame_labels: np.ndarray  # (steps,) the index of the label of each frame's window
    frame_logits: np.ndarray  # (steps, classes) the head applied to each frame's recurrent output
    weights: np.ndarray  # (steps,) each frame's pooling weight: the softmax of the attention scores, or 1/frames
    decisive: np.ndarray  # (steps,) the fewest frames holding DECISIVE of the evidence for their window's label
    classes: list[int]  # the classes the picture shows
    architecture: str  # the model's: gru, bigru, crnn, lstm or rnn
    pooling: str  # attention or mean
    cell: str  # GRU, LSTM or RNN_TANH / RNN_RELU (torch's names)
    bidirectional: bool  # the gate's units are the forward direction's, then the backward one's
    layer: int  # the recurrent layer whose gate is shown: the last
    gate: np.ndarray | None  # (steps, units) that layer's gate (see GATES; both directions of a bidirectional one)
    written: list[Path] = field(default_factory=list)  # explain.png and explain.json, where `explain` wrote them

    @property
    def label(self) -> str:
        """The label `predict` gives the file."""
        return self.prediction.label

    @property
    def probability(self) -> float:
        """That label's probability (for a long recording, the mean over its windows)."""
        return self.prediction.probability

    @property
    def verdict(self) -> str:
        """What the model says, in words: the label and its probability, or a long recording's segments."""
        p = self.prediction
        if p.segments and not p.whole:
            return f"{p.answer} ({len(p.segments)} segments)"
        return f"{self.label} (probability {self.probability:.3f})"

    @property
    def evidence(self) -> np.ndarray:
        """`(steps, classes)`: each frame's share of its window's logits (pooling weight times the frame's
        logits), so that the frames of a window add up to the logits the model gives it."""
        return self.weights[:, None] * self.frame_logits

    @property
    def gate_name(self) -> str | None:
        """What the gate is, in words; None for a plain RNN, which has no gate."""
        return GATES.get(self.cell)

    def decisive_spans(self) -> list[tuple[float, float]]:
        """The deciding frames as (start, end) seconds, adjacent frames merged."""
        spans = []
        for centre in self.frame_times[self.decisive]:
            start = max(0.0, centre - self.frame_seconds / 2)
            end = min(self.duration, centre + self.frame_seconds / 2)
            if spans and start <= spans[-1][1] + 1e-6:
                spans[-1][1] = end
            else:
                spans.append([start, end])
        return [(round(a, 3), round(b, 3)) for a, b in spans]

    def summary(self) -> list[str]:
        """What the command line prints: the answer, where the deciding frames are, and the files written."""
        spans = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in self.decisive_spans())
        lines = [f"{self.path}: {self.verdict}",
                 f"deciding frames: {spans} ({self.decisive.sum()} of {len(self.decisive)} frames hold "
                 f"{DECISIVE:.0%} of the evidence for the label over the runner-up)"]
        if self.written:
            lines.append(f"wrote {' and '.join(map(str, self.written))}")
        return lines

    def to_dict(self) -> dict:
        """JSON-ready: every array as (nested) lists, labels by name, and the prediction as `predict` gives it."""
        arrays = {name: getattr(self, name).tolist() for name in
                  ("spectrogram", "mel_times", "frequencies", "occlusion", "frame_times", "frame_logits",
                   "weights", "evidence", "decisive")}
        return {"path": self.path, "label": self.label, "probability": self.probability,
                "prediction": self.prediction.to_dict(), "labels": self.labels, "duration": self.duration,
                "frame_seconds": self.frame_seconds, "frame_labels": [self.labels[i] for i in self.frame_labels],
                "classes": [self.labels[i] for i in self.classes], "decisive_spans": self.decisive_spans(),
                "architecture": self.architecture, "pooling": self.pooling, "cell": self.cell,
                "bidirectional": self.bidirectional, "layer": self.layer, "gate_name": self.gate_name,
                "gate": None if self.gate is None else self.gate.tolist(), **arrays}


def explain(model: str | os.PathLike | AudioClassifier, path: str | os.PathLike,
            out: str | os.PathLike | None = None) -> Explanation:
    """Explain `model`'s (a name, a bundle or a loaded classifier) label for the audio file `path`; with `out`,
    also write `explain.png` and `explain.json` there.

    The evidence is what pooling computes: the model's logits are the pooling-weighted sum of the head applied
    to each frame, so each frame's term is its share. The deciding frames are the fewest whose shares of the
    label's lead over the runner-up hold DECISIVE of the frames' positive shares. The gate is the last recurrent
    layer's, recomputed from its weights over its real inputs (see `gate_activity`). The occlusion map masks
    each of OCCLUSION_STEPS x OCCLUSION_BANDS patches of a window's log-mel input in turn (setting it to the
    training mean, zero once normalised) and records how far the probability of the window's label falls.

    A recording longer than the window is shown as `predict` reads it: every window is explained alone, from a
    fresh state, and each frame takes its nearest window's numbers (see `Explanation`). The whole recording is
    held in memory and every window costs OCCLUSION_STEPS x OCCLUSION_BANDS classifications, so this is for
    seconds or minutes of audio, not hours."""
    classifier = model if isinstance(model, AudioClassifier) else bundle.load(model, task="listen")
    classifier.eval()
    y = audio.load(path, classifier.config.features.sr, classifier.min_samples)
    if out is not None:
        files.writable_folder(out)  # before the work, not after it
    threads = torch.get_num_threads()
    # One thread: beside a training that keeps both cores of a laptop busy, torch's thread per core made
    # `explain` of a spoken digit 1.8 s slower (1.9 s against 0.1 s) and of a 5 s ESC-10 clip 5 s slower; on
    # idle cores two threads are at best 1.6x faster (docs/speed.md, "Threads on a busy machine").
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            explanation = _explain(classifier, y, str(path))
    finally:
        torch.set_num_threads(threads)
    if out is not None:
        from gruve.plots import explanation as picture  # matplotlib: only when a picture is drawn

        out = Path(out)
        explanation.written = [picture(explanation, out / "explain.png"),
                               files.write_json(out / "explain.json", explanation.to_dict())]
    return explanation


def _explain(classifier: AudioClassifier, y: np.ndarray, path: str) -> Explanation:
    """The explanation of `classifier`'s label for the samples `y` read from `path` (see `explain`)."""
    features_config = classifier.config.features
    stride = classifier.stride
    features = classifier.features(torch.from_numpy(y)[None])[0]
    starts, probabilities = classifier.window_probabilities(features)
    total = features.shape[1]
    prediction = classifier._prediction(path, starts, probabilities, total, TOP, _frame_db(features))
    size = min(classifier.config.window_frames, total)
    windows = torch.stack([features[:, s:s + size] for s in starts])
    winners = probabilities.argsort(dim=1, descending=True)
    steps, frame_logits, weights, gate = _frames(classifier, windows)
    occlusion = np.stack([_occlusion(classifier, w, int(label), stride).numpy()
                          for w, label in zip(windows, winners[:, 0])])
    mel_owner = _owners(starts, size, np.arange(total))
    centres = np.asarray(starts)[:, None] + np.arange(steps) * stride + (stride - 1) / 2  # in log-mel frames
    owned = _owners(starts, size, centres) == np.arange(len(starts))[:, None]  # (windows, steps)
    evidence = (weights[..., None] * frame_logits).numpy()
    decisive = np.stack([_decisive(e, int(w[0]), int(w[min(1, len(w) - 1)])) for e, w in zip(evidence, winners)])
    seconds = features_config.hop_length / features_config.sr
    timeline = [label for _, _, label, _ in prediction.timeline]
    shown = list(dict.fromkeys(timeline)) if timeline else [label for label, _ in prediction.top]
    rnn = classifier.recurrent.rnn
    return Explanation(
        path=path, prediction=prediction, labels=classifier.labels, duration=len(y) / features_config.sr,
        spectrogram=features.numpy(), mel_times=np.arange(total) * seconds,
        frequencies=_band_centres(classifier), frame_seconds=stride * seconds,
        occlusion=occlusion[mel_owner, :, np.arange(total) - np.asarray(starts)[mel_owner]].T,
        frame_times=centres[owned] * seconds, frame_labels=winners[:, 0, None].expand(-1, steps).numpy()[owned],
        frame_logits=frame_logits.numpy()[owned], weights=weights.numpy()[owned], decisive=decisive[owned],
        classes=[classifier.labels.index(label) for label in shown], architecture=classifier.config.architecture,
        pooling=classifier.config.pooling, cell=rnn.mode, bidirectional=rnn.bidirectional, layer=rnn.num_layers,
        gate=None if gate is None else gate.numpy()[owned])


def _frames(classifier: AudioClassifier, windows: torch.Tensor):
    """For log-mel `windows (batch, n_mels, frames)`, what `classify` computes on the way to the logits: the
    number of recurrent frames, the head applied to each `(batch, steps, classes)`, the pooling weights
    `(batch, steps)`, and the last layer's gate (see `gate_activity`)."""
    x = (windows - classifier.feature_mean[:, None]) / classifier.feature_std[:, None]
    x = classifier.frontend(x) if classifier.frontend is not None else x.transpose(1, 2)
    h = classifier.recurrent(x)
    weights = torch.softmax(classifier.pool.scores(h), dim=1)  # a mean is a softmax over equal scores
    return h.shape[1], classifier.head(h), weights, gate_activity(classifier.recurrent.rnn, x)[1]


def _occlusion(classifier: AudioClassifier, window: torch.Tensor, label: int, stride: int) -> torch.Tensor:
    """`(n_mels, frames)`: how far the probability of class `label` falls when the patch holding each bin of
    `window (n_mels, frames)` is set to the training mean; every patch is classified in one batch. A patch is
    a whole number of recurrent frames (`stride` log-mel frames) long: a shorter one would cost as much."""
    n_mels, frames = window.shape
    along, across = stride * -(-frames // (OCCLUSION_STEPS * stride)), -(-n_mels // OCCLUSION_BANDS)
    masks = torch.zeros(-(-frames // along) * -(-n_mels // across), n_mels, frames, dtype=torch.bool)
    for i, (t, f) in enumerate((t, f) for t in range(0, frames, along) for f in range(0, n_mels, across)):
        masks[i, f:f + across, t:t + along] = True
    variants = torch.where(masks, classifier.feature_mean[:, None], window)
    probabilities = torch.softmax(classifier.classify(torch.cat([window[None], variants])), dim=-1)[:, label]
    return ((probabilities[0] - probabilities[1:])[:, None, None] * masks).sum(0)  # the patches tile the window


def _owners(starts: list[int], size: int, positions: np.ndarray) -> np.ndarray:
    """The window each position (in log-mel frames) is shown from: the one whose centre is nearest, as
    `predict`'s segments tile a recording."""
    bounds = [(a + b + size) / 2 for a, b in zip(starts, starts[1:])]
    return np.searchsorted(bounds, positions, side="right")


def _decisive(evidence: np.ndarray, label: int, runner_up: int) -> np.ndarray:
    """`(steps,)` True on the fewest frames whose shares of `label`'s lead over `runner_up` (from `evidence
    (steps, classes)`) add up to DECISIVE of all the frames' positive shares."""
    lead = evidence[:, label] - evidence[:, runner_up]
    order = np.argsort(-lead)
    held = np.cumsum(np.clip(lead[order], 0, None))
    decisive = np.zeros(len(lead), dtype=bool)
    decisive[order[: np.searchsorted(held, DECISIVE * held[-1]) + 1]] = True
    return decisive


def _band_centres(classifier: AudioClassifier) -> np.ndarray:
    """The frequency in Hz at which each of the model's mel filters peaks: the y axis of the pictures."""
    config = classifier.config.features
    return np.fft.rfftfreq(config.n_fft, 1 / config.sr)[classifier.features.filters.argmax(1).numpy()]
