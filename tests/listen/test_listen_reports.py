"""What the listen verbs say: the run `train` is about to make, the timeline `predict` gives a long recording,
and the classes and size of the test set `evaluate` scored."""

import csv
import json
import re

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli

import gruve

FAST = ["--epochs", "1", "--hidden", "16", "--layers", "1", "--batch-size", "8", "--model", "gru"]
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
DIGITS = [3, 1, 4, 1, 5, 9, 2, 6]


@pytest.fixture(scope="module")
def trained(tone_folder, tmp_path_factory):
    """A small model trained on made-up tones (the lines `train` printed are checked below)."""
    out = tmp_path_factory.mktemp("run")
    from gruve.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["gruve", "listen", "train", str(tone_folder), "--out", str(out), *FAST])
        with pytest.raises(SystemExit) as done:
            main()
    assert not done.value.code
    return out


def test_train_says_the_window_features_and_split_before_training(tone_folder, tmp_path, capsys):
    code, _, err = run_cli(["listen", "train", str(tone_folder), "--out", str(tmp_path), *FAST], capsys)
    assert code == 0
    assert re.search(r"window 0\.5 s, chosen from the data .*median clip 0\.50 s", err)
    assert "16000 Hz" in err and "64 mel bins" in err and "n_fft 512" in err and "hop_length 160" in err
    assert re.search(r"train +20 clips: high 10, low 10", err)
    assert re.search(r"valid +2 clips: high 1, low 1", err) and re.search(r"test +2 clips: high 1, low 1", err)
    assert err.index("window 0.5 s") < err.index("training gru")
    code, _, err = run_cli(["listen", "train", str(tone_folder), "--out", str(tmp_path), "--overwrite",
                            "--window", "0.3", *FAST], capsys)
    assert code == 0 and "window 0.3 s, as --window asked" in err


def test_the_window_chosen_from_the_data_stays_near_the_typical_clip():
    """A folder of 2.5 s clips with a tail of long recordings once got a 10 s window: most of each window
    was padding."""
    from gruve.features import FeatureConfig
    from gruve.listen.training import _auto_window

    config = FeatureConfig()
    frames = [250] * 85 + [1000] * 15  # 2.5 s clips, and 15% of 10 s ones
    window = _auto_window([(np.zeros((1, n), np.float32), 0) for n in frames], config)
    assert window <= 5.0
    short = [150] * 50 + [160] * 50  # 1.5-1.6 s: whole, as before
    assert _auto_window([(np.zeros((1, n), np.float32), 0) for n in short], config) == 1.6


def long_recording(datasets, path, digits=DIGITS, gap=1.2):
    """FSDD digits (from its test split, files 0-4) spoken by different speakers, with `gap` seconds of quiet
    room noise around each."""
    rng = np.random.default_rng(0)
    parts = [np.zeros(int(0.8 * 8000), np.float32)]
    for i, digit in enumerate(digits):
        y, sr = sf.read(datasets / "fsdd" / "recordings" / f"{digit}_{SPEAKERS[i % 6]}_{i % 5}.wav", dtype="float32")
        assert sr == 8000
        parts += [y, np.zeros(int(gap * sr), np.float32)]
    y = np.concatenate(parts)
    sf.write(path, y + 0.001 * rng.standard_normal(len(y)).astype(np.float32), 8000)
    return path


def heard(spoken: list[str]) -> bool:
    """Whether `spoken` holds the recording's digits in order, with at most one more: a window over the end of
    one word and the start of the next can be called a digit by fsdd-digits, which was trained on single
    trimmed words (a known limit, in docs/listen.md)."""
    words = iter(spoken)
    return all(str(d) in words for d in DIGITS) and len(spoken) <= len(DIGITS) + 1


def test_a_long_recording_is_labelled_by_its_timeline_of_segments(datasets, tmp_path):
    import gruve

    path = long_recording(datasets, tmp_path / "digits.wav")
    prediction = gruve.load("fsdd-digits").predict(path, top_k=1)
    spoken = [label for _, _, label, _ in prediction.segments if label != "silence"]
    assert heard(spoken), spoken
    assert prediction.segments[0][2] == "silence" and prediction.segments[0][3] is None
    starts, ends = [s[0] for s in prediction.segments], [s[1] for s in prediction.segments]
    assert starts[0] == 0 and starts[1:] == ends[:-1] and ends[-1] == pytest.approx(sf.info(path).duration, abs=0.02)
    assert all(a[2] != b[2] for a, b in zip(prediction.segments, prediction.segments[1:]))  # adjacent ones merged
    assert prediction.answer == " ".join(spoken)
    short = gruve.load("fsdd-digits").predict(datasets / "fsdd" / "recordings" / "7_theo_3.wav")
    assert short.segments == [] and short.answer == short.label


