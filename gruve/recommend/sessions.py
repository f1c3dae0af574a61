"""Listening events in, listening sessions out: read, cut into sessions, split by time, filter, cache.

`load_split` reads one file of listening events (a Last.fm-1K TSV, a 30Music session TSV, or a CSV/TSV of
your own with its columns named) and gives the train, validation and test sessions of the session-based
protocol of Ludewig and Jannach (session-rec):

- sessions are the file's session column where it has one, else cut where a user is idle for more than
  `session_gap` seconds (30 minutes);
- the split is by time, never at random: the sessions that start in the last `test_days` of the file are the
  test set, and the same cut of the rest (its last `valid_days`) is the validation set; train, valid and test
  share no session;
- items seen fewer than `min_item_count` times in training are dropped, then training sessions shorter than
  `min_session_length`; validation and test events of items absent from training are removed from their
  sessions, and the sessions left too short are dropped. Every drop is counted in `Split.report`.

Everything is columns: pyarrow reads the file and pandas parses the times, so a 20-million-row Last.fm-1K
file never becomes a Python object per row. A row that cannot be used (the wrong number of columns, an empty
id, a time that does not parse) is skipped and its line number reported; the preprocessed split is cached
(`.npy` and JSON in the gruve cache, keyed by the file and the options), so a second load reads no events.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from gruve import files
from gruve.data.downloads import cache_root
from gruve.data.items import DataError
from gruve.errors import OptionError, check, check_at_least, check_positive

FORMATS = ("30music", "lastfm", "csv")
DAY = 86400  # seconds
LASTFM_COLUMNS = ("user", "time", "artist_id", "artist", "track_id", "track")  # Last.fm-1K's, in order; no header
COLUMNS = {  # role -> column of the file, for the formats with a header; options name other columns
    "30music": {"user": "UserId", "session": "SessionId", "item": "ItemId", "time": "Time", "artist": "ArtistId"},
    "csv": {"user": "user", "time": "time", "item": "item"},
}
ID_ROLES = ("user", "session", "item")  # an event with one of these empty cannot be placed
HASHED_BYTES = 1 << 28  # files up to 256 MiB are cached by a hash of their bytes; larger ones by size and time
CACHE_VERSION = 1  # bump when what the cache holds changes
SHOWN_LINES = 10  # line numbers of skipped rows kept in the report


class EventsError(DataError):
    """A file of listening events that cannot be read as sessions; the message names it."""


@dataclass
class Sessions:
    """Listening sessions as flat numpy columns (no Python object per event): session s is
    items[offsets[s]:offsets[s + 1]], its events in time order."""

    items: np.ndarray  # int64, the catalogue index of each event's item
    offsets: np.ndarray  # int64, len(sessions) + 1, offsets[0] == 0, offsets[-1] == len(items)
    times: np.ndarray  # int64 unix seconds of each event
    artists: np.ndarray | None = None  # int64 artist index of each event, where the data names artists

    def __len__(self) -> int:
        """The number of sessions."""
        return len(self.offsets) - 1

    def session(self, s: int) -> np.ndarray:
        """The items of session `s`, in time order."""
        return self.items[self.offsets[s]:self.offsets[s + 1]]

    @property
    def lengths(self) -> np.ndarray:
        """The number of events of each session."""
        return np.diff(self.offsets)

    @property
    def session_of_event(self) -> np.ndarray:
        """The session index of each event."""
        return np.repeat(np.arange(len(self)), self.lengths)


@dataclass
class Catalogue:
    """What the indices mean: item_ids[i] is item i's id in the data; names where the data has them."""

    item_ids: list[str]
    item_names: list[str] | None  # "artist - track" where known
    item_artists: np.ndarray | None  # int64 artist index of each item
    artist_ids: list[str] | None
    popularity: np.ndarray  # int64 training events of each item

    def __len__(self) -> int:
        return len(self.item_ids)

    def to_dict(self) -> dict:
        """The catalogue as JSON-ready lists (for a model bundle's metadata, and the cache)."""
        return {"item_ids": self.item_ids, "item_names": self.item_names, "artist_ids": self.artist_ids,
                "item_artists": None if self.item_artists is None else self.item_artists.tolist(),
                "popularity": self.popularity.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Catalogue:
        """The catalogue that `to_dict` gave `data` for."""
        artists = data.get("item_artists")
        return cls(list(data["item_ids"]), data.get("item_names"),
                   None if artists is None else np.asarray(artists, dtype=np.int64), data.get("artist_ids"),
                   np.asarray(data["popularity"], dtype=np.int64))


@dataclass
class Split:
    """The sessions of one file split by time (see `load_split`), the catalogue their indices point into,
    and what reading and filtering did (`report`: counts, skipped line numbers, and `notes`, sentences for
    the user)."""

    train: Sessions
    valid: Sessions  # the tail of what precedes the test sessions, cut by time as test is
    test: Sessions
    catalogue: Catalogue
    report: dict

    def train_and_valid(self) -> tuple[Sessions, Catalogue]:
        """What a final model is fitted on once its settings are chosen on `valid`: every session before the
        test ones (valid's items are all in the catalogue), and the catalogue with its popularity counted over
        them."""
        train, valid = self.train, self.valid
        artists = None if train.artists is None else np.concatenate([train.artists, valid.artists])
        both = Sessions(np.concatenate([train.items, valid.items]),
                        np.concatenate([train.offsets, train.offsets[-1] + valid.offsets[1:]]),
                        np.concatenate([train.times, valid.times]), artists)
        return both, replace(self.catalogue, popularity=np.bincount(both.items, minlength=len(self.catalogue)))


class Recommender(Protocol):
    """Anything evaluate() can score: gruve's GRU4Rec and every baseline."""

    name: str

    def next_scores(self, items: np.ndarray) -> np.ndarray:
        """For one session's items (int64, length n >= 2): an (n - 1, n_items) float32 array whose row t scores
        every catalogue item as the item after items[: t + 1]."""


def load_split(path: str | Path, format: str = "csv", *, user: str | None = None, time: str | None = None,
               item: str | None = None, artist: str | None = None, session: str | None = None,
               name: str | None = None, session_gap: float = 1800, test_days: float = 1.0, valid_days: float = 1.0,
               min_item_count: int = 2, min_session_length: int = 2, cache_dir: Path | None = None) -> Split:
    """Read the listening events in `path` and split them into train, valid and test sessions (see the module
    docstring); a later call with the same file and options loads the split from the cache.

    `format`: "30music" (TSV, header `UserId SessionId ItemId Time ArtistId`), "lastfm" (the Last.fm-1K TSV:
    no header, `userid, timestamp, artist mbid, artist name, track mbid, track name`) or "csv" (comma- or
    tab-separated with a header; the columns `user`, `time`, `item` unless named by the options). `user`,
    `time`, `item`, `artist`, `session` and `name` name the columns (an item's display name; artist, session
    and name are optional). Times are unix seconds or ISO 8601 (a time without a zone is UTC).

    A Last.fm-1K track is its track mbid, or, where that is empty (a fifth of the rows), its "artist - track"
    name: the same recording with and without an mbid is two items. Its artist is the artist mbid, or the
    artist's name where that is empty.
    """
    path = Path(path)
    columns = _columns(format, user=user, time=time, item=item, artist=artist, session=session, name=name)
    check_positive(session_gap, "session_gap")
    for field, days in (("test_days", test_days), ("valid_days", valid_days)):
        check(days is not None and math.isfinite(days) and days >= 0, field,
              f"{{{field}}} must be 0 (none) or more days (got {days}).")
    check_at_least(min_item_count, "min_item_count", 1)
    check_at_least(min_session_length, "min_session_length", 2)
    if not path.is_file():
        raise EventsError(f"{path} {'is a folder, not a file' if path.is_dir() else 'does not exist'}: give a "
                          "file of listening events.")
    options = {"format": format, "columns": columns, "session_gap": session_gap, "test_days": test_days,
               "valid_days": valid_days, "min_item_count": min_item_count, "min_session_length": min_session_length}
    folder = _cache_folder(path, options, cache_dir)
    cached = _load_cached(folder)
    if cached is not None:
        return cached
    split = _split(_read_events(path, format, columns), path, options)
    _save_cached(folder, split)
    return split


def _columns(format: str, **given: str | None) -> dict[str, str]:
    """Role (user, time, item, artist, session, name) -> the column of the file that holds it."""
    check(format in FORMATS, "format", f"{{format}} {format} is not one of {', '.join(FORMATS)}.")
    named = {role: column for role, column in given.items() if column is not None}
    if format == "lastfm":
        for role in named:
            raise OptionError(role, f"{{{role}}} names a column, and a Last.fm-1K file has no header: its columns "
                                    "are fixed (read a file of your own with {format} csv).")
        return {}
    return {**COLUMNS[format], **named}


@dataclass
class _Events:
    """The usable rows of a file, as columns of integer codes (see `_read_events`)."""

    user: np.ndarray
    session: np.ndarray | None
    item: np.ndarray  # codes into item_ids
    time: np.ndarray
    item_ids: object  # pyarrow string array: the distinct items
    item_names: object | None  # pyarrow string array: the display name of each distinct item
    item_artists: np.ndarray | None  # artist code of each distinct item (at its first row)
    artist_ids: object | None  # pyarrow string array: the distinct artists
    rows: dict  # rows read, used, blank, and the skipped ones by reason with their line numbers


def _read_events(path: Path, format: str, columns: dict[str, str]) -> _Events:
    """The rows of `path` that can be used, as columns of codes; the others are counted by reason, with their
    line numbers (a row's line is its place among the lines that parsed: see `_read_columns`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column, n_rows, malformed = _read_columns(path, format, columns)
    empty = {role: pc.equal(values, "").to_numpy() for role, values in column.items()}
    blank = np.logical_and.reduce([empty[role] for role in empty])
    empty_id = ~blank & np.logical_or.reduce([empty[role] for role in ID_ROLES if role in empty])
    time, time_ok = _parse_times(column["time"])
    bad_time = ~blank & ~empty_id & ~time_ok
    usable = ~(blank | empty_id | bad_time)
    first_line = 1 if format == "lastfm" else 2
    lines = np.setdiff1d(np.arange(first_line, first_line + n_rows + len(malformed)), malformed,
                         assume_unique=True) if (empty_id | bad_time).any() else None
    skipped = {"the wrong number of columns": np.asarray(malformed, dtype=np.int64),
               "an empty id": lines[empty_id] if lines is not None else np.zeros(0, np.int64),
               "a time that does not parse": lines[bad_time] if lines is not None else np.zeros(0, np.int64)}
    all_skipped = np.sort(np.concatenate(list(skipped.values())))
    rows = {"read": n_rows + len(malformed), "used": int(usable.sum()), "blank": int(blank.sum()),
            "skipped": len(all_skipped), "skipped_lines": all_skipped[:SHOWN_LINES].tolist(),
            "skipped_by_reason": {reason: len(found) for reason, found in skipped.items() if len(found)}}
    if not usable.any():
        raise EventsError(f"{path} has no usable listening events" + (f": {_skipped_sentence(rows)}" if rows["skipped"]
                                                                      else " (no rows after the header)") + ".")

    user, _ = _codes(column["user"], usable)
    item, item_ids = _codes(column["item"], usable)
    first_row = np.flatnonzero(usable)[np.unique(item, return_index=True)[1]]  # each item's first usable row
    names = column.get("name")
    item_artists = artist_ids = None
    if "artist" in column:
        artist, artist_ids = _codes(column["artist"], np.ones(n_rows, bool))
        item_artists = artist[first_row]
    return _Events(user=user, session=_codes(column["session"], usable)[0] if "session" in column else None,
                   item=item, time=time[usable], item_ids=item_ids, item_artists=item_artists, artist_ids=artist_ids,
                   item_names=None if names is None else names.take(pa.array(first_row)), rows=rows)


def _read_columns(path: Path, format: str, columns: dict[str, str]) -> tuple[dict, int, list[int]]:
    """Each role's column of `path` (pyarrow strings), the number of rows read, and the line numbers of the
    rows that did not have the file's number of columns (skipped).

    Lines map one to one to rows (blank lines are kept as rows, and a quoted value may not span lines), and
    pyarrow's reader, on one thread, gives the line of each row it could not split."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    first = _first_line(path)
    delimiter = "\t" if format != "csv" or "\t" in first else ","
    quoted = delimiter == ","  # CSV quotes fields; a TSV (Last.fm-1K's track names hold stray quotes) does not
    if format == "lastfm":
        header = wanted = list(LASTFM_COLUMNS)
    else:
        header = next(csv.reader([first], delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE))
        for role, column in columns.items():
            if column not in header:
                raise OptionError(role, f"{{{role}}} {column} is not a column of {path}, whose columns are: "
                                        f"{', '.join(header)}.")
        wanted = list(dict.fromkeys(columns.values()))
    malformed: list[int] = []

    def skip(row) -> str:
        malformed.append(row.number)
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 24,
                                           column_names=header if format == "lastfm" else None),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"' if quoted else False,
                                             ignore_empty_lines=False, invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(include_columns=wanted, column_types=dict.fromkeys(wanted, pa.string()),
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError) as error:
        raise EventsError(f"{path} cannot be read as {format} listening events "
                          f"({str(error).splitlines()[0].rstrip('.')}).") from None
    if format == "lastfm":
        return _lastfm_roles({name: table.column(name) for name in LASTFM_COLUMNS}), table.num_rows, malformed
    return {role: table.column(name) for role, name in columns.items()}, table.num_rows, malformed


