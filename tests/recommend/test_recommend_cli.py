"""`gruve recommend` as a user runs it: train on a 30Music slice, evaluate beside the baselines, suggest and
continue a playlist; each bad input one sentence with exit code 1; a cold `suggest` without Lightning."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def slices(datasets):
    return datasets / "30music"


@pytest.fixture(scope="module")
def trained(slices, tmp_path_factory):
    """A tiny model trained for one epoch on slice 0 through the command line (typer's runner: a module
    fixture cannot take capsys)."""
    from typer.testing import CliRunner

    from gruve.cli import app

    out = tmp_path_factory.mktemp("recommend") / "run"
    result = CliRunner().invoke(app, ["recommend", "train", str(slices / "slice-0.tsv"), "--format", "30music", "--hidden", "16",
                                      "--n-sample", "64", "--epochs", "1", "--threads", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "test_mrr@20" in result.output and "saved" in result.output
    return out / "model.safetensors"


def test_evaluate_puts_the_model_beside_the_baselines(trained, slices, tmp_path, capsys):
    code, stdout, stderr = run_cli(["recommend", "evaluate", str(trained), str(slices / "slice-0.tsv"), "--json",
                                    "--out", str(tmp_path / "eval")], capsys)
    assert code == 0, stderr
    report = json.loads(stdout)
    names = list(report["results"])
    assert len(names) >= 6 and any("GRU4Rec" in name for name in names)
    for values in report["results"].values():
        assert 0 <= values["mrr@20"] <= values["hr@20"] <= 1
    assert (tmp_path / "eval" / "report.json").is_file() and (tmp_path / "eval" / "curves.png").is_file()


def test_suggest_and_playlist_print_tracks(trained, capsys):
    from gruve import bundle

    model = bundle.load(trained)
    played = ",".join(model.item_ids[:2])
    code, stdout, stderr = run_cli(["recommend", "suggest", str(trained), "--history", played + ",nope", "-k", "4",
                                    "--json"], capsys)
    assert code == 0, stderr
    assert len(json.loads(stdout)) == 4 and "nope" in stderr
    code, stdout, stderr = run_cli(["recommend", "playlist", str(trained), "--start", model.item_ids[0], "--length",
                                    "5", "--max-per-artist", "1", "--json"], capsys)
    assert code == 0, stderr
    tracks = [track["item"] for track in json.loads(stdout)]
    artists = [int(model.item_artists[model.index(item)]) for item in tracks + [model.item_ids[0]]]
    assert len(tracks) == 5 and len(set(artists)) == 6


@pytest.mark.parametrize("args, words", [
    (["train", "{slices}/nothing.tsv", "--out", "{tmp}/run"], "nothing.tsv does not exist"),
    (["train", "{slices}/slice-0.tsv", "--format", "30music", "--loss", "hinge"], "--loss hinge is not one of ce, bpr-max"),
    (["train", "{slices}/slice-0.tsv", "--format", "30music", "--embedding", "10"], "--embedding 10 cannot be tied"),
    (["train", "{slices}/slice-0.tsv", "--out", "{tmp}/run"], "--user user is not a column"),
    (["suggest", "{slices}/slice-0.tsv", "--history", "1"], "not a gruve model file"),
    (["suggest", "fsdd-digits", "--history", "1"], "is a listen model, and this command needs a recommend model"),
    (["suggest", "{model}", "--history", " , "], "--history names no items"),
    (["suggest", "{model}", "--history", "1", "-k", "0"], "-k must be at least 1"),
    (["playlist", "{model}", "--start", "1", "--temperature", "-1"], "--temperature must be 0"),
    (["playlist", "{model}", "--start", "1", "--length", "0"], "--length must be at least 1"),
    (["evaluate", "{model}", "{slices}/slice-1.tsv", "--out", "{tmp}"], "catalogue"),
])
def test_bad_input_is_one_sentence(args, words, trained, slices, tmp_path, capsys):
    code, stdout, stderr = run_cli(["recommend", *[a.format(slices=slices, model=trained, tmp=tmp_path) for a in args]],
                                   capsys)
    last = stderr.strip().splitlines()[-1]  # a training says its threads first
    assert code == 1 and "Traceback" not in stderr
    assert last.startswith("error:") and words in last and stderr.count("error:") == 1


def test_cold_suggest_does_not_import_lightning(trained):
    script = ("import sys; from gruve.cli import main; sys.argv = ['gruve', 'recommend', 'suggest', sys.argv[1], "
              "'--history', 'x']; code = 0\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
              "print('lightning' in sys.modules, code)")
    done = subprocess.run([sys.executable, "-c", script, str(trained)], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert done.stdout.split()[-2:] == ["False", "0"], done.stderr
