"""The groove-styles corpus: Groove MIDI beats rendered once into 30-second clips, each with a drum kit in turn,
in Groove's official split; read from the cache afterwards; bad copies refused in one sentence."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli
from gruve.data import groove_styles, sources
from gruve.data.items import DataError

pytestmark = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth is not installed")


def small_groove(datasets: Path, out: Path) -> Path:
    """A Groove folder of three real performances: a 28 s test beat, a 135 s training beat and a fill."""
    with (datasets / "groove" / "info.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    ids = ["drummer1/eval_session/1", "drummer1/session1/100", "drummer1/session1/10"]
    picked = [next(r for r in rows if r["id"] == i) for i in ids]
    out.mkdir()
    with (out / "info.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(picked)
    for row in picked:
        (out / row["midi_filename"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(datasets / "groove" / row["midi_filename"], out / row["midi_filename"])
    return out


@pytest.fixture(scope="module")
def groove(datasets, tmp_path_factory) -> Path:
    return small_groove(datasets, tmp_path_factory.mktemp("groove") / "groove")


def test_beats_are_rendered_into_clips_of_30_seconds_with_the_kits_in_turn(groove, tmp_path):
    corpus = sources.resolve(f"groove-styles:{groove}", tmp_path)
    assert corpus.targets == ["style"] and corpus.defaults["features"]["sr"] == 22050
    items = corpus.items
    # the fill is left out; 135 s of a beat is four clips (at most four), 28 s is one
    assert [(i.labels["style"], i.split, i.group) for i in items] == (
        [("funk", "test", "drummer1")] + [("neworleans", "train", "drummer1")] * 4)
    with (items[0].path.parent.parent / "clips.csv").open(newline="") as f:
        clips = list(csv.DictReader(f))
    assert len({c["kit"] for c in clips if c["style"] == "neworleans"}) == 4  # four kits for four clips
    for item, clip in zip(items, clips):
        y, sr = sf.read(item.path)
        assert sr == 22050 and y.ndim == 1
        assert len(y) == int(float(clip["seconds"]) * sr)
        assert np.sqrt(np.mean(y ** 2)) > 0.01  # drums, not silence
    assert [float(c["seconds"]) for c in clips[1:]] == [30.0] * 4
    assert float(clips[0]["seconds"]) == pytest.approx(27.872308)


def test_a_second_read_finds_the_clips_and_a_changed_copy_renders_afresh(groove, tmp_path, monkeypatch):
    first = sources.resolve(f"groove-styles:{groove}", tmp_path).items
    monkeypatch.setattr(groove_styles, "_render_chunk", lambda *a: pytest.fail("rendered again"))
    assert sources.resolve(f"groove-styles:{groove}", tmp_path).items == first
    changed = tmp_path / "changed"
    shutil.copytree(groove, changed)
    rows = (changed / "info.csv").read_text().splitlines()
    (changed / "info.csv").write_text("\n".join(rows[:2]) + "\n")  # the test beat alone
    monkeypatch.undo()
    items = sources.resolve(f"groove-styles:{changed}", tmp_path).items
    assert len(items) == 1 and items[0].path.parent.parent != first[0].path.parent.parent


def test_an_interrupted_render_leaves_nothing_a_later_run_would_trust(groove, tmp_path, monkeypatch):
    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(groove_styles, "_render_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sources.resolve(f"groove-styles:{groove}", tmp_path)
    assert list((tmp_path / "rendered").iterdir()) == []


def test_a_folder_that_is_not_groove_is_one_sentence(tmp_path, capsys):
    code, out, err = run_cli(["listen", "train", f"groove-styles:{tmp_path}", "--out", str(tmp_path / "run")], capsys)
    assert code != 0 and "Traceback" not in err
    assert f"{tmp_path} has no info.csv; groove-styles:PATH needs the Groove MIDI Dataset's folder." in err


def test_a_broken_midi_file_is_named(groove, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(groove, broken)
    midi = broken / "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid"
    midi.write_bytes(b"not a MIDI file")
    with pytest.raises(DataError, match=f"{midi} cannot be read as MIDI"):
        sources.resolve(f"groove-styles:{broken}", tmp_path)


def test_without_a_soundfont_it_says_what_to_install(groove, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRUVE_SOUNDFONT", str(tmp_path / "missing.sf2"))
    code, out, err = run_cli(["listen", "train", f"groove-styles:{groove}", "--out", str(tmp_path / "run")], capsys)
    assert code != 0 and "Traceback" not in err
    assert "groove-styles renders MIDI to audio, and no General MIDI soundfont found" in err
