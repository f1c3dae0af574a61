"""GRU4Rec (Hidasi et al. 2016, 2018): a listening session's tracks in, a score for every catalogue item as
the next one out. Each event's item embedding (plus, optionally, its artist's) goes through a GRU; the GRU's
output scored against every item's output embedding (and bias) ranks the catalogue. With `tied` the input
embedding is the output one, as the authors recommend today.

The catalogue travels with the model: the item ids, names and artist ids in the bundle's JSON meta, each
item's training popularity and artist as tensors, so `suggest` maps names and ids without the data.

Plain torch (no Lightning), so loading a model and suggesting starts fast.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from gruve.bundle import BundleError
from gruve.errors import check, check_at_least
from gruve.nn import RecurrentStack

LOSSES = ("ce", "bpr-max")


@dataclass
class RecommenderConfig:
    """Everything that defines a GRU4Rec network and the loss it was trained with. Stored in every bundle."""

    n_items: int
    hidden_size: int = 128
    num_layers: int = 1
    embedding: int = 0  # input embedding width; 0: the hidden size (with `tied`, the output embedding itself)
    tied: bool = True  # the input embedding is the output embedding (GRU4Rec's "constrained embedding")
    dropout: float = 0.5  # on each GRU layer's output
    embedding_dropout: float = 0.5  # on the input embedding
    loss: str = "ce"  # "ce": softmax cross-entropy over sampled negatives; "bpr-max": BPR-max with its regulariser
    n_sample: int = 2048  # negatives drawn per mini-batch (shared by its rows), besides the batch's own targets
    sample_alpha: float = 0.5  # negatives are drawn by popularity ** sample_alpha (0: uniform, 1: as popular)
    logq: float = 1.0  # "ce": how much of each candidate's log sampling probability is taken off its score
    bpreg: float = 1.0  # "bpr-max": weight of the score regulariser
    n_artists: int = 0  # artists the data names (0: none); each item's artist is kept in the model
    artist_input: bool = False  # add an artist embedding to each item's input embedding

    def __post_init__(self):
        check_at_least(self.n_items, "n_items", 1)
        check_at_least(self.hidden_size, "hidden_size", 1)
        check_at_least(self.num_layers, "num_layers", 1)
        check(self.embedding >= 0, "embedding", f"{{embedding}} must be 0 (the hidden size) or more (got {self.embedding}).")
        check(not (self.tied and self.embedding not in (0, self.hidden_size)), "embedding",
              f"{{embedding}} {self.embedding} cannot be tied to outputs of {self.hidden_size}: a tied embedding is as "
              "wide as the hidden layer (give 0, or turn tying off).")
        for name in ("dropout", "embedding_dropout"):
            value = getattr(self, name)
            check(0 <= value < 1, name, f"{{{name}}} must be at least 0 and below 1 (got {value}).")
        check(self.loss in LOSSES, "loss", f"{{loss}} {self.loss} is not one of {', '.join(LOSSES)}.")
        check(self.n_sample >= 0, "n_sample", f"{{n_sample}} must be 0 (in-batch negatives only) or more (got {self.n_sample}).")
        check(0 <= self.sample_alpha <= 1, "sample_alpha", f"{{sample_alpha}} must be from 0 to 1 (got {self.sample_alpha}).")
        check(self.logq >= 0 and self.bpreg >= 0, "logq" if self.logq < 0 else "bpreg",
              f"{{logq}} and {{bpreg}} must be 0 or more (got {self.logq} and {self.bpreg}).")
        check(self.n_artists >= 0, "n_artists", f"{{n_artists}} must be 0 or more (got {self.n_artists}).")
        check(not self.artist_input or self.n_artists > 0, "artist_input",
              "{artist_input} needs data that names each item's artist, and this data names none.")

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values, as a bundle stores it."""
        return asdict(self)


def embedding(rows: int, width: int, init: str = "uniform") -> nn.Embedding:
    """A sparse-gradient embedding initialised Glorot-uniform, as GRU4Rec's authors initialise their item
    embeddings (small enough that the first scores over a large catalogue are nearly equal), or with zeros.
    Built on an empty weight, not torch's N(0, 1) one: drawing normal numbers on the meta device, where
    `bundle.load` first builds a model, imports torch's compiler (over a second of a cold `suggest`)."""
    weight = torch.empty(rows, width)
    with torch.no_grad():
        if init == "zeros":
            weight.zero_()
        else:
            bound = math.sqrt(6.0 / (rows + width))
            weight.uniform_(-bound, bound)
    return nn.Embedding(rows, width, sparse=True, _weight=weight)


