"""The writing of generated pieces as MIDI, WAV (through FluidSynth) and a piano-roll picture."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from gruve import files
from gruve.fluidsynth import RenderError, render_all


def midi_seconds(path: Path) -> float:
    """How long a MIDI file plays, in seconds, at its own tempi."""
    import symusic

    return symusic.Score(str(path)).to("second").end()


def write_music(scores: list, out: Path, titles: list[str], say: Callable[[str], None] = print,
                primer_steps: int = 0, steps_per_quarter: int = 4) -> list[Path]:
    """Write each score as `sample-N.mid` and, where FluidSynth is there, `sample-N.wav` (a missing
    FluidSynth is said once, and the MIDI is still written), then one piano-roll PNG of them all."""
    from gruve.compose.pianoroll.rolls import LOWEST, score_to_roll
    from gruve.compose.scores import write_midi
    from gruve.plots import piano_rolls

    files.writable_folder(out)
    midis = [write_midi(score, out / f"sample-{i}.mid") for i, score in enumerate(scores, 1)]
    say("lengths: " + ", ".join(f"{midi.stem} {midi_seconds(midi):.1f} s" for midi in midis))

    wavs = render_all([(midi, midi.with_suffix(".wav")) for midi in midis])
    written = [path for midi, wav in zip(midis, wavs) for path in (midi, wav) if isinstance(path, Path)]
    errors = [wav for wav in wavs if isinstance(wav, RenderError)]
    if errors:
        say(f"MIDI written, but no WAV: {errors[0]}")
    rolls = [score_to_roll(score, steps_per_quarter, drums=True) for score in scores]
    written.append(piano_rolls(rolls, out / "samples.png", titles, LOWEST, primer_steps, steps_per_quarter))
    return written
