"""Bundles with edited metadata: every edit is refused in one sentence naming the file, from Python and from
the command line, before anything large is allocated (the issue's `hidden_size=1e6` asked for 12 TB)."""

from __future__ import annotations

import json
import time

import pytest
import soundfile as sf
import torch
from conftest import run_cli, tone
from safetensors.torch import save_file

import gruve
from gruve import bundle
from gruve.bundle import BundleError


def header(text: str):
    return lambda meta, tensors: text


def config(**changes):
    def edit(meta, tensors):
        meta["config"].update(changes)
    return edit


def features(**changes):
    def edit(meta, tensors):
        meta["config"]["features"].update(changes)
    return edit


def without(key: str):
    def edit(meta, tensors):
        del meta["config"][key]
    return edit


def tensor(name: str, value: torch.Tensor | None):
    def edit(meta, tensors):
        if value is None:
            del tensors[name]
        else:
            tensors[name] = value
    return edit


def labels(meta, tensors):
    meta["config"]["labels"].append("eleven")


# (shipped model edited, edit, what the sentence says)
EDITS = {
    "invalid JSON": ("fsdd-digits", header("{not json"), "has gruve metadata that is not valid JSON"),
    "JSON not an object": ("fsdd-digits", header("[1, 2]"), "has gruve metadata without a model config"),
    "no config": ("fsdd-digits", header('{"task": "listen"}'), "has gruve metadata without a model config"),
    "config not an object": ("fsdd-digits", header('{"task": "listen", "config": 7}'), "without a model config"),
    "unknown task": ("fsdd-digits", header('{"task": "paint", "config": {}}'), "holds a 'paint' model"),
    "unknown key": ("fsdd-digits", config(colour="red"), "has unknown fields colour"),
    "unknown nested key": ("fsdd-digits", features(colour="red"), "has unknown fields features.colour"),
    "missing key": ("fsdd-digits", without("labels"), "lacks the fields labels"),
    "string for a number": ("fsdd-digits", config(hidden_size="128"), 'hidden_size must be a whole number (got "128")'),
    "hidden_size=1e6": ("fsdd-digits", config(hidden_size=1e6), "hidden_size must be a whole number (got 1000000.0)"),
    "hidden_size 1000000": ("fsdd-digits", config(hidden_size=1_000_000), "hidden_size must be from 1 to 16384"),
    "hidden_size unlike the weights": ("fsdd-digits", config(hidden_size=8192), "does not hold the weights its config"),
    "labels not a list": ("fsdd-digits", config(labels="0123456789"), "labels must be a list of strings"),
    "wrong label count": ("fsdd-digits", labels, "head.weight is 10x128, and the config makes it 11x128"),
    "sr 0": ("fsdd-digits", features(sr=0), "features.sr must be from 1 to 768000 (got 0)"),
    "n_fft 1e9": ("fsdd-digits", features(n_fft=10**9), "features.n_fft must be from 1 to 65536"),
    "negative layers": ("fsdd-digits", config(num_layers=-1), "num_layers must be from 1 to 64"),
    "NaN window": ("fsdd-digits", config(window=float("nan")), "window must be from 0.001 to 3600 (got nan)"),
    "dropout 2": ("fsdd-digits", config(dropout=2), "dropout must be from 0 to 1 (got 2)"),
    "a million conv layers": ("fsdd-digits", config(conv_channels=[16] * 10**6), "conv_channels has 1,000,000"),
    "unknown architecture": ("fsdd-digits", config(architecture="transformer"), "architecture transformer is not"),
    "missing tensor": ("fsdd-digits", tensor("head.bias", None), "(it lacks head.bias)"),
    "extra tensor": ("fsdd-digits", tensor("payload", torch.zeros(3)), "(it has unexpected payload)"),
    "wrong tensor shape": ("fsdd-digits", tensor("feature_mean", torch.zeros(10)), "feature_mean is 10, and the"),
    "synth hidden_size=1e6": ("drums", config(hidden_size=1e6), "hidden_size must be a whole number"),
    "synth sr 0": ("drums", config(sr=0), "sr must be from 1 to 768000 (got 0)"),
    "synth wrong label count": ("drums", labels, "is 6x513, and the config makes it 7x513"),
    "synth mel of unknown fields": ("drums", config(mel={"colour": 1}), "cannot build a model from"),
    "piano-roll hidden_size 1000000": ("jsb-gru", config(hidden_size=1_000_000), "hidden_size must be from 1"),
    "piano-roll unknown key": ("jsb-gru", config(colour="red"), "has unknown fields colour"),
    "compose vocab_size unlike the weights": ("groove-drums", config(vocab_size=99), "and the config makes it 99"),
    "compose conditions of numbers": ("groove-drums", config(conditions={"style": [1, 2]}),
                                      "conditions must be an object of lists of strings"),
}


def edited(tmp_path, name, edit):
    meta, tensors = bundle.read(name)
    text = edit(meta, tensors)
    path = tmp_path / f"edited-{name}.safetensors"
    save_file(tensors, path, metadata={"gruve": text if isinstance(text, str) else json.dumps(meta)})
    return path


@pytest.mark.parametrize("case", EDITS)
def test_an_edited_bundle_is_refused_in_one_sentence_naming_it(case, tmp_path, capsys):
    name, edit, phrase = EDITS[case]
    path = edited(tmp_path, name, edit)
    started = time.perf_counter()
    with pytest.raises(BundleError) as raised:
        gruve.load(path)
    message = str(raised.value)
    assert str(path) in message and phrase in message and "\n" not in message, message
    assert time.perf_counter() - started < 5  # nothing large was built

    if name == "fsdd-digits":  # the listen command that opens a bundle, as a user would
        sf.write(tmp_path / "a.wav", tone(440), 16000)
        args = ["listen", "predict", str(path), str(tmp_path / "a.wav")]
    else:  # the one command that opens a bundle of any task
        args = ["export", str(path), str(tmp_path / "model.onnx")]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert str(path) in err and phrase in err
    assert not (tmp_path / "model.onnx").exists()


def test_the_shipped_bundles_still_load():
    for name in bundle.pretrained_names():
        assert gruve.load(name).meta["task"] in bundle.TASKS
