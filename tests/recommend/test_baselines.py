"""The baselines: each one's scores on a tiny example worked out by hand, the kNNs against session-rec's
algorithm written out again as loops over sets, and all five on a real 30Music slice."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from gruve.recommend.baselines import SKNN, VSKNN, ItemKNN, Pop, SPop, baselines
from gruve.recommend.evaluation import evaluate
from gruve.recommend.sessions import Catalogue, Sessions, load_split


def made_up(lists: list[list[int]], n_items: int) -> tuple[Sessions, Catalogue]:
    """Training sessions from lists of item indices, the s-th ending at time 100 (s + 1)."""
    items = np.concatenate([np.asarray(s, dtype=np.int64) for s in lists])
    offsets = np.r_[0, np.cumsum([len(s) for s in lists])].astype(np.int64)
    times = np.concatenate([np.arange(len(s)) - len(s) + 1 + 100 * (i + 1) for i, s in enumerate(lists)]).astype(np.int64)
    catalogue = Catalogue([str(i) for i in range(n_items)], None, None, None,
                          np.bincount(items, minlength=n_items).astype(np.int64))
    return Sessions(items, offsets, times), catalogue


# four training sessions; item popularity 2, 4, 3, 1; the last session is the most recent
TRAIN = [[0, 1, 2], [1, 2], [2, 3], [0, 1, 1]]
ROOT2, ROOT6 = math.sqrt(2), math.sqrt(6)


def test_popularity_and_session_popularity_by_hand():
    train, catalogue = made_up(TRAIN, 4)
    assert Pop(train, catalogue).next_scores(np.array([1, 0, 1])).tolist() == [[2, 4, 3, 1]] * 2
    # played items first, by plays; popularity / (most popular + 1) breaks ties and orders the rest
    assert np.allclose(SPop(train, catalogue).next_scores(np.array([1, 0, 1])),
                       [[0.4, 1.8, 0.6, 0.2], [1.4, 1.8, 0.6, 0.2]])


def test_item_knn_by_hand():
    train, catalogue = made_up(TRAIN, 4)
    # co-occurring event pairs: c01 = 1 + 1 * 2 (the repeat counts), c02 = 1, c12 = 2, c23 = 1; over sqrt(s_i s_j)
    knn = ItemKNN(train, catalogue, regularisation=0.0)
    assert np.allclose(knn.next_scores(np.array([2, 0, 1])),
                       [[1 / ROOT6, 2 / math.sqrt(12), 0, 1 / math.sqrt(3)], [0, 3 / math.sqrt(8), 1 / ROOT6, 0]])
    nearest = ItemKNN(train, catalogue, neighbours=1, regularisation=0.0)  # item 2's two equal neighbours: the lower
    assert np.allclose(nearest.next_scores(np.array([2, 0])), [[0, 2 / math.sqrt(12), 0, 0]])
    regularised = ItemKNN(train, catalogue).next_scores(np.array([0, 1]))  # lambda 20 pulls rare items' down
    assert np.allclose(regularised, [[0, 3 / math.sqrt(22 * 24), 1 / math.sqrt(22 * 23), 0]])


def test_session_knn_by_hand():
    """k 2 among the 3 most recent candidates: at the second event session 0 (the most similar) is not sampled,
    and of two equal neighbours the more recent is kept."""
    train, catalogue = made_up(TRAIN, 4)
    scores = SKNN(train, catalogue, k=2, sample=3).next_scores(np.array([1, 2, 0, 3]))
    assert np.allclose(scores, [[1 / ROOT2, 2 / ROOT2, 1 / ROOT2, 0], [0.5, 1.5, 1, 0],
                                [2 / ROOT6, 4 / ROOT6, 2 / ROOT6, 0]])


def test_vector_session_knn_by_hand():
    """Positions weigh p / L; similarity over the distinct items; a neighbour last met two events back counts half."""
    train, catalogue = made_up(TRAIN, 4)
    scores = VSKNN(train, catalogue, k=2, sample=3).next_scores(np.array([1, 2, 0, 3]))
    assert np.allclose(scores, [[1, 2, 1, 0], [0, 0.75, 1.25, 0.5], [4 / 9, 4 / 9 + 1 / 6, 1 / 6, 0]])


def reference_knn(train: list[list[int]], n_items: int, current: list[int], k: int, sample: int,
                  vector: bool) -> np.ndarray:
    """session-rec's ContextKNN / VMContextKNN.predict_next, one prefix at a time, with sets and dicts
    (the cosine written as a cosine; ties to the more recent session), in the same floating-point steps so that
    equal similarities tie alike."""
    sets = [set(s) for s in train]
    rows, relevant, prefix = [], set(), []
    for item in current[:-1]:
        prefix.append(item)
        relevant |= {s for s, items in enumerate(sets) if item in items}
        candidates = sorted(relevant, reverse=True)[:sample]  # session s ends later than s - 1
        if vector:
            position = {i: p + 1 for p, i in enumerate(prefix)}  # the weight of item i is position[i] / len(prefix)
            similarity = {s: sum(position[i] for i in sets[s] & set(prefix)) / len(prefix) / len(position)
                          for s in candidates}
        else:
            similarity = {s: len(sets[s] & set(prefix)) / math.sqrt(len(set(prefix)) * len(sets[s])) for s in candidates}
        scores = np.zeros(n_items)
        for s in sorted(candidates, key=lambda s: (-similarity[s], -s))[:k]:
            decay = 1.0
            if vector:
                step = next(step for step, i in enumerate(reversed(prefix), 1) if i in sets[s])
                decay = 1 / step
            for i in sets[s]:
                scores[i] += similarity[s] * decay
        rows.append(scores)
    return np.array(rows)


@pytest.mark.parametrize("knn, vector", [(SKNN, False), (VSKNN, True)])
def test_session_knns_agree_with_session_recs_loops(knn, vector):
    rng = np.random.default_rng(0)
    lists = [list(rng.zipf(1.6, rng.integers(2, 9)) % 40) for _ in range(300)]
    train, catalogue = made_up(lists, 40)
    model = knn(train, catalogue, k=20, sample=60)
    for _ in range(20):
        current = list(rng.zipf(1.6, rng.integers(2, 12)) % 40)
        np.testing.assert_allclose(model.next_scores(np.array(current)),
                                   reference_knn(lists, 40, current, 20, 60, vector), rtol=1e-5, atol=1e-7)


def test_every_baseline_scores_a_30music_slice_in_seconds(datasets):
    split = load_split(datasets / "30music" / "slice-2.tsv", "30music")
    started = time.perf_counter()
    recommenders = baselines(split.train, split.catalogue)
    report = evaluate(recommenders, split.test, split.catalogue)
    assert time.perf_counter() - started < 30
    items = split.test.session(0)
    for recommender in recommenders:
        scores = recommender.next_scores(items)
        assert scores.dtype == np.float32 and scores.shape == (len(items) - 1, len(split.catalogue))
        assert np.isfinite(scores).all()
    hr = {name: r["hr@20"] for name, r in report["results"].items()}
    assert min(hr["iknn"], hr["sknn"], hr["vsknn"]) > hr["spop"] > hr["pop"]  # what session-rec finds on music
