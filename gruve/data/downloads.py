"""The gruve cache folder, and downloads into it with pooch: checksummed, atomic, unpacked once.

pooch (which librosa uses for its example files) streams each file to a temporary name beside its
target, checks its hash and only then renames it into place, so a killed or corrupt download leaves
nothing behind that a later run could mistake for the real file.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tarfile
import zipfile
from pathlib import Path

from gruve.data.items import DataError


def cache_root(cache_dir: Path | None = None) -> Path:
    """Where gruve keeps downloads and features: `cache_dir`, else `$GRUVE_CACHE`, else `~/.cache/gruve`."""
    return Path(cache_dir or os.environ.get("GRUVE_CACHE") or Path.home() / ".cache" / "gruve")


def download(url: str, dest: Path, checksum: str | None = None, into: Path | None = None) -> Path:
    """Fetch `url` to `dest` once (a `dest` whose checksum matches is kept) with a progress bar, and verify
    its `checksum` ("sha256:<hex>" or "md5:<hex>"; None: not verified). With `into`, unpack the archive
    into that folder and delete it (the corpus is what is kept), returning `into`."""
    import pooch  # imports requests: only when something is downloaded

    dest = Path(dest)
    unpack = _Unpack(into) if into is not None else None
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch's "Downloading data from ..." line; the bar says it
    bar = _Bar(f"downloading {dest.name}")
    downloader = (pooch.HTTPDownloader(progressbar=bar, chunk_size=1 << 20, timeout=60)
                  if url.startswith(("http://", "https://")) else None)
    try:
        pooch.retrieve(url, known_hash=checksum, fname=dest.name, path=dest.parent, processor=unpack,
                       downloader=downloader, progressbar=bar)
    except ValueError as error:
        if "hash" not in str(error):
            raise
        raise DataError(f"{url} downloaded, but its checksum does not match {checksum}; try again later.") from None
    except (tarfile.TarError, zipfile.BadZipFile) as error:
        raise DataError(f"{url} cannot be unpacked ({error}).") from None
    except OSError as error:  # requests' errors are OSErrors too
        raise DataError(f"could not download {url} ({error}); download it by hand and pass NAME:PATH.") from None
    finally:
        bar.close()
        logger.setLevel(level)
    if into is None:
        return dest
    dest.unlink(missing_ok=True)
    if not any(dest.parent.iterdir()):
        dest.parent.rmdir()
    return Path(into)


class _Unpack:
    """A pooch processor that unpacks a zip or tar archive into a folder, each time it is called.

    pooch's own processors skip the unpacking when their folder exists, and a corpus folder can exist
    half-unpacked after a kill; so each call unpacks into a fresh hidden folder inside `into` and then
    moves what it holds into `into`, replacing whatever an earlier, interrupted call left there."""

    def __init__(self, into: Path):
        self.into = Path(into)

    def __call__(self, fname: str, action: str, pup) -> Path:
        self.into.mkdir(parents=True, exist_ok=True)
        staging = self.into / f".unpacking-{secrets.token_hex(4)}"
        try:
            _unpacker(fname, staging)(fname, "download", pup)
            for entry in staging.iterdir():
                target = self.into / entry.name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
                os.replace(entry, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.into


def _unpacker(archive: str, folder: Path):
    """pooch's processor for `archive`: Unzip, or Untar with tarfile's "data" filter on every Python
    (pooch applies it from Python 3.12 on), so no member lands outside `folder` or is a device file."""
    import pooch

    if zipfile.is_zipfile(archive):
        return pooch.Unzip(extract_dir=str(folder))

    class SafeUntar(pooch.Untar):
        def _extract_file(self, fname, extract_dir):
            with tarfile.open(fname) as tar:
                tar.extractall(extract_dir, filter="data")

    return SafeUntar(extract_dir=str(folder))


class _Bar:
    """The progress-bar object pooch drives (it sets `total`, calls `update`, `reset` and `close`), shown with rich."""

    def __init__(self, description: str):
        self.description, self.progress, self.task = description, None, None

    @property
    def total(self):
        return None if self.progress is None else self.progress.tasks[0].total

    @total.setter
    def total(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self.close()
        self.progress = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), console=Console(stderr=True))
        self.task = self.progress.add_task(self.description, total=total or None)
        self.progress.start()

    def update(self, n: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=n)

    def reset(self) -> None:
        if self.progress is not None:
            self.progress.reset(self.task)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
