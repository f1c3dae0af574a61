"""Score files of any kind a musician has (MIDI, MusicXML, ABC, Humdrum, ...) as symusic scores.

MIDI is read by symusic (fast, C++); every other format goes through music21's converters.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gruve.data.items import DataError
from gruve.files import atomic_path

MIDI_EXTENSIONS = {".mid", ".midi", ".kar"}
MUSIC21_EXTENSIONS = {".xml", ".musicxml", ".mxl", ".abc", ".krn", ".mei"}
SCORE_EXTENSIONS = MIDI_EXTENSIONS | MUSIC21_EXTENSIONS


def is_score_file(path: Path) -> bool:
    """Whether `path` is a score file gruve reads (by its suffix; hidden files are not)."""
    return path.is_file() and path.suffix.lower() in SCORE_EXTENSIONS and not path.name.startswith(".")


def score_files(root: Path) -> list[Path]:
    """Every score file under `root`, searched recursively, sorted."""
    return sorted(p for p in root.rglob("*") if is_score_file(p))


def read_score(path: Path):
    """A `symusic.Score`; a file that cannot be parsed raises DataError with one sentence."""
    import symusic

    if not path.is_file():
        raise DataError(f"{path} does not exist.")
    try:
        if path.suffix.lower() in MIDI_EXTENSIONS:
            return symusic.Score(str(path))
        return symusic.Score.from_midi(_music21_to_midi(path))
    except DataError:
        raise
    except Exception as error:  # the parsers raise many kinds of errors on a broken file
        raise DataError(f"{path} is not a readable score ({str(error).strip() or type(error).__name__}).") from None


def _music21_to_midi(path: Path) -> bytes:
    import music21

    stream = music21.converter.parse(str(path))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "score.mid"
        stream.write("midi", fp=str(out))
        return out.read_bytes()


def write_midi(score, path: Path) -> Path:
    """Write `score` as a MIDI file, atomically."""
    with atomic_path(path) as tmp:
        score.dump_midi(str(tmp))
    return path

