"""The gate of a recurrent layer over time: how much of its state each unit keeps at each step (a GRU's update
gate z, an LSTM's forget gate f; a plain RNN has none). Torch's layers (and gruve's fused GRU kernel) return
hidden states only, so the gates are recomputed here by stepping the layer's own weights; every explanation
(listen's and compose's) reads them from here."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# What each cell's gate means; a plain RNN has none. Torch's GRU keeps z of its state: h = z * h + (1 - z) * n.
GATES = {"GRU": "update gate z: the share of its state a unit keeps (1 keeps, 0 overwrites)",
         "LSTM": "forget gate f, where a GRU has its update gate: the share of its cell a unit keeps"}


def gate_activity(rnn: nn.RNNBase, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Step every layer of `rnn` (a batch-first torch GRU, LSTM or RNN, either direction) over `x (batch, time,
    features)` from a zero state with its own weights, as torch computes it; returns the last layer's outputs,
    which equal `rnn(x)[0]` (a test holds them), and its gate `(batch, time, units)` (see GATES), None for a
    plain RNN."""
    for layer in range(rnn.num_layers):
        outputs, gates = [], []
        for reverse in range(2 if rnn.bidirectional else 1):
            h, gate = _direction(rnn, f"_l{layer}{'_reverse' if reverse else ''}", x.flip(1) if reverse else x)
            outputs.append(h.flip(1) if reverse else h)
            gates.append(None if gate is None else gate.flip(1) if reverse else gate)
        x = torch.cat(outputs, dim=-1)
    return x, None if gates[0] is None else torch.cat(gates, dim=-1)


def _direction(rnn: nn.RNNBase, suffix: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One direction of one layer (weights `*{suffix}`, e.g. `_l1_reverse`) stepped over `x (batch, time,
    features)`: its outputs and its gate (torch's gate order: r, z, n for a GRU; i, f, g, o for an LSTM)."""
    def weights(kind: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        return getattr(rnn, f"weight_{kind}{suffix}"), getattr(rnn, f"bias_{kind}{suffix}", None)  # no bias: None

    inputs, hidden = F.linear(x, *weights("ih")), weights("hh")
    h = c = x.new_zeros(x.shape[0], rnn.hidden_size)
    outputs, gates = [], []
    for step in inputs.unbind(1):
        recurrent = F.linear(h, *hidden)
        if rnn.mode == "GRU":
            (input_r, input_z, input_n), (hidden_r, hidden_z, hidden_n) = step.chunk(3, 1), recurrent.chunk(3, 1)
            reset, gate = torch.sigmoid(input_r + hidden_r), torch.sigmoid(input_z + hidden_z)
            h = gate * h + (1 - gate) * torch.tanh(input_n + reset * hidden_n)
        elif rnn.mode == "LSTM":
            i, gate, g, o = (step + recurrent).chunk(4, 1)
            i, gate, o = torch.sigmoid(i), torch.sigmoid(gate), torch.sigmoid(o)
            c = gate * c + i * torch.tanh(g)
            h = o * torch.tanh(c)
        else:
            h, gate = (torch.tanh if rnn.mode == "RNN_TANH" else torch.relu)(step + recurrent), None
        outputs.append(h)
        gates.append(gate)
    return torch.stack(outputs, 1), None if gate is None else torch.stack(gates, 1)
