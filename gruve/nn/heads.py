"""Output heads that turn a recurrent state into a distribution over a binary vector (a piano-roll frame).

Each head has the same three verbs: `log_prob(context, v)`, `sample(context, temperature)` and
`mode(context)` (the most likely vector, or a greedy approximation where the exact one is intractable).
`sample` draws each unit as `noise < p` from uniform `noise` (from the generator, or given, so an
exported graph samples exactly as torch does).
"""

from __future__ import annotations

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
        noise = _uniform(context, self.logits.out_features, generator) if noise is None else noise
        return (noise < torch.sigmoid(self.logits(context) / temperature)).float()

    def mode(self, context: torch.Tensor) -> torch.Tensor:
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
        # Scaled like nn.Linear's by fan-in: a small-random start (0.01) left the units blind to each other
        # for tens of epochs, because the gradient of each weight passes through the other.
        self.W = nn.Parameter(torch.randn(size, hidden_size) / size ** 0.5)  # input weights, one row per unit
        self.V = nn.Parameter(torch.randn(size, hidden_size) / hidden_size ** 0.5)  # output weights, one per unit

    def logits(self, context: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The logit of p(v_d = 1 | v_<d) for every d, `(N, D)`, given the true `v`."""
        c = self.hidden_bias(context)
        seen = torch.cumsum(v.unsqueeze(-1) * self.W, dim=1) - v.unsqueeze(-1) * self.W  # W_<d v_<d
        h = torch.sigmoid(c.unsqueeze(1) + seen)
        return self.visible_bias(context) + (h * self.V).sum(-1)

    def log_prob(self, context: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
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
        noise = _uniform(context, self.size, generator) if noise is None else noise
        return self._decode(context, lambda d, logit: (noise[:, d] < torch.sigmoid(logit / temperature)).float())

    @torch.no_grad()
    def mode(self, context: torch.Tensor) -> torch.Tensor:
        """Greedy: each unit takes its more likely value given the units before it."""
        return self._decode(context, lambda d, logit: (logit > 0).float())


def _uniform(context: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(context.shape[0], size, generator=generator, device=context.device)


HEADS = {"sigmoid": BernoulliHead, "nade": NadeHead}
