"""The shipped models: present, safe to load, and as good on the official test data as they claim."""

import json

import pytest

import gruve
from gruve.listen.evaluate import evaluate
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
    report = evaluate(name, f"{corpus}:{datasets / corpus}", say=lambda *_: None)
    recorded = gruve.load(name).meta["metrics"]["test_accuracy"]
    assert report["accuracy"] == pytest.approx(recorded, abs=1e-6)
    assert report["accuracy"] >= floor


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
    assert code == 0 and all(name in out for name in SHIPPED)
