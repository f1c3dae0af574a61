"""Atomic writes: a file gruve writes is either the whole new file or the old one, never half of either.

Every writer in gruve (bundles, checkpoints, the feature cache, splits, reports, renders, pictures) goes
through `atomic_path`: the data goes to a temporary file in the same folder, is flushed to disk, and is
renamed over the target only once complete; on any failure the temporary file is removed.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to (for writers that take a file name: safetensors,
    soundfile, matplotlib); renamed to `path` when the block ends without error. The temporary name keeps
    `path`'s suffix, so writers that choose a format by suffix choose the same one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as readable as any file the user writes (mkstemp-style files are private)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """`open(path, mode)` whose file appears at `path` only once the block ends without error."""
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
