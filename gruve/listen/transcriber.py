"""The speech recogniser: waveform in, a CTC distribution over characters (or words) for every frame out,
features and normalisation inside; its text, and its vocabulary.

The network is a classifier's (log-mel, per-bin normalisation, the causal conv front end of a `crnn`, a GRU
stack) with a linear layer on every recurrent frame instead of pooling: the shape of deepspeech.pytorch with
GRUs. Plain torch (no Lightning), so loading a model and transcribing starts fast.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from gruve import audio
from gruve.errors import check
from gruve.features import FeatureConfig
from gruve.listen.model import AudioEncoder, StreamingEncoder, stream_frames

UNITS = ("characters", "words")  # what a vocabulary's tokens are
TRANSCRIBERS = ("crnn", "gru", "bigru")  # of listen's ARCHITECTURES: the GRU ones
# Seconds of silence after a recording's end before it is decoded: a CTC model emits a word as it finishes
# hearing it, a frame or more after the word ends, so a clip cut right after its last word lost that word
# (each of examples/digits' single digits came out empty).
FLUSH = 0.3
BLANK = 0  # the CTC blank's index; token i of the vocabulary is output i + 1


def normalise(text: str) -> str:
    """Text as a transcription model learns and is scored on it: lower case, words separated by one space."""
    return " ".join(text.lower().split())


@dataclass
class TranscriberConfig:
    """Everything that defines a recogniser's network: its vocabulary, features, architecture and sizes.
    Stored in every bundle, so a model file rebuilds the network it was trained as."""

    tokens: list[str]  # the vocabulary, in the order of the outputs after the blank
    unit: str = "characters"  # "characters" (a space is a token) or "words"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    architecture: str = "crnn"
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.2
    conv_channels: tuple[int, ...] = (16, 32, 64)
    conv_time_pool: tuple[int, ...] = (2, 2, 1)

    def __post_init__(self):
        if isinstance(self.features, dict):
            self.features = FeatureConfig(**self.features)
        self.conv_channels, self.conv_time_pool = tuple(self.conv_channels), tuple(self.conv_time_pool)
        check(self.architecture in TRANSCRIBERS, "architecture", f"{{architecture}} {self.architecture}: a "
                                                                 f"transcription model is one of {', '.join(TRANSCRIBERS)}.")
        check(self.unit in UNITS, "unit", f"{{unit}} {self.unit} is not one of {', '.join(UNITS)}.")
        check(len(set(self.tokens)) == len(self.tokens) and all(self.tokens), "tokens",
              "{tokens} must be distinct and not empty.")

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values, as a bundle stores it."""
        return asdict(self)


@dataclass
class Transcript:
    """What a model hears in one file: its text, and each word with its start and end in seconds."""

    path: str
    text: str
    words: list[tuple[float, float, str]]

    def to_dict(self) -> dict:
        """JSON-ready: the path, the text, and the words as objects with `start`, `end` and `word`."""
        return {"path": self.path, "text": self.text,
                "words": [{"start": start, "end": end, "word": word} for start, end, word in self.words]}


