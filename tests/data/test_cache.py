import numpy as np
import pytest
import soundfile as sf

from gruve import audio
from gruve.audio import AudioError
from gruve.data.cache import FeatureCache
from gruve.data.sources import Item
from gruve.features import FeatureConfig
from conftest import tone


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
