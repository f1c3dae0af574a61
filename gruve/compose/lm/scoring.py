"""How well the music language model predicts whole pieces: pieces as the model reads them (`encode`), the
NLL of each token (`token_nll`), and NLL per token over a split (`held_out_nll`). Plain torch (no Lightning),
so that evaluating and explaining a model start fast; training builds on the same functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from gruve.compose import corpus as corpora
from gruve.compose.lm import tokens
from gruve.compose.lm.config import TRANSPOSITION, UNSHIFTED, LMConfig
from gruve.compose.lm.model import MusicLM

CHUNK = 1024  # tokens read at once when scoring whole pieces; the state carries across chunks


@dataclass
class Encoded:
    """A corpus split as token ids (BOS ... EOS) and each piece's rows of the condition embedding (one per
    label; none when unconditioned), the transposition's among them at `transposition` (if conditioned on),
    and for a lookback model the lookback after each id."""

    ids: list[np.ndarray]
    conditions: list[list[int]]
    transposition: int | None = None
    lookback: list[np.ndarray] | None = None

    def rows(self, piece: int) -> np.ndarray:
        """A piece's ids, `(1, length)`, or its ids over their lookbacks, `(2, length)`: windows and
        augmentation cut and map both alike (a lookback is a token of the same piece)."""
        ids = self.ids[piece]
        return np.stack([ids, self.lookback[piece]]) if self.lookback is not None else ids[None]

    def condition(self, piece: int, shift: int = 0) -> list[int]:
        """A piece's rows, for a window of it transposed by `shift` semitones (its values run -N..N in order)."""
        rows = list(self.conditions[piece])
        if self.transposition is not None:
            rows[self.transposition] += shift
        return rows

    @property
    def tokens(self) -> int:
        """Tokens predicted over the split: all but the first of each piece."""
        return sum(len(i) - 1 for i in self.ids)  # predicted tokens: all but the first


class Whole(Dataset):
    """Whole pieces, for an exact NLL per token."""

    def __init__(self, data: Encoded):
        self.data = data

    def __len__(self):
        return len(self.data.ids)

    def __getitem__(self, i):
        return torch.from_numpy(self.data.rows(i)), self.data.conditions[i]


def lookback_rows(rows: torch.Tensor) -> torch.Tensor | None:
    """The lookback ids of a batch of `(batch, 1 or 2, time)` rows (`Encoded.rows`), if it has them."""
    return rows[:, 1] if rows.shape[1] > 1 else None


def collate(pad: int):
    """Batches `(ids, lengths, condition, lookback)` of `(rows, condition)` items, padded at the end."""
    def batch(items):
        lengths = torch.tensor([rows.shape[1] for rows, _ in items])
        rows = torch.full((len(items), items[0][0].shape[0], int(lengths.max())), pad, dtype=torch.long)
        for i, (piece, _) in enumerate(items):
            rows[i, :, :piece.shape[1]] = piece
        condition = torch.tensor([c for _, c in items], dtype=torch.long).reshape(len(items), -1)
        return rows[:, 0], lengths, condition, lookback_rows(rows)
    return batch


def token_nll(model: MusicLM, ids: torch.Tensor, lengths: torch.Tensor, condition: torch.Tensor | None,
              lookback: torch.Tensor | None = None, chunk: int | None = None,
              state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The NLL in nats of every token after the first, `(batch, time - 1)` (zero past each length), the mask of
    the real ones, and the state after reading every token but the last (so a window that ends with the token
    the next one starts with hands on the state that reads it); in chunks with the state carried, from
    `state` (zeros if None)."""
    inputs, targets = ids[:, :-1], ids[:, 1:]
    lookback = None if lookback is None else lookback[:, :-1]
    chunk = chunk or max(targets.shape[1], 1)
    mask = torch.arange(targets.shape[1], device=ids.device)[None] < (lengths[:, None] - 1)
    losses = []
    for start in range(0, targets.shape[1], chunk):
        window = slice(start, start + chunk)
        logits, state = model(inputs[:, window], condition, state, None if lookback is None else lookback[:, window])
        losses.append(F.cross_entropy(logits.transpose(1, 2), targets[:, window], reduction="none"))
    return torch.cat(losses, 1) * mask, mask, state


def nll_sum(model: MusicLM, ids: torch.Tensor, lengths: torch.Tensor, condition: torch.Tensor | None,
            lookback: torch.Tensor | None = None, chunk: int | None = None,
            state: torch.Tensor | None = None) -> tuple[torch.Tensor, int, torch.Tensor]:
    """`token_nll` summed over the real tokens, how many, and the state."""
    loss, mask, state = token_nll(model, ids, lengths, condition, lookback, chunk, state)
    return loss.sum(), int(mask.sum()), state


def encode(pieces: list[corpora.Piece], tokenizer, config: LMConfig) -> Encoded:
    """Pieces as the model reads them: BOS, their tokens, EOS, and their rows of the condition embedding."""
    bos, eos = tokenizer.vocab["BOS_None"], tokenizer.vocab["EOS_None"]
    ids = [np.concatenate([[bos], tokens.encode(tokenizer, p.score), [eos]]).astype(np.int64) for p in pieces]
    labels = list(config.conditions)  # a piece as written: not transposed
    return Encoded(ids, [config.condition_index({TRANSPOSITION: UNSHIFTED, **p.labels}) for p in pieces],
                   labels.index(TRANSPOSITION) if TRANSPOSITION in labels else None,
                   [tokens.Lookback(tokenizer).ids(i) for i in ids] if config.lookback else None)


@torch.inference_mode()
def held_out_nll(model: MusicLM, data: Encoded, batch_size: int = 8) -> dict:
    """NLL per token (and perplexity) of whole pieces, pooled over every token."""
    model.eval()
    total, count = 0.0, 0
    for batch in DataLoader(Whole(data), batch_size, collate_fn=collate(model.special("PAD"))):
        nll, n, _ = nll_sum(model, *batch, CHUNK)
        total, count = total + float(nll), count + n
    nll = total / max(count, 1)
    return {"nll_per_token": round(nll, 4), "perplexity": round(math.exp(nll), 3), "tokens": count}