class GRU4Rec(nn.Module):
    """Item (and artist) embedding, GRU stack, scores against every item's output embedding and bias."""

    task = "recommend"
    config_class = RecommenderConfig  # what a bundle's "config" is read as (see `gruve.bundle.load`)
    name = "gruve GRU4Rec"  # how evaluation tables name it (the Recommender protocol)

    def __init__(self, config: RecommenderConfig):
        super().__init__()
        self.config = config
        width = config.embedding or config.hidden_size
        # Sparse gradients: a mini-batch touches a few thousand of the catalogue's rows, and the optimiser
        # (Adagrad) updates only those. Artists start at zero: the model begins as the one without them.
        self.output = embedding(config.n_items, config.hidden_size)
        self.output_bias = embedding(config.n_items, 1, "zeros")
        self.input = None if config.tied else embedding(config.n_items, width)
        self.artists = embedding(config.n_artists, width, "zeros") if config.artist_input else None
        self.recurrent = RecurrentStack("gru", width, config.hidden_size, config.num_layers, dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        # Training events per item (the popularity fallback, and what negatives are drawn by), and each item's
        # artist index where the data names artists.
        self.register_buffer("popularity", torch.zeros(config.n_items, dtype=torch.int64))
        self.register_buffer("item_artists", torch.zeros(config.n_items if config.n_artists else 0, dtype=torch.int64))
        self.meta: dict = {}
        self._index: dict[str, int] | None = None

    @staticmethod
    def describe(meta: dict) -> tuple[str, str]:
        """What a bundle of this model is and its headline test score, for `gruve models`."""
        config, metrics = meta["config"], meta.get("metrics", {})
        what = (f"{config['num_layers']}x{config['hidden_size']} GRU4Rec ({config['loss']}) over "
                f"{config['n_items']:,} items" + (", with artists" if config.get("artist_input") else ""))
        score = (f"MRR@20 {metrics['test_mrr@20']:.3f}, HR@20 {metrics['test_hr@20']:.3f}"
                 if "test_mrr@20" in metrics else "-")
        return what, score

    # The catalogue ------------------------------------------------------------------------------------------

    @property
    def item_ids(self) -> list[str]:
        """Each item's id in the data, in the order of the model's scores."""
        return self._catalogue("item_ids")

    @property
    def item_names(self) -> list[str] | None:
        """Each item's "artist - track" name, where the data named them."""
        return self._catalogue("item_names")

    @property
    def has_artists(self) -> bool:
        """Whether the model knows each item's artist (the data named them)."""
        return self.config.n_artists > 0

    def _catalogue(self, key: str):
        names = self.meta.get("catalogue", {}).get(key)
        if names is not None and len(names) != self.config.n_items:
            raise BundleError(f"the model's catalogue has {len(names):,} {key.replace('_', ' ')} for its "
                              f"{self.config.n_items:,} items.")
        return names

    def index(self, item: str) -> int | None:
        """The catalogue index of `item`, given by its id or its "artist - track" name (names compared without
        regard to case); None where the model does not know it."""
        if self._index is None:
            ids, names = self.item_ids or [], self.item_names or []
            # Least played first, so that of the items one name names (a recording with and without its id)
            # the most played is the one found; an id wins over a name spelt alike.
            by_plays = np.argsort(self.popularity.numpy(), kind="stable")
            index = {names[i].casefold(): int(i) for i in by_plays} if names else {}
            index.update({item_id: i for i, item_id in enumerate(ids)})
            self._index = index
        found = self._index.get(item)
        return found if found is not None else self._index.get(item.casefold())

    def label(self, index: int) -> tuple[str, str | None]:
        """An item's id and (where known) name."""
        names = self.item_names
        return self.item_ids[index], None if names is None else names[index]

    # The network --------------------------------------------------------------------------------------------

    def embed(self, items: torch.Tensor) -> torch.Tensor:
        """The GRU's inputs for `items` (any shape): item embedding, plus its artist's where the model has them."""
        x = (self.output if self.input is None else self.input)(items)
        if self.artists is not None:
            x = x + self.artists(self.item_artists[items])
        return self.embedding_dropout(x)

    def forward(self, items: torch.Tensor, state: torch.Tensor | None = None):
        """The GRU's output after each of `items (batch, time)`, `(batch, time, hidden_size)` (score it with
        `scores`), and the state after the last. Sessions padded at the end only: a forward GRU never carries
        padding back into real events."""
        h, state = self.recurrent.scan(self.embed(items), state)
        return self.dropout(h), state

    def scores(self, h: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of GRU outputs `h (..., hidden_size)` for every catalogue item `(..., n_items)`, or for
        `items (candidates,)` only `(..., candidates)`."""
        if items is None:
            return h @ self.output.weight.T + self.output_bias.weight[:, 0]
        return h @ self.output(items).T + self.output_bias(items)[:, 0]

    def step(self, item: torch.Tensor, state: torch.Tensor | None = None):
        """Feed one event per listener, `item (batch,)` (int64); every item's score as the next one,
        `(batch, n_items)`, and the state to carry to the next event (None: a listener just starting)."""
        h, state = self.advance(item, state)
        return self.scores(h), state

    def advance(self, item: torch.Tensor, state: torch.Tensor | None = None):
        """`step` without the scores: the GRU's output `(batch, hidden_size)` and the next state, for
        reading a history whose intermediate suggestions nobody needs (scoring a large catalogue costs more
        than the GRU)."""
        h, state = self.recurrent.step(self.embed(item), state)
        return self.dropout(h), state

    @torch.inference_mode()
    def next_scores(self, items: np.ndarray) -> np.ndarray:
        """For one session's items (int64, n >= 2): `(n - 1, n_items)` float32, row t scoring every catalogue
        item as the one after items[: t + 1] (the Recommender protocol that `evaluate` reads)."""
        self.eval()
        h, _ = self(torch.as_tensor(np.asarray(items[:-1], dtype=np.int64))[None])
        return self.scores(h[0]).numpy()
