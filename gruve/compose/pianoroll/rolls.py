"""Piano-roll data: the Boulanger-Lewandowski (2012) benchmark sets in both published formats, rolls built
from any score corpus, and rolls written back as MIDI.

A roll is a `(T, 88)` uint8 array: one row per time step, one column per piano key (MIDI 21-108).
"""

from __future__ import annotations

import json
import pickle
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from gruve.compose.scores import read_score, score_files
from gruve.data.downloads import cache_root, download
from gruve.data.items import SPLITS, DataError

NOTES = 88  # A0 (MIDI 21) to C8 (MIDI 108), as in the Boulanger-Lewandowski data
LOWEST = 21
BENCHMARK_URL = "http://www-etud.iro.umontreal.ca/~boulanni/"
# The four sets of Boulanger-Lewandowski et al. (2012), with their fixed train/valid/test split. The page
# publishes no checksums. JSB Chorales is sampled at quarter notes; the others at an unspecified fixed rate.
BENCHMARK = {"jsb": "JSB Chorales", "nottingham": "Nottingham", "musedata": "MuseData",
             "pianomidi": "Piano-midi.de"}
PUBLISHED_SUFFIXES = (".json", ".pickle", ".pkl", ".mat")


@dataclass
class RollSets:
    """A piano-roll data set: (steps, 88) rolls per split, and the piece names where pieces have them."""

    name: str
    splits: dict[str, list[np.ndarray]]  # train / valid / test
    steps_per_quarter: int = 1
    pieces: dict[str, list[str]] = field(default_factory=dict)  # names per split, where pieces have names

    def frames(self, split: str) -> int:
        """Time steps in `split`, all pieces together."""
        return sum(len(r) for r in self.splits[split])


def load(spec: str, steps_per_quarter: int = 1, seed: int = 0, say: Callable[[str], None] = print,
         cache_dir: Path | None = None) -> RollSets:
    """DATASET as the CLI takes it: `jsb`, `nottingham`, `musedata` or `pianomidi` (downloaded once),
    `NAME:PATH` for a local copy, a published `.json` / `.pickle` / `.mat` file, or a folder of scores."""
    name, _, local = spec.partition(":")
    if not local and Path(spec).is_dir() and Path(spec).name.lower() in BENCHMARK:
        name, local = Path(spec).name, spec  # a folder named for its set, as ../datasets/jsb
    if name.lower() in BENCHMARK:
        name = name.lower()
        path = Path(local) if local else fetch(name, cache_dir)
        path = _published_file(path, name) if path.is_dir() else path
        sets = read_published(path, name)
        counts = "/".join(str(len(sets.splits[split])) for split in SPLITS)
        say(f"{BENCHMARK[name]} from {path}: {counts} pieces ({'/'.join(SPLITS)})")
        return sets
    path = Path(spec)
    if path.is_file():
        return read_published(path, path.stem)
    if path.is_dir():
        published = _published_files(path)
        if published and not score_files(path):  # the cheap look at the top level first; a score walk only then
            if len(published) > 1:
                raise DataError(f"{path} holds {len(published)} piano-roll files "
                                f"({', '.join(p.name for p in published)}); name the set, as nottingham:{path}, "
                                "or give the file itself.")
            return read_published(published[0], path.name)
        return from_scores(path, steps_per_quarter, seed, say)
    known = ", ".join(BENCHMARK)
    raise DataError(f"{spec} is neither a file, a folder of scores, nor a known piano-roll set ({known}).")


def fetch(name: str, cache_dir: Path | None = None) -> Path:
    """The published pickle of the benchmark set `name`, downloaded into the cache once."""
    filename = f"{BENCHMARK[name]}.pickle"
    return download(BENCHMARK_URL + filename.replace(" ", "%20"),
                    cache_root(cache_dir) / "datasets" / name / filename, checksum=None)


def _published_files(folder: Path) -> list[Path]:
    """The piano-roll files at the top of `folder`, JSON first, then pickles, then .mat."""
    return [p for suffix in PUBLISHED_SUFFIXES for p in sorted(folder.glob(f"*{suffix}"))]


def _published_file(folder: Path, name: str) -> Path:
    """The file of the benchmark set `name` in `folder`, known by its name in any of the common spellings
    (`Piano_midi.mat`, `Piano-midi.de.pickle`, `JSB Chorales.json`), or the folder's only piano-roll file."""
    found = _published_files(folder)
    if not found:
        raise DataError(f"{folder} holds no piano-roll file ({', '.join(PUBLISHED_SUFFIXES)}).")
    named = [p for p in found if _letters(p.stem).startswith(_letters(name))]
    if named:
        return named[0]  # one set in several formats: JSON first, as `_published_files` orders them
    if len(found) == 1:
        return found[0]
    raise DataError(f"{folder} holds {len(found)} piano-roll files ({', '.join(p.name for p in found)}) and none "
                    f"is named for {BENCHMARK[name]}; give the file itself, as {name}:{found[0]}.")


