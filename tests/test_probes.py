"""Every bad input gruve has been probed with, one row each: what a user typed, and a phrase the one sentence
on stderr must hold (the option as its flag, or the file's name). Each row runs through the command line as
a user's would and must exit non-zero, print exactly one line on stderr and no traceback.

A new probe starts here: add its row to PROBES. Words in braces are made-up inputs, made on first use by
MAKERS below: {data} two classes of tones in class folders, {out} a folder not yet there, {file} a text
file (notes.txt), {folder} a folder named folder.onnx, {clip} a good 0.5 s WAV, {trunc} the first 300 bytes of a real FSDD recording, {short}
a 20 ms WAV, {nan} a WAV with a NaN sample, {empty} an empty .wav, {text} a .wav that holds text, {loop} a
symbolic link loop, {dangling} a link to nowhere, {ckpt} a run folder whose last.ckpt is cut short, {run} a
listen run trained once for one epoch (hidden 8) and {rundata} its data, {data3} three classes of tones, and {bad-...} copies of
fsdd-digits with edited metadata.

Tables elsewhere cover their checks in more depth (every option from Python and from the command line):
tests/listen/test_listen_api.py CHECKS, tests/listen/test_listen_cli.py (user mistakes), tests/synth/
test_synth_api.py and test_synth.py, tests/compose/test_compose_options.py and test_compose_lm.py,
tests/test_training.py (run folders, checkpoints), tests/test_audio.py (audio files), tests/test_export.py.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli, tone


@dataclass(frozen=True)
class Probe:
    args: str  # the command line after `gruve`, with {placeholders}
    phrase: str  # what the one sentence on stderr must hold
    progress: bool = False  # whether what the command was doing (a training's set-up) may come before it


PROBES = {
    # audio files: predict lists the file it skipped and exits 1; stream refuses it (tests/test_audio.py)
    "truncated WAV, predict": Probe("listen predict fsdd-digits {trunc}", "trunc.wav is truncated: its data chunk holds 256 of"),
    "truncated WAV, stream": Probe("listen stream fsdd-digits -i {trunc}", "trunc.wav is truncated"),
    "clip shorter than one step, predict": Probe("listen predict fsdd-digits {short}", "short.wav holds 0.020 s of audio, shorter than the 0.040 s"),
    "clip shorter than one step, stream": Probe("listen stream fsdd-digits -i {short}", "shorter than the 0.040 s the model needs"),
    "NaN audio, predict": Probe("listen predict fsdd-digits {nan}", "nan.wav contains NaN or infinite samples"),
    "NaN audio, stream": Probe("listen stream fsdd-digits -i {nan}", "nan.wav contains NaN or infinite samples (the first at 0.250 s)"),
    "symbolic link loop, predict": Probe("listen predict fsdd-digits {loop}", "loop.wav is a symbolic link loop"),
    "symbolic link loop, stream": Probe("listen stream fsdd-digits -i {loop}", "loop.wav is a symbolic link loop"),
    "link to nowhere": Probe("listen predict fsdd-digits {dangling}", "dangling.wav is a symbolic link to nowhere.wav, which does not exist"),
    "missing file": Probe("listen predict fsdd-digits {out}/missing.wav", "missing.wav does not exist"),
    "glob matching nothing": Probe("listen predict fsdd-digits {out}/*.wav", "matches no files"),
    "empty file": Probe("listen predict fsdd-digits {empty}", "empty.wav is empty (0 bytes)"),
    "text named .wav": Probe("listen predict fsdd-digits {text}", "text.wav is not a readable audio file"),
    "folder as the stream's input": Probe("listen stream fsdd-digits -i {data}", "is a directory, not an audio file"),
    # model files (bundles with edited metadata)
    "not a model": Probe("listen predict {file} {clip}", "notes.txt"),
    "unknown model name": Probe("listen predict no-such-model {clip}", "neither a model file nor a shipped model"),
    "model of another task": Probe("compose generate fsdd-digits --out {out}", "is a listen model, and this command needs a compose model"),
    "metadata not JSON": Probe("listen predict {bad-json} {clip}", "bad-json.safetensors"),
    "metadata of a wrong type": Probe("listen predict {bad-type} {clip}", "bad-type.safetensors"),
    "metadata with an unknown key": Probe("listen predict {bad-key} {clip}", "bad-key.safetensors"),
    "metadata with a label too few": Probe("listen predict {bad-labels} {clip}", "bad-labels.safetensors"),
    "metadata with sr 0": Probe("listen predict {bad-sr} {clip}", "bad-sr.safetensors"),
    # where files go
    "export to a folder": Probe("export fsdd-digits {folder}", "folder.onnx is a folder; give the name of a file to write"),
    "export below a file": Probe("export fsdd-digits {file}/digits.onnx", "notes.txt is a file, not a folder"),
    "export to another format": Probe("export fsdd-digits {out}/digits.txt", "should end in .onnx"),
    "evaluate --out a file": Probe("listen evaluate {run} {data} --split train --out {file}", "notes.txt is a file, not a folder"),
    "synth generate --out a file": Probe("synth generate drums --n 1 --seconds 0.05 --out {file}", "notes.txt is a file, not a folder"),
    "compose generate --out a file": Probe("compose generate groove-drums --n 1 --bars 1 --out {file}", "notes.txt"),
    "pianoroll sample --out a file": Probe("compose pianoroll sample jsb-gru --n 1 --steps 4 --out {file}", "notes.txt"),
    "train --out a file": Probe("listen train {data} --out {file}", "--out"),
    "train --out unwritable": Probe("listen train {data} --out /proc/gruve-run", "--out"),
    "train --out an existing run": Probe("listen train {data} --out {run}", "--resume"),
    "resume from a truncated last.ckpt": Probe("listen train {data} --out {ckpt} --resume", "last.ckpt is not a checkpoint gruve can read safely"),
    "resume with another --hidden": Probe("listen train {rundata} --out {run} --resume --hidden 16 --epochs 2", "holds a different model",
                                          progress=True),
    "resume with another class count": Probe("listen train {data3} --out {run} --resume --hidden 8 --epochs 2", "--resume",
                                             progress=True),
    "--precision 7": Probe("listen train {data} --precision 7", "--precision"),
    "--accelerator gpu without one": Probe("listen train {data} --accelerator gpu", "--accelerator"),
    # listen options (tests/listen/test_listen_api.py CHECKS has these from Python too)
    "listen train --epochs -1": Probe("listen train {data} --epochs -1", "--epochs must be at least 1 (got -1)"),
    "listen train --epochs 0": Probe("listen train {data} --epochs 0", "--epochs must be at least 1 (got 0)"),
    "listen train --batch-size 0": Probe("listen train {data} --batch-size 0", "--batch-size must be at least 1"),
    "listen train --hidden 0": Probe("listen train {data} --hidden 0", "--hidden must be at least 1"),
    "listen train --layers 0": Probe("listen train {data} --layers 0", "--layers must be at least 1"),
    "listen train --lr -1": Probe("listen train {data} --lr -1", "--lr must be above 0"),
    "listen train --lr inf": Probe("listen train {data} --lr inf", "--lr must be above 0"),
    "listen train --pooling max": Probe("listen train {data} --pooling max", "--pooling max is not one of attention, mean"),
    "listen train --mixup -1": Probe("listen train {data} --mixup -1", "--mixup must be 0 (off) or more"),
    "listen train --model tcn": Probe("listen train {data} --model tcn", "--model tcn is not one of"),
    "listen train --window nan": Probe("listen train {data} --window nan", "--window must be more than 0"),
    "listen train --patience -1": Probe("listen train {data} --patience -1", "--patience must be 0"),
    "listen train --noise nowhere": Probe("listen train {data} --noise nowhere", "--noise nowhere is not 'white', 'pink' or a folder"),
    "listen train --seed -1": Probe("listen train {data} --seed -1", "--seed"),
    "listen evaluate --split dev": Probe("listen evaluate fsdd-digits {data} --split dev", "--split dev is not one of"),
    "listen predict -k -1": Probe("listen predict fsdd-digits {clip} -k -1", "--top-k must be at least 1 (got -1)"),
    "listen predict -k 0": Probe("listen predict fsdd-digits {clip} -k 0", "--top-k must be at least 1 (got 0)"),
    "listen predict --json --csv": Probe("listen predict fsdd-digits {clip} --json --csv", "--json and --csv cannot both be on"),
    "listen stream --hop-ms 0": Probe("listen stream fsdd-digits -i {clip} --hop-ms 0", "--hop-ms must be more than 0"),
    "listen stream --threshold nan": Probe("listen stream fsdd-digits -i {clip} --threshold nan", "--threshold must be between 0 and 1"),
    # compose language models
    "compose train --epochs 0": Probe("compose train {data} --epochs 0", "--epochs must be at least 1"),
    "compose train --batch-size 0": Probe("compose train {data} --batch-size 0", "--batch-size must be at least 1"),
    "compose train --hidden 0": Probe("compose train {data} --hidden 0", "--hidden must be at least 1"),
    "compose train --layers 0": Probe("compose train {data} --layers 0", "--layers must be at least 1"),
    "compose train --lr -1": Probe("compose train {data} --lr -1", "--lr must be above 0"),
    "compose train --dropout 2": Probe("compose train {data} --dropout 2", "--dropout must be at least 0 and below 1"),
    "compose train --window 1": Probe("compose train {data} --window 1", "--window must be at least 2"),
    "compose train --tokenizer Nope": Probe("compose train {data} --tokenizer Nope", "unknown tokenizer"),
    "compose train, a --condition twice": Probe("compose train {data} --condition style,style", "--condition names style more than once"),
    "compose train --precision 7": Probe("compose train {data} --precision 7", "--precision"),
    "compose generate --temperature nan": Probe("compose generate groove-drums --temperature nan --out {out}", "--temperature must be above 0 (got nan)"),
    "compose generate --temperature inf": Probe("compose generate groove-drums --temperature inf --out {out}", "--temperature must be above 0 (got inf)"),
    "compose generate --tokens 0": Probe("compose generate groove-drums --tokens 0 --out {out}", "--tokens must be at least 1 (got 0)"),
    "compose generate --n 0": Probe("compose generate groove-drums --n 0 --out {out}", "--n must be at least 1"),
    "compose generate --bars 0": Probe("compose generate groove-drums --bars 0 --out {out}", "--bars must be at least 1"),
    "compose generate --top-p nan": Probe("compose generate groove-drums --top-p nan --out {out}", "--top-p must be above 0 and at most 1"),
    "compose generate --top-k -1": Probe("compose generate groove-drums --top-k -1 --out {out}", "--top-k must be at least 0"),
    "compose generate, a --condition twice": Probe("compose generate groove-drums --condition style=funk,style=rock --out {out}", "--condition gives style twice"),
    "compose generate --seed -1": Probe("compose generate groove-drums --seed -1 --out {out}", "--seed must be at least 0"),
    "compose generate --primer missing": Probe("compose generate groove-drums --primer {out}/none.mid --out {out}", "none.mid does not exist"),
    "compose evaluate --temperature nan": Probe("compose evaluate groove-drums --reference {data} --temperature nan", "--temperature must be above 0"),
    "compose evaluate --n 0": Probe("compose evaluate groove-drums --reference {data} --n 0", "--n must be at least 1"),
    "compose evaluate --split dev": Probe("compose evaluate groove-drums --reference {data} --split dev", "--split must be one of"),
    "compose evaluate --seed -1": Probe("compose evaluate groove-drums --reference {data} --seed -1", "--seed must be at least 0"),
    # piano-roll models
    "pianoroll train --epochs 0": Probe("compose pianoroll train {data} --epochs 0", "--epochs must be at least 1"),
    "pianoroll train --batch-size 0": Probe("compose pianoroll train {data} --batch-size 0", "--batch-size must be at least 1"),
    "pianoroll train --hidden 0": Probe("compose pianoroll train {data} --hidden 0", "--hidden must be at least 1"),
    "pianoroll train --layers 0": Probe("compose pianoroll train {data} --layers 0", "--layers must be at least 1"),
    "pianoroll train --lr -1": Probe("compose pianoroll train {data} --lr -1", "--lr must be above 0"),
    "pianoroll train --dropout 2": Probe("compose pianoroll train {data} --dropout 2", "--dropout must be at least 0 and below 1"),
    "pianoroll train --model nope": Probe("compose pianoroll train {data} --model nope", "unknown piano-roll --model 'nope'"),
    "pianoroll train --ema 1": Probe("compose pianoroll train {data} --ema 1", "--ema must be at least 0 (off) and below 1"),
    "pianoroll sample --temperature nan": Probe("compose pianoroll sample jsb-gru --temperature nan --out {out}", "--temperature must be above 0 (got nan)"),
    "pianoroll sample --temperature inf": Probe("compose pianoroll sample jsb-gru --temperature inf --out {out}", "--temperature must be above 0 (got inf)"),
    "pianoroll sample --steps 0": Probe("compose pianoroll sample jsb-gru --steps 0 --out {out}", "--steps must be at least 1"),
    "pianoroll sample --qpm 0": Probe("compose pianoroll sample jsb-gru --qpm 0 --out {out}", "--qpm must be above 0"),
    # synth
    "synth train --epochs 0": Probe("synth train {data} --epochs 0", "--epochs must be at least 1"),
    "synth train --batch-size 0": Probe("synth train {data} --batch-size 0", "--batch-size must be at least 1"),
    "synth train --hidden 0": Probe("synth train {data} --hidden 0", "--hidden must be at least 1"),
    "synth train --head 0": Probe("synth train {data} --head 0", "--head must be at least 1"),
    "synth train --lr -1": Probe("synth train {data} --lr -1", "--lr must be above 0"),
    "synth train --seconds nan": Probe("synth train {data} --seconds nan", "--seconds must be above 0"),
    "synth train --sample-rate 0": Probe("synth train {data} --sample-rate 0", "--sample-rate must be at least 1000"),
    "synth train --mel --envelope": Probe("synth train {data} --mel --envelope", "choose --mel or --envelope"),
    "synth generate --seconds nan": Probe("synth generate drums --seconds nan --out {out}", "--seconds must be above 0 (got nan)"),
    "synth generate --seconds 1e9": Probe("synth generate drums --seconds 1e9 --out {out}", "--seconds"),
    "synth generate --temperature nan": Probe("synth generate drums --temperature nan --out {out}", "--temperature must be above 0"),
    "synth generate --n 0": Probe("synth generate drums --n 0 --out {out}", "--n must be at least 1"),
    "synth generate --seed -1": Probe("synth generate drums --n 1 --seconds 0.01 --seed -1 --out {out}", "--seed"),
    "synth generate --label nope": Probe("synth generate drums --label nope --out {out}", "nope"),
    "synth evaluate --n 0": Probe("synth evaluate drums --data {data} --classifier fsdd-digits --n 0", "--n must be at least 1"),
    "synth evaluate --seconds inf": Probe("synth evaluate drums --data {data} --classifier fsdd-digits --seconds inf", "--seconds must be above 0"),
    "synth evaluate --seed -1": Probe("synth evaluate drums --data {data} --classifier fsdd-digits --seed -1", "--seed must be at least 0"),
    "synth equalise --n 0": Probe("synth equalise drums --data {data} --out {out} --n 0", "--n must be at least 1"),
}


def _tones(root, classes=("low", "high")):
    for k, label in enumerate(classes):
        (root / label).mkdir(parents=True)
        for i in range(4):
            sf.write(root / label / f"{label}{i}.wav", tone(300 * 2 ** (2 * k) * (1 + 0.02 * i), 0.3, seed=i), 16000)
    return root


def _wav(y, sr=8000, subtype="PCM_16"):
    def make(path):
        sf.write(path, y, sr, subtype=subtype)
    return make


def _nan():
    y = tone(500, 0.5, 8000)
    y[2000] = np.nan
    return _wav(y, subtype="FLOAT")


def _edited(change):
    """A copy of fsdd-digits whose gruve metadata `change` edits (given and giving the metadata's JSON)."""
    def make(path):
        from safetensors import safe_open
        from safetensors.torch import save_file

        from gruve import bundle

        with safe_open(str(bundle.locate("fsdd-digits")), "pt") as f:
            tensors, meta = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()["gruve"]
        save_file(tensors, str(path), metadata={"gruve": change(meta)})
    return make


def _config(edit):
    def change(text):
        meta = json.loads(text)
        edit(meta["config"])
        return json.dumps(meta)
    return _edited(change)


def _truncated_checkpoint(path):
    (path / "checkpoints").mkdir(parents=True)
    (path / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04" + bytes(100))


# placeholder: (file name, how to make it at that path); a name of None is a folder made by the maker
MAKERS = {
    "data": ("data", _tones),
    "data3": ("data3", lambda p: _tones(p, ("low", "mid", "high"))),
    "out": ("out", lambda p: None),
    "file": ("notes.txt", lambda p: p.write_text("mine")),
    "folder": ("folder.onnx", lambda p: p.mkdir()),
    "clip": ("clip.wav", _wav(tone(500, 0.5, 8000))),
    "short": ("short.wav", _wav(tone(500, 0.02, 8000))),
    "nan": ("nan.wav", _nan()),
    "empty": ("empty.wav", lambda p: p.write_bytes(b"")),
    "text": ("text.wav", lambda p: p.write_text("not audio at all, just text " * 10)),
    "loop": ("loop.wav", lambda p: (p.symlink_to(p.with_name("loop2.wav")), p.with_name("loop2.wav").symlink_to(p))),
    "dangling": ("dangling.wav", lambda p: p.symlink_to("nowhere.wav")),
    "ckpt": ("ckpt-run", _truncated_checkpoint),
    "bad-json": ("bad-json.safetensors", _edited(lambda text: text[:-3])),
    "bad-type": ("bad-type.safetensors", _config(lambda c: c.update(hidden_size="big"))),
    "bad-key": ("bad-key.safetensors", _config(lambda c: c.update(colour="red"))),
    "bad-labels": ("bad-labels.safetensors", _config(lambda c: c.update(labels=c["labels"][:-1]))),
    "bad-sr": ("bad-sr.safetensors", _config(lambda c: c["features"].update(sr=0))),
}


class Places(dict):
    """The placeholders of a row, each made in `root` the first time a row names it."""

    def __init__(self, root, datasets, run):
        super().__init__()
        self.root, self.datasets, self.run = root, datasets, run

    def __missing__(self, key):
        if key == "run":
            value = self.root / "run"
            shutil.copytree(self.run, value)  # a copy: a row may not change the run the others use
        elif key == "rundata":  # the data {run} was trained on
            value = self.run.parent / "data"
        elif key == "trunc":
            value = self.root / "trunc.wav"
            value.write_bytes((self.datasets / "fsdd" / "recordings" / "3_jackson_0.wav").read_bytes()[:300])
        else:
            name, make = MAKERS[key]
            value = self.root / name
            make(value)
        self[key] = str(value)
        return self[key]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A listen run trained once for one epoch on tones (hidden 8), for rows that need a run folder."""
    from gruve.listen import ListenOptions, train
    from gruve.training import TrainOptions

    root = tmp_path_factory.mktemp("probe-run")
    train(ListenOptions(data=str(_tones(root / "data")), hidden_size=8, cache_dir=root / "cache"),
          TrainOptions(out=root / "run", max_epochs=1, progress=False), say=lambda _: None)
    return root / "run"


@pytest.mark.parametrize("probe", [pytest.param(probe, id=name) for name, probe in PROBES.items()])
def test_every_bad_input_gets_one_sentence(probe, tmp_path, datasets, request, capsys):
    places = Places(tmp_path, datasets, request.getfixturevalue("trained_run") if "{run" in probe.args else None)
    args = probe.args.format_map(places).split()
    capsys.readouterr()  # what making the inputs printed (training the run) is not the command's
    code, _, err = run_cli(args, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and "Traceback" not in err, err
    if probe.progress:
        assert lines and lines[-1].startswith("error: "), err
        lines = lines[-1:]
    assert len(lines) == 1 and probe.phrase in lines[0], err
    assert lines[0].startswith(("error: ", "skipped: "))


def test_every_probe_names_only_inputs_that_exist():
    for name, probe in PROBES.items():
        fields = {part.split("}")[0] for part in probe.args.split("{")[1:]}
        assert fields <= {*MAKERS, "run", "rundata", "trunc"}, name


# Inputs that are not mistakes: what must work, and files a command skips while it goes on.

def _bad_name(folder):
    return folder / os.fsdecode(b"bad\xff.wav")  # a Linux file name may be any bytes, not only UTF-8


@pytest.mark.parametrize("form", ["table", "--json", "--csv"])
def test_predict_labels_a_folder_with_a_file_name_that_is_not_utf8(form, tmp_path, capfd):
    folder = tmp_path / "clips"
    folder.mkdir()
    for path in (_bad_name(folder), folder / "good.wav"):
        sf.write(os.fsencode(path), tone(500, 0.5, 8000), 8000)
    code, out, err = run_cli(["listen", "predict", "fsdd-digits", str(folder), *([form] if form != "table" else [])], capfd)
    assert code == 0 and not err
    if form == "table":  # one row per file, its path wrapped over lines to fit
        names = "".join(line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│"))
        assert names.count("good.wav") == 1 and names.count("bad") == 1
    if form == "--csv":
        assert len(out.splitlines()) == 3 and "good.wav" in out and "bad" in out
    if form == "--json":
        assert {os.fsencode(p["path"]) for p in json.loads(out)} == {os.fsencode(_bad_name(folder)),
                                                                    os.fsencode(folder / "good.wav")}


def test_stream_train_evaluate_and_equalise_take_a_file_name_that_is_not_utf8(tmp_path, capfd):
    data = _tones(tmp_path / "data")
    sf.write(os.fsencode(_bad_name(data / "low")), tone(310, 0.3), 16000)
    code, _, err = run_cli(["listen", "stream", "fsdd-digits", "-i", str(_bad_name(data / "low"))], capfd)
    assert code == 0 and "Traceback" not in err
    run = tmp_path / "run"
    code, _, err = run_cli(["listen", "train", str(data), "--hidden", "8", "--epochs", "1", "--out", str(run)], capfd)
    assert code == 0 and "Traceback" not in err
    from gruve import files

    assert os.fsencode(_bad_name(data / "low")) in {os.fsencode(r["path"]) for r in files.read_csv(run / "split.csv")}
    code, _, err = run_cli(["listen", "evaluate", str(run), str(data), "--split", "train", "--out",
                            str(tmp_path / "eval")], capfd)
    assert code == 0 and "Traceback" not in err
    (tmp_path / "kit" / "kick").mkdir(parents=True)
    sf.write(os.fsencode(_bad_name(tmp_path / "kit" / "kick")), tone(60, 0.3), 16000)
    code, _, err = run_cli(["synth", "equalise", "drums", "--data", str(tmp_path / "kit"), "--n", "1", "--out",
                            str(tmp_path / "eq.safetensors")], capfd)
    assert code == 0 and "Traceback" not in err


def test_a_training_folder_lists_a_symbolic_link_loop_among_the_skipped_files(tmp_path):
    from gruve.data.cache import FeatureCache
    from gruve.data.sources import from_folder
    from gruve.features import FeatureConfig

    data = _tones(tmp_path / "data")
    (data / "low" / "loop.wav").symlink_to("loop2.wav")
    (data / "low" / "loop2.wav").symlink_to("loop.wav")
    loaded, skipped = FeatureCache(FeatureConfig(), tmp_path / "cache").load(from_folder(data).items)
    assert len(loaded) == 8
    assert sorted(reason.rsplit("/", 1)[-1] for _, reason in skipped) == ["loop.wav is a symbolic link loop.",
                                                                         "loop2.wav is a symbolic link loop."]


def test_written_csv_gives_back_any_file_name(tmp_path):
    from gruve import files

    name = str(_bad_name(tmp_path))
    files.write_csv(tmp_path / "split.csv", ["path", "split"], [[name, "train"]])
    assert files.read_csv(tmp_path / "split.csv") == [{"path": name, "split": "train"}]
