"""`gruve.nn.gates`: the gates recomputed from a recurrent layer's weights give back the layer's own hidden
states, and a gate pushed open keeps its units' state, as a gate that means "the share kept" must."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gruve.nn import RecurrentStack
from gruve.nn.gates import GATES, gate_activity


@pytest.mark.parametrize("cell,bidirectional", [("gru", False), ("gru", True), ("lstm", False), ("lstm", True),
                                                ("rnn", False)])
def test_the_recomputed_gates_give_back_the_layers_hidden_states(cell, bidirectional):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 6, 16, num_layers=2, bidirectional=bidirectional).eval()
    rnn = stack.rnn
    x = torch.randn(3, 20, 6)
    with torch.inference_mode():
        h, gate = gate_activity(rnn, x)
        np.testing.assert_allclose(h.numpy(), stack(x).numpy(), atol=1e-5)
    if cell == "rnn":
        assert gate is None and rnn.mode not in GATES
        return
    assert gate.shape == h.shape and 0 <= gate.min() and gate.max() <= 1
    # The gate is the share of the state kept: push it to 1 for a few units of the last layer (and shut an
    # LSTM's input gate), and they keep their zero state while the gate reads 1.
    size, kept, layer = rnn.hidden_size, 4, rnn.num_layers - 1
    with torch.no_grad():
        for suffix in ("", "_reverse") if bidirectional else ("",):
            bias = getattr(rnn, f"bias_hh_l{layer}{suffix}")
            bias[size:size + kept] = 20.0  # z of a GRU (gates r, z, n), f of an LSTM (i, f, g, o)
            if cell == "lstm":
                bias[:kept] = -20.0  # i: nothing new written into the cell
        h, gate = gate_activity(rnn, x)
        np.testing.assert_allclose(h.numpy(), stack(x).numpy(), atol=1e-5)
    units = [unit + size * direction for direction in range(1 + bidirectional) for unit in range(kept)]
    assert gate[..., units].min() > 0.999 and h[..., units].abs().max() < 1e-4
    assert gate[..., kept:size].max() < 0.999  # the others move
