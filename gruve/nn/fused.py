"""A fused GRU step for inference on the CPU: one compiled call per step, no per-operation framework overhead.

A `torch.nn.GRU` step at batch 1 costs about ten tensor operations, each with microseconds of dispatch;
here the matrix-vector products and the gates run in one numba-compiled loop over plain float32 arrays
(numba rather than a C extension: it installs as a wheel, so nothing needs a compiler at install).
The arithmetic is torch's (gate order r, z, n; `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`) in float32,
and agrees with `torch.nn.GRU` to 1e-5 (a test checks).

A token model can keep every token's input projection in a table (`input_gates`) and step with `gru_scan`,
which then reads only the recurrent weights. `sample_scan` generates audio sample by sample the same way,
with the synthesiser's output layers and the draws inside the compiled loop.
"""

from __future__ import annotations

import numba
import numpy as np
from torch import nn


@numba.njit(fastmath=True, cache=True, inline="always")
def _tanh(x):
    """tanh in float32 to within 4e-7, as a rational function (Eigen's and XLA's fast tanh).

    numba's own `np.tanh` and `np.exp` call libm once per number and dominated a step; this one is a few
    multiply-adds (and the sigmoid is `0.5 + 0.5 * tanh(x / 2)`).
    """
    x = min(max(x, np.float32(-9.0)), np.float32(9.0))
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    for coefficient in (2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
                        1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03):
        p = p * x2 + np.float32(coefficient)
    q = np.float32(1.19825839466702e-06)
    for coefficient in (1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03):
        q = q * x2 + np.float32(coefficient)
    return x * p / q


