import json

import numpy as np
import pytest
import soundfile as sf
import torch

import gruve
from gruve import bundle
from gruve.bundle import BundleError
from gruve.listen.model import ARCHITECTURES, AudioClassifier, ClassifierConfig
from conftest import features_8k, tone

FEATURES = features_8k()


def make(architecture="crnn", pooling="attention", window=0.5):
    torch.manual_seed(0)
    return AudioClassifier(ClassifierConfig(["a", "b", "c"], FEATURES, architecture, 16, 2, pooling,
                                            conv_channels=(4, 8), conv_time_pool=(2, 1), window=window)).eval()


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_a_padded_batch_scores_each_clip_as_if_alone(architecture, pooling):
    model = make(architecture, pooling)
    long, short = torch.randn(1, 32, 40), torch.randn(1, 32, 23)
    batch = torch.cat([long, torch.cat([short, torch.full((1, 32, 17), -100.0)], 2)])
    together = model.classify(batch, torch.tensor([40, 23]))
    torch.testing.assert_close(together[1], model.classify(short)[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(together[0], model.classify(long)[0], atol=1e-5, rtol=1e-4)


def test_the_model_carries_its_features():
    model = make()
    y = torch.from_numpy(tone(500, 0.4, 8000))[None]
    torch.testing.assert_close(model(y), model.classify(model.features(y)))


def test_bundle_round_trip_keeps_weights_config_and_meta(tmp_path):
    model = make("bigru")
    model.set_normalisation([np.random.default_rng(0).normal(-40, 10, (32, 50)).astype(np.float32)])
    path = bundle.save(tmp_path / "m.safetensors", model, {"task": "listen", "config": model.config.to_dict(),
                                                           "metrics": {"test_accuracy": 0.5}})
    loaded = gruve.load(path)
    assert loaded.labels == ["a", "b", "c"] and loaded.config == model.config
    assert loaded.meta["metrics"]["test_accuracy"] == 0.5
    x = torch.randn(2, 32, 30)
    torch.testing.assert_close(loaded.classify(x), model.classify(x))
    # The header is plain JSON: nothing in a bundle is pickled.
    header_size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8:8 + header_size])
    assert json.loads(header["__metadata__"]["gruve"])["task"] == "listen"


def test_bad_bundles_and_names_get_a_sentence(tmp_path):
    with pytest.raises(BundleError, match="neither a model file nor a shipped model"):
        gruve.load("no-such-model")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BundleError, match="not a gruve model file"):
        gruve.load(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(BundleError, match="not a gruve model"):
        gruve.load(tmp_path / "other.safetensors")


def test_long_recordings_get_a_timeline_short_ones_do_not(tmp_path):
    model = make(window=0.5)
    sf.write(tmp_path / "short.wav", tone(500, 0.4, 8000), 8000)
    sf.write(tmp_path / "long.wav", tone(500, 2.0, 8000), 8000)
    short, long = model.predict(tmp_path / "short.wav", top_k=2), model.predict(tmp_path / "long.wav")
    assert short.timeline == [] and len(short.top) == 2
    assert abs(sum(p for _, p in model.predict(tmp_path / "short.wav", top_k=3).top) - 1) < 1e-5
    starts = [t[0] for t in long.timeline]
    assert len(long.timeline) >= 6 and starts == sorted(starts)
    assert long.timeline[-1][1] == pytest.approx(2.0, abs=0.02)
    assert all(end - start <= 0.52 for start, end, _, _ in long.timeline)
