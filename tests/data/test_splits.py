"""Honest splits: a speaker (or any group) never spans train, valid and test; noise folders are noise; classes
can be merged or left out."""

import csv
from collections import defaultdict
from pathlib import Path

import pytest
import soundfile as sf

from conftest import tone
from gruve.data.sources import describe_grouping, merges, relabel, resolve, split
from gruve.errors import GruveError, OptionError

SR = 8000


def _wav(path: Path, freq: float = 440.0, seconds: float = 0.1, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(freq, seconds, SR, seed=seed), SR)
    return path


def speech_commands_folder(root: Path, words=("yes", "no", "up"), speakers: int = 10, takes: int = 2) -> Path:
    """Class folders of `<speaker>_nohash_<n>.wav`, each speaker saying every word `takes` times."""
    for w, word in enumerate(words):
        for s in range(speakers):
            for n in range(takes):
                _wav(root / word / f"{s:04x}beef_nohash_{n}.wav", 300 + 200 * w, seed=s * 10 + n)
    return root


def _speakers(parts, speaker_of) -> dict[str, set[str]]:
    where = defaultdict(set)
    for name, items in parts.items():
        for item in items:
            where[speaker_of(item.path)].add(name)
    return where


def _sc_speaker(path: Path) -> str:
    return path.name.split("_nohash_")[0]


def test_speech_commands_names_keep_each_speaker_in_one_part(tmp_path):
    corpus = resolve(str(speech_commands_folder(tmp_path / "sc")))
    parts = split(corpus, "label", seed=0)
    where = _speakers(parts, _sc_speaker)
    assert len(where) == 10 and all(len(p) == 1 for p in where.values())
    assert all(parts[name] for name in ("train", "valid", "test"))
    assert {i.labels["label"] for i in parts["test"]} == {"yes", "no", "up"}  # still stratified by class
    note = describe_grouping(corpus, "label", parts)
    assert note == ("grouped 60 clips into 10 speakers by the Speech Commands naming (<speaker>_nohash_); "
                    "no speaker is in two parts")
    again = split(corpus, "label", seed=0)
    assert {k: [i.path for i in v] for k, v in again.items()} == {k: [i.path for i in v] for k, v in parts.items()}
    other = split(corpus, "label", seed=1)
    assert [i.path for i in other["test"]] != [i.path for i in parts["test"]]


def test_fsdd_names_group_by_speaker(tmp_path):
    for digit in range(3):
        for s, speaker in enumerate(("jackson", "nicolas", "theo", "george", "lucas", "yweweler")):
            for n in range(4):
                _wav(tmp_path / "digits" / str(digit) / f"{digit}_{speaker}_{n}.wav", 300 + 100 * digit, seed=s)
    corpus = resolve(str(tmp_path / "digits"))
    parts = split(corpus, "label", seed=0)
    assert all(len(p) == 1 for p in _speakers(parts, lambda p: p.stem.split("_")[1]).values())
    assert all(parts[name] for name in ("train", "valid", "test"))
    assert describe_grouping(corpus, "label", parts).startswith(
        "grouped 72 clips into 6 speakers by the FSDD naming (<digit>_<speaker>_<n>)")


def test_group_by_a_regular_expression(tmp_path):
    for label in ("cat", "dog"):
        for rec in range(8):
            for n in range(3):
                _wav(tmp_path / "pets" / label / f"rec{rec}-part{n}.wav", seed=rec)
    corpus = resolve(str(tmp_path / "pets"))
    group_by = r"rec(?P<recording>\d+)-"
    parts = split(corpus, "label", seed=0, group_by=group_by)
    assert all(len(p) == 1 for p in _speakers(parts, lambda p: p.name.split("-")[0]).values())
    assert describe_grouping(corpus, "label", parts, group_by).startswith(
        "grouped 48 clips into 8 recordings by --group-by")
    for bad, phrase in ((r"rec(\d+", "nor a valid regular expression"), (r"rec(\d+)", "named group"),
                        (r"(?P<take>zzz)", "matches none of the 48")):
        with pytest.raises(OptionError, match="group_by") as error:
            split(corpus, "label", group_by=bad)
        assert phrase in str(error.value)


def _manifest(tmp_path: Path) -> Path:
    rows = []
    for label in ("a", "b"):
        for speaker in ("ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ida", "jo"):
            for n in range(2):
                rows.append([_wav(tmp_path / f"{label}_{speaker}_{n}.x.wav"), label, speaker])
    with open(tmp_path / "m.csv", "w", newline="") as f:
        csv.writer(f).writerows([["path", "label", "speaker"], *rows])
    return tmp_path / "m.csv"


def test_a_manifest_groups_by_its_speaker_column(tmp_path):
    corpus = resolve(str(_manifest(tmp_path)))
    for group_by in (None, "speaker"):
        parts = split(corpus, "label", seed=0, group_by=group_by)
        assert all(len(p) == 1 for p in _speakers(parts, lambda p: p.name.split("_")[1]).values())
        assert "into 10 speakers by the manifest's speaker column" in describe_grouping(corpus, "label", parts,
                                                                                         group_by)
    with pytest.raises(OptionError, match="is the label being learnt"):
        split(corpus, "speaker", group_by="speaker")
    split(corpus, "speaker")  # by default a speaker target is split as before, not grouped by itself


