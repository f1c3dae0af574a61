"""Known corpora: each reader on a tiny fake copy of the corpus's layout, and the real ESC-10 and FSDD copies where
the shared data sets are at hand (downloads are in test_downloads.py)."""

import csv
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gruve.data.corpora import KNOWN
from gruve.data.sources import DataError, split

RNG = np.random.default_rng(0)


def wav(path: Path, seconds: float = 0.05, sr: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, RNG.uniform(-0.5, 0.5, int(seconds * sr)).astype(np.float32), sr)
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])


# --- ESC-50 and UrbanSound8K: folds from the metadata CSV ------------------------------------------

def esc50(root: Path) -> Path:
    rows = [["1-100032-A-0.wav", 1, 0, "dog", True, "100032", "A"],
            ["2-104533-A-0.wav", 2, 0, "dog", True, "104533", "A"],
            ["5-9032-A-1.wav", 5, 1, "rooster", True, "9032", "A"],
            ["4-181286-A-10.wav", 4, 10, "rain", True, "181286", "A"]]
    write_csv(root / "meta" / "esc50.csv", ["filename", "fold", "target", "category", "esc10", "src_file", "take"],
              rows)
    for row in rows:
        wav(root / "audio" / row[0])
    return root


def test_esc50_folds_and_labels_come_from_the_csv(tmp_path):
    corpus = KNOWN["esc50"].corpus(esc50(tmp_path))
    found = {item.path.name: (item.labels["label"], item.fold, item.split) for item in corpus.items}
    assert found == {"1-100032-A-0.wav": ("dog", 1, None), "2-104533-A-0.wav": ("dog", 2, None),
                     "5-9032-A-1.wav": ("rooster", 5, None), "4-181286-A-10.wav": ("rain", 4, None)}
    assert corpus.folds == [1, 2, 4, 5]
    assert all(item.path.is_file() for item in corpus.items)


def test_a_folder_without_the_metadata_is_refused(tmp_path):
    with pytest.raises(DataError, match="meta/esc50.csv"):
        KNOWN["esc50"].corpus(tmp_path)


