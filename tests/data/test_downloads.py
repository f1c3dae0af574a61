"""Downloads through pooch from a real HTTP server on 127.0.0.1 (the network is not reachable from tests): checksums,
refusal of a corrupt file, unpacking zip and tar archives into the cache layout, and unpacking again after a kill."""

import dataclasses
import functools
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from gruve.data.corpora import KNOWN
from gruve.data.downloads import download
from gruve.data.sources import DataError
from test_corpora import esc50, speech_commands


@pytest.fixture
def served(tmp_path, monkeypatch):
    """`(folder, url)`: files put in `folder` are served at `url/NAME` by an HTTP server on 127.0.0.1 that
    stops when the test ends, or after a minute whatever happens."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    deadline = threading.Timer(60, server.shutdown)
    deadline.daemon = True
    deadline.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        deadline.cancel()
        server.shutdown()
        server.server_close()
        thread.join(5)


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def zip_folder(source: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(source.rglob("*")):
            z.write(path, path.relative_to(source))
    return archive


def test_download_verifies_the_checksum(served, tmp_path):
    folder, url = served
    source = folder / "archive.bin"
    source.write_bytes(b"gruve" * 1000)
    dest = download(f"{url}/archive.bin", tmp_path / "cache" / "archive.bin", sha256(source))
    assert dest.read_bytes() == source.read_bytes()
    md5 = "md5:" + hashlib.md5(source.read_bytes()).hexdigest()
    assert download(f"{url}/archive.bin", tmp_path / "md5" / "archive.bin", md5).exists()


def test_a_checksum_mismatch_is_one_sentence_and_leaves_nothing(served, tmp_path):
    folder, url = served
    (folder / "archive.bin").write_bytes(b"gruve" * 1000)
    dest = tmp_path / "cache" / "archive.bin"
    with pytest.raises(DataError, match="checksum does not match") as error:
        download(f"{url}/archive.bin", dest, "sha256:" + "0" * 64)
    message = str(error.value)
    assert "\n" not in message and message.endswith(".") and message.count(". ") == 0
    assert list(dest.parent.iterdir()) == []  # neither the file nor a temporary part of it


def test_a_corrupt_corpus_download_is_refused_and_leaves_no_corpus(served, tmp_path):
    folder, url = served
    archive = zip_folder(esc50(tmp_path / "src" / "ESC-50-master").parent, folder / "master.zip")
    good = sha256(archive)
    archive.write_bytes(archive.read_bytes()[:-100])  # truncated on the way
    known = dataclasses.replace(KNOWN["esc50"], url=f"{url}/master.zip", checksum=good)
    with pytest.raises(DataError, match="checksum does not match"):
        known.corpus(None, cache_dir=tmp_path / "cache")
    home = tmp_path / "cache" / "datasets" / "esc50"
    assert [p for p in home.rglob("*") if p.is_file()] == []


def test_no_checksum_skips_verification(served, tmp_path):
    folder, url = served
    (folder / "archive.bin").write_bytes(b"gruve")
    assert download(f"{url}/archive.bin", tmp_path / "cache" / "archive.bin", None).read_bytes() == b"gruve"


def test_a_missing_file_is_a_data_error(served, tmp_path):
    _, url = served
    with pytest.raises(DataError, match="could not download .*NAME:PATH"):
        download(f"{url}/nowhere.zip", tmp_path / "cache" / "nowhere.zip", None)


def test_fetch_downloads_verifies_and_unpacks_once(served, tmp_path):
    folder, url = served
    archive = zip_folder(esc50(tmp_path / "src" / "ESC-50-master").parent, folder / "master.zip")
    known = dataclasses.replace(KNOWN["esc50"], url=f"{url}/master.zip", checksum=sha256(archive))
    corpus = known.corpus(None, cache_dir=tmp_path / "cache")
    assert len(corpus.items) == 4 and corpus.folds == [1, 2, 4, 5]
    home = tmp_path / "cache" / "datasets" / "esc50"
    assert sorted(p.name for p in home.iterdir()) == [".complete", "ESC-50-master"]  # the archive is gone
    archive.unlink()  # a second call reads the cache and downloads nothing
    assert len(known.corpus(None, cache_dir=tmp_path / "cache").items) == 4


def test_a_tar_archive_unpacks_at_the_root_of_the_corpus(served, tmp_path):
    folder, url = served
    source = speech_commands(tmp_path / "src")
    archive = folder / "speech_commands_v0.02.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(source.iterdir()):
            tar.add(path, path.name)
    md5 = "md5:" + hashlib.md5(archive.read_bytes()).hexdigest()
    known = dataclasses.replace(KNOWN["speechcommands-v2"], url=f"{url}/{archive.name}", checksum=md5)
    corpus = known.corpus(None, cache_dir=tmp_path / "cache")
    assert len([i for i in corpus.items if "word" in i.labels]) == 300
    assert (tmp_path / "cache" / "datasets" / "speechcommands-v2" / "yes" / "00000000_nohash_0.wav").is_file()


def test_an_interrupted_unpacking_is_done_again(served, tmp_path):
    folder, url = served
    archive = zip_folder(esc50(tmp_path / "src" / "ESC-50-master").parent, folder / "master.zip")
    known = dataclasses.replace(KNOWN["esc50"], url=f"{url}/master.zip", checksum=sha256(archive))
    home = tmp_path / "cache" / "datasets" / "esc50"
    (home / "ESC-50-master" / "audio").mkdir(parents=True)  # what a kill halfway through unpacking leaves
    (home / "ESC-50-master" / "audio" / "half.wav").write_bytes(b"RIFF")
    assert len(known.corpus(None, cache_dir=tmp_path / "cache").items) == 4
    assert not (home / "ESC-50-master" / "audio" / "half.wav").exists()


def test_an_archive_member_outside_the_folder_is_refused(served, tmp_path):
    folder, url = served
    archive = folder / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(DataError, match="cannot be unpacked"):
        download(f"{url}/evil.tar.gz", tmp_path / "cache" / "x" / "download" / "evil.tar.gz", None,
                 into=tmp_path / "cache" / "x")
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))