def _letters(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def read_published(path: Path, name: str) -> RollSets:
    """The pickle / JSON (per step, a list of MIDI pitches) or `.mat` (`traindata` ... as (T, 88)) format."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".mat":
            return RollSets(name, _read_mat(path), 1)
        if suffix == ".json":
            data = json.loads(path.read_text())
        elif suffix in (".pickle", ".pkl"):
            with open(path, "rb") as f:
                data = _SafeUnpickler(f, encoding="latin1").load()
        else:
            raise DataError(f"{path} is not a piano-roll file ({', '.join(PUBLISHED_SUFFIXES)}).")
        return RollSets(name, {split: [_roll(piece, path) for piece in data[split]] for split in SPLITS}, 1)
    except DataError:
        raise
    except (KeyError, TypeError, ValueError, pickle.UnpicklingError, EOFError, OSError) as error:
        raise DataError(f"{path} is not a piano-roll set with train, valid and test parts ({error}).") from None


class _SafeUnpickler(pickle.Unpickler):
    """The published pickles hold only lists, dicts and numbers; anything else could run code."""

    def find_class(self, module, name):
        raise DataError(f"the pickle refers to {module}.{name}; only plain lists and numbers are read.")


def _read_mat(path: Path) -> dict[str, list[np.ndarray]]:
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(str(path))
    except MatReadError as error:
        raise DataError(f"{path} is not a readable .mat file ({error}).") from None
    splits = {}
    for split in SPLITS:
        pieces = [np.asarray(r, dtype=np.uint8) for r in mat[f"{split}data"][0]]
        if any(r.ndim != 2 or r.shape[1] != NOTES for r in pieces):
            raise DataError(f"{path}: {split}data is not a list of (T, {NOTES}) rolls.")
        splits[split] = pieces
    return splits


def _roll(steps: list, path: Path) -> np.ndarray:
    roll = np.zeros((len(steps), NOTES), dtype=np.uint8)
    for t, pitches in enumerate(steps):
        for pitch in pitches:
            if not LOWEST <= int(pitch) < LOWEST + NOTES:
                raise DataError(f"{path} has MIDI pitch {pitch}, outside the piano's 21-108.")
            roll[t, int(pitch) - LOWEST] = 1
    return roll


def from_scores(root: Path, steps_per_quarter: int = 1, seed: int = 0,
                say: Callable[[str], None] = print) -> RollSets:
    """Rolls of every score below `root` on a grid of `steps_per_quarter`, split 80/10/10 by piece (seeded).

    Drum tracks are left out. Files that cannot be parsed are reported and skipped; pieces with fewer than
    two notes are dropped with a count.
    """
    files = score_files(root)
    if not files:
        raise DataError(f"no score files (MIDI, MusicXML, ABC, ...) in {root}.")
    rolls, dropped = {}, 0
    for path in files:
        try:
            roll = score_to_roll(read_score(path), steps_per_quarter)
        except DataError as error:
            say(f"skipped: {error}")
            continue
        if roll.sum() < 2:
            dropped += 1
            continue
        rolls[str(path.relative_to(root))] = roll
    if dropped:
        say(f"dropped {dropped} empty or one-note piece(s)")
    if len(rolls) < 3:
        raise DataError(f"{root} has {len(rolls)} usable piece(s); at least 3 are needed for train, valid and test.")
    names = sorted(rolls)
    random.Random(seed).shuffle(names)
    n_valid = n_test = max(1, round(0.1 * len(names)))
    parts = {"test": names[:n_test], "valid": names[n_test:n_test + n_valid], "train": names[n_test + n_valid:]}
    return RollSets(root.name, {s: [rolls[n] for n in parts[s]] for s in SPLITS}, steps_per_quarter,
                    {s: sorted(parts[s]) for s in SPLITS})


def score_to_roll(score, steps_per_quarter: int = 1, drums: bool = False) -> np.ndarray:
    """The keys sounding at each step of a `steps_per_quarter` grid; notes shorter than a step keep one.
    Drum parts are left out unless `drums` (their pitches name instruments, not keys)."""
    grid = score.resample(tpq=steps_per_quarter, min_dur=1)
    notes = [n for track in grid.tracks if drums or not track.is_drum for n in track.notes
             if LOWEST <= n.pitch < LOWEST + NOTES]
    roll = np.zeros((max((n.time + n.duration for n in notes), default=0), NOTES), dtype=np.uint8)
    for n in notes:
        roll[n.time:n.time + n.duration, n.pitch - LOWEST] = 1
    return roll


def roll_to_score(roll: np.ndarray, steps_per_quarter: int = 1, qpm: float = 100.0, velocity: int = 80):
    """A one-track piano score; a key held over consecutive steps becomes one note (the benchmark sets do
    not tell held from repeated notes)."""
    from symusic import Note, Score, Tempo, Track

    tpq = 480
    step = tpq // steps_per_quarter
    score = Score(tpq)
    score.tempos.append(Tempo(0, qpm=qpm))
    track = Track(name="piano", program=0, is_drum=False)
    padded = np.pad(np.asarray(roll, dtype=np.int8), ((1, 1), (0, 0)))
    changes = np.diff(padded, axis=0)
    for key in range(NOTES):
        starts, ends = np.flatnonzero(changes[:, key] == 1), np.flatnonzero(changes[:, key] == -1)
        for start, end in zip(starts, ends):
            track.notes.append(Note(int(start) * step, int(end - start) * step, key + LOWEST, velocity))
    track.notes.sort(key=lambda n: (n.time, n.pitch))
    score.tracks.append(track)
    return score
