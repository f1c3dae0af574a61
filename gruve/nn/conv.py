"""A causal convolutional front end for CRNNs: frames only see the past, so a CRNN can stream."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ConvFrontEnd(nn.Module):
    """`(batch, n_mels, time)` to `(batch, time // stride, features)` through conv-BN-ReLU-pool blocks.

    Each block convolves 3x3 (padded in frequency, left-padded in time so no frame sees the future),
    then max-pools frequency by 2 and time by that block's factor (the time stride is their product).
    """

    def __init__(self, n_mels: int, channels: tuple[int, ...] = (32, 64, 128),
                 time_pool: tuple[int, ...] = (2, 2, 1)):
        super().__init__()
        if len(channels) != len(time_pool):
            raise ValueError("channels and time_pool need one entry per conv block")
        blocks, previous, bins = [], 1, n_mels
        for width, pool in zip(channels, time_pool):
            blocks.append(nn.ModuleDict({
                "conv": nn.Conv2d(previous, width, kernel_size=3, padding=(1, 0), bias=False),
                "norm": nn.BatchNorm2d(width),
                "pool": nn.MaxPool2d((2, pool)),
            }))
            previous, bins = width, bins // 2
        self.blocks = nn.ModuleList(blocks)
        self.n_mels = n_mels
        self.time_pool = tuple(time_pool)
        self.stride = math.prod(time_pool)
        self.output_size = previous * bins

    def frames_out(self, lengths: torch.Tensor) -> torch.Tensor:
        """Output frames for input lengths: a pooled frame is made only of real frames (a partial last group is dropped)."""
        for pool in self.time_pool:
            lengths = torch.div(lengths, pool, rounding_mode="floor")
        return lengths.clamp(min=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x (batch, n_mels, time)` to frames `(batch, time // stride, output_size)`, each seeing only the past."""
        if x.shape[-1] < self.stride:  # too short for one output frame: pad with the mean (zero)
            x = F.pad(x, (0, self.stride - x.shape[-1]))
        x = x.unsqueeze(1)  # (batch, 1, n_mels, time): one input channel
        for block in self.blocks:
            x = self._block(block, F.pad(x, (2, 0)))  # two frames of the past for a kernel 3 wide: causal
        return self._frames(x)

    def initial_context(self, batch: int) -> list[torch.Tensor]:
        """The past each block sees before the first frame of a stream: two frames of zeros, as `forward` pads."""
        shapes, previous, bins = [], 1, self.n_mels
        for block in self.blocks:
            shapes.append((batch, previous, bins, 2))
            previous, bins = block["conv"].out_channels, bins // 2
        return [torch.zeros(shape) for shape in shapes]

    def scan(self, x: torch.Tensor, context: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`forward` over a chunk of a stream, `x (batch, n_mels, time)` with time a multiple of `stride`,
        continuing from `context` (each block's last two input frames); returns the frames and the new context."""
        x, new_context = x.unsqueeze(1), []
        for block, past in zip(self.blocks, context):
            x = torch.cat([past, x], dim=-1)
            new_context.append(x[..., -2:])
            x = self._block(block, x)
        return self._frames(x), new_context

    @staticmethod
    def _block(block: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        return block["pool"](F.relu(block["norm"](block["conv"](x))))

    @staticmethod
    def _frames(x: torch.Tensor) -> torch.Tensor:
        batch, channels, bins, time = x.shape
        return x.permute(0, 3, 1, 2).reshape(batch, time, channels * bins)