class Transcriber(AudioEncoder):
    """Log-mel, per-bin normalisation, optional causal conv front end, recurrent stack, a linear CTC output."""

    task = "transcribe"
    config_class = TranscriberConfig  # what a bundle's "config" is read as (see `gruve.bundle.load`)

    def __init__(self, config: TranscriberConfig):
        super().__init__(config)
        self.head = nn.Linear(self.recurrent.output_size, len(config.tokens) + 1)
        self.index = {token: i + 1 for i, token in enumerate(config.tokens)}

    @staticmethod
    def describe(meta: dict) -> tuple[str, str]:
        """What a bundle's model is and its headline test score, for `gruve models`."""
        config, metrics = meta["config"], meta.get("metrics", {})
        tokens = config["tokens"]
        what = (f"speech to text, {len(tokens)} {config.get('unit', 'characters')}: "
                f"{' '.join(repr(t) for t in tokens[:6])}{'…' if len(tokens) > 6 else ''}")
        return what, f"WER {metrics['test_wer']:.2%}" if "test_wer" in metrics else "-"

    @property
    def seconds_per_frame(self) -> float:
        """The time between two output frames."""
        return self.config.features.hop_length * self.stride / self.config.features.sr

    def encode(self, text: str) -> list[int] | None:
        """The output indices of normalised `text`, or None where it has a token outside the vocabulary."""
        tokens = list(text) if self.config.unit == "characters" else text.split()
        ids = [self.index.get(token) for token in tokens]
        return None if None in ids else ids

    def text(self, ids: list[int]) -> str:
        """The text of output indices `ids` (blanks left out), as `encode` reads it."""
        tokens = [self.config.tokens[i - 1] for i in ids if i != BLANK]
        return "".join(tokens) if self.config.unit == "characters" else " ".join(tokens)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Per-frame log-probabilities `(batch, frames, tokens + 1)` of waveforms `y` `(batch, samples)`."""
        return torch.log_softmax(self.logits(self.features(y))[0], dim=-1)

    def logits(self, features: torch.Tensor, lengths: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """CTC logits `(batch, frames, tokens + 1)` of log-mel `features` `(batch, n_mels, frames)` with each
        one's length in log-mel frames, and the output frames each has."""
        h, lengths = self.recurrent_frames(features, lengths)
        return self.head(self.dropout(h)), lengths

    def decode(self, log_probs: torch.Tensor, path: str = "", beam: int = 1) -> Transcript:
        """CTC decoding of one recording's `log_probs` `(frames, tokens + 1)`: greedy (the best token of each
        frame, repeats merged and blanks dropped), or with `beam` above 1 a prefix beam search keeping that
        many prefixes. A word starts at the first frame of its first token and ends after the last frame of
        its last token (for a beam, the frame each token first appeared in)."""
        spans = greedy_spans(log_probs) if beam <= 1 else beam_spans(log_probs, beam)
        words, current = [], []  # current: the spans of the word being read (characters)
        for span in spans + [(None, 0, 0)]:
            token = None if span[0] is None else self.config.tokens[span[0] - 1]
            if self.config.unit == "words" and token is not None:
                words.append((span[1], span[2], token))
            elif token is None or token == " ":
                if current:
                    words.append((current[0][1], current[-1][2], "".join(self.config.tokens[s[0] - 1] for s in current)))
                current = []
            else:
                current.append(span)
        seconds = self.seconds_per_frame
        return Transcript(path, " ".join(word for _, _, word in words),
                          [(round(a * seconds, 3), round(b * seconds, 3), word) for a, b, word in words])

    def recording_log_probs(self, features: torch.Tensor) -> torch.Tensor:
        """Per-frame log-probabilities `(frames, tokens + 1)` of one recording's log-mel `features`
        `(n_mels, frames)`, with FLUSH seconds of silence after its end (the frames of digital silence)."""
        config = self.config.features
        silence = round(FLUSH * config.sr / config.hop_length)
        x = torch.nn.functional.pad(features, (0, silence), value=config.floor_db)
        return torch.log_softmax(self.logits(x[None])[0][0], dim=-1)

    @torch.inference_mode()
    def transcribe(self, path: str | Path, beam: int = 1) -> Transcript:
        """The text of one audio file, with each word's start and end (see `decode` for `beam`)."""
        self.eval()
        y = audio.load(path, self.config.features.sr, self.min_samples)
        return self.decode(self.recording_log_probs(self.features(torch.from_numpy(y)[None])[0]), str(path), beam)

    def onnx_graphs(self) -> list:
        """What `gruve export` writes: the recogniser, waveform in and per-frame CTC log-probabilities out."""
        from gruve.export import Graph

        sr = self.config.features.sr
        meta = {"tokens": self.config.tokens, "unit": self.config.unit, "blank": BLANK,
                "features": self.config.features.to_dict(), "architecture": self.config.architecture,
                "seconds_per_frame": self.seconds_per_frame}
        graphs = [Graph("", self, (torch.randn(2, sr),), ["waveform"], ["log_probs"],
                        {"waveform": {0: "batch", 1: "samples"}, "log_probs": {0: "batch", 1: "frames"}}, meta,
                        check=[(torch.randn(3, int(2.3 * sr)),)])]
        if self.recurrent.bidirectional:
            return graphs
        usage = ("Feed samples in multiples of chunk_samples; each chunk gives CTC log-probabilities for one frame "
                 "per chunk (blank first, then the tokens). Start every state at zeros, and tail at n_fft/2 zeros "
                 "followed by the first n_fft/2 - hop_length samples; states *_out feed the next call.")
        return [*graphs, StreamingTranscriber(self).onnx_graph("log_probs", {**meta, "usage": usage})]


