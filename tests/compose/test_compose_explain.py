"""`gruve compose explain`: where a compose model was surprised by a piece. Each number is checked against what the
model itself computes: the surprisal of a language model's tokens against stepping it token by token and
against the NLL scoring gives the piece, a piano-roll model's against `pianoroll.score`; the tokens stand where
their notes sound on the roll; the gates are shares in [0, 1]."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gruve
from conftest import melody, run_cli
from gruve.compose.corpus import Piece
from gruve.compose.lm.scoring import encode, held_out_nll
from gruve.compose.pianoroll import rolls, score
from gruve.compose.pianoroll.model import PianoRollConfig, PianoRollModel
from gruve.compose.scores import read_score, write_midi

GROOVE_PIECE = "groove/drummer1/session1/1_funk_80_beat_4-4.mid"


@pytest.fixture(scope="module")
def tune(tmp_path_factory):
    """A made-up two-voice tune in C major, as a MIDI file."""
    path = tmp_path_factory.mktemp("tune") / "tune.mid"
    write_midi(melody(np.random.default_rng(3), bars=4), path)
    return path


def test_a_language_models_surprisal_is_its_nll_token_by_token(tune, tmp_path):
    model = gruve.load("bach-chorales")
    explanation = gruve.compose.explain(model, tune, out=tmp_path)
    # Stepping the model one token at a time (the fused GRU kernel, as sampling runs) gives the same numbers.
    data = encode([Piece("tune", read_score(tune), "test")], model.tokenizer, model.config)
    ids, condition = torch.from_numpy(data.ids[0]), torch.tensor([data.conditions[0]])
    assert condition.shape == (1, 1)  # the transposition's row: the piece as written
    state, stepped = None, []
    with torch.inference_mode():
        for now, then in zip(ids[:-1], ids[1:]):
            logits, state = model.step(now[None], state, condition)
            stepped.append(-torch.log_softmax(logits[0], -1)[then].item())
    np.testing.assert_allclose(explanation.surprisal, stepped, atol=1e-4)
    assert explanation.nll == pytest.approx(held_out_nll(model, data)["nll_per_token"], abs=1e-4)
    assert explanation.items[-1] == "EOS_None" and len(explanation.items) == len(ids) - 1
    assert explanation.gate.shape == (len(ids) - 1, model.config.hidden_size)
    assert 0 <= explanation.gate.min() and explanation.gate.max() <= 1 and explanation.gate.std() > 0.01
    assert explanation.cell == "GRU" and explanation.gate_name.startswith("update gate z")
    assert explanation.unconditioned == []  # bach-chorales knows only the transposition, which the piece has: 0
    doc = json.loads((tmp_path / "explain.json").read_text())
    assert doc["surprisal"] == pytest.approx(explanation.surprisal.tolist()) and doc["nll"] == explanation.nll
    assert (tmp_path / "explain.png").stat().st_size > 20_000


def test_a_tokens_time_is_where_its_note_sounds_on_the_roll(datasets):
    path = datasets / GROOVE_PIECE
    model = gruve.load("groove-drums")  # drums, conditioned on style, beat type and drummer, with the lookback
    explanation = gruve.compose.explain(model, path)
    assert explanation.drums and explanation.time_unit == "quarter notes"
    assert set(explanation.unconditioned) == {"style", "beat_type", "drummer"}
    assert np.all(np.diff(explanation.times) >= 0)
    hits = [(time, int(item.split("_")[1])) for item, time in zip(explanation.items, explanation.times)
            if item.startswith("PitchDrum_")]
    assert len(hits) > 100
    rows = np.round(np.array([time for time, _ in hits]) / explanation.roll_step).astype(int)
    keys = np.array([pitch for _, pitch in hits]) - rolls.LOWEST
    inside = keys >= 0  # the roll has the piano's keys; a drum note below MIDI 21 is not on it
    assert explanation.roll[rows[inside], keys[inside]].all()  # every drum hit sounds on the row of its token
    # Without the corpus labels, as `evaluate` scores a reference that has none.
    piece = Piece(str(path), read_score(path), "test")
    nll = held_out_nll(model, encode([piece], model.tokenizer, model.config))["nll_per_token"]
    assert explanation.nll == pytest.approx(nll, abs=1e-4)


@pytest.mark.parametrize("name", ["jsb-gru", "jsb-gru-nade"])
def test_a_piano_roll_models_surprisal_is_its_nll_per_step(name, datasets, tmp_path, capsys):
    code, out, err = run_cli(["compose", "explain", name, f"{datasets / 'jsb'}@test/2", "--out", str(tmp_path)],
                             capsys)
    assert code == 0, err
    doc = json.loads((tmp_path / "explain.json").read_text())
    piece = rolls.load(str(datasets / "jsb"), say=lambda _: None).splits["test"][2]
    np.testing.assert_array_equal(doc["roll"], piece)
    model = gruve.load(name)
    assert doc["nll"] == pytest.approx(score(model, [torch.from_numpy(piece)])["nll"], rel=1e-5)
    assert len(doc["surprisal"]) == len(piece) and min(doc["surprisal"]) > 0
    gate = np.asarray(doc["gate"])
    assert gate.shape == (len(piece), model.config.hidden_size) and 0 <= gate.min() and gate.max() <= 1
    assert f"mean surprisal {doc['nll']:.3f} nats per step" in out and "most surprising: step " in out
    assert (tmp_path / "explain.png").stat().st_size > 20_000

    code, printed, _ = run_cli(["compose", "explain", name, f"{datasets / 'jsb'}@test/2", "--out", str(tmp_path),
                                "--json"], capsys)
    assert code == 0 and json.loads(printed) == doc


@pytest.mark.parametrize("architecture", ["lstm-nade", "rnn"])
def test_every_cell_is_explained(architecture, tune, tmp_path):
    torch.manual_seed(0)
    model = PianoRollModel(PianoRollConfig(architecture, hidden_size=12, nade_hidden=8)).eval()
    explanation = gruve.compose.explain(model, tune, out=tmp_path)
    roll = rolls.score_to_roll(read_score(tune))
    np.testing.assert_array_equal(explanation.roll, roll)
    assert explanation.nll == pytest.approx(score(model, [torch.from_numpy(roll)])["nll"], rel=1e-5)
    doc = explanation.to_dict()
    if architecture == "rnn":
        assert doc["gate"] is None and doc["gate_name"] is None
    else:
        assert len(doc["gate"][0]) == 12 and doc["gate_name"].startswith("forget gate f")
    assert (tmp_path / "explain.png").stat().st_size > 20_000


@pytest.mark.parametrize("args,phrase", [
    (["jsb-gru", "{tmp}/missing.mid"], "missing.mid does not exist"),
    (["jsb-gru", "{tmp}/text.mid"], "text.mid is not a readable score"),
    (["fsdd-digits", "{tune}"], "fsdd-digits is a listen model, and this command needs a compose model"),
    (["jsb-gru", "{jsb}@tests/0"], "a piece of a set is SET@SPLIT/INDEX"),
    (["jsb-gru", "{jsb}@test/500"], "has 77 test pieces, numbered from 0"),
    (["jsb-gru", "{tmp}/empty.mid"], "empty.mid holds no notes in the piano's range to explain"),
    (["jsb-gru", "{tune}", "--out", "{tmp}/text.mid"], "text.mid is a file, not a folder"),
])
def test_bad_inputs_get_one_sentence(args, phrase, tune, datasets, tmp_path, capsys):
    import symusic

    (tmp_path / "text.mid").write_text("not a score\n")
    symusic.Score(480).dump_midi(str(tmp_path / "empty.mid"))
    out = ["--out", str(tmp_path / "out")] if "--out" not in args else []
    filled = [a.format(tmp=tmp_path, tune=tune, jsb=datasets / "jsb") for a in args]
    code, _, err = run_cli(["compose", "explain", *filled, *out], capsys)
    assert code != 0 and phrase in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()  # the input is refused before anything is written
