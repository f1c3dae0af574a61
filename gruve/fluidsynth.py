"""MIDI to sound: FluidSynth with a General MIDI soundfont (the set-up installs both on Debian), run within
bounds in a child that dies with gruve. Core, not compose: the groove-styles corpus renders MIDI too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

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
# Notes sounding at once beyond which a MIDI is refused. FluidSynth plays 256 voices; handed thousands of
# note-ons in one instant it loses their note-offs and renders noise for ever.
MAX_POLYPHONY = 1024
# A render's bounds, from the piece's length: the WAV FluidSynth writes (16-bit stereo) may hold the piece
# and RELEASE_SECONDS of ringing out, and the render may take TIME_FLOOR seconds (loading the soundfont)
# plus TIME_PER_SECOND per second of music (FluidSynth renders tens of times faster than real time). Both
# are checked every POLL_SECONDS.
RELEASE_SECONDS = 30.0  # a crash cymbal of some drum kits, with reverb, rings 10 s past its note-off
CHANNELS, SAMPLE_BYTES, WAV_HEADER = 2, 2, 4096
TIME_FLOOR, TIME_PER_SECOND = 60.0, 1.0
POLL_SECONDS = 0.05


def render(midi: Path, wav: Path, sr: int = 44100, gain: float = 0.6, children: Children | None = None) -> Path:
    """Render `midi` to a WAV file at `sr` through FluidSynth; the file appears whole or not at all.

    FluidSynth runs as a child that dies with gruve (on Linux), and is stopped when it runs past its
    bounds in time or size (see RELEASE_SECONDS) or when anything goes wrong here (an interrupt, say);
    its temporary file is removed then. With `children`, another thread can stop it too."""
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise RenderError("FluidSynth is not installed (Debian: apt-get install fluidsynth fluid-soundfont-gm), "
                          "so no WAV was written.")
    soundfont = find_soundfont()
    seconds = check_renderable(midi)
    max_bytes = WAV_HEADER + int((seconds + RELEASE_SECONDS) * sr) * CHANNELS * SAMPLE_BYTES
    timeout = TIME_FLOOR + TIME_PER_SECOND * seconds
    with atomic_path(wav) as tmp, tempfile.TemporaryFile() as log:
        args = [fluidsynth, "-ni", "-q", "-g", str(gain), "-r", str(sr), "-T", "wav", "-F", str(tmp),
                str(soundfont), str(midi)]
        with (children or Children()).running(args, log) as process:
            overrun = watch(process, tmp, timeout, max_bytes)
        if overrun == "size":
            raise RenderError(f"FluidSynth went on writing past {max_bytes / 1e6:,.1f} MB for the {seconds:,.0f} "
                              f"seconds of {midi}, so it was stopped and no WAV was written.")
        if overrun == "time":
            raise RenderError(f"FluidSynth took more than {timeout:,.0f} seconds to render {midi}, so it was "
                              "stopped and no WAV was written.")
        if process.returncode != 0 or not tmp.exists() or tmp.stat().st_size <= 44:
            log.seek(0)
            reason = log.read().decode(errors="replace").strip().splitlines()
            raise RenderError(f"FluidSynth could not render {midi} ({reason[-1] if reason else 'no output'}).")
    return wav


def check_renderable(midi: Path) -> float:
    """The length of `midi` in seconds, once it is known to be one FluidSynth can render within bounds."""
    import symusic

    score = symusic.Score(str(midi)).to("second")
    seconds = score.end()
    if seconds / 60 > MAX_MINUTES:
        raise RenderError(f"{midi} lasts {seconds / 60:,.0f} minutes, more than the {MAX_MINUTES} gruve renders.")
    polyphony = most_at_once(score)
    if polyphony > MAX_POLYPHONY:
        raise RenderError(f"{midi} sounds {polyphony:,} notes at once, more than the {MAX_POLYPHONY:,} gruve "
                          "renders, so no WAV was written.")
    return seconds


def most_at_once(score) -> int:
    """The largest number of notes of a symusic score that sound at the same moment, over all its tracks."""
    notes = [track.notes.numpy() for track in score.tracks if len(track.notes)]
    if not notes:
        return 0
    starts = np.concatenate([n["time"] for n in notes])
    ends = starts + np.maximum(np.concatenate([n["duration"] for n in notes]), 0)
    steps = np.concatenate([np.ones(len(starts), np.int64), -np.ones(len(ends), np.int64)])
    order = np.lexsort((steps, np.concatenate([starts, ends])))  # at one moment, notes that end go first
    return int(np.cumsum(steps[order]).max())


def watch(process: subprocess.Popen, output: Path, timeout: float, max_bytes: int) -> str | None:
    """Wait for `process`, which writes `output`: None once it has ended, or "time" or "size" as soon as it
    has run for more than `timeout` seconds or made `output` larger than `max_bytes` (it is still running)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            process.wait(POLL_SECONDS)
            return None
        except subprocess.TimeoutExpired:
            pass
        if output.exists() and output.stat().st_size > max_bytes:
            return "size"
        if time.monotonic() > deadline:
            return "time"


# What a FluidSynth child runs before it becomes FluidSynth (exec): on Linux, die when the gruve thread that
# started it does (prctl PR_SET_PDEATHSIG, which exec keeps). A separate interpreter rather than subprocess's
# `preexec_fn`, which can deadlock in a process with threads, as gruve's renders are.
CHILD = """
import ctypes, os, signal, sys
parent, command = int(sys.argv[1]), sys.argv[2:]
if sys.platform.startswith("linux"):
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    if os.getppid() != parent:  # gruve ended before the line above took effect
        sys.exit(1)
os.execv(command[0], command)
"""


class Children:
    """The FluidSynth processes of a set of renders: `stop` ends every one still running, from any thread,
    so an interrupt in the main thread reaches renders that run side by side in others."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._stopped = False

    @contextmanager
    def running(self, args: list[str], log: IO) -> Iterator[subprocess.Popen]:
        """Run `args` (its standard error to `log`) as a child that dies with gruve on Linux; it is killed
        when the block ends, if it has not ended by then."""
        with self._lock:
            if self._stopped:
                raise RenderError("rendering was stopped.")
            process = subprocess.Popen([sys.executable, "-I", "-S", "-c", CHILD, str(os.getpid()), *args],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
            self._running.add(process)
        try:
            yield process
        finally:
            process.kill()  # nothing once it has ended
            process.wait()
            with self._lock:
                self._running.discard(process)

    def stop(self) -> None:
        """Kill every child still running, and start no more."""
        with self._lock:
            self._stopped = True
            for process in self._running:
                process.kill()


def render_all(jobs: list[tuple[Path, Path]], sr: int = 44100) -> list[Path | RenderError]:
    """Render each `(midi, wav)` pair, side by side: the WAV written, or the `RenderError` that stopped it.
    FluidSynth spends a while loading the soundfont for each file, so renders side by side end sooner than
    one after another. An interrupt (which reaches the main thread only) stops every render still running."""
    children = Children()

    def rendered(job: tuple[Path, Path]) -> Path | RenderError:
        try:
            return render(*job, sr=sr, children=children)
        except RenderError as error:
            return error

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        try:
            return list(pool.map(rendered, jobs))
        except BaseException:  # end the renders, whose threads then clean up
            children.stop()
            raise
