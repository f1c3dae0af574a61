"""Output heads: distributions over a binary vector (a piano-roll frame), and over an audio sample.

Each binary-vector head has the same three verbs: `log_prob(context, v)`, `sample(context, temperature)` and
`mode(context)` (the most likely vector, or a greedy approximation where the exact one is intractable).
`sample` draws each unit as `noise < p` from uniform `noise` (from the generator, or given, so an
exported graph samples exactly as torch does).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class BernoulliHead(nn.Module):
    """Independent sigmoid outputs, one per unit (the set-up of Chung et al. 2014)."""

    def __init__(self, context_size: int, size: int):
        super().__init__()
        self.logits = nn.Linear(context_size, size)

    def log_prob(self, context: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """`context (N, C)`, `v (N, D)` in {0, 1}; the log-likelihood of each row, `(N,)`."""
        return -F.binary_cross_entropy_with_logits(self.logits(context), v, reduction="none").sum(-1)

    def sample(self, context: torch.Tensor, temperature: float | torch.Tensor = 1.0,
               generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """A draw `(N, D)` in {0, 1} for `context (N, C)`: unit d is on where `noise[:, d]` is below its probability."""
        noise = _uniform(context, self.logits.out_features, generator) if noise is None else noise
        return (noise < torch.sigmoid(self.logits(context) / temperature)).float()

    def mode(self, context: torch.Tensor) -> torch.Tensor:
        """The most likely vector `(N, D)`: each unit on where its probability is above one half."""
        return (self.logits(context) > 0).float()


class NadeHead(nn.Module):
    """A NADE (Larochelle and Murray 2011) over the units of `v`, its biases set by the context, as in
    RNN-NADE (Boulanger-Lewandowski et al. 2012).

    p(v) = prod_d p(v_d | v_<d), with p(v_d = 1 | v_<d) = sigmoid(b_d + V_d . sigmoid(c + W_<d v_<d)).
    The likelihood is exact and computed for all d at once with a cumulative sum over units.
    """

    def __init__(self, context_size: int, size: int, hidden_size: int = 150):
        super().__init__()
        self.size, self.hidden_size = size, hidden_size
        self.visible_bias = nn.Linear(context_size, size)  # b, from the context
        self.hidden_bias = nn.Linear(context_size, hidden_size)  # c, from the context
        # Scaled like nn.Linear's by fan-in: a small random start (0.01) left the units blind to each other
        # for many epochs, because the gradient of each weight passes through the other.
        self.W = nn.Parameter(torch.randn(size, hidden_size) / size ** 0.5)  # input weights, one row per unit
        self.V = nn.Parameter(torch.randn(size, hidden_size) / hidden_size ** 0.5)  # output weights, one per unit

    def logits(self, context: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The logit of p(v_d = 1 | v_<d) for every d, `(N, D)`, given the true `v`."""
        c = self.hidden_bias(context)
        seen = torch.cumsum(v.unsqueeze(-1) * self.W, dim=1) - v.unsqueeze(-1) * self.W  # W_<d v_<d
        h = torch.sigmoid(c.unsqueeze(1) + seen)
        return self.visible_bias(context) + (h * self.V).sum(-1)

    def log_prob(self, context: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """`context (N, C)`, `v (N, D)` in {0, 1}; the exact log-likelihood of each row, `(N,)`."""
        return -F.binary_cross_entropy_with_logits(self.logits(context, v), v, reduction="none").sum(-1)

    def _decode(self, context: torch.Tensor, choose) -> torch.Tensor:
        """Unit by unit: `choose(d, logit)` sets unit d, which then shapes the hidden layer of the rest."""
        b, a = self.visible_bias(context), self.hidden_bias(context)
        units = []
        for d in range(self.size):
            units.append(choose(d, b[:, d] + torch.sigmoid(a) @ self.V[d]))
            a = a + units[-1][:, None] * self.W[d]
        return torch.stack(units, dim=1)

    @torch.no_grad()
    def sample(self, context: torch.Tensor, temperature: float | torch.Tensor = 1.0,
               generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """A draw `(N, D)` for `context (N, C)`, unit by unit, each given the units drawn before it."""
        noise = _uniform(context, self.size, generator) if noise is None else noise
        return self._decode(context, lambda d, logit: (noise[:, d] < torch.sigmoid(logit / temperature)).float())

    @torch.no_grad()
    def mode(self, context: torch.Tensor) -> torch.Tensor:
        """Greedy: each unit takes its more likely value given the units before it."""
        return self._decode(context, lambda d, logit: (logit > 0).float())


def _uniform(context: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(context.shape[0], size, generator=generator, device=context.device)


HEADS = {"sigmoid": BernoulliHead, "nade": NadeHead}

LEVELS = 256  # classes per softmax of a sample head


class SampleHead(nn.Module):
    """WaveRNN's output (Kalchbrenner et al. 2018): the next 16-bit sample as its coarse and fine bytes, each a
    256-way softmax, the fine byte's conditioned on the coarse byte drawn for the same sample (`dual`); or one
    256-way softmax over 8-bit mu-law levels (`mulaw`), half the output work at 8-bit mu-law resolution.

    Each part is `out(relu(hidden(context) [+ coarse_now(coarse)]))`. Audio becomes targets with `encode`
    (`(..., parts)` integer levels) and comes back with `decode`.
    """

    KINDS = ("mulaw", "dual")

    def __init__(self, context_size: int, hidden_size: int, kind: str = "mulaw"):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"unknown sample output {kind!r}; choose one of {', '.join(self.KINDS)}")
        self.kind, self.parts = kind, 2 if kind == "dual" else 1
        self.hidden = nn.ModuleList(nn.Linear(context_size, hidden_size) for _ in range(self.parts))
        self.out = nn.ModuleList(nn.Linear(hidden_size, LEVELS) for _ in range(self.parts))
        self.coarse_now = nn.Embedding(LEVELS, hidden_size) if kind == "dual" else None

    def logits(self, context: torch.Tensor, part: int, coarse: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of `part` (0: coarse or mu-law; 1: fine, given this sample's `coarse` byte)."""
        a = self.hidden[part](context)
        if part == 1:
            a = a + self.coarse_now(coarse)
        return self.out[part](torch.relu(a))

    def nll(self, context: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood in nats of each sample's levels `targets (..., parts)`, `(...)`."""
        total = 0.0
        for part in range(self.parts):
            logits = self.logits(context, part, targets[..., 0])
            total = total + F.cross_entropy(logits.reshape(-1, LEVELS), targets[..., part].reshape(-1),
                                            reduction="none").view(targets.shape[:-1])
        return total

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """Samples in [-1, 1] to levels `(..., parts)` (int64)."""
        y = y.clamp(-1.0, 1.0)
        if self.kind == "mulaw":  # mu = 255: the mu-law of G.711, written out (two lines, no library import)
            compressed = torch.sign(y) * torch.log1p(255.0 * y.abs()) / math.log(256.0)
            return torch.round((compressed + 1) / 2 * 255).long()[..., None]
        unsigned = torch.round(y * 32768).clamp(-32768, 32767).long() + 32768  # as 16-bit PCM is read and written
        return torch.stack([unsigned // LEVELS, unsigned % LEVELS], dim=-1)

    def decode(self, levels: torch.Tensor) -> torch.Tensor:
        """Levels `(..., parts)` back to samples in [-1, 1] (float32)."""
        levels = levels.float()
        if self.kind == "mulaw":
            compressed = levels[..., 0] / 255 * 2 - 1
            return torch.sign(compressed) * (256.0 ** compressed.abs() - 1) / 255
        return (levels[..., 0] * LEVELS + levels[..., 1] - 32768) / 32768

    @property
    def silence(self) -> torch.Tensor:
        """The levels of a zero sample, what the model reads before a sound's first sample."""
        return self.encode(torch.zeros(()))
