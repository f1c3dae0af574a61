import numpy as np
import pytest
import soundfile as sf
from conftest import tone

from gruve import audio
from gruve.audio import AudioError
from gruve.data.cache import FeatureCache
from gruve.data.sources import Item
from gruve.features import FeatureConfig


def test_features_are_computed_once_and_keyed_by_content_and_parameters(tmp_path, monkeypatch):
    sf.write(tmp_path / "a.wav", tone(440), 16000)
    cache = FeatureCache(FeatureConfig(), tmp_path / "cache")
    first = cache.get(tmp_path / "a.wav")
    assert first.shape == (64, 51)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(audio, "load", no_decoding)
    np.testing.assert_array_equal(FeatureCache(FeatureConfig(), tmp_path / "cache").get(tmp_path / "a.wav"), first)
    monkeypatch.undo()
    sf.write(tmp_path / "a.wav", tone(880), 16000)  # same name, new content
    assert not np.array_equal(cache.get(tmp_path / "a.wav"), first)
    assert FeatureCache(FeatureConfig(n_mels=32), tmp_path / "cache").get(tmp_path / "a.wav").shape == (32, 51)


def test_broken_files_are_reported_and_skipped_unless_strict(tmp_path):
    sf.write(tmp_path / "good.wav", tone(440), 16000)
    (tmp_path / "bad.wav").write_bytes(b"garbage" * 20)
    items = [Item(tmp_path / "good.wav", {"label": "x"}), Item(tmp_path / "bad.wav", {"label": "x"}),
             Item(tmp_path / "gone.wav", {"label": "x"})]
    cache = FeatureCache(FeatureConfig(), tmp_path / "cache")
    loaded, failures = cache.load(items)
    assert [i.path.name for i, _ in loaded] == ["good.wav"]
    assert [p.name for p, _ in failures] == ["bad.wav", "gone.wav"]
    assert "does not exist" in failures[1][1]
    with pytest.raises(AudioError, match="bad.wav"):
        cache.load(items, strict=True)



CORRUPTIONS = {  # what a crash, a full disk or a stray write can leave in the cache
    "truncated": lambda stored: stored.write_bytes(stored.read_bytes()[:100]),
    "garbage": lambda stored: stored.write_bytes(b"\x93NUMPY garbage" * 10),
    "empty": lambda stored: stored.write_bytes(b""),
    "pickled": lambda stored: np.save(stored, np.array([{"a": 1}], dtype=object), allow_pickle=True),
    "nan": lambda stored: np.save(stored, np.full((64, 51), np.nan, np.float32)),
    "shape": lambda stored: np.save(stored, np.zeros((32, 51), np.float32)),
    "dtype": lambda stored: np.save(stored, np.zeros((64, 51), np.float64)),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corrupt_cached_file_is_recomputed_and_reported_once(corruption, tmp_path, caplog):
    for name, freq in (("a", 440), ("b", 660)):
        sf.write(tmp_path / f"{name}.wav", tone(freq), 16000)
    items = [Item(tmp_path / f"{name}.wav", {"label": "x"}) for name in "ab"]
    first = [features for _, features in FeatureCache(FeatureConfig(), tmp_path / "cache").load(items)[0]]
    stored = list((tmp_path / "cache").rglob("*.npy"))
    assert len(stored) == 2 and not caplog.records
    for path in stored:
        CORRUPTIONS[corruption](path)
    for run in range(2):  # the run that meets them recomputes and says so, once; the next reads them silently
        loaded, failures = FeatureCache(FeatureConfig(), tmp_path / "cache").load(items)
        assert not failures
        for (_, features), expected in zip(loaded, first):
            np.testing.assert_array_equal(features, expected)
        assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "corrupt" in message and "recomputed" in message and str(tmp_path / "cache") in message
