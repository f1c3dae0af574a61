import csv

import pytest
import soundfile as sf

from gruve.data.sources import DataError, from_manifest, resolve, split, write_split
from conftest import tone


def test_folder_source_labels_by_sub_folder_and_splits_reproducibly(tone_folder, tmp_path):
    corpus = resolve(str(tone_folder))
    assert corpus.targets == ["label"] and corpus.labels("label") == ["high", "low"]
    parts = split(corpus, "label", seed=3)
    assert [len(parts[s]) for s in ("train", "valid", "test")] == [20, 2, 2]
    for name in ("valid", "test"):  # stratified: every class in each held-out part
        assert {i.labels["label"] for i in parts[name]} == {"high", "low"}
    again = split(corpus, "label", seed=3)
    assert [i.path for i in again["test"]] == [i.path for i in parts["test"]]
    assert [i.path for i in split(corpus, "label", seed=4)["test"]] != [i.path for i in parts["test"]]
    write_split(parts, "label", tmp_path / "split.csv")
    saved = from_manifest(tmp_path / "split.csv")
    assert sorted(str(i.path) for i in saved.items if i.split == "test") == sorted(str(i.path) for i in parts["test"])


def test_manifest_with_folds_splits_by_fold(tmp_path):
    rows = [("a.wav", "x", 1, "s1"), ("b.wav", "y", 1, "s2"), ("c.wav", "x", 2, "s1"), ("d.wav", "y", 3, "s2")]
    with open(tmp_path / "m.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "fold", "speaker"), *rows])
    corpus = resolve(str(tmp_path / "m.csv"))
    assert corpus.targets == ["label", "speaker"] and corpus.folds == [1, 2, 3]
    assert corpus.items[0].path == tmp_path / "a.wav"  # relative to the manifest
    parts = split(corpus, "speaker", test_fold=2)
    assert [i.path.name for i in parts["test"]] == ["c.wav"] and parts["valid"] == []
    with pytest.raises(DataError, match="no fold 7"):
        split(corpus, "label", test_fold=7)
    with pytest.raises(DataError, match="no target 'genre'"):
        corpus.target("genre")


@pytest.mark.parametrize("text,phrase", [
    ("file,label\na.wav,x\n", "'path' column"),
    ("path\na.wav\n", "no label column"),
    ("path,label,split\na.wav,x,holdout\n", "line 2: split 'holdout'"),
    ("path,label,fold\na.wav,x,first\n", "line 2: fold 'first'"),
])
def test_bad_manifests_say_what_is_wrong(tmp_path, text, phrase):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(DataError, match=phrase):
        resolve(str(tmp_path / "m.csv"))


def test_bad_data_arguments(tmp_path):
    with pytest.raises(DataError, match="not a folder, a CSV manifest or a known corpus"):
        resolve(str(tmp_path / "nowhere"))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="not a CSV manifest"):
        resolve(str(tmp_path / "notes.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no audio files"):
        resolve(str(tmp_path / "empty"))
    (tmp_path / "one" / "only").mkdir(parents=True)
    sf.write(tmp_path / "one" / "only" / "a.wav", tone(300), 16000)
    assert resolve(str(tmp_path / "one")).labels("label") == ["only"]  # a synthesiser of one sound; listen refuses


def test_fsdd_official_split(datasets):
    corpus = resolve(f"fsdd:{datasets / 'fsdd'}")
    assert corpus.targets == ["digit", "speaker"] and len(corpus.items) == 3000
    parts = split(corpus, "digit")
    assert {s: len(p) for s, p in parts.items()} == {"train": 2400, "valid": 300, "test": 300}
    assert all(int(i.path.stem.split("_")[2]) < 5 for i in parts["test"])
    assert corpus.labels("digit") == [str(d) for d in range(10)] and len(corpus.labels("speaker")) == 6
