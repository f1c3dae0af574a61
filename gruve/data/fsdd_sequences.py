"""fsdd-sequences: connected digit strings made from FSDD's recordings, to learn speech to text.

Each sequence is 2 to 7 clips of one speaker, in a random order, joined with random gaps of silence (and
now and then a slight overlap); its text is the digits it says, separated by spaces ("2 0 4 8 6"). The
speech is real, the order artificial. The protocol is FSDD's, for seen speakers: test sequences are made
only of FSDD's official test takes (0-4), validation sequences of takes 5-9 and training sequences of takes
10-49, so no recording is in two parts.

Everything is drawn from SEED, so every copy of FSDD gives the same sequences. They are written once into
the cache, in a folder named by a digest of FSDD's file list and of the recipe below, with `sequences.csv`
saying which clips each one joins and where each lies (`spans`: start-end in seconds, a clip's recording
whole, its quiet edges included).
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from gruve.data.items import SPLITS, DataError, Item

SEED = 0
SR = 8000  # FSDD's rate
COUNTS = {"train": 3000, "valid": 300, "test": 300}  # sequences per split
DIGITS = (2, 7)  # clips per sequence, both ends included
GAP = (-0.05, 0.35)  # seconds between clips; below zero the clips overlap (their samples add)
EDGE = (0.05, 0.3)  # seconds of silence before the first clip and after the last


def render(items: list[Item], cache: Path) -> Path:
    """The folder of sequences made from the FSDD `items` (read by `corpora.read_fsdd`), with its
    `sequences.csv`: found in `cache`, or written there first (a killed run leaves only a hidden folder that
    the next run replaces)."""
    if not items:
        raise DataError("fsdd-sequences found no FSDD recordings to join.")
    recipe = repr((SEED, SR, sorted(COUNTS.items()), DIGITS, GAP, EDGE, "spans")).encode()
    listing = "".join(f"{i.path.name}:{i.path.stat().st_size}\n" for i in sorted(items, key=lambda i: i.path.name))
    digest = hashlib.sha256(listing.encode() + recipe).hexdigest()[:12]
    folder = cache / "rendered" / f"fsdd-sequences-{digest}"
    if (folder / "sequences.csv").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    print(f"joining FSDD recordings into {sum(COUNTS.values()):,} digit sequences in {folder} (once)", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".fsdd-sequences-"))
    try:
        rows = _write(items, tmp)
        with (tmp / "sequences.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _write(items: list[Item], out: Path) -> list[dict]:
    """Draw and write every split's sequences into `out/{split}/`; their rows for `sequences.csv`."""
    rng = np.random.default_rng(SEED)
    pools = defaultdict(list)  # (split, speaker) -> [(digit, path)]
    for item in sorted(items, key=lambda i: i.path.name):
        pools[item.split, item.labels["speaker"]].append((item.labels["digit"], item.path))
    audio: dict[Path, np.ndarray] = {}
    rows = []
    for split in SPLITS:
        speakers = sorted(speaker for part, speaker in pools if part == split)
        if not speakers:
            raise DataError(f"fsdd-sequences found no FSDD recordings of the {split} takes.")
        (out / split).mkdir()
        for n in range(COUNTS[split]):
            speaker = speakers[n % len(speakers)]
            pool = pools[split, speaker]
            chosen = [pool[int(j)] for j in rng.integers(0, len(pool), int(rng.integers(DIGITS[0], DIGITS[1] + 1)))]
            clips = [audio.setdefault(path, _read(path)) for _, path in chosen]
            name = f"{split}/{speaker}-{n:04d}.wav"
            y, starts = _join(clips, rng)
            sf.write(out / name, y, SR, subtype="PCM_16")
            rows.append({"name": name, "text": " ".join(digit for digit, _ in chosen), "speaker": speaker,
                         "split": split, "clips": "+".join(path.name for _, path in chosen),
                         "spans": " ".join(f"{start / SR:.4f}-{(start + len(clip)) / SR:.4f}"
                                           for start, clip in zip(starts, clips))})
    return rows


def _read(path: Path) -> np.ndarray:
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    if sr != SR:
        raise DataError(f"{path} is at {sr} Hz, and FSDD's recordings are at {SR} Hz; is it FSDD?")
    return y.mean(axis=1)


def _join(clips: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """The clips one after another with a random gap (or overlap) between each two, and silence at the edges;
    and the sample each clip starts at."""
    starts, at = [], int(rng.uniform(*EDGE) * SR)
    for i, clip in enumerate(clips):
        starts.append(at)
        gap = int(rng.uniform(*GAP) * SR) if i < len(clips) - 1 else int(rng.uniform(*EDGE) * SR)
        at = max(at + len(clip) + gap, at + 1)
    y = np.zeros(max(at, starts[-1] + len(clips[-1])), np.float32)
    for start, clip in zip(starts, clips):
        y[start:start + len(clip)] += clip
    return np.clip(y, -1.0, 1.0), starts


def read(folder: Path) -> list[Item]:
    """The sequences in `folder`, labelled by text and speaker, in their split."""
    with (folder / "sequences.csv").open(newline="") as f:
        return [Item(folder / row["name"], {"text": row["text"], "speaker": row["speaker"]}, row["split"])
                for row in csv.DictReader(f)]
