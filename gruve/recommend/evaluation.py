"""Scoring recommenders on next-item prediction: HitRate@K and MRR@K, and what the suggestions look like.

The protocol of session-rec (Ludewig et al.), with GRU4Rec's conservative ties: every test event after a
session's first is predicted from the events before it and ranked against every catalogue item. Its rank
counts the items scoring strictly higher and the other items scoring the same, so a recommender that scores
many items alike (popularity's ties, a kNN's zeros) gets the worst place among them, never the best. HR@K is
the share of events ranked in the top K, MRR@K the mean of 1 / rank over them (0 below K); both are averaged
over events, not sessions. Beside them, what the top 20 suggestions are: coverage@20, the share of the
catalogue that is ever in them, and popularity@20, their mean number of training events (a recommender that
only suggests hits has a high one).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gruve.errors import GruveError, check
from gruve.recommend.sessions import Catalogue, Recommender, Sessions

KS = (1, 5, 10, 20)
LIST_LENGTH = 20  # the suggestions coverage and popularity are measured on


def evaluate(recommenders: list[Recommender], test: Sessions, catalogue: Catalogue, ks=KS) -> dict:
    """Score each recommender on the same test events (see the module docstring); a JSON-ready report:
    `results[name]` holds hr@K and mrr@K for each K, coverage@20, popularity@20, the events scored and the
    seconds scoring took."""
    ks = sorted(set(int(k) for k in ks))
    check(bool(ks) and ks[0] >= 1, "ks", f"{{ks}} must be cut-offs of 1 or more (got {ks}).")
    names = [recommender.name for recommender in recommenders]
    if len(set(names)) < len(names):
        raise ValueError(f"two recommenders share a name: {', '.join(names)}")
    scored = np.flatnonzero(test.lengths >= 2)
    events = int((test.lengths[scored] - 1).sum())
    if not events:
        raise GruveError("there are no test events to score: no test session has two events or more.")
    results = {recommender.name: _score(recommender, test, scored, catalogue, ks) for recommender in recommenders}
    return {"ks": ks, "sessions": len(scored), "events": events, "items": len(catalogue), "results": results}


def _score(recommender: Recommender, test: Sessions, scored: np.ndarray, catalogue: Catalogue, ks: list[int]) -> dict:
    started = time.perf_counter()
    ranks, suggested, popularity = [], np.zeros(len(catalogue), dtype=bool), 0.0
    for s in scored:
        items = test.session(s)
        scores = np.asarray(recommender.next_scores(items))
        if scores.shape != (len(items) - 1, len(catalogue)):
            raise ValueError(f"{recommender.name} gave scores of shape {scores.shape} for a session of {len(items)} "
                             f"events over {len(catalogue)} items; next_scores must give ({len(items) - 1}, "
                             f"{len(catalogue)})")
        scores = np.where(np.isnan(scores), -np.inf, scores)  # a NaN score is no score: it ranks last
        ranks.append(conservative_ranks(scores, items[1:]))
        top = top_items(scores, LIST_LENGTH)
        suggested[top.ravel()] = True
        popularity += catalogue.popularity[top].mean(axis=1).sum()
    ranks = np.concatenate(ranks)
    report = {}
    for k in ks:
        report[f"hr@{k}"] = float(np.mean(ranks <= k))
    for k in ks:
        report[f"mrr@{k}"] = float(np.mean(np.where(ranks <= k, 1.0 / ranks, 0.0)))
    return {**report, f"coverage@{LIST_LENGTH}": float(suggested.mean()),
            f"popularity@{LIST_LENGTH}": float(popularity / len(ranks)), "events": len(ranks),
            "seconds": round(time.perf_counter() - started, 3)}


def conservative_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The 1-based rank of each row's target among all items: 1 + the items scoring higher + the other items
    scoring the same."""
    target = scores[np.arange(len(targets)), targets][:, None]
    return (scores > target).sum(axis=1) + (scores == target).sum(axis=1)


def top_items(scores: np.ndarray, k: int) -> np.ndarray:
    """Each row's `k` highest-scoring items (all of them where there are no more than `k`); ties at the k-th
    place are cut as numpy's partition cuts them."""
    if scores.shape[1] <= k:
        return np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def results_table(report: dict) -> str:
    """The report as a markdown table, one row per recommender, the best HR and MRR of each column in bold."""
    ks, results = report["ks"], report["results"]
    metrics = [f"hr@{k}" for k in ks] + [f"mrr@{k}" for k in ks]
    best = {m: max(r[m] for r in results.values()) for m in metrics}
    header = [m.replace("hr", "HR").replace("mrr", "MRR") for m in metrics] + [f"coverage@{LIST_LENGTH}",
                                                                               f"popularity@{LIST_LENGTH}"]
    lines = ["| recommender | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for name, r in results.items():
        cells = [f"**{r[m]:.3f}**" if r[m] == best[m] else f"{r[m]:.3f}" for m in metrics]
        cells += [f"{r[f'coverage@{LIST_LENGTH}']:.3f}", f"{r[f'popularity@{LIST_LENGTH}']:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(f"\n{report['events']} test events in {report['sessions']} sessions, each ranked against all "
                 f"{report['items']} items; ties counted against the recommender.")
    return "\n".join(lines)


def results_plot(report: dict, path: Path, title: str = "") -> Path:
    """A PNG of HR@K and MRR@K against K, one line per recommender."""
    from gruve.plots import ranking_curves

    results = report["results"]
    return ranking_curves(report["ks"], {name: [r[f"hr@{k}"] for k in report["ks"]] for name, r in results.items()},
                          {name: [r[f"mrr@{k}"] for k in report["ks"]] for name, r in results.items()}, Path(path), title)
