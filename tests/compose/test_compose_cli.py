"""`gruve compose pianoroll train / evaluate / sample` as a user runs them, on a small made-up set."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import chorale, run_cli


@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    import numpy as np

    rng = np.random.default_rng(0)
    data = {split: [chorale(rng, int(rng.integers(12, 24))) for _ in range(n)]
            for split, n in (("train", 24), ("valid", 6), ("test", 6))}
    path = tmp_path_factory.mktemp("rolls") / "chorales.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def trained(chorales, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    import sys

    from gruve.cli import main

    sys.argv = ["gruve", "compose", "pianoroll", "train", str(chorales), "--model", "gru-nade", "--hidden", "32",
                "--nade-hidden", "16", "--epochs", "12", "--batch-size", "4", "--lr", "0.02", "--out", str(out)]
    try:
        main()
    except SystemExit as done:
        assert not done.code
    return out


def test_training_writes_a_model_whose_scores_beat_chance(trained):
    from gruve import bundle

    meta, _ = bundle.read(trained / "model.safetensors")
    assert meta["task"] == "pianoroll" and meta["config"]["architecture"] == "gru-nade"
    chance = 88 * 0.6931
    assert meta["metrics"]["test_nll"] < chance / 2  # far better than a coin per key
    assert 0 < meta["metrics"]["test_accuracy"] <= 1
    assert (trained / "curves.png").stat().st_size > 0 and (trained / "metrics.csv").exists()


def test_evaluate_prints_nll_and_frame_accuracy_per_split(trained, chorales, capsys):
    code, out, err = run_cli(["compose", "pianoroll", "evaluate", str(trained), str(chorales), "--json"], capsys)
    assert code == 0
    steps = sum(len(piece) for pieces in json.loads(chorales.read_text()).values() for piece in pieces)
    assert f"scoring on train, valid, test: {steps:,} steps" in err  # said before the minutes it can take
    scores = json.loads(out)
    assert set(scores) == {"train", "valid", "test"}
    from gruve import bundle

    meta, _ = bundle.read(trained / "model.safetensors")
    assert scores["test"]["nll"] == pytest.approx(meta["metrics"]["test_nll"], rel=1e-5)
    code, out, _ = run_cli(["compose", "pianoroll", "evaluate", str(trained), str(chorales)], capsys)
    assert code == 0 and "NLL per step" in out and "test" in out


def test_sample_writes_midi_wav_and_png_and_repeats_by_seed(trained, tmp_path, capsys):
    args = ["compose", "pianoroll", "sample", str(trained), "--n", "2", "--steps", "12", "--seed", "5"]
    code, out, err = run_cli([*args, "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    assert (tmp_path / "a" / "samples.png").stat().st_size > 0
    assert (tmp_path / "a" / "sample-2.mid").exists()
    if shutil.which("fluidsynth"):
        assert (tmp_path / "a" / "sample-1.wav").stat().st_size > 1000
    run_cli([*args, "--out", str(tmp_path / "b")], capsys)
    assert (tmp_path / "a" / "sample-1.mid").read_bytes() == (tmp_path / "b" / "sample-1.mid").read_bytes()


def test_sample_continues_a_primer(trained, tmp_path, capsys):
    import numpy as np

    from gruve.compose.pianoroll import rolls
    from gruve.compose.scores import read_score, write_midi

    primer = np.zeros((4, 88), np.uint8)
    primer[:, [27, 39, 43, 46]] = 1  # a C major chord held for four steps
    write_midi(rolls.roll_to_score(primer), tmp_path / "primer.mid")
    code, _, err = run_cli(["compose", "pianoroll", "sample", str(trained), "--n", "1", "--steps", "10",
                            "--primer", str(tmp_path / "primer.mid"), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    piece = rolls.score_to_roll(read_score(tmp_path / "out" / "sample-1.mid"))
    assert np.array_equal(piece[:4], primer)


def test_sample_without_fluidsynth_still_writes_midi(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _: None)
    code, _, err = run_cli(["compose", "pianoroll", "sample", str(trained), "--n", "1", "--steps", "6",
                            "--out", str(tmp_path)], capsys)
    assert code == 0 and "no WAV" in err and "apt-get install fluidsynth" in err
    assert (tmp_path / "sample-1.mid").exists() and not (tmp_path / "sample-1.wav").exists()


@pytest.mark.parametrize("args, phrase", [
    (["train", "{data}", "--model", "transformer"], "choose one of"),
    (["train", "/no/such/place"], "neither a file"),
    (["evaluate", "fsdd-digits", "{data}"], "is a listen model"),
    (["sample", "{model}", "--temperature", "0"], "must be above 0"),
    (["sample", "{model}", "--n", "0"], "must be at least 1"),
    (["sample", "{model}", "--primer", "/no/such.mid"], "does not exist"),
])
def test_user_mistakes_get_one_sentence_and_no_traceback(args, phrase, trained, chorales, capsys):
    args = [a.format(data=chorales, model=trained) for a in args]
    code, _, err = run_cli(["compose", "pianoroll", *args], capsys)
    assert code == 1 and phrase in err and "Traceback" not in err


def test_resume_continues_a_piano_roll_run(chorales, tmp_path, capsys):
    base = ["compose", "pianoroll", "train", str(chorales), "--hidden", "8", "--out", str(tmp_path), "--patience", "0"]
    assert run_cli([*base, "--epochs", "2"], capsys)[0] == 0
    code, _, err = run_cli([*base, "--epochs", "3", "--resume"], capsys)
    assert code == 0, err
    epochs = {line.split(",")[0] for line in (tmp_path / "metrics.csv").read_text().splitlines()[1:]}
    assert {"0", "1", "2"} <= epochs


def test_weight_averaging_keeps_the_averaged_weights(chorales, tmp_path, capsys):
    import torch

    from gruve import bundle

    base = ["compose", "pianoroll", "train", str(chorales), "--hidden", "8", "--epochs", "2", "--lr", "0.05"]
    assert run_cli([*base, "--out", str(tmp_path / "plain")], capsys)[0] == 0
    assert run_cli([*base, "--ema", "0.5", "--out", str(tmp_path / "ema")], capsys)[0] == 0
    plain, ema = (bundle.read(tmp_path / name / "model.safetensors") for name in ("plain", "ema"))
    assert ema[0]["training"]["ema"] == 0.5 and plain[0]["training"]["ema"] == 0.0
    # same seed and data: only the averaging differs, so the kept weights must differ too
    assert not torch.equal(plain[1]["rnn.rnn.weight_hh_l0"], ema[1]["rnn.rnn.weight_hh_l0"])
