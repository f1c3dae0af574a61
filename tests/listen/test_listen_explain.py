"""`gruve listen explain`: the picture and numbers of why a classifier gave a file its label. Each number is
checked against what the model itself computes: the evidence adds up to its logits, the recomputed gates give
back its hidden states, and occlusion finds the sound the label rests on."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch

import gruve
from conftest import ROOT, make_classifier, run_cli, tone
from gruve.nn.gates import gate_activity

DIGIT = str(ROOT / "examples" / "digits" / "7_jackson_1.wav")
SEQUENCE = str(ROOT / "examples" / "digits" / "sequence_2_0_4_8_6.wav")


@pytest.fixture(autouse=True)
def one_thread():
    """Torch on one thread, as `explain` runs: `predict`, which these tests compare with, takes 2 s rather than
    0.03 s on a thread per core when another job keeps the cores busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def clip(tmp_path):
    """0.4 s of made-up sound at the made-up classifiers' 8 kHz: shorter than their 0.5 s window."""
    path = tmp_path / "clip.wav"
    sf.write(path, tone(700, 0.4, sr=8000), 8000)
    return path


def check_arrays(doc: dict) -> None:
    """The arrays of an explanation's JSON agree in length, and their time axes run forwards within the audio."""
    steps = len(doc["frame_times"])
    assert steps > 1
    for name in ("weights", "frame_logits", "evidence", "decisive", "frame_labels"):
        assert len(doc[name]) == steps, name
    assert doc["gate"] is None or len(doc["gate"]) == steps
    assert all(len(row) == len(doc["labels"]) for row in doc["frame_logits"])
    n_mels, frames = len(doc["frequencies"]), len(doc["mel_times"])
    for name in ("spectrogram", "occlusion"):
        assert len(doc[name]) == n_mels and {len(row) for row in doc[name]} == {frames}, name
    for name in ("mel_times", "frame_times", "frequencies"):
        assert np.all(np.diff(doc[name]) > 0), name
    assert 0 <= doc["frame_times"][0] and doc["frame_times"][-1] <= doc["duration"]
    assert 0 <= doc["mel_times"][0] and doc["mel_times"][-1] <= doc["duration"] + 1e-9
    assert all(0 <= a < b <= doc["duration"] for a, b in doc["decisive_spans"])


def test_the_command_writes_a_picture_and_numbers_and_agrees_with_predict(tmp_path, capsys):
    code, out, err = run_cli(["listen", "explain", "fsdd-digits", DIGIT, "--out", str(tmp_path)], capsys)
    assert code == 0, err
    doc = json.loads((tmp_path / "explain.json").read_text())
    assert (tmp_path / "explain.png").stat().st_size > 20_000
    label = gruve.load("fsdd-digits").predict(DIGIT).label
    assert doc["label"] == label == doc["prediction"]["top"][0]["label"] and doc["classes"][0] == label
    assert f"7_jackson_1.wav: {label} (probability" in out and "deciding frames: " in out
    assert str(tmp_path / "explain.png") in out and str(tmp_path / "explain.json") in out
    check_arrays(doc)
    # A crnn's recurrent frames are its conv front end's: 4 log-mel frames of 10 ms each, 40 ms apart.
    assert doc["frame_seconds"] == pytest.approx(0.04)
    np.testing.assert_allclose(np.diff(doc["frame_times"]), 0.04, atol=1e-9)
    np.testing.assert_allclose(np.diff(doc["mel_times"]), 0.01, atol=1e-9)
    assert sum(doc["weights"]) == pytest.approx(1, abs=1e-5)
    assert len(doc["gate"][0]) == 128 and doc["cell"] == "GRU" and "update gate z" in doc["gate_name"]

    code, out, _ = run_cli(["listen", "explain", "fsdd-digits", DIGIT, "--out", str(tmp_path), "--json"], capsys)
    assert code == 0 and json.loads(out) == doc


@pytest.mark.parametrize("architecture,pooling", [("gru", "mean"), ("gru", "attention"), ("crnn", "attention"),
                                                  ("bigru", "mean"), ("lstm", "attention")])
def test_the_evidence_adds_up_to_the_models_logits(architecture, pooling, clip):
    model = make_classifier(architecture, pooling)
    explanation = gruve.listen.explain(model, clip)
    y = torch.from_numpy(sf.read(clip, dtype="float32")[0])
    with torch.inference_mode():
        logits = model(y[None])[0].numpy()
    np.testing.assert_allclose(explanation.evidence.sum(0), logits, atol=1e-4)
    if pooling == "mean":
        np.testing.assert_allclose(explanation.weights, 1 / len(explanation.weights), rtol=1e-6)


def test_the_evidence_of_a_shipped_mean_pooling_model_adds_up_to_its_logits():
    model = gruve.load("esc10")
    path = ROOT / "examples" / "esc10" / "dog_bark.ogg"
    explanation = gruve.listen.explain(model, path)
    with torch.inference_mode():
        logits = model.classify(torch.from_numpy(explanation.spectrogram)[None])[0].numpy()
    np.testing.assert_allclose(explanation.evidence.sum(0), logits, atol=1e-4)
    assert explanation.label == model.predict(path).label


