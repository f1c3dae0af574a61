"""`predict` reads a recording a block at a time: the same labels and timeline as classifying the whole
clip at once, in memory that does not grow with the recording (a 30-minute WAV took 2.3 GB before)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

import gruve
from gruve import audio
from gruve.listen import model as classifiers


def whole_clip(model, path, top_k):
    """The prediction from the whole clip's features at once, as `predict` made it before it streamed."""
    y = audio.load(path, model.config.features.sr)
    with torch.inference_mode():
        features = model.features(torch.from_numpy(y)[None])[0]
    starts, probabilities = model.window_probabilities(features)
    return model._prediction(str(path), starts, probabilities, features.shape[1], top_k)


def recording(path, seconds, sr, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(t)) * t) + 0.05 * rng.standard_normal(len(t))
    sf.write(path, np.stack([y] * channels, axis=1) if channels > 1 else y, sr)
    return path


@pytest.mark.parametrize("seconds,sr,channels", [
    (0.3, 8000, 1),  # shorter than a window
    (1.0, 8000, 1),  # exactly a window
    (1.013, 8000, 1),  # a window and a frame: two windows
    (3.3, 16000, 2),  # resampled, stereo
    (12.34, 8000, 1),  # more than a block
    (47.9, 44100, 1),  # several batches of windows, resampled
])
def test_predict_gives_what_the_whole_clip_gives(seconds, sr, channels, tmp_path, monkeypatch):
    monkeypatch.setattr(classifiers, "BLOCK_SECONDS", 1.7)  # blocks that end mid-frame and mid-window
    model = gruve.load("fsdd-digits")
    path = recording(tmp_path / "clip.wav", seconds, sr, channels)
    streamed, whole = model.predict(path, top_k=3), whole_clip(model, path, 3)
    assert [label for label, _ in streamed.top] == [label for label, _ in whole.top]
    np.testing.assert_allclose([p for _, p in streamed.top], [p for _, p in whole.top], atol=1e-5)
    assert [row[:3] for row in streamed.timeline] == [row[:3] for row in whole.timeline]
    np.testing.assert_allclose([row[3] for row in streamed.timeline], [row[3] for row in whole.timeline], atol=1e-5)
    assert gruve.listen.predict(model, [path], top_k=3).predictions[0].timeline == streamed.timeline


@pytest.mark.parametrize("y,phrase", [
    (np.zeros(0), "contains no samples"),
    (np.zeros(8000), "is all silence"),
])
def test_an_empty_or_silent_file_is_still_refused(y, phrase, tmp_path):
    sf.write(tmp_path / "bad.wav", y, 8000)
    result = gruve.listen.predict("fsdd-digits", [tmp_path / "bad.wav"])
    assert result.predictions == [] and phrase in result.failures[0] and "bad.wav" in result.failures[0]


PEAK = """
import resource, subprocess, sys
command = "import sys; from gruve.cli import main; sys.argv[0] = 'gruve'; main()"
subprocess.run([sys.executable, "-c", command, "listen", "predict", "fsdd-digits", sys.argv[1]], check=True,
               stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mb(path) -> float:
    """The peak resident memory of `gruve listen predict` on `path`, in MB, measured in a child of a child so
    that nothing else the tests ran counts."""
    done = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout) / 1024


def test_predict_on_a_long_recording_takes_no_more_memory_than_on_a_short_one(tmp_path):
    # Ten minutes at 16 kHz, written a block at a time: predicting it took 1.1 GB before, 30 seconds 0.4 GB.
    rng = np.random.default_rng(0)
    with sf.SoundFile(tmp_path / "long.wav", "w", 16000, 1, "PCM_16") as f:
        for _ in range(60):
            f.write(0.1 * rng.standard_normal(160_000))
    recording(tmp_path / "short.wav", 30, 16000)
    short, long = peak_rss_mb(tmp_path / "short.wav"), peak_rss_mb(tmp_path / "long.wav")
    assert long < short + 60 and long < 600, (short, long)
