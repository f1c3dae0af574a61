"""The shipped models: present, safe to load, and as good on the official test data as they claim."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gruve
from gruve.listen import EvaluateOptions, evaluate
from conftest import ROOT, run_cli

SHIPPED = {"fsdd-digits": ("fsdd", "digit", 0.99), "fsdd-speakers": ("fsdd", "speaker", 0.995),
           "esc10": ("esc10", "label", 0.80)}


def test_every_shipped_model_loads_and_says_how_it_was_made():
    assert set(SHIPPED) <= set(gruve.pretrained())
    for name in SHIPPED:
        model = gruve.load(name)
        assert model.meta["training"]["command"] and model.meta["training"]["date"]
        assert model.meta["target"] == SHIPPED[name][1]


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_models_reach_their_recorded_test_accuracy(name, datasets):
    corpus, target, floor = SHIPPED[name]
    report = evaluate(name, f"{corpus}:{datasets / corpus}", EvaluateOptions(out=None), say=lambda *_: None)
    recorded = gruve.load(name).meta["metrics"]["test_accuracy"]
    assert report["accuracy"] == pytest.approx(recorded, abs=1e-6)
    assert report["accuracy"] >= floor


# The targets: below the published GRU (8.54 Chung et al. 2014, 8.43 Bai et al. 2018) and RNN-NADE (5.56).
PIANO_ROLL = {"jsb-gru": 8.40, "jsb-gru-nade": 5.50}


@pytest.mark.parametrize("name", list(PIANO_ROLL))
def test_shipped_piano_roll_models_reach_their_recorded_jsb_test_nll(name, datasets):
    import torch

    from gruve.compose.pianoroll import rolls
    from gruve.compose.pianoroll.scoring import score

    model = gruve.load(name)
    test = score(model, [torch.from_numpy(p) for p in rolls.load(f"jsb:{datasets / 'jsb'}").splits["test"]])
    assert test["frames"] == 4725
    assert test["nll"] == pytest.approx(model.meta["metrics"]["test_nll"], rel=1e-5)
    assert test["nll"] <= PIANO_ROLL[name]


def test_shipped_groove_drums_reaches_its_recorded_test_nll(datasets):
    from gruve.compose import corpus
    from gruve.compose.lm.scoring import encode, held_out_nll

    model = gruve.load("groove-drums")
    test = corpus.load(f"groove:{datasets / 'groove'}", say=lambda _: None).split("test")
    result = held_out_nll(model, encode(test, model.tokenizer, model.config))
    assert result["nll_per_token"] == pytest.approx(model.meta["metrics"]["test_nll_per_token"], abs=1e-3)
    assert result["tokens"] == model.meta["metrics"]["test_tokens"]


def test_shipped_composers_write_valid_music_with_their_defaults(tmp_path, capsys):
    import symusic

    for name, args in [("bach-chorales", []), ("groove-drums", ["--condition", "style=funk,beat_type=fill"])]:
        out = tmp_path / name
        code, _, err = run_cli(["compose", "generate", name, "--out", str(out), *args], capsys)
        assert code == 0
        assert sorted(p.name for p in out.glob("*.mid")) == [f"sample-{i}.mid" for i in range(1, 5)]
        assert (out / "samples.png").is_file()
        validity = float(err.rsplit(";", 1)[1].split("%")[0]) / 100
        assert validity >= 0.95, err
        for midi in out.glob("*.mid"):
            score = symusic.Score(str(midi))
            assert sum(len(t.notes) for t in score.tracks) >= 8
            assert all(t.is_drum for t in score.tracks) == (name == "groove-drums")


def test_the_demo_clips_are_labelled_right(capsys):
    code, out, _ = run_cli(["listen", "predict", "fsdd-digits", str(ROOT / "examples" / "digits"), "--json"], capsys)
    assert code == 0
    by_name = {p["path"].rsplit("/", 1)[-1]: p for p in json.loads(out)}
    for name, p in by_name.items():
        if not name.startswith("sequence"):
            assert p["top"][0]["label"] == name[0]
    assert [t["label"] for t in by_name["sequence_2_0_4_8_6.wav"]["timeline"]]


def test_models_command_lists_the_shipped_models(capsys):
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0 and all(name in out for name in [*SHIPPED, "bach-chorales", "groove-drums", "jsb-gru"])


def test_the_installed_command_prints_everything_and_keeps_its_exit_code(tmp_path):
    """`gruve` exits fast through os._exit: nothing printed may be lost, and failures still exit 1."""
    gruve_bin = str(Path(sys.executable).parent / "gruve")
    clip = str(ROOT / "examples" / "digits" / "7_jackson_1.wav")
    done = subprocess.run([gruve_bin, "listen", "predict", "fsdd-digits", clip, "--json"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and json.loads(done.stdout)[0]["top"][0]["label"] == "7"
    (tmp_path / "bad.wav").write_bytes(b"nope")
    done = subprocess.run([gruve_bin, "listen", "predict", "fsdd-digits", clip, str(tmp_path / "bad.wav"), "--csv"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "bad.wav is not a readable audio file" in done.stderr
    _, rank, label, *_ = done.stdout.splitlines()[1].split(",")
    assert (rank, label) == ("1", "7")


def test_the_compose_benchmark_runs_on_the_shipped_chorales():
    """bench/suite.py measures the shipped bach-chorales, conditioned as it is: a retrained model must not break it."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "suite.py"), "--only", "compose", "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    speed = re.search(r"\| ([\d,]+) tokens/s \| re-reading the prefix ([\d,]+) tokens/s", done.stdout)
    assert speed and int(speed[1].replace(",", "")) > int(speed[2].replace(",", ""))


def test_shipped_30music_reaches_its_recorded_test_mrr_and_beats_sknn(datasets):
    from gruve.recommend.training import evaluate_model

    report = evaluate_model("30music", str(datasets / "30music" / "slice-3.tsv"), say=lambda *_: None)
    results = report["results"]
    recorded = gruve.load("30music").meta["metrics"]["test_mrr@20"]
    assert results["gruve GRU4Rec"]["mrr@20"] == pytest.approx(recorded, abs=1e-6)
    assert results["gruve GRU4Rec"]["mrr@20"] > max(results["sknn"]["mrr@20"], results["vsknn"]["mrr@20"])
