"""Known corpora, each with its published protocol, a real download and, where one is published, a checksum.

`NAME` downloads the corpus into the cache (`$GRUVE_CACHE`, default `~/.cache/gruve`)
once; `NAME:PATH` reads a local copy instead and downloads nothing.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from gruve.audio import is_audio_file
from gruve.data import fsdd_sequences, groove_styles
from gruve.data.downloads import cache_root, download
from gruve.data.items import SPLITS, Corpus, DataError, Item

SPLIT_LISTS = Path(__file__).parent / "splits"


@dataclass
class KnownCorpus:
    """A corpus gruve knows: where to download it, how to verify it, how to read its labels and protocol."""

    name: str
    url: str
    checksum: str | None  # "sha256:<hex>" or "md5:<hex>" of the archive; None where none is published
    folder: str  # where the corpus root lies inside the extracted archive
    read: Callable[[Path], list[Item]]
    targets: list[str]
    defaults: dict = field(default_factory=dict)
    explain: Callable[[Path, list[Item]], list[str]] | None = None  # notes on how a copy was read
    # turns the corpus's folder into the folder `read` reads, in the cache (MIDI rendered to audio, say)
    prepare: Callable[[Path, Path], Path] | None = None

    def corpus(self, local: Path | None, cache_dir: Path | None = None) -> Corpus:
        """The corpus read from the folder `local`, or from the cache (downloaded first) when it is None."""
        root = local if local is not None else self.fetch(cache_dir)
        if not root.is_dir():
            raise DataError(f"{root} is not a folder; {self.name}:PATH needs a local copy of {self.name}.")
        if self.prepare is not None:
            root = self.prepare(root, cache_root(cache_dir))
        items = self.read(root)
        if not items:
            raise DataError(f"{root} holds no {self.name} audio; is it the right folder?")
        notes = self.explain(root, items) if self.explain else []
        return Corpus(self.name, items, self.targets, self.defaults, notes=notes)

    def fetch(self, cache_dir: Path | None = None) -> Path:
        """Download, verify and unpack once into `datasets/NAME/` of the cache; later calls find it there."""
        home = cache_root(cache_dir) / "datasets" / self.name
        if not (home / ".complete").exists():
            download(self.url, home / "download" / Path(self.url).name, self.checksum, into=home)
            (home / ".complete").touch()
        return home / self.folder


def _read(root: Path, name: str) -> str:
    """A metadata file of the corpus at `root`; without it `root` is not that corpus."""
    path = root / name
    if not path.is_file():
        raise DataError(f"{root} has no {name}; is it the right folder?")
    return path.read_text()


def _rows(root: Path, name: str) -> list[dict[str, str]]:
    """The rows of the CSV metadata file `name` of the corpus at `root`."""
    return list(csv.DictReader(io.StringIO(_read(root, name))))


# --- FSDD: Free Spoken Digit Dataset -----------------------------------------------------------

def read_fsdd(root: Path) -> list[Item]:
    """`{digit}_{speaker}_{take}.wav`; the official test set is takes 0-4, and we validate on takes 5-9."""
    recordings = root / "recordings" if (root / "recordings").is_dir() else root
    items = []
    for path in sorted(recordings.glob("*.wav")):
        parts = path.stem.split("_")
        if len(parts) != 3 or not parts[2].isdigit():
            continue
        digit, speaker, take = parts[0], parts[1], int(parts[2])
        split = "test" if take < 5 else "valid" if take < 10 else "train"
        items.append(Item(path, {"digit": digit, "speaker": speaker}, split))
    return items


def _fsdd_sequences(root: Path, cache: Path) -> Path:
    """The folder of fsdd-sequences made from the FSDD copy at `root` (see `gruve.data.fsdd_sequences`)."""
    return fsdd_sequences.render(read_fsdd(root), cache)


FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.zip"
FSDD_CHECKSUM = "sha256:c680098f5d2355ba7cc4bd8b0ca9e0a24c00ebe3b4c552208889a4d28d4fbc2b"
FSDD_FEATURES = {"sr": 8000, "n_fft": 256, "hop_length": 80, "n_mels": 40}


# --- ESC-10 and ESC-50: environmental sounds, 5 folds --------------------------------------------

def read_esc10(root: Path) -> list[Item]:
    """The ESC-10 layout: one folder per class (`001 - Dog bark`), the fold is the file name's first character."""
    items = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = folder.name.split(" - ", 1)[-1].lower().replace(" ", "_")
        for path in sorted(p for p in folder.iterdir() if is_audio_file(p)):
            items.append(Item(path, {"label": label}, fold=int(path.name[0])))
    return items


def read_esc50(root: Path) -> list[Item]:
    """`meta/esc50.csv` gives each clip in `audio/` its fold and category."""
    return [Item(root / "audio" / row["filename"], {"label": row["category"]}, fold=int(row["fold"]))
            for row in _rows(root, "meta/esc50.csv")]


