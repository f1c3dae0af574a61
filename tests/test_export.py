"""ONNX export: onnxruntime gives what torch gives, for the whole classifier and for its streaming step."""

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from conftest import ROOT, make_classifier as make, run_cli, tone
from gruve import audio, bundle
from gruve.export import export
from gruve.listen.streaming import NEGATIVE, Stream


def session(path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("architecture", ["crnn", "gru", "lstm", "bigru"])
def test_exported_classifier_matches_torch_on_any_batch_and_length(architecture, tmp_path):
    model = make(architecture)
    written = [path for path, _ in export(model, tmp_path / "m.onnx")]
    assert written[0] == tmp_path / "m.onnx"
    assert len(written) == (1 if architecture == "bigru" else 2)  # a bidirectional model cannot stream
    y = np.stack([tone(300, 1.3, 8000), tone(2000, 1.3, 8000, seed=1), tone(900, 1.3, 8000, seed=2)])
    got = session(written[0]).run(None, {"waveform": y})[0]
    with torch.inference_mode():
        expected = torch.softmax(model(torch.from_numpy(y)), -1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    meta = {p.key: p.value for p in onnx.load(written[0]).metadata_props}
    assert json.loads(meta["labels"]) == ["a", "b", "c"]
    assert json.loads(meta["features"])["n_mels"] == 32 and meta["gruve_task"] == "listen"


def test_an_export_that_differs_from_torch_is_not_kept(tmp_path, monkeypatch):
    import gruve.export

    monkeypatch.setattr(gruve.export, "TOLERANCE", -1.0)  # every export now differs by more
    with pytest.raises(gruve.export.GruveError, match="it was not kept"):
        export(make("gru"), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_the_exported_streaming_step_streams_a_real_recording_as_gruve_does(tmp_path):
    model = bundle.load("fsdd-digits")
    _, (step_path, _) = export(model, tmp_path / "digits.onnx")
    meta = {p.key: p.value for p in onnx.load(step_path).metadata_props}
    features, chunk = json.loads(meta["features"]), json.loads(meta["chunk_samples"])
    names, segment = json.loads(meta["state_names"]), json.loads(meta["segment_frames"])
    y = np.concatenate([audio.load(path, 8000) for path in sorted((ROOT / "examples" / "digits").glob("*.wav"))])

    # The start the metadata documents: zeros, pool_max at -1e30, the tail primed with the first samples.
    state = {i.name: np.zeros([1 if isinstance(d, str) else d for d in i.shape], np.float32)  # batch 1
             for i in session(step_path).get_inputs() if i.name != "samples"}
    state["pool_max"][:] = NEGATIVE
    half, tail = features["n_fft"] // 2, features["n_fft"] - features["hop_length"]
    state["tail"][0] = np.concatenate([np.zeros(half, np.float32), y[: tail - half]])
    rest, step, got = y[tail - half:], session(step_path), []
    for start in range(0, segment * chunk, 5 * chunk):  # one segment, five frames per call
        probabilities, *new_state = step.run(None, {**state, "samples": rest[None, start:start + 5 * chunk]})
        state.update(zip(names, new_state))
        got.append(probabilities[0])

    stream = Stream(model, keep_frames=True)
    stream.feed(y)
    np.testing.assert_allclose(np.concatenate(got)[:segment], stream.frame_probabilities()[:segment], atol=1e-4)


def test_export_cli_writes_both_graphs_and_refuses_what_it_cannot(capsys, tmp_path):
    code, out, _ = run_cli(["export", "fsdd-digits", str(tmp_path / "digits.onnx")], capsys)
    assert code == 0 and "digits.onnx" in out and "digits.stream.onnx" in out
    assert (tmp_path / "digits.stream.onnx").is_file()
    code, _, err = run_cli(["export", "fsdd-digits", str(tmp_path / "digits.txt")], capsys)
    assert code == 1 and "should end in .onnx" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["jsb-gru", "jsb-gru-nade"])
def test_the_exported_piano_roll_step_samples_the_same_chorale_as_torch(name, tmp_path):
    """Eight steps of generation in onnxruntime, fed the same noise as torch: the same notes."""
    model = bundle.load(name)
    [(path, _)] = export(model, tmp_path / "m.onnx")
    step = session(path)
    generator = torch.Generator().manual_seed(0)
    frame = np.zeros((1, 88), np.float32)
    hidden = np.zeros((model.config.num_layers, 1, model.config.hidden_size), np.float32)
    torch_frame, torch_state, notes = torch.zeros(1, 88), None, 0
    for _ in range(8):
        noise = torch.rand(1, 88, generator=generator)
        frame, hidden = step.run(None, {"frame": frame, "hidden": hidden, "noise": noise.numpy(),
                                        "temperature": np.ones(1, np.float32)})
        with torch.inference_mode():
            context, torch_state = model.step(torch_frame, torch_state)
            torch_frame = model.head.sample(context, 1.0, noise=noise)
        np.testing.assert_array_equal(frame, torch_frame.numpy())
        notes += int(frame.sum())
    assert notes > 0  # it played something


def test_export_to_a_folder_or_under_a_file_is_one_sentence_and_writes_nothing(capsys, tmp_path):
    (tmp_path / "digits.onnx").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    for target, phrase in [(tmp_path / "digits.onnx", "digits.onnx is a folder; give the name of a file to write."),
                           (tmp_path / "notes.txt" / "d.onnx", "notes.txt is a file, not a folder).")]:
        code, out, err = run_cli(["export", "fsdd-digits", str(target)], capsys)
        assert code == 1 and not out and phrase in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["digits.onnx", "notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
