"""Streaming classification: audio in as it arrives, an event out at the end of every segment.

`Stream` feeds an `AudioClassifier`'s streaming form (`gruve.listen.model.StreamingClassifier`, the
forward pass cut into chunks with its state passed in and out) blocks of any size, cuts the stream into
segments of the model's window (as `predict` cuts a long recording), and reports an event at the end of
each segment. `stream` is the verb behind `gruve listen stream`: a source (a file, raw PCM on standard
input, or the microphone) in, events out as they happen.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from gruve.audio import check_finite, check_length
from gruve.errors import GruveError, check
from gruve.listen.model import NEGATIVE, AudioClassifier, StreamingClassifier
from gruve.listen.transcriber import BLANK, FLUSH, StreamingTranscriber, Transcriber

__all__ = ["NEGATIVE", "PAUSE", "Event", "Heard", "Stream", "TranscriptStream", "StreamOptions", "StreamRun", "events", "stream", "source_blocks",
           "raw_pcm_blocks", "microphone_blocks"]


@dataclass
class Event:
    """What the model heard in one segment of a stream: seconds from the start, the top label and its probability."""

    start: float
    end: float
    label: str
    probability: float

    def to_dict(self) -> dict:
        """JSON-ready: start, end, label, probability."""
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
        """Take the next samples (mono float32 at the model's rate, all finite)."""
        y = np.asarray(y, np.float32)
        check_finite(y, "the audio fed to the stream", self.net.model.config.features.sr, self.received)
        self.received += len(y)
        self.pending = np.concatenate([self.pending, y])
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


PAUSE = 1.0  # seconds of nothing but blanks that end an utterance: longer than any gap inside fsdd-sequences


@dataclass
class Heard:
    """What a transcription model has heard of the utterance in progress: its text so far (`final` once a pause
    or the end of the stream ends it), from the first to the last frame of its tokens, in seconds."""

    start: float
    end: float
    text: str
    final: bool

    def to_dict(self) -> dict:
        """JSON-ready: start, end, text, final."""
        return asdict(self)


class TranscriptStream:
    """Feed audio blocks of any length with `feed`, then `close`; both return what was heard meanwhile: a
    partial `Heard` each time the text grows, and a final one when PAUSE seconds of blanks (or the end) end
    the utterance. Greedy CTC decoding, frame by frame, of the model's streaming step (`StreamingTranscriber`),
    whose frames are those of the offline pass; the state runs on across utterances (starting each afresh
    changed the text of 8 of fsdd-sequences' 300 test sequences, whose recordings hold a second of quiet),
    so a recording streamed reads as `transcribe` reads it."""

    def __init__(self, model: Transcriber, pause: float = PAUSE):
        self.model, self.net = model.eval(), StreamingTranscriber(model.eval())
        features = model.config.features
        self.seconds_per_frame = self.net.chunk / features.sr
        self.pause_frames = max(1, round(pause / self.seconds_per_frame))
        self.pending = np.zeros(features.n_fft // 2, np.float32)  # the centre padding before the first frame
        self.received, self.frames = 0, 0  # real samples, output frames so far
        self.state: list[torch.Tensor] | None = None
        self.previous = BLANK  # the best token of the last frame
        self.tokens: list[tuple[int, int]] = []  # (token, frame) of the utterance in progress
        self.quiet = 0  # frames since its last token

    def feed(self, y: np.ndarray) -> list[Heard]:
        """Take the next samples (mono float32 at the model's rate, all finite)."""
        y = np.asarray(y, np.float32)
        check_finite(y, "the audio fed to the stream", self.model.config.features.sr, self.received)
        self.received += len(y)
        self.pending = np.concatenate([self.pending, y])
        return self._run(limit=None)

    def close(self) -> list[Heard]:
        """The end of the audio: finish the frames it completes and FLUSH seconds of silence after them (as
        `Transcriber.transcribe` decodes a recording), and the utterance."""
        features = self.model.config.features
        silence = round(FLUSH * features.sr / features.hop_length)
        frames = (1 + self.received // features.hop_length + silence) // self.net.stride
        flush = np.zeros(self.net.tail + self.net.chunk + silence * features.hop_length, np.float32)
        self.pending = np.concatenate([self.pending, flush])
        heard = self._run(limit=frames)
        return heard + self._heard(final=True) if self.tokens else heard

    def _run(self, limit: int | None) -> list[Heard]:
        if self.state is None:
            if len(self.pending) < self.net.tail:
                return []
            self.state = self.net.initial_state()
            self.state[0] = torch.from_numpy(self.pending[None, : self.net.tail].copy())
            self.pending = self.pending[self.net.tail:]
        heard = []
        while len(self.pending) >= self.net.chunk and (limit is None or self.frames < limit):
            k = len(self.pending) // self.net.chunk if limit is None else min(len(self.pending) // self.net.chunk,
                                                                               limit - self.frames)
            samples = torch.from_numpy(self.pending[None, : k * self.net.chunk].copy())
            self.pending = self.pending[k * self.net.chunk:]
            with torch.inference_mode():
                log_probs, *state = self.net(samples, *self.state)
            self.state = state
            grew = False
            for token in log_probs[0].argmax(-1).tolist():
                if token != BLANK and token != self.previous:
                    self.tokens.append((token, self.frames))
                    grew, self.quiet = True, 0
                else:
                    self.quiet += 1
                self.previous, self.frames = token, self.frames + 1
                if self.tokens and self.quiet >= self.pause_frames:
                    heard += self._heard(final=False) * grew + self._heard(final=True)
                    grew = False
                    self.tokens = []
            if grew:
                heard += self._heard(final=False)
        return heard

    def _heard(self, final: bool) -> list[Heard]:
        """The utterance in progress as heard so far, or nothing where it is no text (spaces alone)."""
        seconds = self.seconds_per_frame
        text = self.model.text([token for token, _ in self.tokens]).strip()
        return [Heard(round(self.tokens[0][1] * seconds, 3), round((self.tokens[-1][1] + 1) * seconds, 3),
                      text, final)] if text else []


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


def events(model: AudioClassifier | Transcriber, blocks: Iterable[np.ndarray],
           threshold: float = 0.5) -> Iterator[Event | Heard]:
    """Every event in a stream of audio blocks, as soon as its segment ends; of a transcription model, what
    it heard, as soon as it heard it."""
    stream = TranscriptStream(model) if isinstance(model, Transcriber) else Stream(model, threshold)
    for block in blocks:
        yield from stream.feed(block)
    yield from stream.close()


def source_blocks(source: str, sr: int, block_seconds: float) -> Iterator[np.ndarray]:
    """Blocks of audio at `sr` from `source`: "mic" (the default microphone), "-" (raw PCM on standard
    input) or an audio file."""
    if source == "mic":
        return microphone_blocks(sr, block_seconds)
    if source == "-":
        return raw_pcm_blocks(sr, block_seconds)
    from gruve.audio import blocks

    return blocks(source, sr, block_seconds)


@dataclass(kw_only=True)
class StreamOptions:
    """How to stream: where the audio comes from, how much is read per update, and which events count."""

    source: str = "mic"  # an audio file, "-" for raw signed 16-bit mono PCM on standard input, or "mic"
    hop_ms: float = 250.0  # milliseconds of audio read per update (the model still steps every recurrent frame)
    threshold: float = 0.5  # report an event only when its top probability reaches this

    def __post_init__(self):
        check(self.hop_ms > 0, "hop_ms", f"{{hop_ms}} must be more than 0 (got {self.hop_ms}).")
        check(0 <= self.threshold <= 1, "threshold", f"{{threshold}} must be between 0 and 1 (got {self.threshold}).")


class StreamRun:
    """The events of one stream, as they happen (iterate over it); afterwards, how much audio it read and
    how long that took."""

    def __init__(self, model: AudioClassifier, options: StreamOptions):
        self.model, self.options = model, options
        self.sr = model.config.features.sr
        self.samples = 0  # audio samples read so far
        self.elapsed = 0.0  # seconds spent on them

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio read so far."""
        return self.samples / self.sr

    @property
    def real_time_factor(self) -> float | None:
        """Seconds of compute per second of audio (None before any audio)."""
        return self.elapsed / self.audio_seconds if self.samples else None

    def __iter__(self) -> Iterator[Event]:
        from gruve.nn.fused import compile_kernels

        blocks = source_blocks(self.options.source, self.sr, self.options.hop_ms / 1000)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a stream's operations are small: threads cost more than they give
        try:
            compile_kernels()  # numba loads its compiled GRU kernel before the clock starts
            start = time.perf_counter()
            for event in events(self.model, self._counted(blocks), self.options.threshold):
                self.elapsed = time.perf_counter() - start
                yield event
            self.elapsed = time.perf_counter() - start
            if self.options.source != "mic":  # a file or standard input too short for one answer says so
                name = "standard input" if self.options.source == "-" else self.options.source
                check_length(name, self.samples, self.sr, self.model.min_samples)
        finally:
            torch.set_num_threads(threads)

    def _counted(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            self.samples += len(block)
            yield block


def stream(model: str | Path | AudioClassifier | Transcriber, options: StreamOptions | None = None) -> StreamRun:
    """Classify audio as it arrives from `options.source` with `model` (a name, a bundle or a loaded
    classifier): iterate over the result for the events, each as soon as its segment ends; with a
    transcription model, for what it hears (`Heard`: partial text as it grows, final when a pause ends it)."""
    from gruve import bundle

    options = options or StreamOptions()
    classifier = (model if isinstance(model, (AudioClassifier, Transcriber))
                  else bundle.load(model, task=("listen", "transcribe")))
    # a model that cannot stream says so now, before any audio is read
    (StreamingTranscriber if isinstance(classifier, Transcriber) else StreamingClassifier)(classifier)
    return StreamRun(classifier, options)