# ESC clips are padded with digital silence: a -70 dB floor (amin 1e-7) keeps that padding from dominating
# the normalisation. Half of ESC's classes are textures (rain, sea waves, fire, helicopter), which mean
# pooling suits; with no validation set the run length is fixed. docs/ has the measurements behind each.
ESC_DEFAULTS = {
    "features": {"sr": 22050, "n_fft": 1024, "hop_length": 441, "n_mels": 64, "amin": 1e-7},
    "window": 5.0,
    "pooling": "mean",
    "epochs": 100,
}


# --- UrbanSound8K: urban sounds, 10 folds ------------------------------------------------------

def read_urbansound8k(root: Path) -> list[Item]:
    """`metadata/UrbanSound8K.csv` gives each slice its class and fold; the audio lies in `audio/fold{N}/`."""
    return [Item(root / "audio" / f"fold{row['fold']}" / row["slice_file_name"], {"label": row["class"]},
                 fold=int(row["fold"]))
            for row in _rows(root, "metadata/UrbanSound8K.csv")]


# --- Speech Commands v1 and v2: one-second spoken words, official valid and test lists -----------

NOISE_FOLDER = "_background_noise_"  # the Speech Commands convention: background noise, not a class
COMMANDS = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}


def read_speech_commands(root: Path) -> list[Item]:
    """One folder per word; `validation_list.txt` and `testing_list.txt` name the valid and test files, the rest is
    train. `command` is the 12-class task (ten words, `_unknown_`, `_silence_`); `word` is every word."""
    valid = set(_read(root, "validation_list.txt").split())
    test = set(_read(root, "testing_list.txt").split())
    words = sorted(p for p in root.iterdir() if p.is_dir() and p.name[0] not in "_.")
    items = []
    for folder in words:
        for path in sorted(folder.glob("*.wav")):
            name = f"{folder.name}/{path.name}"
            split = "test" if name in test else "valid" if name in valid else "train"
            command = folder.name if folder.name in COMMANDS else "_unknown_"
            items.append(Item(path, {"command": command, "word": folder.name}, split))
    return items + _silence(root, round(len(items) / max(len(words), 1) / 10))


def _silence(root: Path, n: int) -> list[Item]:
    """About `n` one-second clips of `_background_noise_`, cut once into `_silence_clips/`, labelled for `command`
    only; the split is in each clip's name."""
    clips = silence_clips(root / NOISE_FOLDER, root / "_silence_clips", n, "copy the corpus somewhere writable")
    return [Item(p, {"command": "_silence_"}, p.name.split("-", 1)[0]) for p in clips]


def silence_clips(noise: Path, folder: Path, n: int, hint: str) -> list[Path]:
    """About `n` one-second clips cut from the `.wav` recordings in `noise` into `folder` (once: a later call finds
    them there), each named `{split}-{recording}-{j}.wav` (see `_cut_silence`); none where `noise` has no `.wav`
    files. A `folder` that cannot be written is a `DataError` ending in `hint`."""
    if not folder.is_dir():
        if n == 0 or not any(noise.glob("*.wav")):
            return []
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            _cut_silence(noise, folder, n)
        except OSError as error:
            raise DataError(f"could not write silence clips into {folder} ({error}); {hint}.") from None
    return sorted(folder.glob("*.wav"))


def _explain_silence(root: Path, items: list[Item]) -> list[str]:
    """Why a copy of Speech Commands has no `_silence_` class, where it has none."""
    if any(item.labels["command"] == "_silence_" for item in items):
        return []
    commands = len({item.labels["command"] for item in items})
    return [(f"{root} has no {NOISE_FOLDER} folder of recordings to cut silence from, so the command target has "
             f"no _silence_ class: {commands} classes, not 12")]


def _cut_silence(noise: Path, folder: Path, n: int) -> None:
    """Cut clips evenly from each recording, in proportion to its length; the first 80% of a recording's clips are
    train, the next 10% valid and the last 10% test, so each split comes from its own stretch of a recording."""
    recordings = {p.stem: sf.read(p, dtype="float32") for p in sorted(noise.glob("*.wav"))}
    total = sum(len(y) for y, _ in recordings.values())
    # A folder, not a file, so not gruve.files: the clips go to a hidden folder renamed into place once all
    # are written, so a killed run leaves no half-cut `_silence_clips/` that a later run would take as whole.
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".silence-"))
    try:
        for stem, (y, sr) in recordings.items():
            k = round(n * len(y) / total) if len(y) >= sr else 0
            for j, start in enumerate(np.linspace(0, len(y) - sr, k).astype(int)):
                split = "train" if j < 0.8 * k else "valid" if j < 0.9 * k else "test"
                sf.write(tmp / f"{split}-{stem}-{j:03d}.wav", y[start:start + sr], sr)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


