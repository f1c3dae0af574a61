"""Log-mel features as a torch module, so a model carries its own preprocessing.

Parameter names and defaults follow librosa (`librosa.feature.melspectrogram`
followed by `librosa.power_to_db(top_db=None)`); a test holds the two within
1e-3 dB. No top_db clipping: it depends on the whole clip's maximum, which a
stream does not know yet.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class FeatureConfig:
    """The log-mel features' parameters, named and defaulted as librosa's `melspectrogram`."""

    sr: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    amin: float = 1e-10

    @property
    def floor_db(self) -> float:
        """The value of a silent frame."""
        return 10.0 * math.log10(self.amin)

    def num_frames(self, num_samples: int) -> int:
        """How many centred frames a clip of `num_samples` gives."""
        return 1 + num_samples // self.hop_length

    def to_dict(self) -> dict:
        """The fields, as a bundle's metadata records them."""
        return asdict(self)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default)."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


def mel_filters(config: FeatureConfig) -> np.ndarray:
    """Slaney-normalised triangular mel filters, equal to `librosa.filters.mel` (a test checks).

    Written out here because importing librosa.filters pulls in scipy.signal and
    costs about 1.2 s, more than half of the 2 s budget of a cold `gruve listen predict`.
    """
    fmax = config.fmax if config.fmax is not None else config.sr / 2
    fft_freqs = np.fft.rfftfreq(n=config.n_fft, d=1.0 / config.sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(config.fmin), _hz_to_mel(fmax), config.n_mels + 2))
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / np.diff(mel_f)[:-1, None]
    upper = ramps[2:] / np.diff(mel_f)[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


class LogMel(nn.Module):
    """Waveform `(batch, samples)` to log-mel power in dB `(batch, n_mels, frames)`."""

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        # On the CPU, as the filters below are, even where the model is first built on the meta device
        # (`gruve.bundle.load`): torch's meta hann_window imports torch._dynamo, 1.3 s of every cold start.
        self.register_buffer("window", torch.hann_window(config.n_fft, device="cpu"), persistent=False)
        self.register_buffer("filters", torch.from_numpy(mel_filters(config)), persistent=False)

    def power(self, y: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram (before the log), `(batch, n_mels, frames)`, frames centred as librosa's."""
        half = self.config.n_fft // 2
        return self.uncentred_power(F.pad(y, (half, half)))

    def uncentred_power(self, y: torch.Tensor) -> torch.Tensor:
        """Mel power of the frames that start at sample 0 of `y` and every `hop_length` after, with no
        padding: what a stream computes from its buffer."""
        n_fft, hop = self.config.n_fft, self.config.hop_length
        if torch.onnx.is_in_onnx_export():  # ONNX's STFT takes no complex numbers: a strided convolution
            n = torch.arange(n_fft, dtype=torch.float64)
            angle = 2 * math.pi * torch.outer(n[: n_fft // 2 + 1], n) / n_fft
            kernels = (torch.cat([angle.cos(), angle.sin()]) * self.window.double()).float()[:, None]
            real, imag = F.conv1d(y[:, None], kernels, stride=hop).chunk(2, dim=1)
            power = real**2 + imag**2
        else:
            spec = torch.stft(y, n_fft=n_fft, hop_length=hop, window=self.window, center=False, return_complex=True)
            power = spec.real**2 + spec.imag**2
        return torch.matmul(self.filters, power)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Log-mel power in dB of waveforms `y (batch, samples)`, `(batch, n_mels, frames)`."""
        return to_db(self.power(y), self.config.amin)


def to_db(power: torch.Tensor, amin: float) -> torch.Tensor:
    """Power in dB, floored at `amin` (librosa's `power_to_db` with `top_db=None`)."""
    return 10.0 * torch.log10(torch.clamp(power, min=amin))


def from_db(db: torch.Tensor) -> torch.Tensor:
    """dB back to power: the inverse of `to_db` above its floor."""
    return torch.pow(10.0, db / 10.0)


class BlockLogMel:
    """Log-mel frames of audio fed a block at a time, as `LogMel` computes them from the whole clip: each
    frame as soon as its samples are in, the clip centred by n_fft // 2 zeros at either end. For recordings
    too long to hold (see `AudioClassifier.predict`)."""

    def __init__(self, logmel: LogMel):
        self.logmel, self.config = logmel, logmel.config
        self.pending = np.zeros(self.config.n_fft // 2, np.float32)  # the centre padding before the first frame

    def feed(self, y: np.ndarray) -> torch.Tensor:
        """The frames the samples `y` complete, `(n_mels, frames)`."""
        n_fft, hop = self.config.n_fft, self.config.hop_length
        self.pending = np.concatenate([self.pending, np.asarray(y, np.float32)])
        count = 0 if len(self.pending) < n_fft else 1 + (len(self.pending) - n_fft) // hop
        if count == 0:
            return torch.zeros(self.config.n_mels, 0)
        used = torch.from_numpy(self.pending[: (count - 1) * hop + n_fft])
        self.pending = self.pending[count * hop:]
        return to_db(self.logmel.uncentred_power(used[None]), self.config.amin)[0]

    def close(self) -> torch.Tensor:
        """The last frames, over the centre padding after the clip."""
        return self.feed(np.zeros(self.config.n_fft // 2, np.float32))
