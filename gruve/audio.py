"""Load any audio file to mono float32 at a chosen sample rate.

Every way a file can be unusable is turned into an `AudioError` whose message is
one sentence naming the file, so a CLI can print it and a dataset scan can skip
the file and say why.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from gruve.errors import GruveError

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au"}
UNKNOWN_SIZE = 0x7FFFFFFF  # a WAV data size at or above this is a placeholder (written to a pipe), not a length

log = logging.getLogger(__name__)
# libmpg123 prints this about a sound MP3 too, when it is read a block at a time: not a sign of damage.
RESERVOIR = "too large for available bit count"


class AudioError(GruveError, ValueError):
    """A file that cannot be used as audio. The message names the file and says why."""


def load(path: str | os.PathLike, sr: int, min_samples: int = 0) -> np.ndarray:
    """Read `path`, mix down to mono and resample to `sr`; return float32 samples `y`, at least
    `min_samples` of them (the shortest clip a model can classify) or an `AudioError`."""
    path = _existing_file(path)
    try:
        with DecoderNotes(path) as notes, notes.caught():
            y, file_sr = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"{path} is not a readable audio file ({_reason(error)}).") from None
    y = y.mean(axis=1)
    check_finite(y, path, file_sr)
    check_sound(path, len(y), bool(np.any(y)))
    if file_sr != sr:
        y = soxr.resample(y, file_sr, sr, quality="HQ")
    check_length(path, len(y), sr, min_samples)
    return np.ascontiguousarray(y, dtype=np.float32)


def check_finite(y: np.ndarray, what: str | os.PathLike, sr: int, start: int = 0) -> None:
    """Refuse samples `y` (at `sr`, the first of them `start` samples into `what`) that are not all finite:
    one NaN would make every later output of a recurrent model NaN."""
    bad = np.flatnonzero(~np.isfinite(y))
    if len(bad):
        raise AudioError(f"{what} contains NaN or infinite samples (the first at {(start + bad[0]) / sr:.3f} s).")


def check_sound(path: str | os.PathLike, samples: int, sound: bool) -> None:
    """Refuse audio of no `samples`, or of nothing but zeros (not `sound`): there is nothing to classify."""
    if samples == 0:
        raise AudioError(f"{path} contains no samples (zero length).")
    if not sound:
        raise AudioError(f"{path} is all silence (every sample is zero).")


def check_length(path: str | os.PathLike, samples: int, sr: int, min_samples: int) -> None:
    """Refuse audio of `samples` at `sr` shorter than `min_samples`, the shortest a model can classify."""
    if samples < min_samples:
        raise AudioError(f"{path} holds {samples / sr:.3f} s of audio, shorter than the {min_samples / sr:.3f} s "
                         "the model needs for one step.")


def blocks(path: str | os.PathLike, sr: int, block_seconds: float = 0.1) -> Iterator[np.ndarray]:
    """Read `path` a block at a time as mono float32 at `sr`, resampling as it goes: for streams."""
    path = _existing_file(path)
    with DecoderNotes(path) as notes:
        try:
            with notes.caught():
                file = sf.SoundFile(os.fsencode(path))
        except (sf.LibsndfileError, RuntimeError, TypeError) as error:
            raise AudioError(f"{path} is not a readable audio file ({_reason(error)}).") from None
        with file:
            resampler = soxr.ResampleStream(file.samplerate, sr, 1, dtype="float32") if file.samplerate != sr else None
            size = max(1, int(block_seconds * file.samplerate))
            start = 0
            # Only the read is caught, not the caller's work between blocks (it may print too).
            while True:
                with notes.caught():
                    block = file.read(size, dtype="float32", always_2d=True)
                if not len(block):
                    break
                y = block.mean(axis=1)
                check_finite(y, path, file.samplerate, start)
                start += len(y)
                yield y if resampler is None else resampler.resample_chunk(y)
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)


class DecoderNotes:
    """What a decoder prints while reading one file, said once as a warning that names the file.

    libmpg123 (libsndfile's MP3 decoder) writes notes such as "Illegal Audio-MPEG-Header ... Trying to resync"
    straight to the process's standard error, below Python, without the file's name: among thousands of files
    nobody could tell which one is damaged. So file descriptor 2 is pointed at a temporary file while the
    decoder runs (`caught`), and what it wrote is told as one line when the file is done with (on leaving).
    Lines with terminal escape codes are another thread's (a progress bar) and go on to standard error.
    """

    def __init__(self, path: str | os.PathLike):
        self.path, self.lines = path, []

    def __enter__(self) -> "DecoderNotes":
        self.capture = tempfile.TemporaryFile()
        return self

    def __exit__(self, *_) -> None:
        self.capture.close()
        if self.lines:
            # mpg123's "Note: Illegal Audio-MPEG-Header ..." says what was wrong; its "error:" lines, how deep.
            first = next((line for line in self.lines if line.startswith("Note:")), self.lines[0])
            log.warning(f"{self.path} is damaged: the decoder skipped over bad data, so the audio may have a gap "
                        f"({first.removeprefix('Note: ')}; {len(self.lines)} lines from the decoder)")

    @contextlib.contextmanager
    def caught(self) -> Iterator[None]:
        """Point file descriptor 2 at the capture while the body runs, then keep what was written there."""
        sys.stderr.flush()
        self.capture.seek(0)
        self.capture.truncate()
        saved = os.dup(2)
        os.dup2(self.capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            self.capture.seek(0)
            text = self.capture.read().decode(errors="replace")
            theirs = [line for line in text.splitlines(keepends=True) if "\x1b" in line]
            if theirs:
                sys.stderr.write("".join(theirs))
                sys.stderr.flush()
            self.lines += [line.strip() for line in text.splitlines()
                           if line.strip() and "\x1b" not in line and RESERVOIR not in line]


def _existing_file(path: str | os.PathLike) -> Path:
    """`path` as a Path, once it is known to be a non-empty file whose WAV data (if it is a WAV) is all there.
    soundfile reads a WAV cut short without complaint, as if it were a shorter recording."""
    path = Path(path)
    try:
        status = path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise AudioError(f"{path} is a symbolic link loop.") from None
        if path.is_symlink():
            raise AudioError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist.") from None
        raise AudioError(f"{path} does not exist.") from None
    if stat.S_ISDIR(status.st_mode):
        raise AudioError(f"{path} is a directory, not an audio file.")
    if status.st_size == 0:
        raise AudioError(f"{path} is empty (0 bytes).")
    shortfall = _wav_shortfall(path)
    if shortfall:
        declared, present = shortfall
        raise AudioError(f"{path} is truncated: its data chunk holds {present:,} of the {declared:,} bytes its "
                         "header declares.")
    return path


def _wav_shortfall(path: Path) -> tuple[int, int] | None:
    """For a RIFF WAV file whose data chunk is shorter than its header says: (bytes declared, bytes present)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while len(chunk := f.read(8)) == 8:
            declared = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                present = size - f.tell()
                return (declared, present) if present < declared < UNKNOWN_SIZE else None
            f.seek(declared + declared % 2, os.SEEK_CUR)  # chunks are padded to an even length
    return None


def _reason(error: Exception) -> str:
    text = str(error).split(":")[-1].strip().rstrip(".") or type(error).__name__
    return text[0].lower() + text[1:]


def is_audio_file(path: Path) -> bool:
    """Whether `path` is a file with an audio extension gruve reads (the contents are checked only by `load`).
    A symbolic link that leads nowhere counts, so that a folder's broken links are reported, not passed over."""
    return (path.is_file() or path.is_symlink()) and path.suffix.lower() in AUDIO_EXTENSIONS

