"""groove-styles: the drum grooves of the Groove MIDI Dataset rendered to audio, to learn a groove's style by ear.

Groove MIDI (Gillick et al., ICML 2019) holds MIDI only: 1,150 performances by 10 drummers, each with a style
(`funk/groove1`: the style is the part before the slash) and the official train/validation/test split in
`info.csv`. gruve keeps the beats (the fills are 1-5 s transitions, not grooves), cuts each into up to
MAX_CLIPS consecutive clips of CLIP_SECONDS and renders every clip through FluidSynth with one of the
soundfont's General MIDI drum kits, in turn, so that a style is never one kit's sound. The audio is rendered,
not recorded: a model trained on it has heard a soundfont, not a drummer in a room.

The rendering runs once, into the cache, in a folder named by a digest of `info.csv` and of everything below,
so a different copy of the corpus or a change here renders afresh instead of reading stale clips.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from gruve.data.items import DataError, Item
from gruve.progress import track

GROOVE_URL = "https://storage.googleapis.com/magentadata/datasets/groove/groove-v1.0.0-midionly.zip"
# The General MIDI drum kits of FluidR3_GM (bank 128), by program number; its Orchestra kit is left out.
KITS = {"standard": 0, "room": 8, "power": 16, "electronic": 24, "tr-808": 25, "jazz": 32, "brush": 40}
CLIP_SECONDS = 30.0  # GTZAN's length, so a model and a recipe carry over
MAX_CLIPS = 4  # per performance: rock alone has 173 training beats, some of them minutes long
MIN_SECONDS = 10.0  # a last stretch shorter than this is not a clip of its own (a short beat is still one clip)
SR = 22050
CHUNK = 16  # clips rendered side by side before their WAVs are turned into FLAC and deleted
SPLITS = {"train": "train", "validation": "valid", "test": "test"}


@dataclass
class Clip:
    """One stretch of one beat performance, and the kit it is rendered with."""

    name: str  # the clip's file name: `{split}/{performance id with _ for /}-{j}.flac`
    midi: str  # the performance's MIDI file, relative to the corpus root
    start: float
    seconds: float
    style: str
    split: str
    drummer: str
    kit: str


def clips(root: Path) -> list[Clip]:
    """The clips of the Groove MIDI Dataset at `root`, read from its `info.csv`."""
    info = root / "info.csv"
    if not info.is_file():
        raise DataError(f"{root} has no info.csv; groove-styles:PATH needs the Groove MIDI Dataset's folder.")
    with info.open(newline="") as f:
        beats = [row for row in csv.DictReader(f) if row.get("beat_type") == "beat"]
    kits = list(KITS)
    found = []
    for i, row in enumerate(beats):
        duration = float(row["duration"])
        starts = [0.0]
        while len(starts) < MAX_CLIPS and starts[-1] + CLIP_SECONDS + MIN_SECONDS <= duration:
            starts.append(starts[-1] + CLIP_SECONDS)
        for j, start in enumerate(starts):
            found.append(Clip(f"{SPLITS[row['split']]}/{row['id'].replace('/', '_')}-{j}.flac", row["midi_filename"],
                              start, min(CLIP_SECONDS, duration - start), row["style"].split("/")[0],
                              SPLITS[row["split"]], row["drummer"], kits[(i + j) % len(kits)]))
    if not found:
        raise DataError(f"{info} lists no beat performances; is it the Groove MIDI Dataset's info.csv?")
    return found


def render(root: Path, cache: Path) -> Path:
    """The folder of rendered clips of the corpus at `root`, with their `clips.csv`: found in `cache`, or
    rendered there first (minutes; a killed run leaves only a hidden folder that the next run replaces)."""
    from gruve.fluidsynth import RenderError, find_soundfont

    found = clips(root)
    try:
        soundfont = find_soundfont()
    except RenderError as error:
        raise DataError(f"groove-styles renders MIDI to audio, and {error}") from None
    recipe = repr((sorted(KITS.items()), CLIP_SECONDS, MAX_CLIPS, MIN_SECONDS, SR, soundfont.name,
                   soundfont.stat().st_size)).encode()
    digest = hashlib.sha256((root / "info.csv").read_bytes() + recipe).hexdigest()[:12]
    folder = cache / "rendered" / f"groove-styles-{digest}"
    if (folder / "clips.csv").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    print(f"rendering {len(found):,} clips of {root} with {len(KITS)} drum kits of {soundfont.name} into {folder} "
          "(once)", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".groove-styles-"))
    try:
        for split in SPLITS.values():
            (tmp / split).mkdir()
        chunks = [found[i:i + CHUNK] for i in range(0, len(found), CHUNK)]
        for chunk in track(chunks, "rendering Groove MIDI"):
            _render_chunk(root, chunk, tmp)
        with (tmp / "clips.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(asdict(found[0])))
            writer.writeheader()
            writer.writerows(asdict(clip) for clip in found)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _render_chunk(root: Path, chunk: list[Clip], out: Path) -> None:
    """Render `chunk` side by side into `out` as mono FLAC of SR, each cut to its clip's length."""
    import symusic

    from gruve.fluidsynth import RenderError, render_all

    jobs = []
    for clip in chunk:
        midi = root / clip.midi
        try:
            score = symusic.Score(str(midi)).to("second")
        except Exception as error:  # symusic raises its own C++ errors for a broken file
            raise DataError(f"{midi} cannot be read as MIDI ({error}).") from None
        score = score.clip(clip.start, clip.start + clip.seconds).shift_time(-clip.start)
        for track_ in score.tracks:
            track_.is_drum, track_.program = True, KITS[clip.kit]
        stem = out / clip.name
        score.dump_midi(str(stem.with_suffix(".mid")))
        jobs.append((stem.with_suffix(".mid"), stem.with_suffix(".wav")))
    for clip, (midi, wav), result in zip(chunk, jobs, render_all(jobs, sr=SR)):
        if isinstance(result, RenderError):
            raise DataError(f"groove-styles could not render {root / clip.midi}: {result}")
        y, _ = sf.read(wav, dtype="float32")
        sf.write(out / clip.name, np.mean(y, axis=1)[:int(clip.seconds * SR)], SR, subtype="PCM_16")
        midi.unlink()
        wav.unlink()


def read(folder: Path) -> list[Item]:
    """The rendered clips in `folder` as items labelled by style, in Groove's official split, grouped by drummer."""
    with (folder / "clips.csv").open(newline="") as f:
        return [Item(folder / row["name"], {"style": row["style"]}, row["split"], group=row["drummer"])
                for row in csv.DictReader(f)]
