"""The music language model: MidiTok tokens in, a stacked GRU, the next token's distribution out through
the input embedding (tied weights), optionally conditioned on labels the corpus gives (a groove's style
and whether it is a beat or a fill, say): each label value has a learned embedding, and those of a piece
are added to every input. With `lookback`, the token that followed the same point of the previous bar
(`tokens.Lookback`) has its own embedding, added to every input too, so a bar can come back note for note.

Sampling (`gruve.compose.lm.sampler`) steps with a carried state through the fused GRU kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from gruve.compose.lm import tokens
from gruve.compose.lm.config import LMConfig
from gruve.nn import RecurrentStack

if TYPE_CHECKING:
    from gruve.compose.lm.generation import GenerateOptions


class MusicLM(nn.Module):
    """p(token_t | tokens_<t, the piece's labels): a tied-embedding GRU language model over MidiTok tokens."""

    task = "compose"
    config_class = LMConfig  # what a bundle's "config" is read as (see `gruve.bundle.load`)

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        size = config.hidden_size
        self.embedding = nn.Embedding(config.vocab_size, size)
        rows = sum(len(values) for values in config.conditions.values())
        self.conditions = nn.Embedding(rows, size) if rows else None
        if self.conditions is not None:
            # Zero at the start: the model begins as the unconditioned one and each value learns what it adds.
            # At nn.Embedding's N(0, 1), three labels summed outweigh the token's own embedding threefold.
            nn.init.zeros_(self.conditions.weight)
        self.lookback = nn.Embedding(config.vocab_size, size) if config.lookback else None
        if self.lookback is not None:  # zero at the start, as the conditions: it learns what the bar before adds
            nn.init.zeros_(self.lookback.weight)
        self.rnn = RecurrentStack("gru", size, size, config.num_layers, dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.out_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self._tokenizer = None

    @staticmethod
    def describe(meta: dict) -> tuple[str, str]:
        """What a bundle of this model is and its headline test score, for `gruve models`."""
        config, metrics = LMConfig.from_dict(meta["config"]), meta.get("metrics", {})
        what = (f"{config.num_layers}x{config.hidden_size} GRU over {config.tokenizer} tokens"
                + (f", by {' and '.join(config.conditions)}" if config.conditions else ""))
        score = f"NLL {metrics['test_nll_per_token']:.3f} per token" if "test_nll_per_token" in metrics else "-"
        return what, score

    @property
    def tokenizer(self):
        """The MidiTok tokenizer the model reads and writes, rebuilt from the bundle on first use."""
        if self._tokenizer is None:
            self._tokenizer = tokens.from_json(self.config.tokenizer, self.config.tokenizer_params)
        return self._tokenizer

    def special(self, name: str) -> int:
        """The id of a special token: BOS, EOS or PAD."""
        return self.tokenizer.vocab[f"{name}_None"]

    def _inputs(self, ids: torch.Tensor, condition: torch.Tensor | None, lookback: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings plus, with `condition (batch, labels)` (rows of the condition embedding), the
        sum of each sequence's label embeddings, and for a lookback model the embeddings of `lookback` (the
        same shape as `ids`; a lookback model needs it)."""
        x = self.embedding(ids)
        if self.conditions is not None and condition is not None:
            x = x + self.conditions(condition).sum(1)[:, None]
        if self.lookback is not None:
            x = x + self.lookback(lookback)
        return self.dropout(x)

    def forward(self, ids: torch.Tensor, condition: torch.Tensor | None = None, state: torch.Tensor | None = None,
                lookback: torch.Tensor | None = None):
        """Logits of the next token after each of `ids (batch, time)`, `(batch, time, vocab)`, and the state
        after the last: a long sequence can be read in chunks. Sequences are padded at the end only, which
        a forward GRU never carries back into real tokens."""
        h, state = self.rnn.rnn(self._inputs(ids, condition, lookback), state)
        return self.dropout(h) @ self.embedding.weight.T + self.out_bias, state

    def step(self, ids: torch.Tensor, state: torch.Tensor | None = None, condition: torch.Tensor | None = None,
             lookback: torch.Tensor | None = None):
        """Feed one token per sequence, `ids (batch,)`; the next token's logits `(batch, vocab)` and the state."""
        h, state = self.rnn.step(self._inputs(ids[:, None], condition, None if lookback is None else lookback[:, None])[:, 0],
                                 state)
        return h @ self.embedding.weight.T + self.out_bias, state

    @torch.inference_mode()
    def generate(self, options: GenerateOptions, conditions: list[dict[str, str]] | None = None,
                 lengths: list[tuple[int, int]] | None = None, advance: Callable[[int], None] = lambda tokens: None
                 ) -> tuple[list[np.ndarray], list[dict[str, str]]]:
        """`options.n` token sequences (each starting with the primer, if any), sampled at once, and the
        label values each was conditioned on. Every piece has the labels `options` gives (a label left out
        drawn at random) and its bars and tokens, unless `conditions` and `lengths` ((bars, most tokens) per
        piece) give each piece its own, as evaluate does to pair every piece with a held-out one."""
        from gruve.compose.lm.sampler import Sampler

        options.check_model(self)
        self.eval()
        if conditions is None:
            conditions = options.draw_conditions(self, np.random.default_rng(options.seed))
        return Sampler(self).run(options, conditions, lengths, advance), conditions

    def onnx_graphs(self) -> list:
        """What `gruve export` writes: one step (see `gruve.compose.lm.onnx`)."""
        from gruve.compose.lm.onnx import step_graph

        return [step_graph(self)]
