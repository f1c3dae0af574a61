"""Atomic writes: a file gruve writes is either the whole new file or the old one, never half of either.

Every writer in gruve (bundles, checkpoints, the feature cache, splits, reports, renders, pictures) goes
through `atomic_path`: the data goes to a temporary file in the same folder, is flushed to disk, and is
renamed over the target only once complete; on any failure the temporary file is removed. A place that
cannot take the file (a folder, a file where a folder should be, no permission, no space) is a `WriteError`
naming it, found before any work goes into the file where it can be.

Text files are UTF-8, and a file name that is not (a Linux name may be any bytes) is written as the bytes
it is, so that `read_csv` gives back the same path: Python's `surrogateescape`, as `os.fsdecode` uses.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator

from gruve.errors import GruveError

TEXT = {"encoding": "utf-8", "errors": "surrogateescape"}  # how gruve reads and writes text: any file name goes through


class WriteError(GruveError):
    """A file that cannot be written where it was asked for; the message names it and says why."""


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to (for writers that take a file name: safetensors,
    soundfile, matplotlib); renamed to `path` when the block ends without error. The temporary name keeps
    `path`'s suffix, so writers that choose a format by suffix choose the same one."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"{path} is a folder; give the name of a file to write.")
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        open(tmp, "xb").close()  # whether the folder takes a file at all, before any work goes into one
    except OSError as error:
        raise WriteError(f"cannot write {path} ({_why(path, error)}).") from None
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as readable as any file the user writes (mkstemp-style files are private)
        os.replace(tmp, path)
    except OSError as error:
        if str(error.filename) not in (str(tmp), str(path)):  # not about this file: the writer's own business
            raise
        raise WriteError(f"cannot write {path} ({_why(path, error)}).") from None
    finally:
        tmp.unlink(missing_ok=True)


def writable_folder(path: str | os.PathLike) -> Path:
    """`path` as a folder to write into, made if need be, or a `WriteError` naming it: checked before any
    work goes into what will be written there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise WriteError(f"{path} is a file, not a folder.")
    probe = path / f".gruve-probe.{secrets.token_hex(4)}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        open(probe, "xb").close()
        probe.unlink()
    except OSError as error:
        raise WriteError(f"cannot write into {path} ({_why(path, error)}).") from None
    return path


def _why(path: Path, error: OSError) -> str:
    for folder in path.parents:
        if folder.exists():
            return f"{folder} is a file, not a folder" if not folder.is_dir() else (error.strerror or str(error)).lower()
    return (error.strerror or str(error)).lower()


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """`open(path, mode)` whose file appears at `path` only once the block ends without error."""
    if "b" not in mode:
        kwargs = {**TEXT, **kwargs}
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_json(path: str | os.PathLike, data) -> Path:
    """Write `data` as indented JSON, atomically."""
    with atomic_open(path) as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    return Path(path)


def write_csv(path: str | os.PathLike, header: list[str], rows: Iterable[Iterable]) -> Path:
    """Write a CSV file with a header row, atomically."""
    with atomic_open(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a CSV file with a header row, as dicts; paths in it come back as `write_csv` was given them."""
    with open(path, newline="", **TEXT) as f:
        return list(csv.DictReader(f))
