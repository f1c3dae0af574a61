"""The listen verbs end to end, as a user runs them: train, evaluate, predict, and their mistakes."""

import csv
import json

import pytest
import soundfile as sf

from conftest import run_cli, tone

FAST = ["--epochs", "3", "--hidden", "16", "--layers", "1", "--batch-size", "8"]


@pytest.fixture(scope="module")
def trained(tone_folder, tmp_path_factory):
    """One small model trained through the CLI on made-up tones, shared by the tests below."""
    out = tmp_path_factory.mktemp("run")
    from gruve.cli import main

    # A module-scoped fixture cannot take capsys, so main runs here without run_cli.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["gruve", "listen", "train", str(tone_folder), "--out", str(out),
                                   "--model", "gru", *FAST])
        with pytest.raises(SystemExit) as done:
            main()
    assert not done.value.code
    return out


def test_training_writes_a_bundle_a_metrics_log_and_the_split(trained):
    assert (trained / "model.safetensors").is_file()
    assert (trained / "checkpoints" / "last.ckpt").is_file()
    assert (trained / "curves.png").stat().st_size > 1000
    with open(trained / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert any(r.get("val_acc") for r in rows) and any(r.get("train_loss") for r in rows)
    with open(trained / "split.csv") as f:
        assert {r["split"] for r in csv.DictReader(f)} == {"train", "valid", "test"}
    import gruve

    model = gruve.load(trained)
    assert model.labels == ["high", "low"] and model.meta["training"]["seed"] == 0
    assert "test_accuracy" in model.meta["metrics"]


def test_evaluate_writes_report_and_confusion_matrix(trained, tone_folder, tmp_path, capsys):
    code, out, _ = run_cli(["listen", "evaluate", str(trained), str(tone_folder), "--split", "test", "--json",
                            "--out", str(tmp_path)], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["clips"] == 2 and 0 <= report["accuracy"] <= 1
    assert set(report["per_class"]) == {"high", "low"} and sum(map(sum, report["confusion"])) == 2
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    assert json.loads((tmp_path / "report.json").read_text())["accuracy"] == report["accuracy"]


def test_predict_files_folders_and_globs_as_json_and_csv(trained, tone_folder, tmp_path, capsys):
    sf.write(tmp_path / "long.wav", tone(2000, 4.0), 16000)
    code, out, _ = run_cli(["listen", "predict", str(trained), str(tone_folder / "low"),
                            str(tone_folder / "high" / "high1*.wav"), str(tmp_path / "long.wav"), "--json", "-k", "2"],
                           capsys)
    assert code == 0
    predictions = json.loads(out)
    assert len(predictions) == 12 + 3 + 1
    assert all(len(p["top"]) == 2 for p in predictions)
    assert predictions[-1]["timeline"] and not predictions[0]["timeline"]
    code, out, _ = run_cli(["listen", "predict", str(trained), str(tone_folder / "low" / "low0.wav"), "--csv"], capsys)
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["path", "rank", "label", "probability", "start", "end"] and len(rows) == 2


def test_predict_reports_a_broken_file_and_labels_the_rest(trained, tone_folder, tmp_path, capsys):
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    code, out, err = run_cli(["listen", "predict", str(trained), str(tone_folder / "low" / "low0.wav"),
                              str(tmp_path / "broken.wav"), "--json"], capsys)
    assert code == 1 and len(json.loads(out)) == 1
    assert "broken.wav is not a readable audio file" in err and "Traceback" not in err


def test_training_skips_broken_files_and_lists_them(tone_folder, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tone_folder, data)
    (data / "low" / "corrupt.wav").write_bytes(b"\x00" * 100)
    (data / "high" / "empty.wav").write_bytes(b"")
    out = tmp_path / "run"
    code, _, err = run_cli(["listen", "train", str(data), "--out", str(out), "--epochs", "1", "--model", "gru",
                            *FAST[2:]], capsys)
    assert code == 0 and "skipped 2 unreadable file(s)" in err
    assert len((out / "skipped.txt").read_text().splitlines()) == 2
    code, _, err = run_cli(["listen", "train", str(data), "--out", str(tmp_path / "strict"), "--strict", *FAST], capsys)
    assert code == 1 and ("is empty (0 bytes)" in err or "not a readable audio file" in err)
    assert "Traceback" not in err


@pytest.mark.parametrize("args,phrase", [
    (["listen", "predict", "no-such-model", "x.wav"], "neither a model file nor a shipped model"),
    (["listen", "train", "/no/such/folder"], "not a folder, a CSV manifest or a known corpus"),
    (["listen", "predict", "MODEL", "/no/such/*.wav"], "matches no files"),
    (["listen", "evaluate", "MODEL", "DATA", "--split", "dev"], "--split dev is not one of"),
])
def test_user_mistakes_get_one_sentence_and_no_traceback(args, phrase, trained, tone_folder, capsys):
    args = [str(trained) if a == "MODEL" else str(tone_folder) if a == "DATA" else a for a in args]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and phrase in err and "Traceback" not in err


def test_resume_continues_from_the_last_checkpoint(tone_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["listen", "train", str(tone_folder), "--out", str(out), "--resume", *FAST], capsys)
    assert code == 1 and "--resume found no checkpoint" in err
    assert run_cli(["listen", "train", str(tone_folder), "--out", str(out), *FAST[:1], "1", *FAST[2:]], capsys)[0] == 0
    assert run_cli(["listen", "train", str(tone_folder), "--out", str(out), "--resume", *FAST], capsys)[0] == 0
    with open(out / "metrics.csv") as f:
        epochs = {int(r["epoch"]) for r in csv.DictReader(f) if r.get("val_acc")}
    assert epochs == {0, 1, 2}  # the resumed run went on from epoch 1, and the log still has epoch 0


def test_cross_validation_over_manifest_folds(tone_folder, tmp_path, capsys):
    files = sorted(tone_folder.rglob("*.wav"))
    with open(tmp_path / "folds.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "fold"])
        writer.writerows([p, p.parent.name, i % 3 + 1] for i, p in enumerate(files))
    code, out, _ = run_cli(["listen", "train", str(tmp_path / "folds.csv"), "--folds", "--out", str(tmp_path / "cv"),
                            "--model", "gru", *FAST[:1], "1", *FAST[2:]], capsys)
    assert code == 0 and "cross-validation over 3 folds" in out
    summary = json.loads((tmp_path / "cv" / "cross_validation.json").read_text())
    assert set(summary["folds"]) == {"1", "2", "3"} and 0 <= summary["mean_accuracy"] <= 1
