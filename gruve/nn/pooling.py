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
    """The mean of the real frames: every frame counts the same (it suits textures, where no frame stands out)."""

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Every frame weighs the same: the mean is a softmax pooling over equal scores."""
        return x.new_zeros(x.shape[:-1])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`x (batch, time, features)`, `mask (batch, time)` True on real frames; returns `(batch, features)`."""
        weights = mask.to(x.dtype).unsqueeze(-1)  # (batch, time, 1)
        return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class AttentionPool(nn.Module):
    """A learned softmax weighting over frames (the model decides which frames matter)."""

    def __init__(self, size: int):
        super().__init__()
        self.score = nn.Linear(size, 1)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """How much each frame of `x (batch, time, features)` counts, before the softmax: `(batch, time)`."""
        return self.score(x).squeeze(-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`x (batch, time, features)`, `mask (batch, time)` True on real frames; returns `(batch, features)`."""
        scores = self.scores(x).masked_fill(~mask, float("-inf"))
        return (torch.softmax(scores, dim=1).unsqueeze(-1) * x).sum(1)


def running_pool(scores: torch.Tensor, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor, torch.Tensor]):
    """The softmax-pooled vector after each frame of a chunk, continuing a stream: an online softmax.

    `scores (batch, time)` weigh frames `x (batch, time, features)`; `state` is the running maximum score
    `(batch, 1)`, denominator `(batch, 1)` and numerator `(batch, features)`, which start at a very negative
    number, zero and zero. Returns `(pooled (batch, time, features), state)`; `pooled[:, t]` equals pooling
    every frame so far (a test checks against `AttentionPool` and `MeanPool`).
    """
    top, denominator, numerator = state
    new_top = torch.maximum(top, scores.max(dim=1, keepdim=True).values)
    carry = torch.exp(top - new_top)
    weights = torch.exp(scores - new_top)
    denominators = denominator * carry + torch.cumsum(weights, dim=1)
    numerators = (numerator * carry)[:, None] + torch.cumsum(weights[..., None] * x, dim=1)
    return numerators / denominators[..., None], (new_top, denominators[:, -1:], numerators[:, -1])
