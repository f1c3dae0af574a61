"""Pooling a padded sequence of frames `(batch, time, features)` into one vector per example."""

from __future__ import annotations

import torch
from torch import nn


def frame_mask(lengths: torch.Tensor | None, num_frames: int, batch: int, device=None) -> torch.Tensor:
    """`(batch, time)` True where a frame is real, False where it is padding."""
    steps = torch.arange(num_frames, device=device)
    if lengths is None:
        return torch.ones(batch, num_frames, dtype=torch.bool, device=device)
    return steps[None, :] < lengths.to(device)[:, None]


class MeanPool(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.to(x.dtype).unsqueeze(-1)
        return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class AttentionPool(nn.Module):
    """A learned softmax weighting over frames (the model decides which frames matter)."""

    def __init__(self, size: int):
        super().__init__()
        self.score = nn.Linear(size, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        return (torch.softmax(scores, dim=1).unsqueeze(-1) * x).sum(1)