def _first_line(path: Path) -> str:
    """The first line of `path` (its header, or a first row), or an `EventsError` for an empty file."""
    try:
        with open(path, "rb") as f:
            line = f.readline()
    except OSError as error:
        raise EventsError(f"{path} cannot be read ({(error.strerror or str(error)).lower()}).") from None
    if not line.strip():
        raise EventsError(f"{path} is empty: it holds no listening events.")
    return line.decode("utf-8-sig", errors="replace").rstrip("\r\n")


def _lastfm_roles(column: dict) -> dict:
    """A Last.fm-1K file's roles: the item is the track mbid, or "artist - track" where that is empty; the
    artist is the artist mbid, or the artist's name where that is empty; the name is "artist - track"."""
    import pyarrow.compute as pc

    name = pc.binary_join_element_wise(column["artist"], column["track"], " - ")
    no_track = pc.and_(pc.equal(column["track_id"], ""), pc.equal(column["track"], ""))
    item = pc.if_else(pc.equal(column["track_id"], ""), pc.if_else(no_track, "", name), column["track_id"])
    artist = pc.if_else(pc.equal(column["artist_id"], ""), column["artist"], column["artist_id"])
    return {"user": column["user"], "time": column["time"], "item": item, "artist": artist, "name": name}


def _parse_times(values) -> tuple[np.ndarray, np.ndarray]:
    """int64 unix seconds of each value, and whether it parsed. A column most of whose values are numbers is
    unix seconds (a fraction is cut off); any other is ISO 8601, a time without a zone taken as UTC."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    numeric = pc.match_substring_regex(values, r"^[+-]?[0-9]+(\.[0-9]*)?$")
    ok = numeric.to_numpy()
    if ok.sum() * 2 >= len(ok):
        return np.floor(pc.cast(pc.if_else(numeric, values, "0"), pa.float64()).to_numpy()).astype(np.int64), ok
    stamps = pd.to_datetime(pd.Series(pd.arrays.ArrowExtensionArray(values)), format="ISO8601", utc=True,
                            errors="coerce")
    ok = stamps.notna().to_numpy()
    return np.where(ok, stamps.dt.as_unit("s").array.asi8, 0), ok


def _codes(values, keep: np.ndarray) -> tuple[np.ndarray, object]:
    """int64 codes of `values` at the rows `keep`, and the distinct values they index (a pyarrow array)."""
    encoded = values.combine_chunks().filter(keep).dictionary_encode()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def _split(events: _Events, path: Path, options: dict) -> Split:
    """Cut `events` into sessions, split them by time and filter them (see the module docstring)."""
    everything = _sessions(events, options["session_gap"])
    starts = everything.times[everything.offsets[:-1]]
    end = int(everything.times.max())
    test_from = end - options["test_days"] * DAY if options["test_days"] else None
    first_test = int(np.searchsorted(starts, test_from)) if test_from is not None else len(starts)
    before_test = everything.times[:everything.offsets[first_test]]
    valid_from = (int(before_test.max()) - options["valid_days"] * DAY
                  if options["valid_days"] and len(before_test) else None)
    first_valid = int(np.searchsorted(starts[:first_test], valid_from)) if valid_from is not None else first_test
    parts = {name: _slice(everything, a, b) for name, (a, b) in
             {"train": (0, first_valid), "valid": (first_valid, first_test), "test": (first_test, len(starts))}.items()}
    dropped = {}
    min_count, min_length = options["min_item_count"], options["min_session_length"]

    counts = np.bincount(parts["train"].items, minlength=len(events.item_ids))
    rare = (counts > 0) & (counts < min_count)
    dropped["rare_items"] = {"items": int(rare.sum()), "events": int(counts[rare].sum())}
    parts["train"], dropped["short_train_sessions"] = _drop_short(_keep_events(parts["train"], ~rare[parts["train"].items]),
                                                                  min_length)
    train = parts["train"]
    if not len(train):
        raise EventsError(f"{path} leaves no training sessions: {len(starts) - first_valid} of its {len(starts)} "
                          f"start in its last {options['test_days'] + options['valid_days']:g} days (test and "
                          f"validation), and the filters dropped the other {first_valid}.")
    present, first = np.unique(train.items, return_index=True)
    in_order = present[np.argsort(first)]  # the catalogue's items in the order training first plays them
    index = np.full(len(events.item_ids), -1, dtype=np.int64)
    index[in_order] = np.arange(len(in_order))
    for name in ("valid", "test"):
        part = parts[name]
        unseen = index[part.items] < 0
        dropped[f"unseen_{name}_items"] = {"items": len(np.unique(part.items[unseen])), "events": int(unseen.sum())}
        parts[name], dropped[f"short_{name}_sessions"] = _drop_short(_keep_events(part, ~unseen), min_length)

    catalogue = _catalogue(events, in_order, np.bincount(index[train.items], minlength=len(in_order)))
    for name, part in parts.items():
        part.items = index[part.items]
        part.artists = None if catalogue.item_artists is None else catalogue.item_artists[part.items]
    report = {
        "file": str(path), **options, "rows": events.rows,
        "sessions": len(starts), "events": len(everything.items), "items": len(catalogue),
        "artists": None if catalogue.artist_ids is None else len(catalogue.artist_ids),
        "end": _iso(end), "test_from": _iso(test_from), "valid_from": _iso(valid_from),
        **{name: {"sessions": len(part), "events": len(part.items)} for name, part in parts.items()},
        "dropped": dropped, "cached": False,
    }
    report["notes"] = _notes(report)
    return Split(parts["train"], parts["valid"], parts["test"], catalogue, report)


def _sessions(events: _Events, gap: float) -> Sessions:
    """All events as sessions (item codes, not yet catalogue indices), ordered by their first event's time:
    the file's sessions where it has a session column (a session id counts within its user), else each user's
    events cut where more than `gap` seconds pass between two."""
    if events.session is not None:
        key = events.user * (int(events.session.max()) + 1) + events.session
        order = np.lexsort((events.time, key))  # stable: events of one second keep the file's order
        starts = np.r_[True, key[order][1:] != key[order][:-1]]
    else:
        order = np.lexsort((events.time, events.user))
        user, time = events.user[order], events.time[order]
        starts = np.r_[True, (user[1:] != user[:-1]) | (np.diff(time) > gap)]
    session = np.cumsum(starts) - 1
    start_times = events.time[order][starts]
    rank = np.empty(len(start_times), dtype=np.int64)
    rank[np.argsort(start_times, kind="stable")] = np.arange(len(start_times))
    order = order[np.argsort(rank[session], kind="stable")]
    lengths = np.bincount(rank[session], minlength=len(start_times))
    return Sessions(events.item[order], np.r_[0, np.cumsum(lengths)].astype(np.int64), events.time[order])


def _slice(sessions: Sessions, a: int, b: int) -> Sessions:
    """Sessions a to b - 1."""
    lo, hi = sessions.offsets[a], sessions.offsets[b]
    return Sessions(sessions.items[lo:hi], sessions.offsets[a:b + 1] - lo, sessions.times[lo:hi])


def _keep_events(sessions: Sessions, keep: np.ndarray) -> Sessions:
    """The sessions with only the events where `keep` is true (a session may become empty)."""
    lengths = np.bincount(sessions.session_of_event[keep], minlength=len(sessions))
    return Sessions(sessions.items[keep], np.r_[0, np.cumsum(lengths)].astype(np.int64), sessions.times[keep])


def _drop_short(sessions: Sessions, min_length: int) -> tuple[Sessions, dict]:
    """The sessions of at least `min_length` events, and how many sessions (those emptied by an earlier
    filter too) and events were dropped."""
    lengths = sessions.lengths
    keep = lengths >= min_length
    events = keep[sessions.session_of_event]
    kept = Sessions(sessions.items[events], np.r_[0, np.cumsum(lengths[keep])].astype(np.int64), sessions.times[events])
    return kept, {"sessions": int((~keep).sum()), "events": int(lengths[~keep].sum())}


def _catalogue(events: _Events, items: np.ndarray, popularity: np.ndarray) -> Catalogue:
    """The catalogue of the item codes `items`, in that order; its artists are those of its items only."""
    import pyarrow as pa

    take = pa.array(items)
    item_artists = artist_ids = None
    if events.item_artists is not None:
        present, item_artists = np.unique(events.item_artists[items], return_inverse=True)
        artist_ids = events.artist_ids.take(pa.array(present)).to_pylist()
    return Catalogue(events.item_ids.take(take).to_pylist(),
                     None if events.item_names is None else events.item_names.take(take).to_pylist(),
                     None if item_artists is None else item_artists.astype(np.int64), artist_ids,
                     popularity.astype(np.int64))


def _iso(seconds: float | None) -> str | None:
    import pandas as pd

    return None if seconds is None else pd.Timestamp(int(seconds), unit="s", tz="UTC").isoformat()


def _skipped_sentence(rows: dict) -> str:
    more = ", ..." if rows["skipped"] > len(rows["skipped_lines"]) else ""
    reasons = ", ".join(f"{n} with {reason}" for reason, n in rows["skipped_by_reason"].items())
    return (f"{rows['skipped']} row{'s' if rows['skipped'] > 1 else ''} skipped, {reasons} (line"
            f"{'s' if rows['skipped'] > 1 else ''} {', '.join(map(str, rows['skipped_lines']))}{more})")


def _notes(report: dict) -> list[str]:
    """What reading and filtering did, in sentences for the user."""
    notes = []
    if report["rows"]["skipped"]:
        notes.append(f"{report['file']}: {_skipped_sentence(report['rows'])}.")
    d, count, length = report["dropped"], report["min_item_count"], report["min_session_length"]
    notes.append(f"{report['sessions']} sessions of {report['events']} events, split by time: "
                 f"{report['train']['sessions']} train, {report['valid']['sessions']} valid (from "
                 f"{report['valid_from'] or '-'}), {report['test']['sessions']} test (from {report['test_from'] or '-'}); "
                 f"{report['items']} items.")
    notes.append(f"Dropped {d['rare_items']['items']} items seen fewer than {count} times in training "
                 f"({d['rare_items']['events']} events) and {d['short_train_sessions']['sessions']} training "
                 f"sessions shorter than {length} events; removed "
                 + " and ".join(f"{d[f'unseen_{part}_items']['events']} {part} events of items absent from training "
                                f"(then {d[f'short_{part}_sessions']['sessions']} {part} sessions too short)"
                                for part in ("valid", "test")) + ".")
    return notes


def _cache_folder(path: Path, options: dict, cache_dir: Path | None) -> Path:
    """Where the split of `path` with `options` is cached: keyed by the file (a hash of its bytes, or of its
    size and modification time above `HASHED_BYTES`), where it is, and the options."""
    stat = path.stat()
    if stat.st_size <= HASHED_BYTES:
        digest = hashlib.sha1()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        fingerprint = digest.hexdigest()
    else:
        fingerprint = f"{stat.st_size} bytes, modified {stat.st_mtime_ns}"
    key = json.dumps({"version": CACHE_VERSION, "file": str(path.resolve()), "fingerprint": fingerprint, **options},
                     sort_keys=True)
    return cache_root(cache_dir) / "sessions" / hashlib.sha1(key.encode()).hexdigest()[:20]


PARTS = ("train", "valid", "test")
ARRAYS = ("items", "offsets", "times", "artists")


def _save_cached(folder: Path, split: Split) -> None:
    """Write `split` into `folder`, each file atomically and `report.json` last: a folder without it is
    not a cached split."""
    for name in PARTS:
        for field in ARRAYS:
            array = getattr(getattr(split, name), field)
            if array is not None:
                with files.atomic_path(folder / f"{name}.{field}.npy") as tmp:
                    np.save(tmp, array, allow_pickle=False)
    files.write_json(folder / "catalogue.json", split.catalogue.to_dict())
    files.write_json(folder / "report.json", split.report)


def _load_cached(folder: Path) -> Split | None:
    """The split cached in `folder`, or None where there is none (or only part of one)."""
    try:
        report = json.loads((folder / "report.json").read_text())
        catalogue = Catalogue.from_dict(json.loads((folder / "catalogue.json").read_text()))
        parts = {name: Sessions(*(_read_array(folder / f"{name}.{field}.npy", field == "artists") for field in ARRAYS))
                 for name in PARTS}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Split(**parts, catalogue=catalogue, report={**report, "cached": True})


def _read_array(path: Path, optional: bool) -> np.ndarray | None:
    if optional and not path.exists():
        return None
    array = np.load(path, allow_pickle=False)  # a .npy and nothing else: no pickle
    if array.dtype != np.int64 or array.ndim != 1:
        raise ValueError(f"{path} is {array.dtype} {array.shape}, not a column of int64")
    return array
