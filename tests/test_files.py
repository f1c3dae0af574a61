"""The one atomic writer: a file is the whole new one or the old one, and no temporary file is left."""

import json

import pytest

from gruve.files import atomic_open, atomic_path, write_csv, write_json


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "report.json"
    write_json(target, {"old": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write('{"new": ')
            raise RuntimeError("killed half-way")
    assert json.loads(target.read_text()) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_the_temporary_path_keeps_the_suffix_and_the_folder_is_made(tmp_path):
    target = tmp_path / "new" / "folder" / "sound.wav"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".wav" and tmp.parent == target.parent and not target.exists()
        tmp.write_bytes(b"RIFF")
    assert target.read_bytes() == b"RIFF"
    assert [p.name for p in target.parent.iterdir()] == ["sound.wav"]


def test_csv_and_json_round_trip(tmp_path):
    write_csv(tmp_path / "split.csv", ["path", "split"], [("a.wav", "train"), ("b.wav", "test")])
    assert (tmp_path / "split.csv").read_text().splitlines() == ["path,split", "a.wav,train", "b.wav,test"]
    assert json.loads(write_json(tmp_path / "r.json", {"accuracy": 0.5}).read_text()) == {"accuracy": 0.5}
