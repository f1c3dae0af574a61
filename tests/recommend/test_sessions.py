"""Listening events to sessions: the time split, the filters and their counts, Last.fm's ISO times and
30-minute cut, bad rows with their line numbers, bad files in one sentence, and the cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gruve.data.downloads import cache_root
from gruve.errors import OptionError
from gruve.recommend import sessions
from gruve.recommend.sessions import DAY, EventsError, load_split

LASTFM = "lastfm-sample/data/userid-timestamp-artid-artname-traid-traname.tsv"


def unix(iso: str) -> int:
    return int(pd.Timestamp(iso).timestamp())


def session_lists(part, catalogue) -> list[list[str]]:
    return [[catalogue.item_ids[i] for i in part.session(s)] for s in range(len(part))]


def test_a_30music_slice_follows_the_protocol(datasets):
    """Checked against the protocol written out again in pandas: sessions by start time, the last day's are
    test, the day before them valid; items seen once in training dropped, then short sessions; test and
    valid events of items absent from training removed."""
    path = datasets / "30music" / "slice-0.tsv"
    split = load_split(path, "30music")
    events = pd.read_csv(path, sep="\t", dtype={"ItemId": str, "ArtistId": str})
    starts = events.groupby("SessionId").Time.min()
    test_from = events.Time.max() - DAY
    test_ids = starts.index[starts >= test_from]
    before = events[~events.SessionId.isin(test_ids)]
    valid_ids = starts.index[(starts >= before.Time.max() - DAY) & ~starts.index.isin(test_ids)]
    train = before[~before.SessionId.isin(valid_ids)]
    counts = train.ItemId.value_counts()
    train = train[train.ItemId.isin(counts.index[counts >= 2])]
    train = train[train.groupby("SessionId").ItemId.transform("size") >= 2]
    catalogue = set(train.ItemId)

    def held_out(ids):
        part = events[events.SessionId.isin(ids) & events.ItemId.isin(catalogue)]
        return part[part.groupby("SessionId").ItemId.transform("size") >= 2]

    report = split.report
    assert report["sessions"] == events.SessionId.nunique() and report["rows"]["used"] == len(events)
    assert set(split.catalogue.item_ids) == catalogue
    found = {}
    for name, part, expected in (("train", split.train, train), ("valid", split.valid, held_out(valid_ids)),
                                 ("test", split.test, held_out(test_ids))):
        assert (len(part), len(part.items)) == (expected.SessionId.nunique(), len(expected))
        by_events = {tuple(zip(g.Time, g.ItemId)): sid for sid, g in expected.sort_values("Time", kind="stable")
                     .groupby("SessionId")}
        found[name] = [by_events[tuple(zip(part.times[part.offsets[s]:part.offsets[s + 1]].tolist(), items))]
                       for s, items in enumerate(session_lists(part, split.catalogue))]
    # by the start of each session in the file: train before the validation day, valid before the test day
    valid_from = before.Time.max() - DAY
    assert starts[found["train"]].max() < valid_from <= starts[found["valid"]].min()
    assert starts[found["valid"]].max() < test_from <= starts[found["test"]].min()
    assert unix(report["test_from"]) == test_from
    # every event is accounted for: kept, or dropped by one filter
    dropped = sum(d["events"] for d in report["dropped"].values())
    assert len(split.train.items) + len(split.valid.items) + len(split.test.items) + dropped == len(events)
    assert report["dropped"]["rare_items"]["items"] == int((counts < 2).sum())
    assert np.array_equal(split.catalogue.popularity, np.bincount(split.train.items, minlength=len(split.catalogue)))
    assert all(np.all(np.diff(part.times[part.offsets[s]:part.offsets[s + 1]]) >= 0)
               for part in (split.train, split.test) for s in range(len(part)))
    artist_of = dict(zip(events.ItemId, events.ArtistId))
    assert [split.catalogue.artist_ids[a] for a in split.catalogue.item_artists] == [
        artist_of[i] for i in split.catalogue.item_ids]
    assert np.array_equal(split.test.artists, split.catalogue.item_artists[split.test.items])
    # what a final model is fitted on: train, then valid, popularity counted over both
    both, catalogue = split.train_and_valid()
    assert len(both) == len(split.train) + len(split.valid)
    assert session_lists(both, catalogue) == session_lists(split.train, catalogue) + session_lists(split.valid, catalogue)
    assert np.array_equal(both.artists, catalogue.item_artists[both.items]) and catalogue.item_ids == split.catalogue.item_ids
    assert np.array_equal(catalogue.popularity - split.catalogue.popularity,
                          np.bincount(split.valid.items, minlength=len(catalogue)))


def test_lastfm_times_are_iso_and_sessions_are_cut_at_30_minutes(datasets):
    split = load_split(datasets / LASTFM, "lastfm", test_days=0, valid_days=0, min_item_count=1,
                       min_session_length=2)
    rows = pd.read_csv(datasets / LASTFM, sep="\t", header=None, quoting=3, keep_default_na=False,
                       names=["user", "time", "artist_id", "artist", "track_id", "track"])
    rows["t"] = pd.to_datetime(rows.time, utc=True).dt.as_unit("s").astype("int64")
    rows = rows.sort_values(["user", "t"], kind="stable")
    new = (rows.user != rows.user.shift()) | (rows.t.diff() > 1800)
    assert split.report["sessions"] == int(new.sum())
    assert split.report["end"] == "2009-05-04T23:08:57+00:00"  # the file's last row, read as UTC
    train = split.train
    gaps_inside = np.diff(train.times)[np.diff(train.session_of_event) == 0]
    assert gaps_inside.max() <= 1800
    length = new.cumsum().map(rows.groupby(new.cumsum()).size())
    assert len(train) == int(new[length >= 2].sum())
    assert np.array_equal(np.sort(train.times), np.sort(rows.t[length >= 2]))
    # the item is the track mbid, or "artist - track" without one; the name is "artist - track" either way
    names = dict(zip(rows.artist + " - " + rows.track, rows.track_id))
    catalogue = split.catalogue
    assert all(names[name] in ("", item) and (names[name] or item == name)
               for item, name in zip(catalogue.item_ids, catalogue.item_names))
    assert any(not names[n] for n in catalogue.item_names) and any(names[n] for n in catalogue.item_names)


def write(tmp_path, text: str, name: str = "events.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_made_up_file_splits_and_filters_exactly(tmp_path):
    path = write(tmp_path, "user,time,item,artist\n"
                 "u1,2020-01-01T10:00:00Z,a,x\nu1,2020-01-01T10:10:00Z,b,x\nu1,2020-01-01T10:20:00Z,e,z\n"
                 "u1,2020-01-01T10:50:01Z,c,y\nu1,2020-01-01T10:55:00Z,a,x\n"  # 30 min 1 s idle: a new session
                 "u2,2020-01-01T10:05:00Z,b,x\nu2,2020-01-01T10:35:00Z,a,x\n"  # exactly 30 min: the same one
                 "u2,2020-01-03T12:00:00Z,a,x\nu2,2020-01-03T12:01:00Z,b,x\nu2,2020-01-03T12:02:00Z,d,y\n"
                 "u3,2020-01-03T12:30:00Z,c,y\n")
    split = load_split(path, artist="artist", valid_days=0.01)  # 14 min 24 s before 10:55: the 10:50:01 session is valid
    assert split.catalogue.item_ids == ["a", "b"] and split.catalogue.popularity.tolist() == [2, 2]
    assert session_lists(split.train, split.catalogue) == [["a", "b"], ["b", "a"]]
    assert len(split.valid) == 0 and session_lists(split.test, split.catalogue) == [["a", "b"]]
    assert split.train.times[0] == unix("2020-01-01T10:00:00Z")
    assert split.catalogue.artist_ids == ["x"] and split.test.artists.tolist() == [0, 0]
    assert split.report["dropped"] == {
        "rare_items": {"items": 1, "events": 1}, "short_train_sessions": {"sessions": 0, "events": 0},
        "unseen_valid_items": {"items": 1, "events": 1}, "short_valid_sessions": {"sessions": 1, "events": 1},
        "unseen_test_items": {"items": 2, "events": 2}, "short_test_sessions": {"sessions": 1, "events": 0}}
    assert (split.report["sessions"], split.report["test_from"]) == (5, "2020-01-02T12:30:00+00:00")


def test_a_session_column_counts_within_its_user(tmp_path):
    path = write(tmp_path, "who\tsid\twhen\twhat\n" + "".join(
        f"{u}\t1\t{t}\t{i}\n" for u, t, i in (("u1", 100, "a"), ("u2", 110, "b"), ("u1", 120, "b"), ("u2", 130, "a"),
                                              ("u1", 5000, "a"))), "events.tsv")
    split = load_split(path, user="who", session="sid", time="when", item="what", test_days=0, valid_days=0)
    assert session_lists(split.train, split.catalogue) == [["a", "b", "a"], ["b", "a"]]


def one_sentence(error: Exception, *words: str) -> str:
    message = str(error)
    assert "\n" not in message and message.endswith(".") and "Traceback" not in message
    assert all(word in message for word in words), message
    return message


def test_bad_rows_are_skipped_and_reported_with_their_lines(tmp_path):
    path = write(tmp_path, "user,time,item\nu1,2020-01-01T10:00:00Z,a\nu1,not a time,b\nu1,2020-01-01T10:01:00Z\n"
                 "u1,2020-01-01T10:02:00Z,\n\nu1,2020-01-01T10:03:00Z,b\nu2,2020-01-01T10:04:00Z,a\n"
                 "u2,2020-01-01T10:05:00Z,b\n")
    split = load_split(path, test_days=0, valid_days=0)
    rows = split.report["rows"]
    assert (rows["read"], rows["used"], rows["blank"], rows["skipped"]) == (8, 4, 1, 3)
    assert rows["skipped_lines"] == [3, 4, 5]
    assert rows["skipped_by_reason"] == {"the wrong number of columns": 1, "an empty id": 1,
                                         "a time that does not parse": 1}
    assert "lines 3, 4, 5" in one_sentence(split.report["notes"][0], str(path), "3 rows skipped")
    assert session_lists(split.train, split.catalogue) == [["a", "b"], ["a", "b"]]


@pytest.mark.parametrize("text, words", [
    ("", ["is empty"]),
    ("user,time,item\n", ["no usable listening events", "no rows after the header"]),
    ("user,time,item\nu1,yesterday,a\nu1,,b\nu1,2020-01-01T00:00:00Z,\n",
     ["no usable listening events", "lines 2, 3, 4", "2 with a time that does not parse", "1 with an empty id"]),
    (b"user,time,item\nu1,1,\xff\n", ["cannot be read as csv listening events", "invalid UTF8"]),
    ("user,time,item\nu1,1,a\nu1,2,b\nu2,100000,a\nu2,100001,b\n",  # the first session is a day before the last
     ["leaves no training sessions", "2 of its 2 start in its last 2 days"]),
])
def test_a_file_that_cannot_be_used_is_one_sentence(tmp_path, text, words):
    path = tmp_path / "events.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises(EventsError) as error:
        load_split(path)
    one_sentence(error.value, str(path), *words)


def test_missing_files_and_columns_are_one_sentence(tmp_path, datasets):
    with pytest.raises(EventsError) as error:
        load_split(tmp_path / "nothing.tsv", "30music")
    one_sentence(error.value, "nothing.tsv", "does not exist")
    with pytest.raises(EventsError) as error:
        load_split(tmp_path, "30music")
    one_sentence(error.value, "is a folder")
    path = write(tmp_path, "user,time,track\nu1,1,a\n")
    with pytest.raises(OptionError) as error:
        load_split(path)
    assert error.value.field == "item"
    one_sentence(error.value, "item", "is not a column of", str(path), "user, time, track")
    with pytest.raises(OptionError) as error:  # a Last.fm-1K file read as 30Music: its first row is no header
        load_split(datasets / LASTFM, "30music")
    one_sentence(error.value, "UserId is not a column")


@pytest.mark.parametrize("options, field", [
    ({"format": "xml"}, "format"), ({"min_session_length": 1}, "min_session_length"),
    ({"test_days": -1}, "test_days"), ({"valid_days": float("nan")}, "valid_days"),
    ({"session_gap": 0}, "session_gap"), ({"min_item_count": 0}, "min_item_count"),
    ({"format": "lastfm", "item": "track"}, "item"),
])
def test_bad_options_name_their_option(tmp_path, options, field):
    path = write(tmp_path, "user,time,item\nu1,1,a\n")
    with pytest.raises(OptionError) as error:
        load_split(path, **options)
    assert error.value.field == field
    one_sentence(error.value, field)


def test_the_split_is_cached_until_the_file_changes(tmp_path, datasets, monkeypatch):
    path = tmp_path / "slice.tsv"
    path.write_bytes((datasets / "30music" / "slice-1.tsv").read_bytes())
    reads = []
    read = sessions._read_events
    monkeypatch.setattr(sessions, "_read_events", lambda *args: reads.append(args) or read(*args))
    first = load_split(path, "30music")
    again = load_split(path, "30music")
    assert len(reads) == 1 and not first.report["cached"] and again.report["cached"]
    for name in ("train", "valid", "test"):
        for field in ("items", "offsets", "times", "artists"):
            assert np.array_equal(getattr(getattr(first, name), field), getattr(getattr(again, name), field))
    assert again.catalogue.item_ids == first.catalogue.item_ids and again.report["notes"] == first.report["notes"]
    load_split(path, "30music", min_item_count=3)  # other options: another split
    assert len(reads) == 2
    with open(path, "a") as f:
        f.write("1\t999999\t1\t1500000000\t1\n")
    changed = load_split(path, "30music")
    assert len(reads) == 3 and changed.report["rows"]["used"] == first.report["rows"]["used"] + 1
    for npy in (cache_root() / "sessions").glob("*/test.items.npy"):
        npy.write_bytes(b"not an array")  # a cache a crash left half-written: read again, not trusted
    load_split(path, "30music")
    assert len(reads) == 4
