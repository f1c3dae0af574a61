"""The one training set-up: options checked in one place, and checkpoints read as data, never as code."""

import os
import types
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from gruve.errors import GruveError, OptionError
from gruve.training import TrainOptions, load_best, read_checkpoint, resume_path


@pytest.mark.parametrize("field, value", [("max_epochs", 0), ("max_epochs", -1), ("patience", -1)])
def test_bad_training_options_name_the_field(field, value):
    with pytest.raises(OptionError) as caught:
        TrainOptions(**{field: value})
    assert caught.value.field == field and str(caught.value).startswith(field)


def test_training_options_are_keyword_only():
    with pytest.raises(TypeError):
        TrainOptions(Path("runs/x"), 3)  # positional fields silently swap when a field moves: refused


def test_the_cli_names_the_flag_the_user_typed(tmp_path, capsys):
    code, _, err = run_cli(["listen", "train", str(tmp_path), "--epochs", "0", "--out", str(tmp_path / "run")], capsys)
    assert code == 1
    assert "--epochs must be at least 1 (got 0)." in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


class Payload:
    """What a crafted checkpoint carries: unpickling it would create a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_checkpoint_does_not_run_its_payload(tmp_path):
    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "checkpoints" / "best.ckpt"
    checkpoint.parent.mkdir()
    torch.save({"state_dict": {}, "payload": Payload(marker)}, checkpoint)
    trainer = types.SimpleNamespace(checkpoint_callback=types.SimpleNamespace(best_model_path=str(checkpoint),
                                                                              last_model_path=""))
    with pytest.raises(GruveError, match="is not a checkpoint gruve can read safely"):
        load_best(trainer, torch.nn.Linear(1, 1))
    assert not marker.exists()


def test_resume_refuses_a_truncated_checkpoint_in_one_sentence(tmp_path):
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    torch.save({"state_dict": {"w": torch.zeros(100)}}, last)
    last.write_bytes(last.read_bytes()[:200])
    with pytest.raises(GruveError, match="last.ckpt is not a checkpoint gruve can read safely"):
        resume_path(TrainOptions(out=tmp_path, resume=True))
    with pytest.raises(OptionError, match="resume found no checkpoint"):
        resume_path(TrainOptions(out=tmp_path / "elsewhere", resume=True))


def test_a_real_checkpoint_reads(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "ok.ckpt")
    assert read_checkpoint(tmp_path / "ok.ckpt")["epoch"] == 3
