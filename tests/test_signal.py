"""The core signal functions: the one power spectrogram against torch.stft, and the STFT paddings each
caller keeps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gruve import signal


@pytest.mark.parametrize("center,pad_mode", [(True, "constant"), (True, "reflect"), (False, "constant")])
def test_power_spectrogram_is_torch_stfts_power_through_a_hann_window(center, pad_mode):
    y = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 4000), dtype=np.float32))
    expected = torch.stft(y, 512, 128, window=torch.hann_window(512), center=center, pad_mode=pad_mode,
                          return_complex=True).abs().square()
    assert torch.equal(signal.power_spectrogram(y, 512, 128, center, pad_mode), expected)


def test_long_term_power_and_log_spectrum_keep_their_paddings():
    y = np.random.default_rng(1).standard_normal(8000).astype(np.float32)
    t = torch.from_numpy(y)
    silence_padded = torch.stft(t[None], 1024, 256, window=torch.hann_window(1024), pad_mode="constant",
                                return_complex=True).abs().square().mean(-1)
    assert torch.equal(signal.long_term_power(t[None]), silence_padded)
    reflected = torch.stft(t, 1024, 256, window=torch.hann_window(1024), return_complex=True).abs() ** 2
    np.testing.assert_array_equal(signal.log_spectrum(y), (10 * torch.log10(reflected.mean(-1) + 1e-10)).numpy())


def test_loudness_frames_and_decibels():
    assert signal.frame_count(161, 160) == 2 and signal.frame_count(160, 160) == 1
    y = torch.full((1, 320), 0.5)
    assert torch.allclose(signal.loudness(y, 160), torch.full((1, 2), 10 * np.log10(0.25)), atol=1e-4)
    assert signal.loudness(torch.zeros(1, 100), 160).item() == signal.FLOOR_DB
