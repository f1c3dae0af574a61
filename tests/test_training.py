"""The one training set-up: options checked in one place, checkpoints read as data, never as code, and a run
folder that is never replaced unasked, held by one training at a time, and kept when Ctrl-C stops it."""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from gruve import bundle
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


# --- the run folder: nothing a user had is replaced unasked, one training at a time --------------------------

TINY = ["--hidden", "8", "--layers", "1", "--model", "gru", "--patience", "0"]


def _train(tone_folder, out, capsys, *args):
    return run_cli(["listen", "train", str(tone_folder), "--out", str(out), *TINY, *args], capsys)


@pytest.mark.parametrize("present", ["model.safetensors", "checkpoints", "metrics.csv"])
def test_a_run_folder_is_not_replaced_without_resume_or_overwrite(tone_folder, tmp_path, capsys, present):
    (tmp_path / present).write_bytes(b"the user's earlier run")
    code, _, err = _train(tone_folder, tmp_path, capsys, "--epochs", "1")
    assert code == 1 and "Traceback" not in err
    assert f"--out {tmp_path} already holds a run ({present}); add --resume to continue it or --overwrite" in err
    assert (tmp_path / present).read_bytes() == b"the user's earlier run"
    assert not (tmp_path / ".gruve-lock").exists()


def test_overwrite_replaces_the_run_and_its_stale_checkpoints(tone_folder, tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"an older run's checkpoint")
    (tmp_path / "model.safetensors").write_bytes(b"an older model")
    code, stdout, err = _train(tone_folder, tmp_path, capsys, "--epochs", "1", "--overwrite")
    assert code == 0, err
    assert bundle.read(tmp_path)[0]["metrics"]["epochs"] == 1
    read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")  # the new run's, not the old bytes
    assert not (tmp_path / ".gruve-lock").exists()  # released once the model is saved


@pytest.mark.parametrize("args, phrase", [
    (["--resume", "--overwrite"], "--resume continues the run in --out and --overwrite replaces it: give one of them."),
    (["--precision", "7"], "--precision 7 is not one of Lightning's: 16-mixed, bf16-mixed"),
    (["--num-nodes", "0"], "--num-nodes must be at least 1 (got 0)."),
])
def test_bad_run_options_are_refused_before_anything_is_written(tone_folder, tmp_path, capsys, args, phrase):
    code, _, err = _train(tone_folder, tmp_path / "run", capsys, *args)
    assert code == 1 and phrase in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_is_refused_where_there_is_none(tone_folder, tmp_path, capsys):
    code, _, err = _train(tone_folder, tmp_path / "run", capsys, "--accelerator", "gpu")
    assert code == 1 and "--accelerator gpu asks for a GPU, and torch finds none here" in err


def test_out_must_be_a_writable_folder(tone_folder, tmp_path, capsys):
    (tmp_path / "a-file").write_text("mine")
    code, _, err = _train(tone_folder, tmp_path / "a-file", capsys)
    assert code == 1 and f"--out {tmp_path / 'a-file'} is a file, not a folder for a run." in err
    code, _, err = _train(tone_folder, tmp_path / "a-file" / "run", capsys)
    assert code == 1 and "cannot be written" in err and "Traceback" not in err
    assert (tmp_path / "a-file").read_text() == "mine"
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "locked").mkdir(mode=0o500)
        code, _, err = _train(tone_folder, tmp_path / "locked" / "run", capsys)
        assert code == 1 and "cannot be written (Permission denied)" in err


def test_a_live_lock_refuses_a_second_training_and_a_stale_one_is_taken_over(tone_folder, tmp_path, capsys):
    lock = tmp_path / ".gruve-lock"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "started": "today"}))
        code, _, err = _train(tone_folder, tmp_path, capsys, "--epochs", "1")
        assert code == 1 and f"{tmp_path} is in use by another training (PID {holder.pid}" in err
        assert not (tmp_path / "model.safetensors").exists()
    finally:
        holder.kill()
        holder.wait()
    code, _, err = _train(tone_folder, tmp_path, capsys, "--epochs", "1")  # that PID is gone now
    assert code == 0 and f"was locked by PID {holder.pid}, which is no longer running" in err
    assert not lock.exists() and (tmp_path / "model.safetensors").exists()


def test_resume_with_another_model_shape_is_one_sentence(tone_folder, tmp_path, capsys):
    assert _train(tone_folder, tmp_path, capsys, "--epochs", "1")[0] == 0
    before = (tmp_path / "model.safetensors").read_bytes()
    code, _, err = run_cli(["listen", "train", str(tone_folder), "--out", str(tmp_path), "--hidden", "16", "--layers",
                            "1", "--model", "gru", "--epochs", "2", "--resume"], capsys)
    assert code == 1 and "Traceback" not in err
    assert "--resume: " in err and "holds a different model (" in err and "with --overwrite" in err
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_training_seconds_count_the_whole_run_across_a_resume(tone_folder, tmp_path, capsys):
    assert _train(tone_folder, tmp_path, capsys, "--epochs", "8")[0] == 0
    first = bundle.read(tmp_path)[0]["metrics"]["train_seconds"]
    started = time.time()
    assert _train(tone_folder, tmp_path, capsys, "--epochs", "9", "--resume")[0] == 0
    whole = bundle.read(tmp_path)[0]["metrics"]["train_seconds"]
    assert first <= whole < first + (time.time() - started)  # the first eight epochs, then the ninth (0.1 s steps)