def test_ungrouped_names_that_look_grouped_are_warned_about(tmp_path, tone_folder):
    for label in ("cat", "dog"):
        for who in ("alice", "bruno", "chen", "dana"):
            for n in range(3):
                _wav(tmp_path / "pets" / label / f"{who}_{n:02d}.wav")
    corpus = resolve(str(tmp_path / "pets"))
    note = describe_grouping(corpus, "label", split(corpus, "label"))
    assert note.startswith("warning: the split is not grouped") and "--group-by" in note and "'alice'" in note
    tones = resolve(str(tone_folder))
    assert describe_grouping(tones, "label", split(tones, "label")) is None
    assert describe_grouping(corpus, "label", split(corpus, "label", group_by="none"), "none") is None


def test_official_splits_are_unaffected(datasets):
    corpus = resolve(f"fsdd:{datasets / 'fsdd'}")
    parts = split(corpus, "digit")
    assert len(parts["test"]) == 300 and all(int(i.path.stem.split("_")[2]) < 5 for i in parts["test"])
    assert describe_grouping(corpus, "digit", parts) is None


def test_real_fsdd_as_a_class_folder_tree_keeps_speakers_apart(datasets, tmp_path):
    """The real recordings through the plain folder path (class folders of symlinks): no speaker in two parts."""
    for path in sorted((datasets / "fsdd" / "recordings").glob("*.wav")):
        link = tmp_path / "fsdd" / path.name.split("_")[0] / path.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
    corpus = resolve(str(tmp_path / "fsdd"))
    parts = split(corpus, "label", seed=0)
    where = _speakers(parts, lambda p: p.stem.split("_")[1])
    assert len(where) == 6 and all(len(p) == 1 for p in where.values())
    assert all({i.labels["label"] for i in parts[name]} == set("0123456789") for name in ("train", "valid", "test"))
    assert "into 6 speakers by the FSDD naming" in describe_grouping(corpus, "label", parts)


def test_background_noise_is_noise_not_a_class(tmp_path):
    root = speech_commands_folder(tmp_path / "sc", speakers=3, takes=1)
    _wav(root / "_background_noise_" / "running_tap.wav", seconds=12.0)
    _wav(root / "_background_noise_" / "white_noise.wav", seconds=8.0)
    corpus = resolve(str(root))
    assert corpus.labels("label") == ["no", "up", "yes"] and corpus.noise == root / "_background_noise_"
    assert any("_background_noise_" in note and "not a class" in note for note in corpus.notes)
    (root / "_background_noise_").rename(root / "noise")
    assert "noise" in resolve(str(root)).labels("label")
    assert resolve(str(root), noise_folder="noise").noise == root / "noise"


def test_silence_class_is_cut_from_the_noise_folder_and_grouped_by_stretch(tmp_path):
    root = speech_commands_folder(tmp_path / "sc", speakers=10, takes=2)
    _wav(root / "_background_noise_" / "running_tap.wav", seconds=30.0)
    corpus = resolve(str(root), tmp_path / "cache", silence=True)
    silence = [i for i in corpus.items if i.labels["label"] == "_silence_"]
    assert len(silence) == 20 and all(i.path.is_file() for i in silence)  # an average class
    assert not (root / "_silence_clips").exists()  # cut into the cache, not into the user's data
    parts = split(corpus, "label", seed=0)
    stretches = defaultdict(set)
    for name, items in parts.items():
        for item in items:
            if item in silence:
                stretches[item.group].add(name)
    assert all(len(p) == 1 for p in stretches.values())
    assert [i.path for i in resolve(str(root), tmp_path / "cache", silence=True).items] == [i.path for i in corpus.items]
    with pytest.raises(OptionError, match="silence_class"):
        resolve(str(speech_commands_folder(tmp_path / "plain", speakers=2)), silence=True)


def test_speech_commands_without_background_noise_says_why_it_has_11_classes(tmp_path):
    root = tmp_path / "speech"
    for word in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed"):
        _wav(root / word / "0a1b2c3d_nohash_0.wav")
    (root / "validation_list.txt").write_text("no/0a1b2c3d_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/0a1b2c3d_nohash_0.wav\n")
    corpus = resolve(f"speechcommands-v2:{root}")
    assert "_silence_" not in corpus.labels("command")
    assert any("_background_noise_" in note and "11 classes, not 12" in note for note in corpus.notes)


def test_merge_and_exclude_classes(tmp_path):
    assert merges(["a,b=c", "d=e"]) == {"a": "c", "b": "c", "d": "e"}
    for bad in ("a,b", "=c", "a,=c", "a=c,d"):
        with pytest.raises(OptionError, match="merge"):
            merges([bad])
    with pytest.raises(OptionError, match="merge"):
        merges(["a=b", "a=c"])
    for label in ("cat", "kitten", "dog", "noise"):
        for n in range(2):
            _wav(tmp_path / "pets" / label / f"{label}{n}.wav")
    corpus = relabel(resolve(str(tmp_path / "pets")), "label", {"cat": "cat", "kitten": "cat"}, ["noise"])
    assert corpus.labels("label") == ["cat", "dog"] and len(corpus.items) == 6
    for merge, exclude, field in (({"lion": "cat"}, [], "merge"), ({}, ["lion"], "exclude")):
        with pytest.raises(OptionError, match=field) as error:
            relabel(resolve(str(tmp_path / "pets")), "label", merge, exclude)
        assert "lion" in str(error.value) and "cat, dog, kitten, noise" in str(error.value)
    assert isinstance(OptionError("merge", ""), GruveError)
