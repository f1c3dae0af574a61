"""Signal processing on waveforms: short-time spectra, loudness envelopes, long-term spectra and the
measures built on them. One place for the STFTs gruve computes outside the log-mel features, with
librosa's parameter names (`y`, `sr`, `n_fft`, `hop_length`).

Waveforms are torch tensors `(..., samples)` unless a function says numpy; levels are in dB, floored at
FLOOR_DB, below which silence is silence.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import uniform_filter1d

from gruve.features import FeatureConfig, mel_filters

FLOOR_DB = -80.0  # dB below which a level is silence


def stft(y: torch.Tensor, n_fft: int, hop_length: int, center: bool = True, pad_mode: str = "constant") -> torch.Tensor:
    """The complex STFT of waveforms `y (..., samples)` through a Hann window of `n_fft`, `(..., n_fft // 2 + 1,
    frames)`; with `center`, `y` is first padded by `n_fft // 2` either side as `pad_mode` says ("constant":
    silence; "reflect": librosa's default)."""
    return torch.stft(y, n_fft, hop_length, window=torch.hann_window(n_fft, device=y.device), center=center,
                      pad_mode=pad_mode, return_complex=True)


def power_spectrogram(y: torch.Tensor, n_fft: int, hop_length: int, center: bool = True,
                      pad_mode: str = "constant") -> torch.Tensor:
    """The power of each STFT bin and frame of waveforms `y (..., samples)`, `(..., n_fft // 2 + 1, frames)`
    (see `stft`)."""
    return stft(y, n_fft, hop_length, center, pad_mode).abs().square()


def frame_count(n_samples: int, hop_length: int) -> int:
    """How many frames of `hop_length` cover `n_samples`, the last one padded."""
    return -(-n_samples // hop_length)


def frames(y: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Waveforms `y (..., samples)` in frames of `hop_length`, the last padded with silence, `(..., frames,
    hop_length)`."""
    y = torch.nn.functional.pad(y, (0, -y.shape[-1] % hop_length))
    return y.reshape(*y.shape[:-1], -1, hop_length)


def decibels(power: torch.Tensor) -> torch.Tensor:
    """`power` in dB, floored at FLOOR_DB."""
    return (10 * torch.log10(power + 1e-12)).clamp(min=FLOOR_DB)


def loudness(y: torch.Tensor, hop_length: int) -> torch.Tensor:
    """The RMS level in dB (floored) of each `hop_length` samples of waveforms `y (..., samples)`, the last
    frame padded with silence, `(..., frames)`."""
    return decibels(frames(y, hop_length).square().mean(-1))


def band_loudness(y: torch.Tensor, hop_length: int, bands: int, sr: int) -> torch.Tensor:
    """The level in dB (floored) of each of `bands` frequency bands in each `hop_length` samples of waveforms
    `y (..., samples)` at `sr` Hz, `(..., bands, frames)`. The bands split the spectrum of each frame at
    log-spaced edges from 250 Hz to the Nyquist frequency (a frame's powers add up to its `loudness`, by
    Parseval), so a kick's quiet top or a cymbal's missing low end can be told apart."""
    if bands == 1:
        return loudness(y, hop_length)[..., None, :]
    spectrum = torch.fft.rfft(frames(y, hop_length)).abs().square() / hop_length**2
    spectrum[..., 1: (hop_length + 1) // 2] *= 2  # the negative frequencies' share
    edges = torch.tensor(np.geomspace(250, sr / 2, bands)[:-1], dtype=torch.float64)
    band = torch.bucketize(torch.fft.rfftfreq(hop_length, 1 / sr, dtype=torch.float64), edges, right=True)
    power = torch.zeros(*spectrum.shape[:-1], bands).index_add_(-1, band, spectrum)
    return decibels(power).transpose(-1, -2)


def long_term_power(y: torch.Tensor, n_fft: int = 1024) -> torch.Tensor:
    """The power of waveforms `y (batch, samples)` in each STFT bin (hop `n_fft // 4`), averaged over their
    frames (silence either side), `(batch, n_fft // 2 + 1)`."""
    return power_spectrogram(y, n_fft, n_fft // 4).mean(-1)


def timbre(y: torch.Tensor, n_mels: int, sr: int, n_fft: int = 1024) -> torch.Tensor:
    """A sound's colour: the power of waveforms `y (batch, samples)` at `sr` Hz over their whole length in
    each of `n_mels` mel bands, in dB below the loudest band (floored), `(batch, n_mels)`. An envelope says
    how loud a moment is; this says where the sound's power lies, its peaks included."""
    power = long_term_power(y, n_fft)
    filters = torch.from_numpy(mel_filters(FeatureConfig(sr=sr, n_fft=n_fft, n_mels=n_mels)))
    level = decibels(power @ filters.to(y.device).T)
    return (level - level.amax(-1, keepdim=True)).clamp(min=FLOOR_DB)


def equalised(y: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """Waveforms `y (batch, samples)` through zero-phase filters of `gains (batch, n_fft // 2 + 1)` dB, one
    per waveform, applied to every STFT frame (hop `n_fft // 4`, silence either side)."""
    n_fft = 2 * (gains.shape[-1] - 1)
    spectrum = stft(y, n_fft, n_fft // 4) * (10 ** (gains / 20))[..., None]
    return torch.istft(spectrum, n_fft, n_fft // 4, window=torch.hann_window(n_fft, device=y.device),
                       length=y.shape[-1])


def log_spectrum(y: np.ndarray, n_fft: int = 1024, hop_length: int = 256) -> np.ndarray:
    """A sound's mean power per STFT bin over its frames (reflect-padded, as librosa's), in dB: its long-term
    spectrum, numpy `(n_fft // 2 + 1,)`."""
    y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    spec = power_spectrogram(y, n_fft, hop_length, pad_mode="reflect")
    return (10 * torch.log10(spec.mean(-1) + 1e-10)).numpy()


def envelope(ys: np.ndarray, n_frames: int = 10) -> np.ndarray:
    """The median over sounds `ys (count, samples)` (numpy) of each of `n_frames` frames' RMS level in dB
    (floored), `(n_frames,)`: a sound that holds a noise floor where others have decayed lies far from
    theirs."""
    hop_length = len(ys[0]) // n_frames
    return np.median(loudness(torch.from_numpy(ys[:, : hop_length * n_frames]), hop_length).numpy(), axis=0)


def spectral_detail(spectra: np.ndarray, width: int = 33) -> float:
    """The mean over sounds of how far, in dB (root mean square), each long-term spectrum of `spectra
    (sounds, bins)` strays from its own moving mean over `width` bins: how peaky a sound's spectrum is.
    Ringing partials make it large; noise of any smooth spectral shape keeps it small."""
    return float((spectra - uniform_filter1d(spectra, width, axis=1, mode="nearest")).std(1).mean())


def spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over the pairs of rows of `a` and `b` (dB spectra) of the root-mean-square difference, in dB."""
    return float(np.sqrt(((a[:, None] - b[None]) ** 2).mean(-1)).mean())
