"""Load any audio file to mono float32 at a chosen sample rate.

Every way a file can be unusable is turned into an `AudioError` whose message is
one sentence naming the file, so a CLI can print it and a dataset scan can skip
the file and say why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from gruve.errors import GruveError

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au"}


class AudioError(GruveError, ValueError):
    """A file that cannot be used as audio. The message names the file and says why."""


def load(path: str | os.PathLike, sr: int) -> np.ndarray:
    """Read `path`, mix down to mono and resample to `sr`; return float32 samples `y`."""
    path = _existing_file(path)
    try:
        y, file_sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"{path} is not a readable audio file ({_reason(error)}).") from None
    if y.shape[0] == 0:
        raise AudioError(f"{path} contains no samples (zero length).")
    y = y.mean(axis=1)
    if not np.isfinite(y).all():
        raise AudioError(f"{path} contains NaN or infinite samples.")
    if not np.any(y):
        raise AudioError(f"{path} is all silence (every sample is zero).")
    if file_sr != sr:
        y = soxr.resample(y, file_sr, sr, quality="HQ")
    return np.ascontiguousarray(y, dtype=np.float32)


def blocks(path: str | os.PathLike, sr: int, block_seconds: float = 0.1) -> Iterator[np.ndarray]:
    """Read `path` a block at a time as mono float32 at `sr`, resampling as it goes: for streams."""
    path = _existing_file(path)
    try:
        file = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"{path} is not a readable audio file ({_reason(error)}).") from None
    with file:
        resampler = soxr.ResampleStream(file.samplerate, sr, 1, dtype="float32") if file.samplerate != sr else None
        size = max(1, int(block_seconds * file.samplerate))
        for block in file.blocks(size, dtype="float32", always_2d=True):
            y = block.mean(axis=1)
            yield y if resampler is None else resampler.resample_chunk(y)
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path} is a directory, not an audio file.")
    if not path.exists():
        raise AudioError(f"{path} does not exist.")
    if path.stat().st_size == 0:
        raise AudioError(f"{path} is empty (0 bytes).")
    return path


def _reason(error: Exception) -> str:
    text = str(error).split(":")[-1].strip().rstrip(".") or type(error).__name__
    return text[0].lower() + text[1:]


def is_audio_file(path: Path) -> bool:
    """Whether `path` is a file with an audio extension gruve reads (the contents are checked only by `load`)."""
    return path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS

