"""The music language model: MidiTok tokens in, a stacked GRU, the next token's distribution out through
the input embedding (tied weights), optionally conditioned on labels the corpus gives (a groove's style
and whether it is a beat or a fill, say): each label value has a learned embedding, and those of a piece
are added to every input. With `lookback`, the token that followed the same point of the previous bar
(`tokens.Lookback`) has its own embedding, added to every input too, so a bar can come back note for note.

Sampling steps with a carried state through the fused GRU kernel: the first layer's input gates for
every token are one table lookup, so nothing re-reads the prefix and a step costs microseconds.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from gruve.compose import tokens
from gruve.errors import GruveError
from gruve.nn import RecurrentStack


# A condition the model learns from its own augmentation rather than from the corpus's labels: how many
# semitones a training window was transposed by. Generation asks for 0 unless told otherwise, so a model
# trained on transposed pieces still writes in the keys of its corpus.
TRANSPOSITION, UNSHIFTED = "transposition", "0"


@dataclass
class LMConfig:
    tokenizer: str  # REMI, TSD, MIDILike or Structured
    tokenizer_params: dict  # MidiTok's own JSON of the tokenizer, so the bundle decodes what it generates
    vocab_size: int
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.3
    conditions: dict[str, list[str]] = field(default_factory=dict)  # each label conditioned on: its values
    drums: bool = False
    lookback: bool = False  # each input also carries what the bar before played at that point

    @classmethod
    def from_dict(cls, config: dict) -> LMConfig:
        config = dict(config)
        if "condition" in config:  # a bundle from before several labels: one label and its values
            label, values = config.pop("condition"), config.pop("condition_values")
            config["conditions"] = {label: values} if label else {}
        return cls(**config)

    def condition_index(self, chosen: dict[str, str]) -> list[int]:
        """The rows of the condition embedding for one value of every label (the labels' values stacked in
        order)."""
        rows, offset = [], 0
        for label, values in self.conditions.items():
            rows.append(offset + values.index(chosen[label]))
            offset += len(values)
        return rows


@dataclass
class Controls:
    """How to sample: length, randomness and what to start from."""

    n: int = 4
    bars: int | None = 16  # each piece has this many bars (None: up to `tokens`)
    tokens: int = 1024  # the most tokens per piece
    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0  # nucleus sampling; 1: no limit
    seed: int = 0
    primer: np.ndarray | None = None  # token ids the pieces continue
    conditions: dict[str, str] = field(default_factory=dict)  # label: value; a label left out is drawn per piece
    may_end: bool = False  # let a piece end (EOS) before its `bars`, as the corpus's pieces do

    def check(self, model: MusicLM) -> None:
        for option, value in (("--n", self.n), ("--bars", self.bars), ("--tokens", self.tokens)):
            if value is not None and value < 1:  # each named alone: compose evaluate has no --tokens
                raise GruveError(f"{option} must be at least 1 (got {value}).")
        if self.temperature <= 0:
            raise GruveError(f"--temperature must be above 0 (got {self.temperature}).")
        if not 0 < self.top_p <= 1:
            raise GruveError(f"--top-p must be above 0 and at most 1 (got {self.top_p}).")
        if self.top_k < 0:
            raise GruveError(f"--top-k must be at least 0 (got {self.top_k}).")
        known = model.config.conditions
        for label, value in self.conditions.items():
            if label not in known:
                raise GruveError(f"this model is conditioned on {', '.join(known) or 'nothing'}, not {label!r}"
                                 + (f"; give {','.join(f'{k}=VALUE' for k in known)}." if known else "."))
            if value not in known[label]:
                raise GruveError(f"this model knows no {label} {value!r}; it knows: {', '.join(known[label])}.")

    def draw_conditions(self, model: MusicLM, rng: np.random.Generator) -> list[dict[str, str]]:
        """Each piece's value of every label the model is conditioned on: the one asked for, or one drawn
        at random for a label left out (for the transposition: 0, the corpus's own keys)."""
        return [{label: self.conditions.get(label) or (UNSHIFTED if label == TRANSPOSITION else str(rng.choice(values)))
                 for label, values in model.config.conditions.items()} for _ in range(self.n)]


class MusicLM(nn.Module):
    task = "compose"

    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        size = config.hidden
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
        self.rnn = RecurrentStack("gru", size, size, config.layers, dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.out_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self._tokenizer = None

    @classmethod
    def from_meta(cls, meta: dict) -> MusicLM:
        return cls(LMConfig.from_dict(meta["config"]))

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = tokens.from_json(self.config.tokenizer, self.config.tokenizer_params)
        return self._tokenizer

    def special(self, name: str) -> int:
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
    def generate(self, controls: Controls, conditions: list[dict[str, str]] | None = None,
                 lengths: list[tuple[int, int]] | None = None) -> tuple[list[np.ndarray], list[dict[str, str]]]:
        """`controls.n` token sequences (each starting with the primer, if any), sampled at once, and the
        label values each was conditioned on. Every piece has the labels `controls` gives (a label left out
        drawn at random) and its bars and tokens, unless `conditions` and `lengths` ((bars, most tokens) per
        piece) give each piece its own, as evaluate does to pair every piece with a held-out one."""
        controls.check(self)
        self.eval()
        if conditions is None:
            conditions = controls.draw_conditions(self, np.random.default_rng(controls.seed))
        return Sampler(self).run(controls, conditions, lengths), conditions

    def onnx_graphs(self) -> list:
        """What `gruve export` writes: one step (a token and the state in, and the piece's label rows and the
        token's lookback when the model takes them; logits and the state out)."""
        from gruve.export import Graph

        config = self.config
        names = ["token", "hidden"]
        example = [torch.tensor([1, 5]), torch.zeros(config.layers, 2, config.hidden)]
        check = [torch.tensor([7]), torch.randn(config.layers, 1, config.hidden)]
        usage = ("Start with the BOS token and a zero state; sample the next token from softmax(logits), feed it "
                 "back with hidden_out. Decode the tokens with MidiTok and the tokenizer configuration in this metadata.")
        if self.conditions is not None:
            rows = torch.tensor([[0] * len(config.conditions), config.condition_index(
                {label: values[-1] for label, values in config.conditions.items()})])
            names, example, check = [*names, "condition"], [*example, rows], [*check, rows[1:]]
            usage += (" condition (batch, labels): for each label of config.conditions in order, the index of its "
                      "value plus the count of the values of the labels before it.")
        if self.lookback is not None:
            names, example, check = [*names, "lookback"], [*example, torch.tensor([0, 9])], [*check, torch.tensor([12])]
            usage += (" lookback (batch,): with each token, the token that followed the same point of the bar before "
                      "(PAD where there is none), as gruve.compose.tokens.Lookback tracks it.")
        return [Graph("", _Step(self), tuple(example), names, ["logits", "hidden_out"],
                      {"token": {0: "batch"}, "condition": {0: "batch"}, "lookback": {0: "batch"}, "hidden": {1: "batch"},
                       "hidden_out": {1: "batch"}, "logits": {0: "batch"}},
                      {"config": {k: v for k, v in asdict(config).items() if k != "tokenizer_params"},
                       "tokenizer": config.tokenizer_params, "usage": usage}, check=[tuple(check)])]


class _Step(nn.Module):
    def __init__(self, model: MusicLM):
        super().__init__()
        self.model = model

    def forward(self, token: torch.Tensor, hidden: torch.Tensor, *rows_and_lookback: torch.Tensor):
        condition = rows_and_lookback[0] if self.model.conditions is not None else None
        lookback = rows_and_lookback[-1] if self.model.lookback is not None else None
        return self.model.step(token, hidden, condition, lookback)


FLAM = 2  # the most strikes of one drum at one instant that generation allows


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

    def run(self, controls: Controls, conditions: list[dict[str, str]],
            lengths: list[tuple[int, int]] | None = None) -> list[np.ndarray]:
        rng = np.random.default_rng(controls.seed)
        model, n = self.model, len(conditions)
        bos, eos, bar = model.special("BOS"), model.special("EOS"), model.tokenizer.vocab.get("Bar_None")
        wanted_bars, most = (np.array(lengths, dtype=np.float64).T if lengths is not None else
                             (np.full(n, np.inf if controls.bars is None else controls.bars), np.full(n, controls.tokens)))
        condition = (np.array([model.config.condition_index(c) for c in conditions])
                     if model.conditions is not None else None)
        primer = np.asarray([bos, *([] if controls.primer is None else controls.primer)], dtype=np.int64)
        h = np.zeros((len(self.layers), n, model.config.hidden), np.float32)
        # A lookback model: each piece's tracker of the bar before, and the lookback of the token fed next.
        trackers, lookback = [], None
        if self.lookback_gates is not None:
            tracker = tokens.Lookback(model.tokenizer)
            lookback = np.repeat(tracker.ids(primer)[:, None], n, axis=1)
            trackers = [copy.deepcopy(tracker) for _ in range(n)]
        logits = self._advance(np.repeat(primer[:, None], n, axis=1), h, condition, lookback)
        pieces = [list(primer[1:]) for _ in range(n)]
        bars = np.array([sum(1 for t in p if t == bar) for p in pieces])
        # A drum is struck at most twice at one instant of the grid (a flam). Without this rule a drum model can
        # fall into a loop, the same tom struck thousands of times at one position, from which top-p leaves no
        # way out: in one such loop, Position and Bar together had 3-5% of the probability, under the
        # nucleus's 5% cut. In Groove's performances 97.4% of the instants strike each drum once, 2.5% one drum
        # twice and 0.15% three or four times; at most once would lose the flams (over all generated tokens,
        # 1.30 notes per onset fell to 1.26, where the test pieces have 1.37).
        strikes, moves = tokens.drum_strikes(model.tokenizer) if model.config.drums else (None, None)

        def strike(drums: dict[int, int], token: int) -> dict[int, int]:  # strikes of each drum since time moved
            if strikes is None or not (moves[token] or strikes[token]):
                return drums
            return {} if moves[token] else {**drums, token: drums.get(token, 0) + 1}

        after_primer: dict[int, int] = {}
        for token in primer[1:].tolist():
            after_primer = strike(after_primer, token)
        struck = [after_primer] * n
        # Only the pieces still going are stepped: the rows of h, logits, condition and `short` (still short of
        # the bars asked for, so not allowed to end) are theirs, `going`.
        going = np.flatnonzero([len(p) < m for p, m in zip(pieces, most)])
        h, logits = np.ascontiguousarray(h[:, going]), logits[going]
        condition = None if condition is None else condition[going]
        least = np.zeros(n) if controls.may_end else np.where(np.isfinite(wanted_bars), wanted_bars, 0)
        short = bars[going] < least[going]
        while going.size:
            if short.any():
                logits[short, eos] = -np.inf
            for row, i in enumerate(going if strikes is not None else ()):
                logits[row, [drum for drum, count in struck[i].items() if count >= FLAM]] = -np.inf
            chosen = sample(logits, controls.temperature, controls.top_k, controls.top_p, rng)
            ended = []
            lookback = np.zeros_like(chosen) if trackers else None
            for row, (i, token) in enumerate(zip(going, chosen.tolist())):
                if token == bar:
                    bars[i] += 1
                    short[row] = bars[i] < least[i]
                if token == eos or bars[i] > wanted_bars[i]:
                    ended.append(row)
                else:
                    pieces[i].append(token)
                    struck[i] = strike(struck[i], token)
                    if trackers:
                        lookback[row] = trackers[i].feed(token)
                    if len(pieces[i]) >= most[i]:
                        ended.append(row)
            if ended:
                keep = np.ones(going.size, dtype=bool)
                keep[ended] = False
                going, chosen, short, h = going[keep], chosen[keep], short[keep], np.ascontiguousarray(h[:, keep])
                condition = None if condition is None else condition[keep]
                lookback = None if lookback is None else lookback[keep]
            if going.size:
                logits = self._advance(chosen[None], h, condition, None if lookback is None else lookback[None])
        return [np.asarray(p, dtype=np.int64) for p in pieces]


def sample(logits: np.ndarray, temperature: float, top_k: int, top_p: float, rng: np.random.Generator) -> np.ndarray:
    """One token per row of `logits (batch, vocab)`, after temperature, top-k and nucleus (top-p) filtering."""
    from gruve.nn.fused import draw

    chosen = np.empty(len(logits), dtype=np.int64)
    draw(np.ascontiguousarray(logits, dtype=np.float32), temperature, top_k, top_p, rng.random(len(logits)), chosen)
    return chosen


def write_pieces(model: MusicLM, pieces: list[np.ndarray], out: Path, titles: list[str],
                 say: Callable[[str], None] = print) -> tuple[list[Path], list[float]]:
    """Decode each piece and write it as MIDI, WAV and one piano-roll PNG; returns the files and each
    piece's validity (the share of its tokens that decode)."""
    from gruve.compose.render import write_music

    scores, validity = [], []
    for ids in pieces:
        score, valid = tokens.decode(model.tokenizer, ids, model.config.drums)
        scores.append(score)
        validity.append(valid)
        if valid < 1.0:
            say(f"{(1 - valid):.1%} of the tokens of one piece broke the grammar and were left out")
    return write_music(scores, out, titles, say), validity
