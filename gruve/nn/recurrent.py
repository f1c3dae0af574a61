"""GRU (and, for comparison, LSTM and tanh RNN) stacks over padded batches, with a step API."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from gruve.nn.pooling import frame_mask

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


class RecurrentStack(nn.Module):
    """`forward(x, lengths)` over a whole padded sequence; `step(x_t, state)` one frame at a time."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown recurrent cell {cell!r}; choose one of {', '.join(CELLS)}")
        self.cell = cell
        self.bidirectional = bidirectional
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`x` is `(batch, time, features)`; frames past each length are ignored (and come out as zeros)."""
        if lengths is None or not self.bidirectional:
            # A forward-only layer never lets padding at the end reach a real frame, so the padded batch
            # runs as it is (packing is several times slower on a CPU); padded frames are zeroed.
            y = self.rnn(x)[0]
            return y if lengths is None else y * frame_mask(lengths, x.shape[1], x.shape[0], x.device)[..., None]
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])[0]

    def step(self, x_t: torch.Tensor, state=None):
        """Advance one frame: `x_t` is `(batch, features)`; returns `(y_t, state)`."""
        y, state = self.scan(x_t.unsqueeze(1), state)
        return y.squeeze(1), state

    def scan(self, x: torch.Tensor, state=None):
        """Advance over a chunk of frames `x (batch, time, features)` from `state`; returns `(y, state)`.

        A GRU in inference on the CPU runs the fused kernel (`gruve.nn.fused`); anything else runs torch.
        """
        if self.bidirectional:
            raise ValueError("a bidirectional recurrent layer needs the whole sequence and cannot step")
        rnn = self.rnn
        if _can_fuse(rnn, x):
            from gruve.nn.fused import fused_gru  # importing numba is slow: only when stepping

            y, h = fused_gru(rnn).scan(x.numpy(), None if state is None else state.numpy())
            return torch.from_numpy(y), torch.from_numpy(h)
        return rnn(x, state)


def _can_fuse(rnn: nn.Module, x: torch.Tensor) -> bool:
    """Whether `rnn` over `x` can take the fused path: an eval-mode GRU without gradients, on CPU float32,
    not being traced for export (the exported graph must hold torch's operators; the TorchScript ONNX
    exporter traces, torch.export compiles)."""
    return (not torch.is_grad_enabled() and type(rnn) is nn.GRU and not rnn.training
            and x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling())