def greedy_spans(log_probs: torch.Tensor) -> list[tuple[int, int, int]]:
    """The tokens of greedy CTC decoding, each as (token, first frame, frame after its last)."""
    best = log_probs.argmax(-1).tolist()
    spans = []
    for t, token in enumerate(best):
        if token != BLANK and t and best[t - 1] == token:
            spans[-1] = (token, spans[-1][1], t + 1)
        elif token != BLANK:
            spans.append((token, t, t + 1))
    return spans


def beam_spans(log_probs: torch.Tensor, width: int) -> list[tuple[int, int, int]]:
    """The tokens of the best prefix of a CTC prefix beam search keeping `width` prefixes, each as (token,
    frame it first appeared in, the frame after). Each prefix carries the log-probability of the paths that
    end in a blank and of those that end in its last token, so a repeated token counts only after a blank."""
    none = -math.inf
    beams = {(): (0.0, none)}  # prefix: (log p ending in blank, log p ending in its last token)
    first = {(): ()}  # prefix: the frame each of its tokens first appeared in
    for t, row in enumerate(log_probs.tolist()):
        grown: dict[tuple, list[float]] = {}
        for prefix, (blank, last) in beams.items():
            total = _add(blank, last)
            entry = grown.setdefault(prefix, [none, none])
            entry[0] = _add(entry[0], total + row[BLANK])
            for token in range(1, len(row)):
                longer = prefix + (token,)
                if prefix and prefix[-1] == token:  # the same token again: only after a blank is it a new one
                    entry[1] = _add(entry[1], last + row[token])
                    extended = blank + row[token]
                else:
                    extended = total + row[token]
                target = grown.setdefault(longer, [none, none])
                target[1] = _add(target[1], extended)
                first.setdefault(longer, first[prefix] + (t,))
        beams = dict(sorted(((p, tuple(v)) for p, v in grown.items()), key=lambda kv: -_add(*kv[1]))[:width])
    best = max(beams, key=lambda p: _add(*beams[p]))
    return [(token, t, t + 1) for token, t in zip(best, first[best])]


def _add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)), exact at -inf."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


class StreamingTranscriber(StreamingEncoder):
    """`forward(samples, *state)`: `samples (batch, k * chunk)` are the next audio samples; returns each new
    frame's CTC log-probabilities `(batch, k, tokens + 1)` followed by the new state (as
    `gruve.listen.model.StreamingClassifier`, without pooling): frame `t` gets what the whole recording's
    forward pass gives it, since a crnn or gru only looks back."""

    streamable = "crnn and gru"

    def initial_state(self, batch: int = 1) -> list[torch.Tensor]:
        """The state before the first frame, for `batch` streams (its audio tail is zeros: see the class)."""
        return self.encoder_state(batch)

    def state_names(self) -> list[str]:
        """The name of each state tensor, in order: the ONNX graph's input names."""
        return self.encoder_state_names()

    def forward(self, samples: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The next chunks of samples and the state in; each new frame's log-probabilities and the new state out."""
        h, tail, conv, hidden = stream_frames(self.model, self.frontend, samples, state[0], list(state[1:-1]),
                                              state[-1])
        return torch.log_softmax(self.model.head(h), dim=-1), tail, *conv, hidden