def ctrl_c_reaches_it():
    """A test run in the background (as CI may start it) has SIGINT ignored, and so would gruve, as a shell's
    background job does: the child gets the default, as a terminal's foreground job has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_saves_the_best_model_so_far_and_says_how_to_resume(tone_folder, tmp_path):
    command = [sys.executable, "-m", "gruve", "listen", "train", str(tone_folder), "--out", str(tmp_path), *TINY,
               "--epochs", "100"]
    training = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=ctrl_c_reaches_it)
    for line in training.stderr:  # one line per epoch where there is no terminal
        if line.startswith("epoch 2/100"):
            training.send_signal(signal.SIGINT)
            break
    _, err = training.communicate(timeout=120)
    assert training.returncode == 130 and "Traceback" not in err
    assert "the best model so far (of " in err and f"is saved in {tmp_path / 'model.safetensors'}" in err
    resume = shlex.split(err.split("to go on: ")[1])
    assert resume == ["gruve", *command[3:], "--resume"]
    meta = bundle.read(tmp_path)[0]
    assert meta["metrics"]["interrupted"] >= 2 and meta["metrics"]["epochs"] >= 1
    assert not (tmp_path / ".gruve-lock").exists()
    resume[resume.index("--epochs") + 1] = "3"  # the command it printed, for a shorter whole
    resumed = subprocess.run([sys.executable, "-m", *resume], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "interrupted" not in bundle.read(tmp_path)[0]["metrics"]


def test_resume_keeps_the_split_it_started_with_and_refuses_data_that_splits_otherwise(tone_folder, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tone_folder, data)
    out = tmp_path / "run"
    assert _train(data, out, capsys, "--epochs", "1")[0] == 0
    split = (out / "split.csv").read_bytes()
    shutil.copy(data / "low" / "low0.wav", data / "low" / "added.wav")
    code, _, err = _train(data, out, capsys, "--epochs", "2", "--resume")
    assert code == 1 and "--resume: the data now splits differently from" in err and "Traceback" not in err
    assert (out / "split.csv").read_bytes() == split
    (data / "low" / "added.wav").unlink()
    assert _train(data, out, capsys, "--epochs", "2", "--resume")[0] == 0
    assert (out / "split.csv").read_bytes() == split


def test_sigterm_stops_a_training_as_ctrl_c_does(tone_folder, tmp_path):
    """`kill`, `timeout` and a batch system's preemption send SIGTERM: the best model so far is kept too."""
    command = [sys.executable, "-m", "gruve", "listen", "train", str(tone_folder), "--out", str(tmp_path), *TINY,
               "--epochs", "100"]
    training = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in training.stderr:
        if line.startswith("epoch 2/100"):
            training.terminate()
            break
    _, err = training.communicate(timeout=120)
    assert training.returncode == 130 and "Traceback" not in err and "--resume" in err
    assert bundle.read(tmp_path)[0]["metrics"]["interrupted"] >= 2
    assert not (tmp_path / ".gruve-lock").exists() and not list(tmp_path.glob("**/.*.tmp*"))


# --- threads: torch's default (a thread per core) is ten times slower when another job holds a core --------

@pytest.mark.parametrize("percent, run, expected", [
    ([0.0, 0.0], {}, (2, "2 cores, 0 busy")),
    ([100.0, 3.0], {}, (1, "2 cores, 1 busy")),
    ([100.0, 100.0], {}, (1, "2 cores, 1 busy")),  # never none
    ([0.0, 0.0], {"accelerator": "cpu", "devices": "2"}, (1, "2 cores, 0 busy, 2 processes")),
    ([100.0, 0.0], {"threads": 2}, (2, "--threads")),
])
def test_threads_are_the_cores_not_busy(monkeypatch, percent, run, expected):
    import psutil

    from gruve.training import choose_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval, percpu: percent)
    assert choose_threads(TrainOptions(**run)) == expected
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(TrainOptions(**run)) == (expected if "threads" in run else (3, "OMP_NUM_THREADS"))


def test_a_training_runs_on_the_threads_it_says(tone_folder, tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        code, _, err = _train(tone_folder, tmp_path, capsys, "--epochs", "1", "--threads", "1")
        assert code == 0 and "1 torch thread per process (--threads)" in err and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    code, _, err = _train(tone_folder, tmp_path / "x", capsys, "--threads", "0")
    assert code == 1 and "--threads must be at least 1 (got 0)." in err


def test_a_log_without_a_terminal_says_the_epoch_length_an_estimate_and_each_epochs_time(tmp_path, capsys):
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from gruve.training import TrainOptions, build_trainer

    class Line(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 1)

        def training_step(self, batch, _):
            loss = torch.nn.functional.mse_loss(self.linear(batch[0]), batch[1])
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    loader = DataLoader(TensorDataset(torch.randn(100, 4), torch.randn(100, 1)), batch_size=1)
    trainer = build_trainer(TrainOptions(out=tmp_path, max_epochs=2, progress=False), monitor=None)
    trainer.fit(Line(), loader)
    err = capsys.readouterr().err
    assert re.search(r"^100 steps an epoch; the first 20 took \d+\.\d s: about \d+(\.\d)? s an epoch$", err, re.M), err
    assert len(re.findall(r"^epoch [12]/2 \(\d+(\.\d)? s\): train_loss \d\.\d{4}$", err, re.M)) == 2, err
    assert err.count("steps an epoch") == 1
