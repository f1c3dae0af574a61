"""`synth equalise` on sounds of only some of a model's labels refits those and keeps the others' gains."""

import shutil

import torch
from conftest import run_cli

from gruve import bundle


def test_labels_without_sounds_keep_their_gains_and_are_named(datasets, tmp_path, capsys):
    shipped = bundle.load("drums", task="synth")
    held_out = set(shipped.meta["training"]["valid_files"])
    for label in ("kick", "snare"):  # real one-shots of two of the six labels, none the model was validated on
        (tmp_path / "data" / label).mkdir(parents=True)
        for path in [p for p in sorted((datasets / "drums" / label).glob("*.wav")) if p.name not in held_out][:3]:
            shutil.copy(path, tmp_path / "data" / label)
    code, stdout, stderr = run_cli(["synth", "equalise", "drums", "--data", str(tmp_path / "data"), "--n", "2",
                                    "--out", str(tmp_path / "out")], capsys)
    assert code == 0, stderr
    assert "fitted to 6 sounds" in stdout
    assert "kept the gains of clap, cymbal, hihat, tom" in stderr
    refitted = bundle.load(tmp_path / "out", task="synth")
    labels = shipped.config.labels
    for i, label in enumerate(labels):
        if label in ("kick", "snare"):
            assert not torch.equal(refitted.equaliser[i], shipped.equaliser[i])
        else:
            assert torch.equal(refitted.equaliser[i], shipped.equaliser[i]) and shipped.equaliser[i].abs().max() > 1
    assert refitted.meta["equaliser"]["kept"] == ["clap", "cymbal", "hihat", "tom"]
