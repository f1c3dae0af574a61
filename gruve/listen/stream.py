"""Streaming classification: audio in as it arrives, class probabilities out after every recurrent frame.

`StreamingClassifier` is an `AudioClassifier`'s forward pass cut into chunks, with all of its state (the
last samples, the conv front end's past frames, the recurrent state, the running pooling) passed in and
out explicitly; it is plain tensor code, so it is also the streaming graph that `gruve export` writes.
`Stream` feeds it blocks of any size, cuts the stream into segments of the model's window (as `predict`
cuts a long recording), and reports an event at the end of each segment.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from gruve.errors import GruveError
from gruve.features import to_db
from gruve.listen.model import AudioClassifier
from gruve.nn import ConvFrontEnd, running_pool

NEGATIVE = -1e30  # where the running maximum of pooling scores starts: finite, for ONNX inputs


class StreamingClassifier(nn.Module):
    """`forward(samples, *state)`: `samples (batch, k * chunk)` are the next audio samples; returns each new
    recurrent frame's class probabilities `(batch, k, classes)` followed by the new state.

    The state starts as `initial_state()`, except its first tensor, which holds the last `n_fft - hop_length`
    samples: the stream starts with `n_fft // 2` zeros there (the centre padding of `LogMel`) followed by the
    first samples of the audio. Frame `t` after a start gets what `AudioClassifier.classify` gives for the
    log-mel frames up to `t` (a test holds them within 1e-5).
    """

    def __init__(self, model: AudioClassifier):
        super().__init__()
        if model.recurrent.bidirectional:
            raise GruveError(f"a {model.config.architecture} model reads each clip backwards as well as forwards, "
                             "so it needs the whole clip before it can answer and cannot stream; gru, crnn, lstm "
                             "and rnn models can.")
        features = model.config.features
        if features.n_fft < features.hop_length:
            raise GruveError("streaming needs n_fft at least as long as hop_length.")
        self.model = model
        self.frontend = _fold_batch_norm(model.frontend) if model.frontend is not None else None
        self.stride = model.frontend.stride if model.frontend is not None else 1
        self.chunk = features.hop_length * self.stride  # samples per recurrent frame
        self.tail = features.n_fft - features.hop_length
        self.recurrent_states = 2 if model.recurrent.cell == "lstm" else 1

    def initial_state(self, batch: int = 1) -> list[torch.Tensor]:
        model = self.model
        rnn = model.recurrent.rnn
        conv = model.frontend.initial_context(batch) if model.frontend is not None else []
        recurrent = [torch.zeros(rnn.num_layers, batch, rnn.hidden_size) for _ in range(self.recurrent_states)]
        size = model.recurrent.output_size
        pool = [torch.full((batch, 1), NEGATIVE), torch.zeros(batch, 1), torch.zeros(batch, size)]
        return [torch.zeros(batch, self.tail), *conv, *recurrent, *pool]

    def state_names(self) -> list[str]:
        conv = len(self.model.frontend.blocks) if self.model.frontend is not None else 0
        recurrent = ["hidden", "cell"][: self.recurrent_states]
        return ["tail", *(f"conv{i}" for i in range(conv)), *recurrent, "pool_max", "pool_sum", "pool_weighted"]

    def forward(self, samples: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        model, features = self.model, self.model.config.features
        split = len(state) - 3 - self.recurrent_states
        tail, conv, recurrent, pool = state[0], list(state[1:split]), state[split:-3], state[-3:]
        audio = torch.cat([tail, samples], dim=1)
        db = to_db(model.features.uncentred_power(audio), features.amin)
        x = (db - model.feature_mean[:, None]) / model.feature_std[:, None]
        if self.frontend is not None:
            x, conv = self.frontend.scan(x, conv)
        else:
            x = x.transpose(1, 2)
        h, recurrent = model.recurrent.scan(x, recurrent if self.recurrent_states == 2 else recurrent[0])
        pooled, pool = running_pool(model.pool.scores(h), h, tuple(pool))
        recurrent = list(recurrent) if self.recurrent_states == 2 else [recurrent]
        return (torch.softmax(model.head(pooled), dim=-1), audio[:, audio.shape[1] - self.tail:],
                *conv, *recurrent, *pool)


def _fold_batch_norm(frontend: ConvFrontEnd) -> ConvFrontEnd:
    """A copy of an eval-mode front end with each batch norm folded into its convolution: the same numbers,
    three fewer operations per chunk (a quarter of a small model's streaming time)."""
    folded = copy.deepcopy(frontend).eval()
    for block in folded.blocks:
        block["conv"] = fuse_conv_bn_eval(block["conv"], block["norm"])
        block["norm"] = nn.Identity()
    return folded


@dataclass
class Event:
    """What the model heard in one segment of a stream: seconds from the start, the top label and its probability."""

    start: float
    end: float
    label: str
    probability: float

    def to_dict(self) -> dict:
        return asdict(self)


class Stream:
    """Feed audio blocks of any length with `feed`, then `close`; both return the events they completed.

    The stream is cut into segments as long as the model's window; each segment starts from a fresh
    recurrent state and ends with an event if its top probability reaches `threshold`.
    """

    def __init__(self, model: AudioClassifier, threshold: float = 0.5, keep_frames: bool = False):
        self.net = StreamingClassifier(model.eval())
        self.labels = model.labels
        self.threshold = threshold
        features = model.config.features
        self.seconds_per_frame = self.net.chunk / features.sr
        self.segment_frames = max(1, model.config.window_frames // self.net.stride)
        self.pending = np.zeros(features.n_fft // 2, np.float32)  # the centre padding before the first frame
        self.received = 0  # real samples so far
        self.state: list[torch.Tensor] | None = None
        self.frames = 0  # recurrent frames so far
        self.segment_start = 0
        self.last: np.ndarray | None = None
        self.kept: list[np.ndarray] | None = [] if keep_frames else None

    def feed(self, y: np.ndarray) -> list[Event]:
        """Take the next samples (mono float32 at the model's rate)."""
        self.received += len(y)
        self.pending = np.concatenate([self.pending, np.asarray(y, np.float32)])
        return self._run(limit=None)

    def close(self) -> list[Event]:
        """The end of the audio: finish the frames it completes (as the offline pass pads the end) and the segment."""
        hop = self.net.model.config.features.hop_length
        real_frames = (1 + self.received // hop) // self.net.stride
        self.pending = np.concatenate([self.pending, np.zeros(self.net.tail + self.net.chunk, np.float32)])
        events = self._run(limit=real_frames)
        return events + self._end_segment() if self.frames > self.segment_start else events

    def frame_probabilities(self) -> np.ndarray:
        """Every recurrent frame's probabilities so far, `(frames, classes)` (with `keep_frames=True`)."""
        return np.concatenate(self.kept) if self.kept else np.zeros((0, len(self.labels)), np.float32)

    def _run(self, limit: int | None) -> list[Event]:
        if self.state is None:
            if len(self.pending) < self.net.tail:
                return []
            self.state = self.net.initial_state()
            self.state[0] = torch.from_numpy(self.pending[None, : self.net.tail].copy())
            self.pending = self.pending[self.net.tail:]
        events = []
        while len(self.pending) >= self.net.chunk and (limit is None or self.frames < limit):
            k = min(len(self.pending) // self.net.chunk, self.segment_start + self.segment_frames - self.frames)
            if limit is not None:
                k = min(k, limit - self.frames)
            samples = torch.from_numpy(self.pending[None, : k * self.net.chunk].copy())
            self.pending = self.pending[k * self.net.chunk:]
            with torch.inference_mode():
                probabilities, *self.state = self.net(samples, *self.state)
            self.last = probabilities[0, -1].numpy()
            if self.kept is not None:
                self.kept.append(probabilities[0].numpy())
            self.frames += k
            if self.frames - self.segment_start == self.segment_frames:
                events += self._end_segment()
        return events

    def _end_segment(self) -> list[Event]:
        """Report the segment just finished and start the next afresh (all but the audio tail), as `predict`
        classifies each window of a long recording on its own."""
        best = int(self.last.argmax())
        seconds = self.seconds_per_frame
        event = Event(round(self.segment_start * seconds, 3), round(self.frames * seconds, 3),
                      self.labels[best], float(self.last[best]))
        self.state = self.state[:1] + self.net.initial_state()[1:]
        self.segment_start = self.frames
        return [event] if event.probability >= self.threshold else []


def raw_pcm_blocks(sr: int, block_seconds: float) -> Iterator[np.ndarray]:
    """Signed 16-bit little-endian mono PCM at `sr` from standard input (`arecord -f S16_LE -c 1 -r SR -t raw`)."""
    size = max(1, int(block_seconds * sr)) * 2
    while data := sys.stdin.buffer.read(size):
        yield np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0


def microphone_blocks(sr: int, block_seconds: float) -> Iterator[np.ndarray]:
    """Mono float32 blocks from the default microphone, until Ctrl-C."""
    try:
        import sounddevice
    except OSError:
        raise GruveError("microphone input needs the PortAudio library, which is not installed "
                         "(on Debian or Ubuntu: apt install libportaudio2).") from None
    try:
        sounddevice.check_input_settings(channels=1, samplerate=sr, dtype="float32")
    except Exception as error:  # sounddevice raises PortAudioError or ValueError with no device
        raise GruveError(f"no microphone to record from ({str(error).rstrip('.')}).") from None
    with sounddevice.InputStream(samplerate=sr, channels=1, dtype="float32",
                                 blocksize=max(1, int(block_seconds * sr))) as stream:
        try:
            while True:
                yield stream.read(stream.blocksize)[0][:, 0]
        except KeyboardInterrupt:
            return


def events(model: AudioClassifier, blocks: Iterable[np.ndarray], threshold: float = 0.5) -> Iterator[Event]:
    """Every event in a stream of audio blocks, as soon as its segment ends."""
    stream = Stream(model, threshold)
    for block in blocks:
        yield from stream.feed(block)
    yield from stream.close()