def test_urbansound8k_folds_and_classes_come_from_the_csv(tmp_path):
    rows = [["100032-3-0-0.wav", "100032", 0.0, 0.3, 1, 5, 3, "dog_bark"],
            ["100263-2-0-117.wav", "100263", 58.5, 62.5, 1, 5, 2, "children_playing"],
            ["102305-6-0-0.wav", "102305", 0.0, 2.6, 1, 10, 6, "gun_shot"]]
    write_csv(tmp_path / "metadata" / "UrbanSound8K.csv",
              ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"], rows)
    for row in rows:
        wav(tmp_path / "audio" / f"fold{row[5]}" / row[0])
    corpus = KNOWN["urbansound8k"].corpus(tmp_path)
    assert {(i.path.parent.name, i.path.name, i.labels["label"], i.fold) for i in corpus.items} == {
        ("fold5", "100032-3-0-0.wav", "dog_bark", 5), ("fold5", "100263-2-0-117.wav", "children_playing", 5),
        ("fold10", "102305-6-0-0.wav", "gun_shot", 10)}
    assert all(item.path.is_file() and item.split is None for item in corpus.items)
    assert corpus.defaults["window"] == 4.0


# --- Speech Commands: official lists, `_unknown_` and `_silence_` --------------------------------

def speech_commands(root: Path) -> Path:
    """Three words of 100 takes each (yes, no, and the non-command `cat`) and one 12-second noise recording."""
    for word in ("yes", "no", "cat"):
        take = wav(root / word / "00000000_nohash_0.wav", 0.01).read_bytes()
        for k in range(1, 100):  # copies of one take keep the fixture fast
            (root / word / f"{k:08x}_nohash_0.wav").write_bytes(take)
    (root / "validation_list.txt").write_text("yes/00000000_nohash_0.wav\ncat/00000001_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/00000001_nohash_0.wav\nno/00000000_nohash_0.wav\n")
    wav(root / "_background_noise_" / "white_noise.wav", 12.0)
    (root / "_background_noise_" / "README.md").write_text("noise\n")
    return root


def test_speech_commands_splits_come_from_the_official_lists(tmp_path):
    corpus = KNOWN["speechcommands-v2"].corpus(speech_commands(tmp_path))
    by_name = {f"{i.path.parent.name}/{i.path.name}": i for i in corpus.items}
    assert by_name["yes/00000000_nohash_0.wav"].split == "valid"
    assert by_name["cat/00000001_nohash_0.wav"].split == "valid"
    assert by_name["yes/00000001_nohash_0.wav"].split == "test"
    assert by_name["no/00000000_nohash_0.wav"].split == "test"
    assert by_name["no/00000001_nohash_0.wav"].split == "train"
    words = [i for i in corpus.items if "word" in i.labels]
    assert Counter(i.split for i in words) == {"train": 296, "valid": 2, "test": 2}


def test_command_maps_other_words_to_unknown_and_word_keeps_them(tmp_path):
    corpus = KNOWN["speechcommands-v1"].corpus(speech_commands(tmp_path))
    assert corpus.targets == ["command", "word"]
    assert corpus.labels("command") == ["_silence_", "_unknown_", "no", "yes"]
    cat = next(i for i in corpus.items if i.path.parent.name == "cat")
    assert cat.labels == {"command": "_unknown_", "word": "cat"}
    parts = split(corpus, "word")
    assert {i.labels["word"] for part in parts.values() for i in part} == {"cat", "no", "yes"}
    assert sum(len(part) for part in parts.values()) == 300


def test_silence_is_cut_once_from_the_background_noise_and_split(tmp_path):
    root = speech_commands(tmp_path)
    silence = [i for i in KNOWN["speechcommands-v2"].corpus(root).items if i.labels["command"] == "_silence_"]
    assert len(silence) == 10  # a tenth of an average class (100 takes)
    assert all(i.labels == {"command": "_silence_"} for i in silence)
    assert Counter(i.split for i in silence) == {"train": 8, "valid": 1, "test": 1}
    assert all(i.path.parent == root / "_silence_clips" for i in silence)
    clip, sr = sf.read(silence[0].path)
    assert sr == 16000 and len(clip) == 16000 and np.any(clip)
    stamps = {i.path: i.path.stat().st_mtime_ns for i in silence}
    again = [i for i in KNOWN["speechcommands-v2"].corpus(root).items if i.labels["command"] == "_silence_"]
    assert {i.path: i.path.stat().st_mtime_ns for i in again} == stamps
    assert [i.split for i in again] == [i.split for i in silence]


def test_speech_commands_without_noise_has_no_silence(tmp_path):
    root = speech_commands(tmp_path)
    for path in (root / "_background_noise_").iterdir():
        path.unlink()
    corpus = KNOWN["speechcommands-v2"].corpus(root)
    assert "_silence_" not in corpus.labels("command")
    assert not (root / "_silence_clips").exists()


# --- GTZAN: the shipped fault-filtered split ------------------------------------------------------

def test_gtzan_items_get_the_shipped_split(tmp_path):
    names = {"blues.00029": "train", "blues.00000": "valid", "blues.00012": "test", "rock.00099": "train",
             "classical.00042": None}  # classical.00042 is one of the 70 excerpts the split leaves out
    for name in names:
        wav(tmp_path / "genres" / name.split(".")[0] / f"{name}.wav", sr=22050)
    corpus = KNOWN["gtzan"].corpus(tmp_path)
    found = {i.path.stem: (i.split, i.labels["label"]) for i in corpus.items}
    assert found == {name: (s, name.split(".")[0]) for name, s in names.items() if s}
    assert all(item.path.is_file() and item.fold is None for item in corpus.items)


def test_the_shipped_gtzan_lists_are_the_published_443_197_290():
    from gruve.data.corpora import SPLIT_LISTS

    lists = {s: (SPLIT_LISTS / f"gtzan_{s}_filtered.txt").read_text().split() for s in ("train", "valid", "test")}
    assert {s: len(names) for s, names in lists.items()} == {"train": 443, "valid": 197, "test": 290}
    assert len(set().union(*lists.values())) == 930
    assert lists["train"][0] == "blues/blues.00029.wav"


# --- the real copies, where the shared data sets are at hand ----------------------------------------

def shared_datasets() -> Path:
    default = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
    path = Path(os.environ.get("GRUVE_DATASETS") or default)
    if not path.is_dir():
        pytest.skip("no shared data sets (set GRUVE_DATASETS)")
    return path


def test_real_fsdd():
    corpus = KNOWN["fsdd"].corpus(shared_datasets() / "fsdd")
    assert len(corpus.items) == 3000
    assert sum(item.split == "test" for item in corpus.items) == 300
    assert len(corpus.labels("digit")) == 10 and len(corpus.labels("speaker")) == 6


def test_real_esc10():
    corpus = KNOWN["esc10"].corpus(shared_datasets() / "esc10")
    assert len(corpus.items) == 400
    assert corpus.folds == [1, 2, 3, 4, 5]
    assert len(corpus.labels("label")) == 10
