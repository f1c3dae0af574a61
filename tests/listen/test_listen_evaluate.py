"""`listen evaluate` scores a model on the split it was trained with, stored in its bundle: never on a clip it
trained or validated on, whatever seed it was trained with and whatever files were added to the folder since."""

import csv
import shutil

import pytest
import soundfile as sf
from conftest import run_cli, tone

from gruve import bundle
from gruve.data.cache import FeatureCache
from gruve.data.sources import from_folder, split


@pytest.fixture(scope="module")
def seeded(tone_folder, tmp_path_factory):
    """A tiny model trained for one epoch with `--seed 3` on its own copy of the made-up tones (the tests add
    files to the copy); returns (run folder, data folder)."""
    from gruve.listen.fitting import ListenOptions
    from gruve.listen.training import train
    from gruve.training import TrainOptions

    data = tmp_path_factory.mktemp("data") / "tones"
    shutil.copytree(tone_folder, data)
    out = tmp_path_factory.mktemp("run")
    train(ListenOptions(data=str(data), architecture="gru", hidden_size=8, num_layers=1, batch_size=8),
          TrainOptions(out=out, max_epochs=1, seed=3, progress=False), say=lambda _: None)
    return out, data


@pytest.fixture
def scored(monkeypatch):
    """The files each evaluation read features of, in order."""
    seen = []
    load = FeatureCache.load

    def spy(self, items, *args, **kwargs):
        seen.append(sorted(i.path.relative_to(i.path.parents[1]).as_posix() for i in items))
        return load(self, items, *args, **kwargs)

    monkeypatch.setattr(FeatureCache, "load", spy)
    return seen


def split_csv(out):
    with open(out / "split.csv") as f:
        rows = list(csv.DictReader(f))
    return {name: sorted(f"{r['label']}/{r['path'].rsplit('/', 1)[1]}" for r in rows if r["split"] == name)
            for name in ("train", "valid", "test")}


def test_evaluate_scores_exactly_the_models_own_test_clips(seeded, scored, tmp_path, capsys):
    out, data = seeded
    parts = split_csv(out)
    stored = bundle.load(out).meta["training"]["split"]
    assert {name: sorted(stored[name]) for name in parts} == parts  # the bundle carries what split.csv lists
    seed0 = sorted(f"{i.labels['label']}/{i.path.name}" for i in split(from_folder(data), "label")["test"])
    assert seed0 != parts["test"]  # seed 0's test set, which evaluate used to score, is another one
    code, _, stderr = run_cli(["listen", "evaluate", str(out), str(data), "--out", str(tmp_path)], capsys)
    assert code == 0, stderr
    assert scored == [parts["test"]]
    assert f"evaluating on the {len(parts['test'])} clips of the model's own test split" in stderr
    code, _, _ = run_cli(["listen", "evaluate", str(out), str(data), "--split", "valid", "--out", str(tmp_path)],
                         capsys)
    assert code == 0 and scored[-1] == parts["valid"]


def test_files_added_to_the_folder_never_move_a_training_clip_into_the_evaluated_set(seeded, scored, tmp_path,
                                                                                      capsys):
    out, data = seeded
    parts = split_csv(out)
    for label, base in (("low", 330.0), ("high", 2100.0)):
        for i in range(6):
            sf.write(data / label / f"added{i}.wav", tone(base, seed=100 + i), 16000)
    moved = {f"{i.labels['label']}/{i.path.name}" for i in split(from_folder(data), "label", seed=3)["test"]}
    assert moved & set(parts["train"] + parts["valid"])  # splitting again would test on training clips
    code, _, stderr = run_cli(["listen", "evaluate", str(out), str(data), "--out", str(tmp_path)], capsys)
    assert code == 0, stderr
    assert scored == [parts["test"]]
    assert "left out 12 file(s)" in stderr


def test_a_model_without_a_stored_split_says_its_test_set_may_hold_training_clips(seeded, scored, tmp_path, capsys):
    out, data = seeded
    model = bundle.load(out)
    meta = {**model.meta, "training": {k: v for k, v in model.meta["training"].items() if k != "split"}}
    bundle.save(tmp_path / "old" / "model.safetensors", model, meta)  # as gruve wrote it before, without split.csv
    code, _, stderr = run_cli(["listen", "evaluate", str(tmp_path / "old"), str(data), "--out", str(tmp_path)],
                              capsys)
    assert code == 0, stderr
    assert "carries no record of the split it was trained on" in stderr and "may include" in stderr
    shutil.copy(out / "split.csv", tmp_path / "old" / "split.csv")  # a run folder of then: its split.csv is used
    code, _, stderr = run_cli(["listen", "evaluate", str(tmp_path / "old"), str(data), "--out", str(tmp_path)],
                              capsys)
    assert code == 0, stderr
    assert scored[-1] == split_csv(out)["test"] and "split.csv" in stderr


def test_data_without_any_of_the_models_test_clips_is_refused(seeded, tmp_path, capsys):
    out, _ = seeded
    for label in ("low", "high"):
        (tmp_path / "other" / label).mkdir(parents=True)
        sf.write(tmp_path / "other" / label / "fresh.wav", tone(440), 16000)
    code, _, stderr = run_cli(["listen", "evaluate", str(out), str(tmp_path / "other"), "--out", str(tmp_path)],
                              capsys)
    assert code == 1 and "none of the" in stderr and "Traceback" not in stderr
