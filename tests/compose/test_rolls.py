"""Piano-roll data: both published formats of the benchmark, safe pickles, rolls from scores, MIDI out, sound."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import soundfile as sf

from gruve.compose.pianoroll import rolls
from gruve.fluidsynth import RenderError, render
from gruve.compose.scores import read_score, write_midi
from gruve.data.sources import DataError


def test_jsb_reads_the_same_from_json_and_mat_with_the_official_split(datasets):
    from_json = rolls.load(f"jsb:{datasets / 'jsb'}")
    from_mat = rolls.load(str(datasets / "jsb" / "JSB_Chorales.mat"))
    assert {k: len(v) for k, v in from_json.splits.items()} == {"train": 229, "valid": 76, "test": 77}
    assert from_json.frames("test") == 4725
    for split in from_json.splits:
        assert all(np.array_equal(a, b) for a, b in zip(from_json.splits[split], from_mat.splits[split]))
    first = from_json.splits["train"][0][0]
    assert list(np.flatnonzero(first) + rolls.LOWEST) == [60, 72, 79, 88]  # the first chord of the JSON file


def test_a_published_pickle_is_read_and_a_pickle_that_could_run_code_is_refused(tmp_path):
    data = {split: [[[60, 64], [62], []]] for split in ("train", "valid", "test")}
    (tmp_path / "set.pickle").write_bytes(pickle.dumps(data, protocol=2))
    sets = rolls.load(str(tmp_path / "set.pickle"))
    assert sets.splits["train"][0].shape == (3, 88) and sets.splits["train"][0].sum() == 3

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pickle").write_bytes(pickle.dumps({"train": Evil()}))
    with pytest.raises(DataError, match="only plain lists"):
        rolls.load(str(tmp_path / "evil.pickle"))


@pytest.mark.parametrize("content, phrase", [
    ({"train": [[[200]]], "valid": [], "test": []}, "outside the piano"),
    ({"train": []}, "train, valid and test"),
])
def test_malformed_sets_get_one_sentence(tmp_path, content, phrase):
    (tmp_path / "bad.json").write_text(json.dumps(content))
    with pytest.raises(DataError, match=phrase):
        rolls.load(str(tmp_path / "bad.json"))


def test_a_broken_mat_file_gets_one_sentence(tmp_path):
    (tmp_path / "bad.mat").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable .mat file"):
        rolls.load(str(tmp_path / "bad.mat"))


def test_a_folder_holding_a_published_file_is_read_as_that_set(datasets):
    sets = rolls.load(str(datasets / "jsb"))
    assert sets.frames("test") == 4725


def test_unknown_dataset_names_the_known_ones(tmp_path):
    with pytest.raises(DataError, match="jsb, nottingham, musedata, pianomidi"):
        rolls.load(str(tmp_path / "nothing-here"))


def test_roll_to_midi_and_back_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    roll = (rng.random((32, 88)) < 0.05).astype(np.uint8)
    path = write_midi(rolls.roll_to_score(roll, steps_per_quarter=2), tmp_path / "piece.mid")
    back = rolls.score_to_roll(read_score(path), steps_per_quarter=2)
    assert np.array_equal(back, roll[: len(back)]) and not roll[len(back):].any()


def test_rolls_from_a_folder_of_scores_skip_broken_files_and_drop_empty_pieces(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(9):
        roll = (rng.random((16, 88)) < 0.05).astype(np.uint8)
        write_midi(rolls.roll_to_score(roll), tmp_path / "midi" / f"piece{i}.mid")
    write_midi(rolls.roll_to_score(np.zeros((4, 88), np.uint8)), tmp_path / "midi" / "empty.mid")
    (tmp_path / "midi" / "broken.mid").write_bytes(b"MThd garbage")
    (tmp_path / "tune.abc").write_text("X:1\nT:scale\nM:4/4\nL:1/4\nK:C\nC D E F | G A B c |\n")
    messages = []
    sets = rolls.load(str(tmp_path), say=messages.append)
    assert sum(len(v) for v in sets.splits.values()) == 10  # 9 MIDI pieces and the ABC tune
    assert {k: len(v) for k, v in sets.splits.items()} == {"train": 8, "valid": 1, "test": 1}
    assert any("broken.mid is not a readable score" in m for m in messages)
    assert any("dropped 1 empty" in m for m in messages)
    assert sorted(sum(sets.pieces.values(), [])) == sorted(
        [f"midi/piece{i}.mid" for i in range(9)] + ["tune.abc"])
    again = rolls.load(str(tmp_path), say=lambda _: None)
    assert again.pieces == sets.pieces  # the split is seeded


def test_abc_scale_becomes_one_note_per_quarter(tmp_path):
    (tmp_path / "tune.abc").write_text("X:1\nT:scale\nM:4/4\nL:1/4\nK:C\nC D E F | G A B c |\n")
    roll = rolls.score_to_roll(read_score(tmp_path / "tune.abc"))
    assert [int(np.flatnonzero(step)[0]) + rolls.LOWEST for step in roll] == [60, 62, 64, 65, 67, 69, 71, 72]


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth is not installed")
def test_midi_renders_to_sound(tmp_path):
    roll = np.zeros((4, 88), np.uint8)
    roll[:, 39] = 1  # middle C for four quarter notes
    midi = write_midi(rolls.roll_to_score(roll, qpm=120), tmp_path / "c.mid")
    y, sr = sf.read(render(midi, tmp_path / "c.wav", sr=22050))
    assert sr == 22050 and len(y) >= 2 * sr and np.abs(y).max() > 0.01


def test_rendering_without_fluidsynth_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(RenderError, match="apt-get install fluidsynth"):
        render(tmp_path / "x.mid", tmp_path / "x.wav")


def test_a_benchmark_name_downloads_the_authors_pickle_into_the_cache(tmp_path, monkeypatch):
    fetched = []

    def fake_download(url, dest, checksum):  # the network is not reachable from tests; the reading is real
        fetched.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = {split: [[[60, 64, 67], [62]]] for split in ("train", "valid", "test")}
        dest.write_bytes(pickle.dumps(data, protocol=2))
        return dest

    monkeypatch.setattr(rolls, "download", fake_download)
    sets = rolls.load("pianomidi", cache_dir=tmp_path)
    assert fetched == ["http://www-etud.iro.umontreal.ca/~boulanni/Piano-midi.de.pickle"]
    assert sets.name == "pianomidi" and sets.splits["test"][0].sum() == 4
    assert (tmp_path / "datasets" / "pianomidi" / "Piano-midi.de.pickle").exists()


def test_midi_that_lasts_for_hours_is_not_rendered(tmp_path):
    from symusic import Note, Score, Tempo, Track

    from gruve.fluidsynth import RenderError, render

    score = Score(480)
    score.tracks.append(Track(program=0))
    score.tracks[0].notes.append(Note(0, 480, 60, 80))
    score.tempos.append(Tempo(480 * 100_000, 120.0))  # an event a day later
    score.dump_midi(str(tmp_path / "long.mid"))
    with pytest.raises(RenderError, match="minutes"):
        render(tmp_path / "long.mid", tmp_path / "long.wav")
    assert not (tmp_path / "long.wav").exists()


def test_a_set_name_picks_its_own_file_from_a_folder_of_all_four(datasets, tmp_path):
    for source in (datasets / "jsb" / "JSB_Chorales.mat", *sorted((datasets / "polyphonic").glob("*.mat"))):
        (tmp_path / source.name).symlink_to(source)
    said = []
    jsb = rolls.load(f"jsb:{tmp_path}", say=said.append)
    piano = rolls.load(f"pianomidi:{tmp_path}", say=said.append)
    nottingham = rolls.load(f"Nottingham:{tmp_path}", say=said.append)
    assert [len(s.splits["train"]) for s in (jsb, piano, nottingham)] == [229, 87, 694]
    assert said[1] == f"Piano-midi.de from {tmp_path / 'Piano_midi.mat'}: 87/12/25 pieces (train/valid/test)"
    with pytest.raises(DataError, match=r"holds 4 piano-roll files .* name the set, as nottingham:"):
        rolls.load(str(tmp_path))


def test_a_folder_of_several_sets_none_named_for_the_one_asked_is_refused(datasets, tmp_path):
    for source in sorted((datasets / "polyphonic").glob("*.mat"))[:2]:
        (tmp_path / source.name).symlink_to(source)
    with pytest.raises(DataError, match="none is named for JSB Chorales; give the file itself"):
        rolls.load(f"jsb:{tmp_path}")
    (tmp_path / "MuseData.mat").unlink()
    (tmp_path / "Nottingham.mat").rename(tmp_path / "my-copy.mat")  # a folder's only file is taken whatever its name
    assert len(rolls.load(f"nottingham:{tmp_path}").splits["test"]) == 170
