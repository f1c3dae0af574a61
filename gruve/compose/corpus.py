"""Score corpora for the music language model: a folder of scores, or a known corpus with its own split
and labels (`bach`, `groove`, `jsb`, `nottingham`).

Every piece becomes a `symusic.Score`. A file that does not parse is reported and skipped; an empty or
one-note piece is dropped and counted. The split is the corpus's own where it has one, else a seeded
80/10/10 split by piece (never by window, so no piece is on both sides), or by top-level folder, so that the
versions of one song (POP909's `001/versions/*.mid`) stay on one side.
"""

from __future__ import annotations

import csv
import fnmatch
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gruve.compose.pianoroll import rolls
from gruve.compose.scores import read_score, score_files
from gruve.data.downloads import cache_root, download
from gruve.data.groove_styles import GROOVE_URL
from gruve.data.items import SPLITS, DataError
from gruve.files import atomic_path
from gruve import progress

KNOWN = ("bach", "groove", "jsb", "nottingham")
SPLIT_BY = ("file", "folder")  # the unit a folder of scores is split by
# Groove was played on a Roland TD-11, whose hi-hat edge strokes (22 closed, 26 open) lie outside General MIDI's
# drum map and MidiTok's drum range (27-87), so a tokenizer would drop them: many of the training notes, the
# time-keeping of many performances. They are played as the hi-hat they are (Gillick et al. 2019, table 2).
TD11_HI_HAT_EDGES = {22: 42, 26: 46}


@dataclass
class Piece:
    """One score of a corpus, with its split and what the corpus says of it."""

    name: str
    score: object  # symusic.Score
    split: str  # train, valid or test
    labels: dict[str, str] = field(default_factory=dict)  # what the corpus says of it, e.g. style


@dataclass
class ScoreCorpus:
    """A corpus of scores for the music language model (not `gruve.data.Corpus`, which holds audio): its
    pieces, what was skipped or dropped on reading, and whether it is drums."""

    name: str
    pieces: list[Piece]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    dropped: int = 0  # empty or one-note pieces
    drums: bool = False

    def split(self, name: str) -> list[Piece]:
        """The pieces of one split: train, valid or test."""
        return [p for p in self.pieces if p.split == name]

    def label_values(self, label: str) -> list[str]:
        """Every value `label` takes over the pieces, sorted."""
        return sorted({p.labels[label] for p in self.pieces if label in p.labels})


def load(spec: str, seed: int = 0, say: Callable[[str], None] = print, cache_dir: Path | None = None,
         split_by: str = "file", exclude: tuple[str, ...] = ()) -> ScoreCorpus:
    """CORPUS as the CLI takes it: `bach` (music21's chorales), `groove[:PATH]`, `jsb[:PATH]`,
    `nottingham[:PATH]` (downloaded without PATH), or a folder of MIDI / MusicXML / ABC / Humdrum files,
    less those whose path in it matches an `exclude` glob, split by file or by top-level folder (`split_by`)."""
    name, _, local = spec.partition(":")
    name = name.lower()
    if name == "bach":
        corpus = _bach(seed, say, cache_dir)
    elif name == "groove":
        corpus = _groove(Path(local) if local else _fetch_groove(cache_dir))
    elif name in ("jsb", "nottingham"):
        corpus = _from_rolls(rolls.load(spec, say=say, cache_dir=cache_dir))
    elif Path(spec).is_dir():
        corpus = _folder(Path(spec), seed, split_by, exclude, say)
    else:
        raise DataError(f"{spec} is neither a folder of scores nor a known corpus ({', '.join(KNOWN)}).")
    kept = [p for p in corpus.pieces if _notes(p.score) >= 2]
    corpus.dropped += len(corpus.pieces) - len(kept)
    corpus.pieces = kept
    for path, why in corpus.skipped:
        say(f"skipped: {why}")
    if corpus.dropped:
        say(f"dropped {corpus.dropped} empty or one-note pieces")
    if not corpus.pieces:
        raise DataError(f"{spec} holds no piece with at least two notes.")
    return corpus


def _notes(score) -> int:
    return sum(len(track.notes) for track in score.tracks)


