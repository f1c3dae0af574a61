"""The baselines a session-based recommender must beat, as session-rec (Ludewig and Jannach 2018, "Evaluation
of session-based recommendation algorithms"; Ludewig, Mauro, Latifi and Jannach 2021) defines them:

- `Pop`: the most popular items, the same for every session;
- `SPop`: the items of the current session by how often it played them, then the most popular;
- `ItemKNN`: the items most similar to the last one played, similarity being the regularised cosine of the
  items' session co-occurrence (the item-kNN baseline of Hidasi et al. 2016);
- `SKNN`: the items of the k training sessions most similar (cosine) to the current one, each weighted by its
  similarity, among a sample of the most recent sessions that share an item with it;
- `VSKNN`: SKNN with the current session as a vector whose more recent items weigh more (a linear decay), and
  each neighbour's items weighted down by how far back the current session last met that neighbour.

Each is built from the training sessions and implements `Recommender.next_scores` with numpy and
scipy.sparse: no Python loop over items or training sessions, so the 30Music slices score in seconds.
Defaults are session-rec's; each class says which.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gruve.recommend.sessions import Catalogue, Recommender, Sessions


def baselines(train: Sessions, catalogue: Catalogue) -> list[Recommender]:
    """Every baseline of `BASELINES` with its defaults, fitted on `train`."""
    return [baseline(train, catalogue) for baseline in BASELINES]


class Pop:
    """Most popular: every item scored by its number of training events, whatever the session played."""

    name = "pop"

    def __init__(self, train: Sessions, catalogue: Catalogue):
        self.scores = popularity(train, catalogue).astype(np.float32)

    def next_scores(self, items: np.ndarray) -> np.ndarray:
        return np.repeat(self.scores[None], len(items) - 1, axis=0)


class SPop:
    """Session popularity: the items of the session so far by how often it played them, the others (and ties)
    by their training popularity (session-rec's SessionPop). A music session returns to its tracks, so this is
    stronger than it looks."""

    name = "spop"

    def __init__(self, train: Sessions, catalogue: Catalogue):
        played = popularity(train, catalogue).astype(np.float64)
        self.tie_break = played / (played.max() + 1)  # below 1: never outweighs one more play

    def next_scores(self, items: np.ndarray) -> np.ndarray:
        played = np.zeros((len(items) - 1, len(self.tie_break)))
        played[np.arange(len(items) - 1), items[:-1]] = 1
        return (np.cumsum(played, axis=0) + self.tie_break).astype(np.float32)


class ItemKNN:
    """Item-kNN: the items scored by their similarity to the session's last item (session-rec's ItemKNN;
    Hidasi et al. 2016's baseline). With c_ij the co-occurrences of items i and j in training sessions (pairs
    of events) and s_i item i's training events, sim(i, j) = c_ij / ((s_i + lambda)^alpha (s_j + lambda)^(1 - alpha)),
    a cosine regularised towards 0 for rare items; each item keeps its `neighbours` most similar.
    session-rec's defaults: 100 neighbours, lambda 20, alpha 0.5."""

    name = "iknn"

    def __init__(self, train: Sessions, catalogue: Catalogue, neighbours: int = 100, regularisation: float = 20.0,
                 alpha: float = 0.5):
        counts = session_matrix(train, len(catalogue), binary=False)
        cooccurrence = (counts.T @ counts).tocsr()
        cooccurrence.setdiag(0)
        cooccurrence.eliminate_zeros()
        support = popularity(train, catalogue).astype(np.float64) + regularisation
        similarity = sp.diags(support ** -alpha) @ cooccurrence @ sp.diags(support ** (alpha - 1))
        self.similarity = top_per_row(similarity.tocsr(), neighbours)

    def next_scores(self, items: np.ndarray) -> np.ndarray:
        return self.similarity[items[:-1]].toarray().astype(np.float32)


