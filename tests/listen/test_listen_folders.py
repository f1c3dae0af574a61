"""`gruve listen train` on the folders people bring: speakers kept apart, noise folders used as noise,
classes merged or left out."""

import csv
import json
from collections import defaultdict

import soundfile as sf

from conftest import run_cli, tone

FAST = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--batch-size", "8", "--model", "gru"]
SR = 8000


def _folder(root, words=("yes", "no", "up"), speakers=6, noise=True):
    for w, word in enumerate(words):
        (root / word).mkdir(parents=True)
        for s in range(speakers):
            for n in range(2):
                sf.write(root / word / f"{s:03d}cafe_nohash_{n}.wav", tone(300 + 300 * w, 0.25, SR, seed=s + n), SR)
    if noise:
        (root / "_background_noise_").mkdir()
        sf.write(root / "_background_noise_" / "tap.wav", tone(100, 20.0, SR, noise=0.5), SR)
    return root


def test_training_keeps_speakers_apart_and_uses_background_noise_as_noise(tmp_path, capsys):
    import gruve

    data = _folder(tmp_path / "sc")
    code, _, err = run_cli(["listen", "train", str(data), "--out", str(tmp_path / "run"), *FAST], capsys)
    assert code == 0, err
    assert "grouped 36 clips into 6 speakers by the Speech Commands naming (<speaker>_nohash_)" in err
    assert "no speaker is in two parts" in err
    assert "_background_noise_" in err and "not a class" in err
    model = gruve.load(tmp_path / "run")
    assert model.labels == ["no", "up", "yes"]
    assert model.config.window < 1.0  # the 20 s noise recording did not stretch the window
    assert model.meta["training"]["options"]["noise"] == str(data / "_background_noise_")
    where = defaultdict(set)
    with open(tmp_path / "run" / "split.csv") as f:
        for row in csv.DictReader(f):
            where[row["path"].rsplit("/", 1)[1].split("_nohash_")[0]].add(row["split"])
    assert len(where) == 6 and all(len(parts) == 1 for parts in where.values())
    code, _, err = run_cli(["listen", "evaluate", str(tmp_path / "run"), str(data), "--out", str(tmp_path / "ev")],
                           capsys)
    assert code == 0 and "model's own test split" in err  # the split stored in the bundle still works


def test_silence_class_merge_and_exclude(tmp_path, capsys):
    import gruve

    data = _folder(tmp_path / "sc", words=("yes", "yeah", "no", "up"))
    code, _, err = run_cli(["listen", "train", str(data), "--out", str(tmp_path / "run"), "--silence-class",
                            "--merge", "yes,yeah=yes", "--exclude", "up", *FAST], capsys)
    assert code == 0, err
    assert gruve.load(tmp_path / "run").labels == ["_silence_", "no", "yes"]
    assert "_silence_" in err


def test_noise_folder_names_another_folder_as_noise(tmp_path, capsys):
    import gruve

    data = _folder(tmp_path / "sc", noise=False)
    (data / "ambience").mkdir()
    sf.write(data / "ambience" / "room.wav", tone(100, 5.0, SR, noise=0.5), SR)
    code, _, err = run_cli(["listen", "train", str(data), "--out", str(tmp_path / "run"), "--noise-folder",
                            "ambience", *FAST], capsys)
    assert code == 0, err
    assert gruve.load(tmp_path / "run").labels == ["no", "up", "yes"]


def test_folder_mistakes_name_the_flag(tmp_path, capsys):
    data = _folder(tmp_path / "sc", noise=False)
    for args, phrase in ((["--merge", "yes,no"], "--merge"), (["--exclude", "maybe"], "--exclude maybe"),
                         (["--group-by", "(unclosed"], "--group-by"), (["--silence-class"], "--silence-class"),
                         (["--noise-folder", "nowhere"], "--noise-folder")):
        code, _, err = run_cli(["listen", "train", str(data), "--out", str(tmp_path / "run"), *args, *FAST], capsys)
        assert code == 1 and phrase in err and "Traceback" not in err, (args, err)
        assert not (tmp_path / "run" / "model.safetensors").exists()


def test_evaluate_reads_the_data_as_the_model_was_trained_on_it(tmp_path, capsys):
    """A model trained with --merge and --exclude is evaluated on its own folder with the same classes."""
    data = tmp_path / "data"
    for label, base in (("low", 300.0), ("lower", 250.0), ("high", 2000.0), ("odd", 900.0)):
        (data / label).mkdir(parents=True)
        for i in range(8):
            sf.write(data / label / f"{label}{i}.wav", tone(base * (1 + 0.02 * i), seed=i), 16000)
    run = tmp_path / "run"
    code, _, err = run_cli(["listen", "train", str(data), "--hidden", "8", "--epochs", "1", "--merge", "low,lower=low",
                            "--exclude", "odd", "--out", str(run)], capsys)
    assert code == 0, err
    code, out, err = run_cli(["listen", "evaluate", str(run), str(data), "--out", str(tmp_path / "eval")], capsys)
    assert code == 0 and "Traceback" not in err, err
    assert "the model's own test split" in err
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["labels"] == ["high", "low"]
