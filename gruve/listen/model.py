"""The audio classifier: waveform in, class scores out, features and normalisation inside; and its
streaming form, the same network cut into chunks with its state passed in and out.

Plain torch (no Lightning), so loading a model and predicting starts fast.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from gruve import audio
from gruve.errors import GruveError, check
from gruve.features import BlockLogMel, FeatureConfig, LogMel, to_db
from gruve.nn import AttentionPool, ConvFrontEnd, MeanPool, RecurrentStack, frame_mask, running_pool

ARCHITECTURES = {  # name: (recurrent cell, bidirectional, conv front end)
    "gru": ("gru", False, False),
    "bigru": ("gru", True, False),
    "crnn": ("gru", False, True),
    "lstm": ("lstm", False, False),
    "rnn": ("rnn", False, False),
}
POOLINGS = ("mean", "attention")
HOP = 0.5  # a long clip's windows start every half window
BLOCK_SECONDS = 10.0  # audio `predict` reads at a time
WINDOWS_PER_BATCH = 32  # windows `predict` classifies together
NEGATIVE = -1e30  # where the running maximum of pooling scores starts in a stream: finite, for ONNX inputs
SILENCE = "silence"  # the label of a stretch of a recording with next to nothing to hear
# A window is silence when its sound (frames SOUND_DB above the recording's quietest tenth, or within PEAK_DB of
# its loudest frame, for a recording that is all sound) fills less than SOUND_FRACTION of it, or when its label's
# probability is below MIN_PROBABILITY. Loudness first: a model trained on clips that are mostly sound labels
# near-silence confidently (fsdd-digits calls it "6" at 0.8-0.99), and a window with a sliver of a word likewise.
SOUND_DB, PEAK_DB = 10.0, 30.0
SOUND_FRACTION = 0.2
MIN_PROBABILITY = 0.6
ANSWERS = ("segments", "clip")  # see ClassifierConfig.answer


@dataclass
class ClassifierConfig:
    """Everything that defines a classifier's network: its labels, features, architecture and sizes.
    Stored in every bundle, so a model file rebuilds the network it was trained as."""

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
    # What a recording longer than the window says: "segments", its labels in order (words in a recording), or
    # "clip", one label, the mean over its windows (a piece of music is one genre from end to end)
    answer: str = "segments"

    def __post_init__(self):
        if isinstance(self.features, dict):
            self.features = FeatureConfig(**self.features)
        self.conv_channels, self.conv_time_pool = tuple(self.conv_channels), tuple(self.conv_time_pool)
        check(self.architecture in ARCHITECTURES, "architecture",
              f"{{architecture}} {self.architecture} is not one of {', '.join(ARCHITECTURES)}.")
        check(self.pooling in POOLINGS, "pooling", f"{{pooling}} {self.pooling} is not one of {', '.join(POOLINGS)}.")
        check(self.answer in ANSWERS, "answer", f"{{answer}} {self.answer} is not one of {', '.join(ANSWERS)}.")

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values, as a bundle stores it."""
        return asdict(self)

    @property
    def window_frames(self) -> int:
        """Log-mel frames in one window of `window` seconds."""
        return self.features.num_frames(int(round(self.window * self.features.sr)))


@dataclass
class Prediction:
    """What a model says about one file: the clip-level top-k and, for long recordings, a timeline."""

    path: str
    top: list[tuple[str, float]]  # the mean over windows: for a long recording, `segments` is the answer
    timeline: list[tuple[float, float, str, float]]  # (start s, end s, label, probability), window by window
    # For a long recording, the timeline with adjacent windows of one label merged and quiet ones called SILENCE
    # (probability None); the segments follow each other with no gap or overlap, from 0 to the recording's end.
    segments: list[tuple[float, float, str, float | None]] = field(default_factory=list)
    whole: bool = False  # the model answers a recording with one label even where it has segments (music)

    @property
    def label(self) -> str:
        """The most likely label."""
        return self.top[0][0]

    @property
    def probability(self) -> float:
        """The most likely label's probability."""
        return self.top[0][1]

    @property
    def answer(self) -> str:
        """What the file says: its label, or for a long recording the labels of its segments in order, silence
        left out (SILENCE when there is nothing else), unless the model answers with one label (`whole`)."""
        if not self.segments or self.whole:
            return self.label
        return " ".join(label for _, _, label, _ in self.segments if label != SILENCE) or SILENCE

    def to_dict(self) -> dict:
        """JSON-ready: the path, the top labels, the timeline and segments as lists of named fields, the answer."""
        fields = ("start", "end", "label", "probability")
        return {"path": self.path, "top": [{"label": label, "probability": value} for label, value in self.top],
                "timeline": [dict(zip(fields, row)) for row in self.timeline],
                "segments": [dict(zip(fields, row)) for row in self.segments], "answer": self.answer}


