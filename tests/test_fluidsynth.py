"""Rendering MIDI through FluidSynth within bounds: a piece FluidSynth would render for ever, or one that
asks for thousands of notes at once, is stopped in seconds, leaving no temporary file and no child behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf
from symusic import Note, Score, Track

from gruve import fluidsynth as rendering
from gruve.compose.render import write_music
from gruve.fluidsynth import RenderError, render

pytestmark = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth is not installed")


def chord(path: Path, notes: int, ticks: int = 192) -> Path:
    """`notes` notes that all start at once and last 12 quarters, spread over the piano's keys in order of pitch:
    from about 3,000 of them FluidSynth loses their note-offs and renders for ever."""
    score = Score(16)
    score.tracks.append(Track(program=0))
    for i in range(notes):
        score.tracks[0].notes.append(Note(0, ticks, 21 + i * 88 // notes, 99))
    score.dump_midi(str(path))
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".mid")


def test_ten_thousand_notes_at_once_are_refused_in_one_sentence(tmp_path):
    midi = chord(tmp_path / "dense.mid", 10_000)
    started = time.perf_counter()
    with pytest.raises(RenderError, match=r"dense\.mid sounds 10,000 notes at once, more than the 1,024"):
        render(midi, tmp_path / "dense.wav")
    assert time.perf_counter() - started < 5 and leftovers(tmp_path) == []


def test_a_render_that_goes_on_past_the_piece_is_stopped_by_its_size_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(rendering, "MAX_POLYPHONY", 100_000)  # past the refusal, as a MIDI it misses would be
    midi = chord(tmp_path / "dense.mid", 3_000)
    started = time.perf_counter()
    with pytest.raises(RenderError, match=r"went on writing past 6\.4 MB for the 6 seconds of .*dense\.mid"):
        render(midi, tmp_path / "dense.wav")
    assert time.perf_counter() - started < 20 and leftovers(tmp_path) == []


def test_a_render_that_takes_too_long_is_stopped_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(rendering, "TIME_FLOOR", 0.0)
    monkeypatch.setattr(rendering, "TIME_PER_SECOND", 0.001)
    with pytest.raises(RenderError, match=r"took more than 0 seconds to render .*c\.mid, so it was stopped"):
        render(chord(tmp_path / "c.mid", 3, ticks=64), tmp_path / "c.wav")
    assert leftovers(tmp_path) == []


def test_a_normal_piece_still_renders_within_its_bound(tmp_path):
    wav = render(chord(tmp_path / "c.mid", 3, ticks=64), tmp_path / "c.wav", sr=22050)  # 2 s of a triad
    y, sr = sf.read(wav)
    assert sr == 22050 and 2 * sr <= len(y) <= (2 + rendering.RELEASE_SECONDS) * sr and abs(y).max() > 0.01
    assert leftovers(tmp_path) == ["c.wav"]


def test_an_interrupt_ends_the_renders_and_removes_their_files(tmp_path, monkeypatch):
    monkeypatch.setattr(rendering, "MAX_POLYPHONY", 100_000)
    monkeypatch.setattr(rendering, "RELEASE_SECONDS", 3600.0)  # renders that would run a while
    midi = chord(tmp_path / "dense.mid", 3_000)
    scores = [Score(str(midi))] * 3
    # Ctrl-C, delivered to the main thread (where Python raises KeyboardInterrupt) and not to FluidSynth
    # (a test run in the background, as CI may start it, inherits SIGINT ignored: give it Python's handler)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Timer(1.0, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT)).start()
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            write_music(scores, tmp_path / "out", ["a", "b", "c"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - started < 10
    assert leftovers(tmp_path / "out") == []


def children_of(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a child dies with its parent on Linux only")
def test_fluidsynth_dies_with_gruve(tmp_path):
    midi = chord(tmp_path / "dense.mid", 3_000)
    script = ("import sys; from pathlib import Path; from gruve import fluidsynth as r; "
              "r.MAX_POLYPHONY = r.RELEASE_SECONDS = 10**6; r.render(Path(sys.argv[1]), Path(sys.argv[2]))")
    gruve = subprocess.Popen([sys.executable, "-c", script, str(midi), str(tmp_path / "dense.wav")])
    try:
        for _ in range(100):  # until FluidSynth has started
            time.sleep(0.1)
            fluidsynth = [c for c in children_of(gruve.pid) if "fluidsynth" in Path(f"/proc/{c}/cmdline").read_text()]
            if fluidsynth:
                break
        assert fluidsynth, "FluidSynth never started"
        os.kill(gruve.pid, signal.SIGKILL)
        gruve.wait()
        deadline = time.monotonic() + 5
        while Path(f"/proc/{fluidsynth[0]}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{fluidsynth[0]}").exists(), "FluidSynth outlived gruve"
    finally:
        gruve.kill()