class SKNN:
    """Session-kNN (session-rec's ContextKNN): for each prefix of the current session, the training sessions
    that share an item with it are its candidates; the `sample` most recent of them (by their last event) are
    compared with it, the `k` most similar are its neighbours, and each item is scored by the summed similarity
    of the neighbours that hold it. Similarity is the cosine of the binary item sets, |a & b| / sqrt(|a| |b|)
    (session-rec's `cosine` reads |a & b| / sqrt(|a|) * sqrt(|b|), with b the current session: a factor |b| the
    same for every neighbour, so its neighbours and rankings are these). Ties at the k-th neighbour go to the
    more recent session. session-rec's documented defaults: k 100, a sample of 500, cosine."""

    name = "sknn"

    def __init__(self, train: Sessions, catalogue: Catalogue, k: int = 100, sample: int = 500):
        self.k, self.sample = k, sample
        self.session_items = session_matrix(train, len(catalogue), binary=True)  # (training sessions, items)
        self.item_sessions = self.session_items.T.tocsr()
        self.sizes = np.diff(self.session_items.indptr).astype(np.float64)  # distinct items of each session
        last_times = train.times[train.offsets[1:] - 1]
        self.recency = np.empty(len(train), dtype=np.int64)  # the rank of each session's last event: higher is later
        self.recency[np.lexsort((np.arange(len(train)), last_times))] = np.arange(len(train))

    def next_scores(self, items: np.ndarray) -> np.ndarray:
        """One row per prefix: the neighbours' weights (rows of a sparse matrix over training sessions) come
        from the state each event updates in place, then one sparse product scores every item."""
        n_sessions = len(self.sizes)
        shared = np.zeros(n_sessions)  # distinct items of the prefix in each training session
        position_sum = np.zeros(n_sessions)  # the sum of their latest positions in the prefix (1-based)
        last_met = np.zeros(n_sessions, dtype=np.int64)  # the latest position of the prefix whose item it holds
        latest: dict[int, int] = {}  # item -> its latest position in the prefix
        candidates = np.zeros(0, dtype=np.int64)
        rows, columns, weights = [], [], []
        for t, item in enumerate(items[:-1].tolist()):
            position = t + 1
            sessions = self.item_sessions.indices[self.item_sessions.indptr[item]:self.item_sessions.indptr[item + 1]]
            earlier = latest.get(item, 0)
            if not earlier:
                shared[sessions] += 1
            position_sum[sessions] += position - earlier
            latest[item] = position
            last_met[sessions] = position
            candidates = np.union1d(candidates, sessions)
            sample = candidates
            if len(sample) > self.sample:
                sample = sample[np.argpartition(-self.recency[sample], self.sample - 1)[:self.sample]]
            similarity = self.similarity(sample, shared, position_sum, len(latest), position)
            best = np.lexsort((-self.recency[sample], -similarity))[:self.k]
            neighbours = sample[best]
            rows.append(np.full(len(best), t))
            columns.append(neighbours)
            weights.append(similarity[best] * self.decay(position - last_met[neighbours] + 1))
        neighbourhood = sp.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(columns))),
                                      shape=(len(items) - 1, n_sessions))
        return (neighbourhood @ self.session_items).toarray().astype(np.float32)

    def similarity(self, sessions: np.ndarray, shared: np.ndarray, position_sum: np.ndarray, distinct: int,
                   length: int) -> np.ndarray:
        """The similarity of the prefix (`distinct` items over `length` events) to each of `sessions`."""
        return shared[sessions] / np.sqrt(distinct * self.sizes[sessions])

    def decay(self, steps: np.ndarray) -> np.ndarray | float:
        """The weight of a neighbour last met `steps` events back (1: at the last event)."""
        return 1.0


class VSKNN(SKNN):
    """Vector session-kNN (session-rec's VMContextKNN, Ludewig and Jannach 2018): SKNN whose current session is a
    vector with a linear decay, the item at position p of a prefix of length L weighing p / L (an item played
    twice weighs as at its later position); the similarity with a training session is the sum of the weights of
    the items they share, over the prefix's distinct items. Each neighbour's contribution is then divided by
    how many events back the prefix last played one of its items (1 for the last event). Items the session
    already played are scored too (session-rec's remind=True). session-rec's documented defaults: k 100, a
    sample of 500, weighting "div", weighting_score "div"."""

    name = "vsknn"

    def similarity(self, sessions: np.ndarray, shared: np.ndarray, position_sum: np.ndarray, distinct: int,
                   length: int) -> np.ndarray:
        return position_sum[sessions] / length / distinct

    def decay(self, steps: np.ndarray) -> np.ndarray:
        return 1.0 / steps


def popularity(sessions: Sessions, catalogue: Catalogue) -> np.ndarray:
    """The number of events of each catalogue item in `sessions`."""
    return np.bincount(sessions.items, minlength=len(catalogue))


def session_matrix(sessions: Sessions, n_items: int, binary: bool) -> sp.csr_matrix:
    """(sessions, items): how many times each session played each item, or whether it did."""
    matrix = sp.csr_matrix((np.ones(len(sessions.items)), (sessions.session_of_event, sessions.items)),
                           shape=(len(sessions), n_items))
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix


def top_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """`matrix` with only the `k` largest entries of each row (ties to the lower column)."""
    matrix.sort_indices()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((-matrix.data, rows))  # by row, then largest first; stable, so lower columns first
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    keep = np.sort(order[rank < k])
    return sp.csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape)


BASELINES = (Pop, SPop, ItemKNN, SKNN, VSKNN)  # in order of sophistication