class AudioEncoder(nn.Module):
    """What every listen model reads audio with, a classifier or a transcriber: log-mel, per-bin normalisation,
    an optional causal conv front end and a recurrent stack, the architecture and sizes of `config`. Its
    parameters keep the names they have in every bundle (`features`, `frontend`, `recurrent`...)."""

    def __init__(self, config):
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
        self.dropout = nn.Dropout(config.dropout)

    @property
    def stride(self) -> int:
        """Log-mel frames per recurrent frame (the conv front end's time stride)."""
        return self.frontend.stride if self.frontend is not None else 1

    @property
    def min_samples(self) -> int:
        """The shortest recording the model can read: one step of its recurrent layer (a frame of `hop_length`
        samples, times the conv front end's time stride). A shorter one would be read as padding."""
        return self.config.features.hop_length * self.stride

    def set_normalisation(self, features: list[np.ndarray]) -> None:
        """Per-bin mean and standard deviation over every frame of `features` (each `(n_mels, frames)`)."""
        mean, std = normalisation(features)
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)

    def recurrent_frames(self, features: torch.Tensor, lengths: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The recurrent stack's output `(batch, frames, size)` for log-mel `features` `(batch, n_mels, frames)`
        with each one's length in log-mel frames, and each one's length in recurrent frames."""
        x = (features - self.feature_mean[:, None]) / self.feature_std[:, None]
        if self.frontend is not None:
            x = self.frontend(x)
            lengths = None if lengths is None else self.frontend.frames_out(lengths)
        else:
            x = x.transpose(1, 2)
        return self.recurrent(x, lengths), lengths


class AudioClassifier(AudioEncoder):
    """Log-mel, per-bin normalisation, optional causal conv front end, recurrent stack, pooling, linear head."""

    task = "listen"
    config_class = ClassifierConfig  # what a bundle's "config" is read as (see `gruve.bundle.load`)

    def __init__(self, config: ClassifierConfig):
        super().__init__(config)
        size = self.recurrent.output_size
        self.pool = AttentionPool(size) if config.pooling == "attention" else MeanPool()
        self.head = nn.Linear(size, len(config.labels))

    @staticmethod
    def describe(meta: dict) -> tuple[str, str]:
        """What a bundle's model is and its headline test score, for `gruve models`."""
        labels, metrics = meta["config"]["labels"], meta.get("metrics", {})
        what = f"{len(labels)} labels: {', '.join(labels[:4])}{'…' if len(labels) > 4 else ''}"
        score = f"accuracy {metrics['test_accuracy']:.2%}" if "test_accuracy" in metrics else "-"
        return what, score

    @property
    def labels(self) -> list[str]:
        """The class names, in the order of the model's outputs."""
        return self.config.labels

    def forward(self, y: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits for waveforms `y` `(batch, samples)`, optionally with each one's length in samples."""
        frames = None if lengths is None else torch.div(lengths, self.config.features.hop_length,
                                                       rounding_mode="floor") + 1
        return self.classify(self.features(y), frames)

    def classify(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits for log-mel `features` `(batch, n_mels, frames)` with each one's length in frames."""
        h, lengths = self.recurrent_frames(features, lengths)
        mask = frame_mask(lengths, h.shape[1], h.shape[0], h.device)
        return self.head(self.dropout(self.pool(h, mask)))

    @torch.inference_mode()
    def window_probabilities(self, features: torch.Tensor, hop: float = HOP) -> tuple[list[int], torch.Tensor]:
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

    @torch.inference_mode()
    def predict(self, path: str | Path, top_k: int = 3) -> Prediction:
        """Label one audio file: the clip-level top-k, and a window-by-window timeline when it is long.

        The windows and numbers are those of `window_probabilities` over the whole clip's features, in memory
        that does not grow with the file's length: the audio is read BLOCK_SECONDS at a time, its log-mel
        frames computed as they complete, and each batch of windows classified as soon as it is known to be one
        of the file's, keeping only the frames later windows still need."""
        self.eval()
        config = self.config
        size = config.window_frames
        step = max(1, int(size * HOP))
        batch = size + (WINDOWS_PER_BATCH - 1) * step  # the frames of WINDOWS_PER_BATCH windows
        frames = BlockLogMel(self.features)
        kept, first = torch.zeros(config.features.n_mels, 0), 0  # the frames still needed, and the index of the first
        starts, probabilities = [], []
        samples, sound = 0, False
        loudness = []  # each frame's level in dB, for telling silence (see SOUND_DB)
        for y in audio.blocks(path, config.features.sr, BLOCK_SECONDS):
            samples, sound = samples + len(y), sound or bool(np.any(y))
            new = frames.feed(y)
            loudness.append(_frame_db(new))
            kept = torch.cat([kept, new], dim=1)
            # A window starting every `step` frames is one of the file's if a frame follows it (the last one,
            # which ends at the clip's end, is classified at the end).
            while (start := len(starts) * step) + batch < first + kept.shape[1]:
                window_starts, p = self.window_probabilities(kept[:, start - first:start - first + batch], HOP)
                starts += [start + s for s in window_starts]
                probabilities.append(p)
                # Later windows start from len(starts) * step; the last may start up to a step before that.
                kept, first = kept[:, len(starts) * step - step - first:], len(starts) * step - step
        audio.check_sound(path, samples, sound)
        audio.check_length(path, samples, config.features.sr, self.min_samples)
        new = frames.close()
        loudness.append(_frame_db(new))
        kept = torch.cat([kept, new], dim=1)
        total = first + kept.shape[1]
        if total <= size:  # one window, the whole clip
            window_starts, p = self.window_probabilities(kept, HOP)
            return self._prediction(str(path), window_starts, p, total, top_k)
        rest = len(range(len(starts) * step, total - size, step))  # windows before the last, not yet classified
        if rest:
            begin = len(starts) * step - first
            window_starts, p = self.window_probabilities(kept[:, begin:begin + size + (rest - 1) * step], HOP)
            starts += [first + begin + s for s in window_starts]
            probabilities.append(p)
        starts.append(total - size)  # the last window ends at the clip's end
        probabilities.append(self.window_probabilities(kept[:, kept.shape[1] - size:], HOP)[1])
        return self._prediction(str(path), starts, torch.cat(probabilities), total, top_k, torch.cat(loudness))

    def onnx_graphs(self) -> list:
        """What `gruve export` writes: the classifier (waveform in, probabilities out) and, for models that
        can stream, the streaming step with its state in and out (see `StreamingClassifier`)."""
        from gruve.export import Graph

        sr = self.config.features.sr
        meta = {"labels": self.labels, "features": self.config.features.to_dict(),
                "architecture": self.config.architecture, "window_seconds": self.config.window}
        graphs = [Graph("", _Probabilities(self), (torch.randn(2, sr),), ["waveform"], ["probabilities"],
                        {"waveform": {0: "batch", 1: "samples"}, "probabilities": {0: "batch"}}, meta,
                        check=[(torch.randn(3, int(2.3 * sr)),)])]
        if self.recurrent.bidirectional:
            return graphs
        stream = StreamingClassifier(self)
        usage = ("Feed samples in multiples of chunk_samples; each chunk gives one probability vector per "
                 "recurrent frame. Start every state at zeros, pool_max at -1e30, and tail at n_fft/2 zeros "
                 "followed by the first n_fft/2 - hop_length samples; states *_out feed the next call. Restart "
                 "the states (not the tail) every segment_frames frames to classify windows as gruve does.")
        return [*graphs, stream.onnx_graph("probabilities", {
            **meta, "segment_frames": max(1, self.config.window_frames // stream.stride), "usage": usage})]

    def _prediction(self, path: str, starts: list[int], probs: torch.Tensor, total: int, top_k: int,
                    loudness: torch.Tensor | None = None) -> Prediction:
        """The prediction from the windows starting at frames `starts` with probabilities `probs`, over `total`
        frames whose levels in dB are `loudness` (without it, no segments; see SOUND_DB for silence)."""
        clip = probs.mean(0)
        values, indices = clip.topk(min(top_k, len(self.labels)))
        top = [(self.labels[i], float(v)) for v, i in zip(values, indices)]
        if len(starts) == 1:
            return Prediction(path, top, [])
        seconds = self.config.features.hop_length / self.config.features.sr
        size = self.config.window_frames
        best, best_index = probs.max(1)
        timeline = [(round(start * seconds, 3), round(min(start + size, total) * seconds, 3), self.labels[i], float(p))
                    for start, i, p in zip(starts, best_index.tolist(), best)]
        if loudness is None:
            return Prediction(path, top, timeline)
        loud = loudness >= min(loudness.max() - PEAK_DB, torch.quantile(loudness, 0.1) + SOUND_DB)
        quiet = [float(loud[s:s + size].float().mean()) < SOUND_FRACTION or p < MIN_PROBABILITY
                 for s, p in zip(starts, best.tolist())]
        # Each window stands for the stretch nearer its centre than its neighbours', so the segments tile the file.
        bounds = [0, *((a + b + size) / 2 for a, b in zip(starts, starts[1:])), total]
        segments = []  # [start frame, end frame, label, probabilities of its windows]
        for i, (_, _, label, p) in enumerate(timeline):
            label = SILENCE if quiet[i] else label
            if segments and segments[-1][2] == label:
                segments[-1][1] = bounds[i + 1]
                segments[-1][3].append(p)
            else:
                segments.append([bounds[i], bounds[i + 1], label, [p]])
        return Prediction(path, top, timeline, whole=self.config.answer == "clip", segments=[
            (round(a * seconds, 3), round(b * seconds, 3), label, None if label == SILENCE else float(np.mean(ps)))
            for a, b, label, ps in segments])


class _Probabilities(nn.Module):
    """The exported classifier: class probabilities rather than logits."""

    def __init__(self, model: AudioClassifier):
        super().__init__()
        self.model = model

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Class probabilities `(batch, classes)` for waveforms `y` `(batch, samples)`."""
        return torch.softmax(self.model(y), dim=-1)


class StreamingEncoder(nn.Module):
    """What streaming a listen model takes, a classifier's or a transcriber's: its conv front end with batch
    norm folded in, the samples one recurrent frame takes (`chunk`), the audio tail a frame needs from before
    (`tail`), and the state of the encoder's parts: that tail, each conv block's context, the recurrent state.
    A bidirectional model is refused: it needs the whole recording before it can answer."""

    streamable = "gru, crnn, lstm and rnn"  # the architectures that can stream, for the refusal

    def __init__(self, model: AudioEncoder):
        super().__init__()
        if model.recurrent.bidirectional:
            raise GruveError(f"a {model.config.architecture} model reads each recording backwards as well as "
                             f"forwards, so it needs the whole recording before it can answer and cannot stream; "
                             f"{self.streamable} models can.")
        features = model.config.features
        if features.n_fft < features.hop_length:
            raise GruveError("streaming needs n_fft at least as long as hop_length.")
        self.model = model
        self.frontend = fold_batch_norm(model.frontend) if model.frontend is not None else None
        self.stride = model.stride
        self.chunk = features.hop_length * self.stride  # samples per recurrent frame
        self.tail = features.n_fft - features.hop_length
        self.recurrent_states = 2 if model.recurrent.cell == "lstm" else 1

    def encoder_state(self, batch: int) -> list[torch.Tensor]:
        """The encoder's state before the first frame, for `batch` streams: the audio tail (zeros), each conv
        block's context and the recurrent state (hidden, and an LSTM's cell)."""
        rnn = self.model.recurrent.rnn
        conv = self.model.frontend.initial_context(batch) if self.model.frontend is not None else []
        recurrent = [torch.zeros(rnn.num_layers, batch, rnn.hidden_size) for _ in range(self.recurrent_states)]
        return [torch.zeros(batch, self.tail), *conv, *recurrent]

    def encoder_state_names(self) -> list[str]:
        """The name of each tensor of `encoder_state`, in order."""
        conv = len(self.model.frontend.blocks) if self.model.frontend is not None else 0
        return ["tail", *(f"conv{i}" for i in range(conv)), *["hidden", "cell"][: self.recurrent_states]]

    def onnx_graph(self, output: str, meta: dict):
        """The streaming step as `gruve export` writes it (`out.stream.onnx`): the next samples and every state
        tensor in (batch first, but the recurrent state's batch axis is its second), `output` per frame and
        each state's `*_out` out, with `meta` and the chunk and state names in its metadata. Built from the
        subclass's `initial_state` and `state_names`."""
        from gruve.export import Graph

        names = self.state_names()
        state = self.initial_state(2)
        state[0] = torch.randn_like(state[0])
        batch_axis = {name: {1 if name in ("hidden", "cell") else 0: "batch"} for name in names}
        return Graph(
            "stream", self, (torch.randn(2, 3 * self.chunk), *state), ["samples", *names],
            [output, *(f"{name}_out" for name in names)],
            {"samples": {0: "batch", 1: "samples"}, output: {0: "batch", 1: "frames"}, **batch_axis,
             **{f"{name}_out": axes for name, axes in batch_axis.items()}},
            {**meta, "chunk_samples": self.chunk, "state_names": names},
            check=[(torch.randn(1, 7 * self.chunk), *self.initial_state(1))])


class StreamingClassifier(StreamingEncoder):
    """`forward(samples, *state)`: `samples (batch, k * chunk)` are the next audio samples; returns each new
    recurrent frame's class probabilities `(batch, k, classes)` followed by the new state.

    The state starts as `initial_state()`, except its first tensor, which holds the last `n_fft - hop_length`
    samples: the stream starts with `n_fft // 2` zeros there (the centre padding of `LogMel`) followed by the
    first samples of the audio. Frame `t` after a start gets what `AudioClassifier.classify` gives for the
    log-mel frames up to `t` (a test holds them within 1e-5).
    """

    def initial_state(self, batch: int = 1) -> list[torch.Tensor]:
        """The state before the first frame, for `batch` streams (its audio tail is zeros: see the class):
        the encoder's, then the running attention pooling's."""
        size = self.model.recurrent.output_size
        pool = [torch.full((batch, 1), NEGATIVE), torch.zeros(batch, 1), torch.zeros(batch, size)]
        return [*self.encoder_state(batch), *pool]

    def state_names(self) -> list[str]:
        """The name of each state tensor, in order: the ONNX graph's input names."""
        return [*self.encoder_state_names(), "pool_max", "pool_sum", "pool_weighted"]

    def forward(self, samples: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The next chunks of samples and the state in; each new frame's probabilities and the new state out."""
        model = self.model
        split = len(state) - 3 - self.recurrent_states
        tail, conv, recurrent, pool = state[0], list(state[1:split]), state[split:-3], state[-3:]
        h, tail, conv, recurrent = stream_frames(model, self.frontend, samples, tail, conv,
                                                 recurrent if self.recurrent_states == 2 else recurrent[0])
        pooled, pool = running_pool(model.pool.scores(h), h, tuple(pool))
        recurrent = list(recurrent) if self.recurrent_states == 2 else [recurrent]
        return torch.softmax(model.head(pooled), dim=-1), tail, *conv, *recurrent, *pool


def stream_frames(model: nn.Module, frontend: ConvFrontEnd | None, samples: torch.Tensor, tail: torch.Tensor,
                  conv: list[torch.Tensor], recurrent):
    """The recurrent frames `(batch, k, hidden)` of the next `samples` of a stream through `model`'s features,
    normalisation, conv `frontend` (its batch norm folded) and recurrent stack, from the last audio `tail`,
    each conv block's past and the recurrent state; returns them with the new tail, conv past and state.
    What a classifier's and a transcriber's streaming steps share."""
    audio = torch.cat([tail, samples], dim=1)
    db = to_db(model.features.uncentred_power(audio), model.config.features.amin)
    x = (db - model.feature_mean[:, None]) / model.feature_std[:, None]
    if frontend is not None:
        x, conv = frontend.scan(x, conv)
    else:
        x = x.transpose(1, 2)
    h, recurrent = model.recurrent.scan(x, recurrent)
    return h, audio[:, audio.shape[1] - tail.shape[1]:], conv, recurrent


def normalisation(features: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and standard deviation (at least 1e-3) over every frame of `features` (each `(n_mels, frames)`)."""
    frames = np.concatenate(features, axis=1).astype(np.float64)
    return torch.from_numpy(frames.mean(1)), torch.from_numpy(frames.std(1).clip(min=1e-3))


def _frame_db(features: torch.Tensor) -> torch.Tensor:
    """The level in dB of each frame of log-mel `features` `(n_mels, frames)`: its power summed over the bins."""
    return torch.logsumexp(features * (np.log(10) / 10), dim=0) * (10 / np.log(10))


def fold_batch_norm(frontend: ConvFrontEnd) -> ConvFrontEnd:
    """A copy of an eval-mode front end with each batch norm folded into its convolution: the same numbers,
    three fewer operations per chunk."""
    folded = copy.deepcopy(frontend).eval()
    for block in folded.blocks:
        block["conv"] = fuse_conv_bn_eval(block["conv"], block["norm"])
        block["norm"] = nn.Identity()
    return folded