@numba.njit(fastmath=True, cache=True)
def _affine(v: np.ndarray, w: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    """`out = v @ w.T + bias` for `v (batch, n)`: each weight row is read once for the whole batch."""
    if v.shape[0] == 1:  # the common case, written out: faster than the general loop
        x, o = v[0], out[0]
        for r in range(w.shape[0]):
            row = w[r]
            acc = np.float32(0.0)
            for c in range(x.shape[0]):
                acc += row[c] * x[c]
            o[r] = acc + bias[r]
        return
    if v.shape[0] >= 16:  # many rows (sample_scan batches): BLAS's blocked product beats this loop
        out[:] = np.dot(v, w.T)
        out += bias
        return
    for r in range(w.shape[0]):
        row = w[r]
        for b in range(v.shape[0]):
            x = v[b]
            acc = np.float32(0.0)
            for c in range(x.shape[0]):
                acc += row[c] * x[c]
            out[b, r] = acc + bias[r]


@numba.njit(fastmath=True, cache=True)
def gru_scan(gi: np.ndarray, h: np.ndarray, w_hh: np.ndarray, b_hh: np.ndarray, out: np.ndarray) -> None:
    """Run one GRU layer over input gates `gi (time, batch, 3H)` (the input already through `W_ih`).

    Starts from state `h (batch, H)`, updated in place; writes each step's output to `out (time, batch, H)`.
    """
    batch, size = h.shape
    half = np.float32(0.5)
    gh = np.empty((batch, 3 * size), dtype=np.float32)
    for t in range(gi.shape[0]):
        _affine(h, w_hh, b_hh, gh)
        for b in range(batch):
            g, u, state = gi[t, b], gh[b], h[b]
            for j in range(2 * size):  # reset and update gates, in place of the recurrent pre-activations
                u[j] = half + half * _tanh(half * (g[j] + u[j]))
            for j in range(size):
                n = _tanh(g[2 * size + j] + u[j] * u[2 * size + j])
                state[j] = n + u[size + j] * (state[j] - n)
        out[t] = h


@numba.njit(fastmath=True, cache=True)
def gru_layer(x: np.ndarray, h: np.ndarray, w_ih: np.ndarray, b_ih: np.ndarray, w_hh: np.ndarray,
              b_hh: np.ndarray, out: np.ndarray) -> None:
    """`gru_scan` over inputs `x (time, batch, features)`, projecting each step's input as it goes."""
    gi = np.empty((1, h.shape[0], w_ih.shape[0]), dtype=np.float32)
    for t in range(x.shape[0]):
        _affine(x[t], w_ih, b_ih, gi[0])
        gru_scan(gi, h, w_hh, b_hh, out[t:t + 1])


@numba.njit(cache=True)
def draw(logits: np.ndarray, temperature: float, top_k: int, top_p: float, uniform: np.ndarray,
         out: np.ndarray) -> None:
    """Sample one index per row of `logits (batch, n)` with `uniform` draws in [0, 1): softmax at
    `temperature`, only among the `top_k` likeliest (0: all) and the smallest set of them holding `top_p`
    of their probability. Compiled with the GRU step, so generating a token is two calls, not twenty."""
    for b in range(logits.shape[0]):
        row = logits[b] / temperature
        order = np.argsort(-row)
        limit = len(order) if top_k <= 0 else min(top_k, len(order))
        probabilities = np.exp(row[order[:limit]] - row[order[0]])
        total = probabilities.sum()
        keep = limit
        if top_p < 1.0:
            running = 0.0
            for j in range(limit):
                running += probabilities[j]
                if running >= top_p * total:
                    keep = j + 1
                    break
        target = uniform[b] * probabilities[:keep].sum()
        running, out[b] = 0.0, order[keep - 1]
        for j in range(keep):
            running += probabilities[j]
            if running > target:
                out[b] = order[j]
                break


@numba.njit(fastmath=True, cache=True)
def _categorical(logits: np.ndarray, temperature: float, uniform: float) -> int:
    """One draw from softmax(`logits` / `temperature`) by its inverse CDF at `uniform`; no sort (all classes)."""
    top = logits.max()
    weights = np.empty_like(logits)
    total = np.float32(0.0)
    for j in range(len(logits)):
        weights[j] = np.exp((logits[j] - top) / temperature)
        total += weights[j]
    target, running = uniform * total, np.float32(0.0)
    for j in range(len(logits)):
        running += weights[j]
        if running > target:
            return j
    return len(logits) - 1


@numba.njit(fastmath=True, cache=True)
def sample_scan(previous_gates: np.ndarray, sound_gates: np.ndarray, step_gates: np.ndarray,
                frame_gates: np.ndarray, hop: int, w_hh: np.ndarray, b_hh: np.ndarray, head_in: np.ndarray,
                head_in_bias: np.ndarray, coarse_now: np.ndarray, head_out: np.ndarray, head_out_bias: np.ndarray,
                temperature: np.ndarray, uniform: np.ndarray, first: np.ndarray, h: np.ndarray,
                levels: np.ndarray) -> None:
    """Generate audio sample by sample (WaveRNN-style) for a batch of sounds, all in compiled code.

    A sample's GRU input gates are sums of table rows: `previous_gates (lags x parts, 256, 3H)` indexed by
    the last `lags` samples' levels (lag-major; all `first (batch, lags, parts)` before the first sample),
    `sound_gates (batch, 3H)` (label and bias), `step_gates (time, 3H)` (position in the sound) and
    `frame_gates (batch, frames, 3H)` (a spectrogram frame every `hop` samples). Then one GRU step from `h (batch, H)` and, per part, the head
    `head_out[p] @ relu(head_in[p] @ h [+ coarse_now[coarse]])`, drawn at `temperature[t]` (one per
    sample) with `uniform (time, batch, parts)`; levels go to `levels (time, batch, parts)`.
    """
    steps, batch, parts = uniform.shape
    size = h.shape[1]
    gi = np.empty((1, batch, 3 * size), np.float32)
    out = np.empty((1, batch, size), np.float32)
    hidden = np.empty((batch, head_in.shape[1]), np.float32)
    logits = np.empty((batch, head_out.shape[1]), np.float32)
    previous = first.copy()
    lags = previous.shape[1]
    for t in range(steps):
        frame = t // hop
        for b in range(batch):
            g = gi[0, b]
            for j in range(3 * size):
                g[j] = sound_gates[b, j] + step_gates[t, j] + frame_gates[b, frame, j]
            for k in range(lags):
                for p in range(parts):
                    row = previous_gates[k * parts + p, previous[b, k, p]]
                    for j in range(3 * size):
                        g[j] += row[j]
        gru_scan(gi, h, w_hh, b_hh, out)
        for p in range(parts):
            _affine(h, head_in[p], head_in_bias[p], hidden)
            for b in range(batch):
                a = hidden[b]
                if p > 0:
                    a += coarse_now[levels[t, b, 0]]
                for j in range(len(a)):
                    a[j] = max(a[j], np.float32(0.0))
            _affine(hidden, head_out[p], head_out_bias[p], logits)
            for b in range(batch):
                levels[t, b, p] = _categorical(logits[b], temperature[t], uniform[t, b, p])
        for k in range(lags - 1, 0, -1):  # the oldest first, in place: no copy per sample
            previous[:, k] = previous[:, k - 1]
        previous[:, 0] = levels[t]


class FusedGRU:
    """The weights of a unidirectional `torch.nn.GRU` (batch_first), laid out for `gru_scan`."""

    def __init__(self, gru: nn.GRU):
        if gru.bidirectional or not gru.batch_first:
            raise ValueError("the fused kernel runs unidirectional, batch-first GRUs")
        def weight(name: str) -> np.ndarray:
            return np.ascontiguousarray(getattr(gru, name).detach().cpu().float().numpy())
        self.layers = [(weight(f"weight_ih_l{i}"), weight(f"bias_ih_l{i}"),
                        weight(f"weight_hh_l{i}"), weight(f"bias_hh_l{i}")) for i in range(gru.num_layers)]
        self.hidden_size = gru.hidden_size

    def input_gates(self, layer: int, x: np.ndarray) -> np.ndarray:
        """`x (..., features)` through layer `layer`'s input weights, `(..., 3H)`: for `gru_scan` with a table."""
        w_ih, b_ih, _, _ = self.layers[layer]
        return x @ w_ih.T + b_ih

    def scan(self, x: np.ndarray, h: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`x (batch, time, features)` from state `h (layers, batch, H)` (zeros when None), as `nn.GRU`."""
        batch, steps, _ = x.shape
        h = np.zeros((len(self.layers), batch, self.hidden_size), np.float32) if h is None else h.copy()
        layer_input = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=np.float32)
        for i, (w_ih, b_ih, w_hh, b_hh) in enumerate(self.layers):
            out = np.empty((steps, batch, self.hidden_size), np.float32)
            gru_layer(layer_input, h[i], w_ih, b_ih, w_hh, b_hh, out)
            layer_input = out
        return layer_input.transpose(1, 0, 2), h


def fused_gru(gru: nn.GRU) -> FusedGRU:
    """The fused copy of `gru`, rebuilt only when its weights have changed since the last call."""
    version = tuple((w.data_ptr(), w._version) for w in gru._flat_weights)  # in-place updates bump _version
    cached = getattr(gru, "_gruve_fused", None)
    if cached is None or cached[0] != version:
        cached = (version, FusedGRU(gru))
        gru._gruve_fused = cached
    return cached[1]


def compile_kernels() -> None:
    """Compile the kernels, or load them from numba's cache beside this file: `make setup` runs this once,
    as compiling takes seconds and loading a small part of that."""
    FusedGRU(nn.GRU(2, 2, batch_first=True)).scan(np.zeros((1, 1, 2), np.float32))
    gru_scan(np.zeros((1, 1, 6), np.float32), np.zeros((1, 2), np.float32), np.zeros((6, 2), np.float32),
             np.zeros(6, np.float32), np.zeros((1, 1, 2), np.float32))
    draw(np.zeros((1, 3), np.float32), 1.0, 0, 1.0, np.zeros(1), np.zeros(1, np.int64))
    gates, state = np.zeros((1, 6), np.float32), np.zeros((1, 2), np.float32)
    sample_scan(np.zeros((1, 4, 6), np.float32), gates, gates, np.zeros((1, 1, 6), np.float32), 1,
                np.zeros((6, 2), np.float32), np.zeros(6, np.float32), np.zeros((1, 3, 2), np.float32),
                np.zeros((1, 3), np.float32), np.zeros((4, 3), np.float32), np.zeros((1, 4, 3), np.float32),
                np.zeros((1, 4), np.float32), np.ones(1), np.zeros((1, 1, 1), np.float32), np.zeros((1, 1, 1), np.int64),
                state, np.zeros((1, 1, 1), np.int64))
