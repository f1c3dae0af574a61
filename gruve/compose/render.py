"""MIDI to sound: FluidSynth with a General MIDI soundfont (the set-up installs both on Debian), and the
writing of generated pieces as MIDI, WAV and a piano-roll picture."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from gruve.errors import GruveError
from gruve.files import atomic_path

SOUNDFONTS = [
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian / Ubuntu: fluid-soundfont-gm
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",  # Fedora, Arch
    "/usr/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",  # macOS with Homebrew
]


class RenderError(GruveError):
    """MIDI that cannot be turned into sound here (no FluidSynth, no soundfont, a failed render)."""


def find_soundfont() -> Path:
    """`$GRUVE_SOUNDFONT`, else the first General MIDI soundfont found where packages put them."""
    candidates = [os.environ["GRUVE_SOUNDFONT"]] if os.environ.get("GRUVE_SOUNDFONT") else SOUNDFONTS
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise RenderError("no General MIDI soundfont found (install fluid-soundfont-gm, or set GRUVE_SOUNDFONT "
                      "to an .sf2 file).")


MAX_MINUTES = 15  # longer MIDI is not rendered: a broken file can ask for days of silence


def render(midi: Path, wav: Path, sr: int = 44100, gain: float = 0.6) -> Path:
    """Render `midi` to a WAV file at `sr` through FluidSynth; the file appears whole or not at all."""
    import symusic

    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise RenderError("FluidSynth is not installed (Debian: apt-get install fluidsynth fluid-soundfont-gm), "
                          "so no WAV was written.")
    soundfont = find_soundfont()
    minutes = symusic.Score(str(midi)).to("second").end() / 60
    if minutes > MAX_MINUTES:
        raise RenderError(f"{midi} lasts {minutes:,.0f} minutes, more than the {MAX_MINUTES} gruve renders.")
    with atomic_path(wav) as tmp:
        done = subprocess.run([fluidsynth, "-ni", "-q", "-g", str(gain), "-r", str(sr), "-T", "wav", "-F", str(tmp),
                               str(soundfont), str(midi)], capture_output=True, text=True)
        if done.returncode != 0 or not tmp.exists() or tmp.stat().st_size <= 44:
            reason = (done.stderr or done.stdout).strip().splitlines()
            raise RenderError(f"FluidSynth could not render {midi} ({reason[-1] if reason else 'no output'}).")
    return wav


def write_music(scores: list, out: Path, titles: list[str], say: Callable[[str], None] = print,
                primer_steps: int = 0, steps_per_quarter: int = 4) -> list[Path]:
    """Write each score as `sample-N.mid` and, where FluidSynth is there, `sample-N.wav` (a missing
    FluidSynth is said once, and the MIDI is still written), then one piano-roll PNG of them all."""
    from gruve.compose.pianoroll.rolls import LOWEST, score_to_roll
    from gruve.compose.scores import write_midi
    from gruve.plots import piano_rolls

    out.mkdir(parents=True, exist_ok=True)
    midis = [write_midi(score, out / f"sample-{i}.mid") for i, score in enumerate(scores, 1)]

    def rendered(midi: Path) -> Path | RenderError:
        try:
            return render(midi, midi.with_suffix(".wav"))
        except RenderError as error:
            return error

    # FluidSynth spends a while loading the soundfont for each file: side by side, pieces render sooner
    # than one after another.
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        wavs = list(pool.map(rendered, midis))
    written = [path for midi, wav in zip(midis, wavs) for path in (midi, wav) if isinstance(path, Path)]
    errors = [wav for wav in wavs if isinstance(wav, RenderError)]
    if errors:
        say(f"MIDI written, but no WAV: {errors[0]}")
    rolls = [score_to_roll(score, steps_per_quarter, drums=True) for score in scores]
    written.append(piano_rolls(rolls, out / "samples.png", titles, LOWEST, primer_steps))
    return written
