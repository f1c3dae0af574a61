"""Distributed training as a user starts it: `--accelerator cpu --devices 2 --strategy ddp`, two processes over
gloo, for every trainer. One rank prints and writes, metrics are reduced across ranks, and the model saved is
the one a single process saves from the same options."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import chorale, melody

from gruve import bundle

DDP = ["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--patience", "0"]


def train(args: list[str], out, *extra: str) -> subprocess.CompletedProcess:
    """`gruve ARGS --out OUT` in a fresh process, as a user runs it (Lightning's launcher starts rank 1 by
    running the same command again)."""
    done = subprocess.run([sys.executable, "-m", "gruve", *args, "--out", str(out), *extra], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done


def check_one_rank_spoke_and_wrote(done: subprocess.CompletedProcess, out) -> list[dict]:
    """One summary, one training line, one metrics row per epoch and metric, no lock left; the rows."""
    assert done.stdout.count("saved ") == 1
    assert sum(line.startswith("training ") for line in done.stderr.splitlines()) == 1
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = Counter((row["epoch"], name) for row in rows for name, value in row.items()
                     if value and name not in ("epoch", "step"))
    assert logged and set(logged.values()) == {1}
    assert not (out / ".gruve-lock").exists()
    return rows


def check_same_model_as_one_process(out, single) -> None:
    ddp_meta, ddp_tensors = bundle.read(out)
    meta, tensors = bundle.read(single)
    assert ddp_meta["config"] == meta["config"]
    assert {k: v.shape for k, v in ddp_tensors.items()} == {k: v.shape for k, v in tensors.items()}
    assert ddp_meta["metrics"]["epochs"] == meta["metrics"]["epochs"]
    bundle.load(out)


def test_listen_under_ddp_reduces_validation_across_ranks(tone_folder, tmp_path):
    args = ["listen", "train", str(tone_folder), "--hidden", "8", "--layers", "1", "--epochs", "2"]
    done = train(args, tmp_path / "ddp", *DDP)
    rows = check_one_rank_spoke_and_wrote(done, tmp_path / "ddp")
    train(args, tmp_path / "one", "--patience", "0")
    check_same_model_as_one_process(tmp_path / "ddp", tmp_path / "one")

    # Each rank validates on one of the two validation clips; the loss kept must be over both (reduced),
    # not rank zero's clip alone: the saved (best) model's loss on the whole validation set.
    from gruve.data.cache import FeatureCache
    from gruve.listen.training import Clips, collate

    model = bundle.load(tmp_path / "ddp")
    with open(tmp_path / "ddp" / "split.csv") as f:
        valid = [(row["path"], row["label"]) for row in csv.DictReader(f) if row["split"] == "valid"]
    assert len(valid) == 2
    cache = FeatureCache(model.config.features)
    clips = Clips([(cache.get(path), model.labels.index(label)) for path, label in valid], model.config.window_frames,
                  train=False)
    features, lengths, labels = collate(model.config.features.floor_db)([clips[i] for i in range(len(clips))])
    with torch.no_grad():
        loss = float(F.cross_entropy(model.classify(features, lengths), labels))
    best = min(float(row["val_loss"]) for row in rows if row["val_loss"])
    assert loss == pytest.approx(best, abs=1e-4)


def test_compose_under_ddp(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        melody(rng).dump_midi(str(tmp_path / f"tune{i}.mid"))
    args = ["compose", "train", str(tmp_path), "--hidden", "16", "--layers", "1", "--window", "64", "--epochs", "1"]
    check_one_rank_spoke_and_wrote(train(args, tmp_path / "ddp", *DDP), tmp_path / "ddp")
    train(args, tmp_path / "one")
    check_same_model_as_one_process(tmp_path / "ddp", tmp_path / "one")


def test_pianoroll_under_ddp(tmp_path):
    rng = np.random.default_rng(0)
    data = {split: [chorale(rng, 16) for _ in range(n)] for split, n in (("train", 12), ("valid", 4), ("test", 2))}
    (tmp_path / "chorales.json").write_text(json.dumps(data))
    args = ["compose", "pianoroll", "train", str(tmp_path / "chorales.json"), "--hidden", "8", "--epochs", "2"]
    check_one_rank_spoke_and_wrote(train(args, tmp_path / "ddp", *DDP), tmp_path / "ddp")
    train(args, tmp_path / "one", "--patience", "0")
    check_same_model_as_one_process(tmp_path / "ddp", tmp_path / "one")


def test_synth_under_ddp(tone_folder, tmp_path):
    args = ["synth", "train", str(tone_folder), "--hidden", "16", "--head", "16", "--seconds", "0.3", "--window", "128",
            "--epochs", "1"]
    check_one_rank_spoke_and_wrote(train(args, tmp_path / "ddp", *DDP), tmp_path / "ddp")
    train(args, tmp_path / "one")
    check_same_model_as_one_process(tmp_path / "ddp", tmp_path / "one")


def test_a_share_smaller_than_a_batch_on_each_device_is_one_sentence(tone_folder, tmp_path):
    """20 training clips fill a batch of 16 in one process; on two devices each gets 10, which would train on
    nothing (and crashed at the end, looking for a best checkpoint that was never written)."""
    done = subprocess.run([sys.executable, "-m", "gruve", "listen", "train", str(tone_folder), "--hidden", "8",
                           "--batch-size", "16", "--out", str(tmp_path), *DDP], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert ("error: --batch-size 16 is more than the training examples (each of 2 devices 10), so no whole batch "
            "would be trained on; lower --batch-size or use fewer devices.") in done.stderr
    assert not (tmp_path / "model.safetensors").exists() and not (tmp_path / ".gruve-lock").exists()