def _seeded_split(names: list[str], seed: int) -> dict[str, str]:
    """80/10/10 by piece, the same for the same names and seed."""
    order = sorted(names)
    random.Random(seed).shuffle(order)
    n_test = n_valid = max(1, len(order) // 10) if len(order) >= 3 else 0
    return {name: ("test" if i < n_test else "valid" if i < n_test + n_valid else "train")
            for i, name in enumerate(order)}


def _folder(root: Path, seed: int, split_by: str, exclude: tuple[str, ...], say: Callable[[str], None]) -> ScoreCorpus:
    """The scores under `root`. Split by file, a piece's top-level folder is its `folder` label (the classes of
    a corpus sorted into folders); split by folder, the folder is the unit of the split and no label."""
    found = score_files(root)
    files = [f for f in found if not any(fnmatch.fnmatch(f.relative_to(root).as_posix(), g) for g in exclude)]
    if not files:
        excluded = f" once {', '.join(exclude)} are left out" if exclude else ""
        raise DataError(f"{root} holds no score files (MIDI, MusicXML, ABC, Humdrum){excluded}.")

    def unit(path: Path) -> str:
        relative = path.relative_to(root)
        return relative.parts[0] if split_by == "folder" and len(relative.parts) > 1 else str(relative)

    units = {unit(f) for f in files}
    folders = {f.relative_to(root).parts[0] for f in files if len(f.relative_to(root).parts) > 1}
    left_out = f" ({len(found) - len(files)} left out by --exclude)" if exclude else ""
    say(f"{root}: {len(files)} score files{left_out} in {len(folders)} top-level folders; split by {split_by} "
        f"({len(units)} units)")
    splits = _seeded_split(sorted(units), seed)
    pieces, skipped = [], []
    for path in progress.track(files, "reading scores"):
        try:
            score = read_score(path)
        except DataError as error:
            skipped.append((str(path), str(error)))
            continue
        name = str(path.relative_to(root))
        labels = {"folder": path.parent.relative_to(root).parts[0]} if path.parent != root and split_by == "file" else {}
        pieces.append(Piece(name, score, splits[unit(path)], labels))
    return ScoreCorpus(root.name, pieces, skipped)


def _bach(seed: int, say: Callable[[str], None], cache_dir: Path | None) -> ScoreCorpus:
    """The Bach chorales that come with music21 (no download), as MIDI cached on first use."""
    import symusic

    folder = cache_root(cache_dir) / "corpora" / "bach-chorales"
    if not folder.is_dir():
        _cache_bach_chorales(folder, say)
    files = sorted(folder.glob("*.mid"))
    splits = _seeded_split([f.stem for f in files], seed)
    return ScoreCorpus("bach", [Piece(f.stem, symusic.Score(str(f)), splits[f.stem]) for f in files])


def _cache_bach_chorales(folder: Path, say: Callable[[str], None]) -> None:
    import music21

    paths = [p for p in music21.corpus.getComposer("bach") if "bwv" in Path(p).stem]
    partial = folder.with_suffix(".partial")
    partial.mkdir(parents=True, exist_ok=True)
    for path in progress.track(paths, "converting music21's Bach chorales to MIDI (once)"):
        target = partial / f"{Path(path).stem}.mid"
        if not target.exists():
            try:
                with atomic_path(target) as tmp:  # an interrupted conversion leaves no half file to trust
                    music21.converter.parse(path).write("midi", fp=str(tmp))
            except Exception as error:  # music21 raises many kinds; one bad chorale must not stop the rest
                say(f"skipped: {path} ({error})")
    partial.rename(folder)


def _fetch_groove(cache_dir: Path | None) -> Path:
    """The MIDI-only release (no checksum is published); its archive holds a `groove/` folder."""
    root = cache_root(cache_dir) / "corpora" / "groove"
    if not (root / "info.csv").exists():
        download(GROOVE_URL, cache_root(cache_dir) / "downloads" / "groove-midionly.zip", None, into=root.parent)
    return root


def _groove(root: Path) -> ScoreCorpus:
    """Groove MIDI (Gillick et al. 2019): drum performances with style, beat/fill, drummer, tempo and the official split."""
    import symusic

    info = root / "info.csv"
    if not info.is_file():
        raise DataError(f"{root} has no info.csv; give the folder of the Groove MIDI Dataset.")
    with open(info, newline="") as f:
        rows = list(csv.DictReader(f))
    pieces, skipped = [], []
    for row in progress.track(rows, "reading Groove MIDI"):
        path = root / row["midi_filename"]
        try:
            score = symusic.Score(str(path))
        except Exception as error:  # symusic raises RuntimeError or IOError on a broken or missing file
            skipped.append((str(path), f"{path} is not a readable MIDI file ({error})."))
            continue
        for track in score.tracks:
            for note in track.notes:
                note.pitch = TD11_HI_HAT_EDGES.get(note.pitch, note.pitch)
        split = {"validation": "valid"}.get(row["split"], row["split"])
        labels = {"style": row["style"].split("/")[0], "beat_type": row["beat_type"], "drummer": row["drummer"],
                  "time_signature": row["time_signature"]}
        pieces.append(Piece(row["id"], score, split, labels))
    return ScoreCorpus("groove", pieces, skipped, drums=True)


def _from_rolls(sets: rolls.RollSets) -> ScoreCorpus:
    """The Boulanger-Lewandowski piano rolls as scores, on their published split."""
    pieces = []
    for split in SPLITS:
        names = sets.pieces.get(split) or [f"{split}-{i}" for i in range(len(sets.splits[split]))]
        for name, roll in zip(names, sets.splits[split]):
            pieces.append(Piece(name, rolls.roll_to_score(roll, sets.steps_per_quarter), split))
    return ScoreCorpus(sets.name, pieces)