@pytest.mark.parametrize("architecture", ["gru", "bigru", "crnn", "lstm", "rnn"])
def test_every_cell_is_explained_with_its_gate(architecture, clip, tmp_path):
    model = make_classifier(architecture)
    rnn = model.recurrent.rnn
    explanation = gruve.listen.explain(model, clip, out=tmp_path)
    assert (tmp_path / "explain.png").stat().st_size > 20_000
    doc = explanation.to_dict()
    check_arrays(doc)
    if architecture == "rnn":
        assert doc["gate"] is None and doc["gate_name"] is None
    else:
        units = rnn.hidden_size * (2 if architecture == "bigru" else 1)
        assert len(doc["gate"][0]) == units
        assert doc["gate_name"].startswith("forget gate f" if architecture == "lstm" else "update gate z")


def test_the_gates_of_a_shipped_model_over_its_real_input_give_back_its_hidden_states():
    model = gruve.load("fsdd-digits")
    y = torch.from_numpy(sf.read(DIGIT, dtype="float32")[0])
    with torch.inference_mode():
        features = model.features(y[None])
        x = model.frontend((features - model.feature_mean[:, None]) / model.feature_std[:, None])
        h, gate = gate_activity(model.recurrent.rnn, x)
        np.testing.assert_allclose(h.numpy(), model.recurrent(x).numpy(), atol=1e-5)
    explanation = gruve.listen.explain(model, DIGIT)
    np.testing.assert_allclose(explanation.gate, gate[0].numpy(), atol=1e-6)


def tone_detector():
    """A made-up GRU model that says "tone" where the mel band nearest 1 kHz is loud: its one unit follows
    that band frame by frame (update gate shut: no memory), and mean pooling adds the frames up."""
    from conftest import features_8k
    from gruve.listen.model import AudioClassifier, ClassifierConfig

    model = AudioClassifier(ClassifierConfig(["tone", "quiet"], features_8k(), "gru", 1, 1, "mean", window=1.0))
    band = int(np.argmin(np.abs(gruve.listen.explanation._band_centres(model) - 1000)))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.feature_mean.fill_(-50.0)
        model.feature_std.fill_(20.0)
        rnn = model.recurrent.rnn
        rnn.bias_hh_l0[1] = -20.0  # z = 0: each frame's state is its own
        rnn.weight_ih_l0[2, band] = 1.0  # n = tanh(the band, normalised)
        model.head.weight[0, 0] = 3.0
        model.head.bias[0] = 1.0  # tone wins when the band is loud in more than a third of the frames
    return model.eval(), band


def test_occlusion_finds_the_tone_and_not_the_silence(tmp_path):
    model, band = tone_detector()
    path = tmp_path / "silence-then-tone.wav"
    sf.write(path, np.concatenate([np.zeros(4000, np.float32), tone(1000, 0.5, sr=8000, noise=0.0)]), 8000)
    explanation = gruve.listen.explain(model, path)
    assert explanation.label == "tone"
    tone_frames, silent_frames = explanation.mel_times > 0.55, explanation.mel_times < 0.45
    occlusion = explanation.occlusion[band]
    assert occlusion[tone_frames].min() > 0.01  # masking the tone lowers p(tone)
    assert occlusion[tone_frames].min() > occlusion[silent_frames].max()  # more than masking silence does
    np.testing.assert_allclose(explanation.occlusion[np.abs(np.arange(32) - band) >= 8], 0, atol=1e-6)  # bands it ignores
    assert explanation.frame_times[explanation.decisive].min() > 0.48  # the deciding frames are the tone's


def test_a_long_recording_is_explained_window_by_window(tmp_path):
    model = gruve.load("fsdd-digits")
    explanation = gruve.listen.explain(model, SEQUENCE, out=tmp_path)
    predicted = model.predict(SEQUENCE)
    assert explanation.prediction.answer == predicted.answer and explanation.prediction.segments == predicted.segments
    doc = json.loads((tmp_path / "explain.json").read_text())
    check_arrays(doc)
    samples = sf.info(SEQUENCE).frames
    assert len(doc["mel_times"]) == model.config.features.num_frames(samples)
    frame_times = np.asarray(doc["frame_times"])
    assert frame_times[0] < 0.05 and frame_times[-1] > doc["duration"] - 0.05  # the whole recording, once
    assert np.diff(frame_times).max() < 0.05
    for start, end, label, _ in predicted.segments:
        if label != "silence":  # a segment's middle is shown from a window of its label
            middle = np.abs(frame_times - (start + end) / 2).argmin()
            assert doc["frame_labels"][middle] == label
    assert set(doc["classes"]) >= {label for _, _, label, _ in predicted.segments if label != "silence"}
    assert (tmp_path / "explain.png").stat().st_size > 20_000


@pytest.mark.parametrize("args,phrase", [
    (["fsdd-digits", "{tmp}/missing.wav"], "missing.wav does not exist"),
    (["fsdd-digits", "{tmp}/text.wav"], "text.wav is not a readable audio file"),
    (["bach-chorales", DIGIT], "bach-chorales is a compose model, and this command needs a listen model"),
    (["fsdd-digits", DIGIT, "--out", "{tmp}/text.wav"], "text.wav is a file, not a folder"),
])
def test_bad_inputs_get_one_sentence(args, phrase, tmp_path, capsys):
    (tmp_path / "text.wav").write_text("not audio\n")
    out = ["--out", str(tmp_path / "out")] if "--out" not in args else []
    code, _, err = run_cli(["listen", "explain", *(a.format(tmp=tmp_path) for a in args), *out], capsys)
    assert code != 0 and phrase in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()  # the input is refused before anything is written


def test_a_cold_start(tmp_path):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gruve", "listen", "explain", "fsdd-digits", DIGIT, "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "explain.png").is_file()
    print(f"cold start of `gruve listen explain fsdd-digits 7_jackson_1.wav`: {seconds:.2f} s (target < 3 s)")
