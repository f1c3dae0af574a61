import numpy as np
import pytest
import torch

from gruve.audio import load
from gruve.features import FeatureConfig, LogMel, mel_filters

CONFIGS = [FeatureConfig(sr=8000, n_fft=256, hop_length=80, n_mels=40),
           FeatureConfig(sr=22050, n_fft=1024, hop_length=441, n_mels=64, fmin=20, fmax=10000)]


@pytest.mark.parametrize("config", CONFIGS)
def test_mel_filters_equal_librosa(config):
    from librosa.filters import mel

    expected = mel(sr=config.sr, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax)
    np.testing.assert_allclose(mel_filters(config), expected, atol=1e-7)


@pytest.mark.parametrize("config", CONFIGS)
def test_log_mel_agrees_with_librosa_within_a_thousandth_of_a_db(datasets, config):
    import librosa

    y = load(datasets / "fsdd" / "recordings" / "3_theo_7.wav", config.sr)
    ours = LogMel(config)(torch.from_numpy(y)[None])[0].numpy()
    # librosa.feature.melspectrogram spelt out: its stft, its filters, power_to_db without top_db.
    power = np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length, center=True,
                                pad_mode="constant")) ** 2
    theirs = librosa.power_to_db(mel_filters(config) @ power, ref=1.0, amin=config.amin, top_db=None)
    assert ours.shape == theirs.shape == (config.n_mels, config.num_frames(len(y)))
    assert np.abs(ours - theirs).max() < 1e-3


def test_silence_sits_at_the_floor():
    config = FeatureConfig()
    out = LogMel(config)(torch.zeros(1, 1600))
    assert torch.allclose(out, torch.full_like(out, config.floor_db))
