"""Sampling the music language model: a batch of pieces at once, in numpy, through the fused GRU kernel.

Each step is the same short loop (`Sampler.run`): the logits of the pieces still going, the rules
(`LogitFilter`s) masking what a piece may not play next, one token drawn per piece after temperature,
top-k and top-p (`sample`), and the pieces that ended dropped from the batch. A rule is a small class
with `apply(logits, going)` and `feed(piece, token)`, as the logit filters of openai/whisper's decoding are,
so a new rule is a new class and not another branch of the loop.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Callable

import numpy as np

from gruve.compose.lm import tokens

if TYPE_CHECKING:
    from gruve.compose.lm.generation import GenerateOptions
    from gruve.compose.lm.model import MusicLM

FLAM = 2  # the most strikes of one drum at one instant that generation allows


class LogitFilter:
    """A rule of sampling. `apply` masks (in place) the logits `(rows, vocab)` of the pieces `going` (row r
    is piece `going[r]`) before a token is drawn; `feed` tells the rule each token a piece keeps."""

    def apply(self, logits: np.ndarray, going: np.ndarray) -> None:
        """Mask what each piece still going may not play next."""

    def feed(self, piece: int, token: int) -> None:
        """Note that `piece` played `token`."""


class Bars(LogitFilter):
    """Bar counting: a piece may not end (EOS) while it is short of the `least` bars asked of it, and it
    ends where a Bar token would take it past `most` bars (that token is not kept)."""

    def __init__(self, eos: int, bar: int | None, counts: np.ndarray, least: np.ndarray, most: np.ndarray):
        self.eos, self.bar = eos, bar
        self.counts, self.least, self.most = counts, least, most  # per piece: bars so far, least and most

    def apply(self, logits: np.ndarray, going: np.ndarray) -> None:
        short = self.counts[going] < self.least[going]
        if short.any():
            logits[short, self.eos] = -np.inf

    def ends(self, piece: int, token: int) -> bool:
        """Whether `token` ends `piece` instead of being played: EOS, or a bar past the last one wanted."""
        return token == self.eos or self.counts[piece] + (token == self.bar) > self.most[piece]

    def feed(self, piece: int, token: int) -> None:
        if token == self.bar:
            self.counts[piece] += 1


class Flam(LogitFilter):
    """A drum is struck at most FLAM times at one instant of the grid (a flam).

    Without this rule a drum model can fall into a loop, the same tom struck again and again at one
    position, from which top-p leaves no way out: Position and Bar together can fall under the nucleus's
    cut. At most once would lose the flams that real drummers play.
    """

    def __init__(self, tokenizer, pieces: int, primer: list[int]):
        self.strikes, self.moves = tokens.drum_strikes(tokenizer)
        after_primer: dict[int, int] = {}
        for token in primer:
            after_primer = self._strike(after_primer, token)
        self.struck = [after_primer] * pieces  # strikes of each drum since time last moved, per piece

    def _strike(self, drums: dict[int, int], token: int) -> dict[int, int]:
        if not (self.moves[token] or self.strikes[token]):
            return drums
        return {} if self.moves[token] else {**drums, token: drums.get(token, 0) + 1}

    def apply(self, logits: np.ndarray, going: np.ndarray) -> None:
        for row, piece in enumerate(going):
            logits[row, [drum for drum, count in self.struck[piece].items() if count >= FLAM]] = -np.inf

    def feed(self, piece: int, token: int) -> None:
        self.struck[piece] = self._strike(self.struck[piece], token)


def sample(logits: np.ndarray, temperature: float, top_k: int, top_p: float, rng: np.random.Generator) -> np.ndarray:
    """One token per row of `logits (batch, vocab)`, after temperature, top-k and nucleus (top-p) filtering
    (all three in the fused `draw` kernel, from one uniform number per row)."""
    from gruve.nn.fused import draw

    chosen = np.empty(len(logits), dtype=np.int64)
    draw(np.ascontiguousarray(logits, dtype=np.float32), temperature, top_k, top_p, rng.random(len(logits)), chosen)
    return chosen


class Sampler:
    """Autoregressive sampling of a batch of sequences in numpy, through the fused GRU kernel.

    The first layer's input gates of every token (and condition, and lookback token) are precomputed as
    tables, so its step reads only its recurrent weights; the other layers step through `gru_layer`.
    """

    def __init__(self, model: MusicLM):
        from gruve.nn.fused import fused_gru

        self.model = model
        kernel = fused_gru(model.rnn.rnn)
        self.layers = kernel.layers
        embedding = model.embedding.weight.detach().numpy()
        self.token_gates = np.ascontiguousarray(kernel.input_gates(0, embedding), dtype=np.float32)
        w_ih = self.layers[0][0]
        self.condition_gates, self.lookback_gates = (
            None if table is None else np.ascontiguousarray(table.weight.detach().numpy() @ w_ih.T, np.float32)
            for table in (model.conditions, model.lookback))
        self.output = np.ascontiguousarray(embedding.T)
        self.bias = model.out_bias.detach().numpy()

    def _advance(self, ids: np.ndarray, h: np.ndarray, condition: np.ndarray | None,
                 lookback: np.ndarray | None = None) -> np.ndarray:
        """Feed `ids (time, batch)` from state `h (layers, batch, H)`, updated in place; the last logits.
        `condition (batch, labels)` holds each sequence's rows of the condition embedding, and `lookback`
        (as `ids`) the lookback of each token, for a lookback model."""
        from gruve.nn.fused import gru_layer, gru_scan

        gates = self.token_gates[ids]
        if condition is not None:
            gates = gates + self.condition_gates[condition].sum(1)
        if self.lookback_gates is not None:
            gates = gates + self.lookback_gates[lookback]
        out = np.empty((*ids.shape, h.shape[-1]), np.float32)
        _, _, w_hh, b_hh = self.layers[0]
        gru_scan(np.ascontiguousarray(gates), h[0], w_hh, b_hh, out)
        for i, weights in enumerate(self.layers[1:], 1):
            below, out = out, np.empty_like(out)
            gru_layer(below, h[i], *weights, out)
        return out[-1] @ self.output + self.bias

    def run(self, options: GenerateOptions, conditions: list[dict[str, str]],
            lengths: list[tuple[int, int]] | None = None,
            advance: Callable[[int], None] = lambda tokens: None) -> list[np.ndarray]:
        """One piece per entry of `conditions` (its label values), each starting with `options`' primer:
        the token ids after BOS, without EOS. Each piece has `options.bars` bars (a Bar token past them ends
        it; it may end sooner only with `options.may_end`) and at most `options.tokens` tokens, unless
        `lengths` gives each its own (bars, most tokens). Seeded by `options.seed`. `advance` is told how
        many tokens each step added (for a progress bar)."""
        rng = np.random.default_rng(options.seed)
        model, n = self.model, len(conditions)
        eos, bar = model.special("EOS"), model.tokenizer.vocab.get("Bar_None")
        wanted, most = (np.array(lengths, dtype=np.float64).T if lengths is not None else
                        (np.full(n, np.inf if options.bars is None else options.bars), np.full(n, options.tokens)))
        condition = (np.array([model.config.condition_index(c) for c in conditions])
                     if model.conditions is not None else None)
        primer = np.asarray([model.special("BOS"), *options.primer_ids(model.tokenizer)], dtype=np.int64)
        pieces = [list(primer[1:]) for _ in range(n)]
        least = np.zeros(n) if options.may_end else np.where(np.isfinite(wanted), wanted, 0)
        bars = Bars(eos, bar, np.array([sum(1 for t in p if t == bar) for p in pieces]), least, wanted)
        rules: list[LogitFilter] = [bars]
        if model.config.drums:
            rules.append(Flam(model.tokenizer, n, primer[1:].tolist()))
        # A lookback model: each piece's tracker of the bar before, and the lookback of the token fed next.
        trackers, lookback = [], None
        if self.lookback_gates is not None:
            tracker = tokens.Lookback(model.tokenizer)
            lookback = np.repeat(tracker.ids(primer)[:, None], n, axis=1)
            trackers = [copy.deepcopy(tracker) for _ in range(n)]
        h = np.zeros((len(self.layers), n, model.config.hidden_size), np.float32)
        logits = self._advance(np.repeat(primer[:, None], n, axis=1), h, condition, lookback)
        # Only the pieces still going are stepped: the rows of h, logits and condition are theirs, `going`.
        going = np.flatnonzero([len(p) < m for p, m in zip(pieces, most)])
        h, logits = np.ascontiguousarray(h[:, going]), logits[going]
        condition = None if condition is None else condition[going]
        while going.size:
            for rule in rules:
                rule.apply(logits, going)
            chosen = sample(logits, options.temperature, options.top_k, options.top_p, rng)
            lookback = np.zeros_like(chosen) if trackers else None
            keep, ended = np.ones(going.size, dtype=bool), 0
            for row, (i, token) in enumerate(zip(going, chosen.tolist())):
                if bars.ends(i, token):
                    keep[row], ended = False, ended + 1
                    continue
                pieces[i].append(token)
                for rule in rules:
                    rule.feed(i, token)
                if trackers:
                    lookback[row] = trackers[i].feed(token)
                keep[row] = len(pieces[i]) < most[i]
            advance(going.size - ended)  # the tokens this step added
            if not keep.all():
                going, chosen, h = going[keep], chosen[keep], np.ascontiguousarray(h[:, keep])
                condition = None if condition is None else condition[keep]
                lookback = None if lookback is None else lookback[keep]
            if going.size:
                logits = self._advance(chosen[None], h, condition, None if lookback is None else lookback[None])
        return [np.asarray(p, dtype=np.int64) for p in pieces]
