"""bench/claims.py --quick: the claims about GRUs are measured end to end on real FSDD and ESC-10 sound, in under
5 minutes, and every verdict, table and figure comes out of its own numbers."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import ROOT


def test_the_quick_claims_run(datasets, tmp_path):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "bench/claims.py", "--quick", "--datasets", str(datasets), "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    assert seconds < 300
    report = json.loads((tmp_path / "claims.json").read_text())
    assert report["threads"] == 1 and report["settings"]["hidden"] == 32
    claims = report["claims"]
    assert set(claims) == {"speed", "quality", "memory", "adding"}
    for claim in claims.values():
        assert claim["verdict"] in done.stdout and claim["table"] in done.stdout
        assert (tmp_path / claim["figure"].rsplit("/", 1)[-1]).stat().st_size > 15_000

    speed = {row["cell"]: row for row in claims["speed"]["rows"]}
    # At equal hidden size the recurrent weights go as the gates: 3 for a GRU, 4 for an LSTM, 1 for an RNN.
    assert speed["gru"]["recurrent_parameters"] / speed["lstm"]["recurrent_parameters"] == pytest.approx(0.75)
    assert speed["gru"]["recurrent_parameters"] / speed["rnn"]["recurrent_parameters"] == pytest.approx(3)
    assert "holds 0.75x the LSTM's weights" in claims["speed"]["verdict"]
    for row in speed.values():
        assert row["seconds_per_epoch"] > 0 and row["step_us_torch"] > 0 and 0 <= row["accuracy"] <= 1

    runs = claims["quality"]["runs"]
    target = runs["gru"][0]["recurrent_parameters"]
    for cell, rows in runs.items():
        assert len(rows) == 2 and {r["seed"] for r in rows} == {0, 1}
        assert rows[0]["recurrent_parameters"] == pytest.approx(target, rel=0.05)  # equal parameter count
    assert runs["lstm"][0]["hidden"] < 32 < runs["rnn"][0]["hidden"]

    accuracy = claims["memory"]["accuracy"]
    assert set(accuracy) == {"gru", "lstm", "rnn"}
    assert all(set(by) == {"0.5", "2.0"} and all(0 <= a <= 1 for v in by.values() for a in v)
               for by in accuracy.values())

    mse = claims["adding"]["mse"]
    assert set(mse) == {"gru", "lstm", "rnn"} and all(set(by) == {"10", "50"} for by in mse.values())
    # A trained cell is no worse than guessing 1 (1/6), give or take the test set's noise.
    assert all(0 <= v < 0.2 for by in mse.values() for v in by.values())


def test_the_adding_problem_is_what_its_papers_pose():
    sys.path.insert(0, str(ROOT / "bench"))
    import claims
    import torch

    x, y = claims.adding_batch(500, 20, torch.Generator().manual_seed(0))
    markers = x[..., 1]
    assert x.shape == (500, 20, 2) and (markers.sum(1) == 2).all()
    assert (markers[:, :10].sum(1) == 1).all() and (markers[:, 10:].sum(1) == 1).all()  # one in each half
    assert torch.allclose((x[..., 0] * markers).sum(1), y)
    assert float(((y - 1) ** 2).mean()) == pytest.approx(claims.ADDING_CHANCE, abs=0.02)  # guessing 1 scores 1/6


def test_a_missing_data_folder_is_one_sentence(tmp_path):
    done = subprocess.run([sys.executable, "bench/claims.py", "--quick", "--datasets", str(tmp_path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"{tmp_path / 'fsdd'} is not a folder" in done.stderr
    assert not (tmp_path / "out").exists()