def test_predict_prints_the_timeline_as_the_answer_and_keeps_json_and_csv(datasets, tmp_path, capsys, monkeypatch):
    from gruve.cli_common import out as console

    name = "a recording with a name far longer than the table has room for, of eight spoken digits.wav"
    path = long_recording(datasets, tmp_path / name)
    monkeypatch.setattr(console, "width", 60)
    code, out, _ = run_cli(["listen", "predict", "fsdd-digits", str(path)], capsys)
    answer = gruve.load("fsdd-digits").predict(path).answer
    assert code == 0 and heard(answer.split())
    assert answer in out
    cells = "".join(re.sub(r"[│┃┏┓┗┛┡┩└┘┌┐├┤─━╇╈╀┼┬┴╭╮╯╰ ]", "", line) for line in out.splitlines())
    assert str(path).replace(" ", "") in cells  # the whole name, wrapped over lines, not cut with "…"
    assert "…" not in out
    code, out, _ = run_cli(["listen", "predict", "fsdd-digits", str(path), "--json"], capsys)
    [prediction] = json.loads(out)
    assert {"path", "top", "timeline", "segments", "answer"} <= set(prediction)
    assert " ".join(s["label"] for s in prediction["segments"] if s["label"] != "silence") == answer
    code, out, _ = run_cli(["listen", "predict", "fsdd-digits", str(path), "--csv"], capsys)
    rows = list(csv.DictReader(out.splitlines()))
    assert " ".join(r["label"] for r in rows if r["rank"] == "segment" and r["label"] != "silence") == answer
    assert [r["label"] for r in rows if r["rank"] == "1"] == [prediction["top"][0]["label"]]


def test_evaluate_marks_classes_without_test_clips_and_a_tiny_test_set(trained, tone_folder, tmp_path, capsys):
    manifest = tmp_path / "one.csv"
    manifest.write_text(f"path,label,split\n{tone_folder / 'low' / 'low0.wav'},low,test\n"
                        f"{tone_folder / 'low' / 'low1.wav'},low,train\n{tone_folder / 'high' / 'high1.wav'},high,train\n")
    code, out, err = run_cli(["listen", "evaluate", str(trained), str(manifest), "--out", str(tmp_path / "e")], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if "high" in line)
    assert "no test clips" in row
    assert "too small to trust" in out + err
    code, out, _ = run_cli(["listen", "evaluate", str(trained), str(manifest), "--json", "--out", str(tmp_path / "e")],
                           capsys)
    report = json.loads(out)
    assert report["per_class"]["high"]["support"] == 0 and report["per_class"]["high"]["in_macro_f1"] is (
        report["per_class"]["high"]["predicted"] > 0)
    assert report["per_class"]["low"]["in_macro_f1"] is True


def test_classification_report_says_which_classes_macro_f1_counts():
    import torch

    from gruve.listen.evaluation import classification_report

    probs = torch.eye(3)[[0, 0, 1, 2]]  # the last clip, of class 1, predicted as 2: class 2 has no clips
    report = classification_report(["a", "b", "c"], [0, 0, 1, 1], probs)
    assert [report["per_class"][c]["in_macro_f1"] for c in "abc"] == [True, True, True]
    assert report["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    report = classification_report(["a", "b", "c"], [0, 1], torch.eye(3)[[0, 1]])
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "support": 0, "predicted": 0,
                                        "in_macro_f1": False}
    assert report["macro_f1"] == 1.0 and report["too_small"]
    assert not classification_report(["a", "b"], [0, 1] * 15, torch.eye(2)[[0, 1] * 15])["too_small"]



def test_a_model_of_whole_pieces_answers_a_long_recording_with_one_label(tone_folder, tmp_path, capsys):
    from conftest import tone

    code, _, err = run_cli(["listen", "train", str(tone_folder), "--out", str(tmp_path / "run"), "--answer", "clip",
                            *FAST], capsys)
    assert code == 0 and "a longer recording is answered with one label, the mean over its windows" in err
    path = tmp_path / "piece.wav"
    sf.write(path, np.concatenate([tone(300, 2.0), tone(2000, 2.0, seed=1)]), 16000)
    prediction = gruve.load(tmp_path / "run").predict(path)
    assert prediction.segments and prediction.answer == prediction.label  # the segments are kept, not the answer
    code, out, _ = run_cli(["listen", "predict", str(tmp_path / "run"), str(path)], capsys)
    assert code == 0 and "segments below" not in out and f"{prediction.probability:.3f}" in out
    code, out, _ = run_cli(["listen", "predict", str(tmp_path / "run"), str(path), "--json"], capsys)
    assert json.loads(out)[0]["answer"] == prediction.label and json.loads(out)[0]["segments"]
    code, _, err = run_cli(["listen", "train", str(tone_folder), "--out", str(tmp_path / "bad"), "--answer", "words",
                            *FAST], capsys)
    assert code != 0 and "--answer words is not one of segments, clip." in err and "Traceback" not in err


def test_train_says_which_classes_have_no_training_clips(tone_folder, tmp_path, capsys):
    rows = [f"{tone_folder / label / f'{label}{i}.wav'},{label},{'train' if i < 10 else 'valid'}"
            for label in ("low", "high") for i in range(12)]
    rows.append(f"{tone_folder / 'high' / 'high11.wav'},middle,test")  # a class only the test split has
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,split\n" + "\n".join(rows) + "\n")
    code, _, err = run_cli(["listen", "train", str(manifest), "--out", str(tmp_path / "run"), *FAST], capsys)
    assert code == 0 and "no training clips of middle: the model cannot learn it (--exclude leaves a class out)" in err
