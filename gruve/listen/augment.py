"""Augmentation of cached log-mel batches, done in the feature domain so the cache stays useful.

Gain is exact in dB; mixup and background noise add power (the log of a sum of powers),
which is what mixing two independent signals does on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gruve.features import from_db, to_db
from gruve.nn.pooling import frame_mask


@dataclass
class AugmentConfig:
    """How much of each augmentation a training batch gets; `off()` is none at all."""

    gain_db: float = 6.0  # random gain in +-dB
    shift: float = 0.5  # circular time shift, up to this fraction of each clip
    mixup: float = 0.2  # Beta(alpha, alpha) for mixup; 0 turns it off
    noise: float = 0.0  # probability of adding background noise
    snr_db: tuple[float, float] = (5.0, 30.0)
    freq_masks: int = 2
    freq_width: int = 8  # mel bins, at most
    time_masks: int = 2
    time_width: float = 0.1  # fraction of the clip, at most

    @classmethod
    def off(cls) -> "AugmentConfig":
        """No augmentation: every batch as it is."""
        return cls(gain_db=0, shift=0, mixup=0, noise=0, freq_masks=0, time_masks=0)


def augment(features: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, config: AugmentConfig,
            fill: torch.Tensor, amin: float, noise_bank: torch.Tensor | None = None):
    """Augment a padded batch: `features` `(batch, n_mels, frames)` in dB, `targets` one-hot or soft.

    `fill` `(n_mels,)` is what SpecAugment masks with (the training mean: zero after normalisation);
    `noise_bank` `(n_mels, frames)` is log-mel of background noise to draw from.
    """
    features = features.clone()
    batch, bins, frames = features.shape
    valid = frame_mask(lengths, frames, batch, features.device)
    if config.gain_db:
        gain = (torch.rand(batch, 1, 1, device=features.device) * 2 - 1) * config.gain_db
        features = torch.where(valid[:, None], features + gain, features)
    if config.noise and noise_bank is not None:
        features = _add_noise(features, valid, config, noise_bank, amin)
    if config.shift:  # roll each clip's real frames by up to `shift` of its length
        offsets = (torch.rand(batch, device=features.device) * (lengths * config.shift + 1)).long()
        steps = torch.arange(frames, device=features.device)[None, :]
        source = torch.where(valid, (steps - offsets[:, None]) % lengths[:, None].clamp(min=1), steps)
        features = torch.gather(features, 2, source[:, None, :].expand(-1, bins, -1))
    if config.mixup:
        lam = torch.distributions.Beta(config.mixup, config.mixup).sample((batch,)).to(features.device)
        lam = torch.maximum(lam, 1 - lam)
        order = torch.randperm(batch, device=features.device)
        power = lam[:, None, None] * from_db(features) + (1 - lam[:, None, None]) * from_db(features[order])
        features = to_db(power, amin)
        targets = lam[:, None] * targets + (1 - lam[:, None]) * targets[order]
        lengths = torch.maximum(lengths, lengths[order])
    for _ in range(config.freq_masks):
        width = torch.randint(0, config.freq_width + 1, (batch, 1))
        start = (torch.rand(batch, 1) * (bins - width + 1)).long()
        band = torch.arange(bins)[None, :]
        mask = ((band >= start) & (band < start + width)).to(features.device)
        features = torch.where(mask[:, :, None], fill[None, :, None], features)
    for _ in range(config.time_masks):
        width = (torch.rand(batch, 1) * config.time_width * lengths[:, None].cpu()).long()
        start = (torch.rand(batch, 1) * (lengths[:, None].cpu() - width + 1)).long()
        step = torch.arange(frames)[None, :]
        mask = ((step >= start) & (step < start + width)).to(features.device)
        features = torch.where(mask[:, None, :], fill[None, :, None], features)
    return features, lengths, targets


def _add_noise(features, valid, config, noise_bank, amin):
    batch, _, frames = features.shape
    chosen = torch.rand(batch) < config.noise
    if not chosen.any():
        return features
    offsets = torch.randint(0, max(1, noise_bank.shape[1] - frames), (batch,))
    noise = torch.stack([_tile(noise_bank, int(o), frames) for o in offsets]).to(features.device)
    signal_power, noise_power = from_db(features), from_db(noise)
    weights = valid[:, None].to(features.dtype)
    mean_signal = (signal_power * weights).sum((1, 2)) / weights.sum((1, 2)).clamp(min=1)
    snr = torch.empty(batch).uniform_(*config.snr_db).to(features.device)
    scale = mean_signal / noise_power.mean((1, 2)) / torch.pow(10.0, snr / 10)
    mixed = to_db(signal_power + scale[:, None, None] * noise_power, amin)
    use = (chosen.to(features.device)[:, None, None]) & valid[:, None]
    return torch.where(use, mixed, features)


def _tile(bank: torch.Tensor, offset: int, frames: int) -> torch.Tensor:
    repeats = -(-(offset + frames) // bank.shape[1])
    return bank.repeat(1, repeats)[:, offset:offset + frames]
