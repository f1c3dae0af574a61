"""Shared building blocks: recurrent stacks that can step, their gates, pooling, conv front ends."""

from gruve.nn.conv import ConvFrontEnd
from gruve.nn.gates import GATES, gate_activity
from gruve.nn.pooling import AttentionPool, MeanPool, frame_mask, running_pool
from gruve.nn.recurrent import CELLS, RecurrentStack

__all__ = ["CELLS", "GATES", "AttentionPool", "ConvFrontEnd", "MeanPool", "RecurrentStack", "frame_mask",
           "gate_activity", "running_pool"]
