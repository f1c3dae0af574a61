"""Shared building blocks: recurrent stacks that can step, pooling, conv front ends."""

from gruve.nn.conv import ConvFrontEnd
from gruve.nn.pooling import AttentionPool, MeanPool, frame_mask, running_pool
from gruve.nn.recurrent import CELLS, RecurrentStack

__all__ = ["CELLS", "AttentionPool", "ConvFrontEnd", "MeanPool", "RecurrentStack", "frame_mask", "running_pool"]
