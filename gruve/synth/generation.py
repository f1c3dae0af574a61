"""Generating sounds with a synthesiser: the options of `gruve synth generate` and the `generate` verb, which
writes each sound as a WAV and one picture of them all."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gruve.errors import GruveError, check, check_at_least, check_positive

# The most audio one generation makes: each sample costs a few kB while it is generated (about 60 MB per
# second of sound at 16 kHz, for the usual 8 sounds at once), so a typo such as `--seconds 1e9` is refused
# rather than allocated.
MAX_SECONDS = 60.0  # per sound: a minute
MAX_TOTAL_SECONDS = 600.0  # all the sounds of one generation together: ten minutes


@dataclass(kw_only=True)
class GenerateOptions:
    """What to generate: how many sounds of which label, how long, how hot, from which seed."""

    label: str | None = None  # which kind of sound; None: the model's first label
    n: int = 8  # how many sounds, generated together in one batch
    seconds: float | None = None  # each sound's length; None: 1.0, or `like`'s length
    temperature: float = 1.0  # below 1: cleaner, more predictable; above 1: noisier
    tail_temperature: float | None = None  # what each sound eases to after its onset; None: `temperature` throughout
    seed: int = 0  # the same seed gives the same sounds
    like: Path | None = None  # an audio file: the log-mel frames (vocoder) or envelope to follow
    raw: bool = False  # skip the model's output equaliser: the GRU's own sounds

    def __post_init__(self):
        check_sounds(self)
        if self.like is not None:
            self.like = Path(self.like)


def check_sounds(options) -> None:
    """What generating and evaluating check alike: `n` sounds of `seconds` each (None: the model's length),
    within MAX_SECONDS and MAX_TOTAL_SECONDS, finite temperatures above 0, a seed of 0 or more."""
    check_at_least(options.n, "n", 1)
    check_at_least(options.seed, "seed", 0)
    check_positive(options.seconds, "seconds", optional=True)
    check(options.seconds is None or options.seconds <= MAX_SECONDS, "seconds",
          f"{{seconds}} must be at most {MAX_SECONDS:g}, a minute of sound (got {options.seconds}).")
    total = options.n * (options.seconds or 1.0)
    check(total <= MAX_TOTAL_SECONDS, "n", f"{{n}} {options.n} sounds of {options.seconds or 1.0:g} seconds make "
          f"{total:,.0f} seconds of audio, more than the {MAX_TOTAL_SECONDS:g} gruve generates at once.")
    check_positive(options.temperature, "temperature")
    check_positive(options.tail_temperature, "tail_temperature", optional=True)


@dataclass
class Generated:
    """What `generate` made: the WAV files, the picture of them, the sounds themselves and how long it took."""

    paths: list[Path]
    picture: Path
    samples: np.ndarray = field(repr=False)  # (n, samples) float32
    sr: int
    seconds: float  # generation time, the writing left out

    @property
    def samples_per_second(self) -> float:
        """Samples generated per second of generation time."""
        return self.samples.size / max(self.seconds, 1e-9)


def generate(model, options: GenerateOptions, out: str | Path) -> Generated:
    """Generate `options.n` sounds with `model` (a WaveGRU, a bundle's path or a shipped model's name), write
    each as `out/LABEL-N.wav` (16-bit) and all of them into `out/sounds.png`."""
    import soundfile as sf
    import torch

    from gruve import audio, bundle
    from gruve.files import atomic_path
    from gruve.plots import sounds

    synthesiser = model if isinstance(model, torch.nn.Module) else bundle.load(model, task="synth")
    config, out = synthesiser.config, Path(out)
    label = options.label or config.labels[0]
    synthesiser.label_index(label)  # an unknown label is refused before any work
    reference = None if options.like is None else torch.from_numpy(audio.load(options.like, config.sr))
    seconds = options.seconds if options.seconds is not None or options.like else 1.0
    if seconds is None and len(reference) > MAX_SECONDS * config.sr:
        raise GruveError(f"{options.like} lasts {len(reference) / config.sr:,.0f} seconds, more than the "
                         f"{MAX_SECONDS:g} a generated sound may; give --seconds to follow its opening only.")
    started = time.perf_counter()
    waves = synthesiser.generate([label] * options.n, seconds, options.temperature, options.seed, reference,
                                 options.tail_temperature, options.raw)
    took = time.perf_counter() - started
    paths = [out / f"{label}-{i}.wav" for i in range(1, options.n + 1)]
    for path, y in zip(paths, waves):
        with atomic_path(path) as tmp:
            sf.write(tmp, y, config.sr, subtype="PCM_16")
    heat = f"temperature {options.temperature}" + ("" if options.tail_temperature is None
                                                   else f" to {options.tail_temperature}")
    picture = sounds(list(waves), config.sr, [f"{p.stem} ({heat}, seed {options.seed})" for p in paths],
                     out / "sounds.png")
    return Generated(paths, picture, waves, config.sr, took)
