"""Shared fixtures: the real data sets (from $GRUVE_DATASETS or ../shared/datasets) and small made-up audio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def datasets_dir() -> Path | None:
    path = Path(os.environ.get("GRUVE_DATASETS", ROOT.parent / "shared" / "datasets"))
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def datasets() -> Path:
    path = datasets_dir()
    if path is None:
        pytest.skip("real data sets not found: set GRUVE_DATASETS")
    return path


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own feature and download cache, never the user's."""
    monkeypatch.setenv("GRUVE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def tone(freq: float, seconds: float = 0.5, sr: int = 16000, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="session")
def tone_folder(tmp_path_factory) -> Path:
    """Two easy classes of made-up audio: low and high tones, 12 clips each, in class folders."""
    root = tmp_path_factory.mktemp("tones")
    for label, base in (("low", 300.0), ("high", 2000.0)):
        (root / label).mkdir()
        for i in range(12):
            sf.write(root / label / f"{label}{i}.wav", tone(base * (1 + 0.02 * i), seed=i), 16000)
    return root


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run `gruve ARGS` in this process as a user would; returns (exit code, stdout, stderr)."""
    from gruve.cli import main

    old = sys.argv
    sys.argv = ["gruve", *args]
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def features_8k():
    """The small feature set of the made-up classifiers: 8 kHz, 32 mels."""
    from gruve.features import FeatureConfig

    return FeatureConfig(sr=8000, n_fft=256, hop_length=80, n_mels=32)


def make_classifier(architecture: str, pooling: str = "attention"):
    """A small untrained classifier with non-trivial normalisation and batch-norm statistics."""
    import torch

    from gruve.listen.model import AudioClassifier, ClassifierConfig

    torch.manual_seed(0)
    model = AudioClassifier(ClassifierConfig(["a", "b", "c"], features_8k(), architecture, 16, 2, pooling,
                                             conv_channels=(4, 8), conv_time_pool=(2, 2), window=0.5))
    model.feature_mean.fill_(-40.0)
    model.feature_std.fill_(15.0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def melody(rng: np.random.Generator, bars: int = 4, low: int = 60):
    """A made-up tune in C major (a `symusic.Score`), a note or a two-note chord on each eighth."""
    import symusic

    score = symusic.Score(480)
    track = symusic.Track(program=0)
    scale = [0, 2, 4, 5, 7, 9, 11, 12]
    for step in range(bars * 8):
        pitch = low + scale[int(rng.integers(0, 8))]
        track.notes.append(symusic.Note(step * 240, 240, pitch, 80))
        if step % 4 == 0:
            track.notes.append(symusic.Note(step * 240, 480, pitch - 12, 70))
    score.tracks.append(track)
    return score


def chorale(rng, steps: int) -> list[list[int]]:
    """Made-up four-voice chords moving stepwise around C major: easy to learn, not trivial."""
    root, piece = 0, []
    for _ in range(steps):
        root = (root + int(rng.choice([-1, 1, 2]))) % 7
        scale = [0, 2, 4, 5, 7, 9, 11]
        piece.append(sorted({48 + scale[root], 60 + scale[(root + 2) % 7], 64 + scale[(root + 4) % 7], 72 + scale[root]}))
    return piece


@pytest.fixture(scope="session")
def server():
    """A real `gruve serve` of a classifier, a composer and a transcriber in its own process (bench/serve_load.py's launcher),
    with default limits: its URL and process."""
    sys.path.insert(0, str(ROOT / "bench"))
    import serve_load

    with serve_load.launch(["fsdd-digits", "bach-chorales", "fsdd-transcribe"]) as running:
        yield running