SPEECH_DEFAULTS = {
    "features": {"sr": 16000, "n_fft": 512, "hop_length": 160, "n_mels": 40},
    "window": 1.0,
}


# Pieces of music 30 s long (GTZAN, groove-styles): GTZAN's rate; a 10 s window holds a few bars at any tempo;
# evaluate scores a clip, and predict answers a piece, with the mean over its windows. Measured on groove-styles
# (docs/listen.md): GTZAN is not here, so no GTZAN number is ours.
MUSIC_DEFAULTS = {
    "features": {"sr": 22050, "n_fft": 1024, "hop_length": 512, "n_mels": 96},
    "window": 10.0,
    "epochs": 30,
    "answer": "clip",
}


# --- GTZAN: music genres, fault-filtered artist split ----------------------------------------------

def read_gtzan(root: Path) -> list[Item]:
    """`{genre}/{genre}.000NN.wav`, split by the fault-filtered lists of Kereliuk, Sturm & Larsen (2015)
    (github.com/coreyker/dnn-mgr, 443/197/290 excerpts); the 70 excerpts they leave out are not read."""
    root = root / "genres" if (root / "genres").is_dir() else root
    return [Item(root / name, {"label": name.split("/")[0]}, split)
            for split in SPLITS
            for name in (SPLIT_LISTS / f"gtzan_{split}_filtered.txt").read_text().split()
            if (root / name).is_file()]


KNOWN: dict[str, KnownCorpus] = {
    "fsdd": KnownCorpus(
        "fsdd",
        FSDD_URL,
        FSDD_CHECKSUM,
        "free-spoken-digit-dataset-1.0.10",
        read_fsdd,
        ["digit", "speaker"],
        {"features": FSDD_FEATURES, "window": 1.0, "epochs": 30},
    ),
    "fsdd-sequences": KnownCorpus(
        "fsdd-sequences",
        FSDD_URL,
        FSDD_CHECKSUM,
        "free-spoken-digit-dataset-1.0.10",
        fsdd_sequences.read,
        ["text", "speaker"],
        # The gaps between words are digital silence, over a quarter of the frames: a -80 dB floor (amin 1e-8,
        # just below FSDD's quietest recorded frames) keeps them from dominating the normalisation, as for ESC.
        # Each digit is a word token: with characters, the space token filled every gap, and since no text
        # starts with one, the first digit was emitted at the first frame, before it was heard (docs/listen.md).
        {"features": {**FSDD_FEATURES, "amin": 1e-8}, "epochs": 20, "unit": "words"},
        prepare=_fsdd_sequences,
    ),
    "esc10": KnownCorpus(
        "esc10",
        "https://github.com/karolpiczak/ESC-10/archive/refs/heads/master.zip",
        None,  # no published checksum of this branch archive could be found, so it is not verified
        "ESC-10-master",
        read_esc10,
        ["label"],
        ESC_DEFAULTS,
    ),
    "esc50": KnownCorpus(
        "esc50",
        "https://github.com/karolpiczak/ESC-50/archive/master.zip",
        "md5:7771e4b9d86d0945acce719c7a59305a",
        "ESC-50-master",
        read_esc50,
        ["label"],
        ESC_DEFAULTS,
    ),
    "urbansound8k": KnownCorpus(
        "urbansound8k",
        "https://zenodo.org/records/1203745/files/UrbanSound8K.tar.gz",
        "md5:9aa69802bbf37fb986f71ec1483a196e",
        "UrbanSound8K",
        read_urbansound8k,
        ["label"],
        {**ESC_DEFAULTS, "window": 4.0},
    ),
    "speechcommands-v1": KnownCorpus(
        "speechcommands-v1",
        "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
        "sha256:743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
        ".",
        read_speech_commands,
        ["command", "word"],
        SPEECH_DEFAULTS,
        _explain_silence,
    ),
    "speechcommands-v2": KnownCorpus(
        "speechcommands-v2",
        "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        "sha256:af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
        ".",
        read_speech_commands,
        ["command", "word"],
        SPEECH_DEFAULTS,
        _explain_silence,
    ),
    "gtzan": KnownCorpus(
        "gtzan",
        # The original host (opihi.cs.uvic.ca) is gone; the Internet Archive serves its exact bytes.
        "https://web.archive.org/web/20220328223413id_/http://opihi.cs.uvic.ca/sound/genres.tar.gz",
        "sha256:24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6",
        "genres",
        read_gtzan,
        ["label"],
        MUSIC_DEFAULTS,
    ),
    "groove-styles": KnownCorpus(
        "groove-styles",
        groove_styles.GROOVE_URL,
        None,  # Magenta publishes no checksum of the archive, so it is not verified
        "groove",
        groove_styles.read,
        ["style"],
        MUSIC_DEFAULTS,
        prepare=groove_styles.render,
    ),
}
