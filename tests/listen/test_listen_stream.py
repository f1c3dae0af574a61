"""Streaming: frame by frame equals the offline pass; events, inputs and refusals through the CLI."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import ROOT, make_classifier as make, run_cli, tone
from gruve import audio, bundle
from gruve.listen.model import AudioClassifier
from gruve.listen.streaming import Stream

DIGITS = sorted((ROOT / "examples" / "digits").glob("*.wav"))


def streamed(model: AudioClassifier, y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list]:
    """Feed `y` in blocks of random length; every frame's probabilities and the events."""
    stream, rng, start, events = Stream(model, threshold=0.0, keep_frames=True), np.random.default_rng(seed), 0, []
    while start < len(y):
        size = int(rng.integers(1, 2000))
        events += stream.feed(y[start:start + size])
        start += size
    events += stream.close()
    return stream.frame_probabilities(), events


def offline(model: AudioClassifier, y: np.ndarray, stream: Stream) -> np.ndarray:
    """What each streamed frame should be: `classify` over the log-mel frames of its segment so far."""
    with torch.inference_mode():
        features = model.features(torch.from_numpy(y)[None])
        stride, segment = stream.net.stride, stream.segment_frames
        frames = features.shape[-1] // stride if stride > 1 else features.shape[-1]
        rows = []
        for t in range(frames):
            start = t // segment * segment
            rows.append(torch.softmax(model.classify(features[..., start * stride:(t + 1) * stride]), -1)[0])
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("architecture,pooling", [("crnn", "attention"), ("gru", "mean"), ("lstm", "attention"),
                                                  ("rnn", "mean")])
def test_each_streamed_frame_equals_the_offline_pass(architecture, pooling):
    model = make(architecture, pooling)
    y = np.concatenate([tone(400, 0.7, 8000), tone(1500, 0.6, 8000, seed=1)])  # three segments of 0.5 s
    probabilities, events = streamed(model, y)
    stream = Stream(model)
    expected = offline(model, y, stream)
    assert probabilities.shape == expected.shape
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    # Segments of the model's window (0.5 s: 12 frames of 40 ms for this crnn, 51 of 10 ms without conv);
    # each ends with an event that reports its last frame.
    ends = list(range(stream.segment_frames, len(expected), stream.segment_frames)) + [len(expected)]
    assert [e.end for e in events] == [round(end * stream.seconds_per_frame, 3) for end in ends]
    np.testing.assert_allclose([e.probability for e in events], [expected[end - 1].max() for end in ends], atol=1e-5)


def test_the_shipped_digit_model_streams_a_real_recording_as_it_classifies_it_offline():
    model = bundle.load("fsdd-digits")
    y = np.concatenate([audio.load(path, 8000) for path in DIGITS])
    probabilities, events = streamed(model, y, seed=1)
    np.testing.assert_allclose(probabilities, offline(model, y, Stream(model)), atol=1e-5)
    assert [e.start for e in events] == [float(i) for i in range(len(events))]  # segments of 25 frames of 40 ms


def test_bidirectional_models_refuse_to_stream_and_say_which_can():
    with pytest.raises(Exception, match="cannot stream; gru, crnn"):
        Stream(make("bigru"))


def test_stream_cli_prints_events_from_a_file_and_from_standard_input(capsys, tmp_path, monkeypatch):
    recording = ROOT / "examples" / "digits" / "sequence_2_0_4_8_6.wav"
    code, out, err = run_cli(["listen", "stream", "fsdd-digits", "--input", str(recording), "--json"], capsys)
    assert code == 0 and "real-time factor" in err
    events = [json.loads(line) for line in out.splitlines()]
    assert events and all(set(e) == {"start", "end", "label", "probability"} for e in events)
    assert all(e["probability"] >= 0.5 for e in events)

    y = audio.load(recording, 8000)
    raw = tmp_path / "audio.raw"
    raw.write_bytes((np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())

    class Stdin:
        buffer = raw.open("rb")

    monkeypatch.setattr("sys.stdin", Stdin)
    code, out, _ = run_cli(["listen", "stream", "fsdd-digits", "-i", "-", "--json"], capsys)
    assert code == 0
    assert [json.loads(line)["label"] for line in out.splitlines()] == [e["label"] for e in events]


def test_stream_cli_says_what_is_wrong(capsys, tmp_path):
    path = bundle.save(tmp_path / "bigru.safetensors", make("bigru"),
                       {"task": "listen", "config": make("bigru").config.to_dict()})
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone(500, 0.5, 8000), 8000)
    for args, message in [([str(path), "-i", str(clip)], "cannot stream"),
                          (["fsdd-digits", "-i", str(tmp_path / "missing.wav")], "does not exist"),
                          (["fsdd-digits", "-i", str(clip), "--hop-ms", "0"], "--hop-ms"),
                          (["fsdd-digits", "-i", "mic"], "microphone")]:
        code, _, err = run_cli(["listen", "stream", *args], capsys)
        assert code == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_stream_refuses_samples_that_are_not_finite(bad, tmp_path, capsys):
    y = tone(500, 1.0, 8000)
    y[4000] = bad
    stream = Stream(bundle.load("fsdd-digits"))
    stream.feed(y[:4000])
    with pytest.raises(audio.AudioError, match=r"^the audio fed to the stream contains NaN or infinite samples "
                                               r"\(the first at 0.500 s\)\.$"):
        stream.feed(y[4000:])
    sf.write(tmp_path / "bad.wav", y, 8000, subtype="FLOAT")
    code, out, err = run_cli(["listen", "stream", "fsdd-digits", "-i", str(tmp_path / "bad.wav")], capsys)
    assert code == 1 and not out and err.strip() == (f"error: {tmp_path / 'bad.wav'} contains NaN or infinite "
                                                     "samples (the first at 0.500 s).")


def test_a_stream_too_short_for_one_step_is_refused(tmp_path, capsys):
    sf.write(tmp_path / "click.wav", tone(500, 0.02, 8000), 8000)  # the digit model steps every 40 ms
    code, out, err = run_cli(["listen", "stream", "fsdd-digits", "-i", str(tmp_path / "click.wav")], capsys)
    assert code == 1 and not out and "click.wav holds 0.020 s of audio, shorter than the 0.040 s" in err
    assert len(err.strip().splitlines()) == 1
