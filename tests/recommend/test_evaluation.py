"""Evaluation: HR@K and MRR@K worked out by hand on a tiny session file, ties counted against the model,
coverage and popularity of the top 20, the table and the picture."""

from __future__ import annotations

import numpy as np
import pytest

from gruve.errors import GruveError
from gruve.recommend.baselines import Pop, SPop
from gruve.recommend.evaluation import evaluate, results_plot, results_table
from gruve.recommend.sessions import Catalogue, Sessions, load_split

DAY = 86400


@pytest.fixture
def tiny(tmp_path):
    """Training sessions a b c, a b and b d (popularity a 2, b 3, c 1, d 1), then two test sessions on the
    last day: b a d, and c e a, whose e was never heard in training and is removed."""
    rows = [("u1", 0, "a"), ("u1", 60, "b"), ("u1", 120, "c"), ("u2", 10_000, "a"), ("u2", 10_060, "b"),
            ("u3", 20_000, "b"), ("u3", 20_060, "d"),
            ("u4", 3 * DAY, "b"), ("u4", 3 * DAY + 60, "a"), ("u4", 3 * DAY + 120, "d"),
            ("u5", 3 * DAY + 100, "c"), ("u5", 3 * DAY + 160, "e"), ("u5", 3 * DAY + 220, "a")]
    path = tmp_path / "tiny.csv"
    path.write_text("user,time,item\n" + "".join(f"{u},{1_600_000_000 + t},{i}\n" for u, t, i in rows))
    return load_split(path, valid_days=0, min_item_count=1)


def test_hit_rate_and_mrr_by_hand(tiny):
    catalogue = tiny.catalogue
    assert catalogue.item_ids == ["a", "b", "c", "d"] and catalogue.popularity.tolist() == [2, 3, 1, 1]
    report = evaluate([Pop(tiny.train, catalogue), SPop(tiny.train, catalogue)], tiny.test, catalogue, ks=(1, 2, 5))
    assert (report["events"], report["sessions"], report["items"]) == (3, 2, 4)
    # pop scores a 2, b 3, c 1, d 1: after b, a is 2nd; after b a, d is 4th (below b and a, level with c,
    # which counts against it); after c, a is 2nd
    pop = report["results"]["pop"]
    assert pop["hr@1"] == 0 and pop["hr@2"] == pytest.approx(2 / 3) and pop["hr@5"] == 1
    assert pop["mrr@1"] == 0 and pop["mrr@2"] == pytest.approx((1 / 2 + 1 / 2) / 3)
    assert pop["mrr@5"] == pytest.approx((1 / 2 + 1 / 4 + 1 / 2) / 3)
    # spop puts the session's own items first: after c, c and then b (more popular) are above a, which is 3rd
    spop = report["results"]["spop"]
    assert spop["hr@2"] == pytest.approx(1 / 3) and spop["mrr@5"] == pytest.approx((1 / 2 + 1 / 4 + 1 / 3) / 3)
    # four items: the top 20 is all of them, whose mean popularity is 7 / 4
    assert pop["coverage@20"] == 1 and pop["popularity@20"] == pytest.approx(7 / 4)
    assert pop["events"] == 3


class Fixed:
    """A made-up recommender: the same scores after every event."""

    def __init__(self, name: str, scores):
        self.name, self.scores = name, np.asarray(scores, dtype=np.float32)

    def next_scores(self, items):
        return np.repeat(self.scores[None], len(items) - 1, axis=0)


def made_up_test(lists, n_items, popularity=None):
    items = np.concatenate([np.asarray(s, dtype=np.int64) for s in lists])
    offsets = np.r_[0, np.cumsum([len(s) for s in lists])].astype(np.int64)
    catalogue = Catalogue([str(i) for i in range(n_items)], None, None, None,
                          np.asarray(popularity if popularity is not None else np.ones(n_items), dtype=np.int64))
    return Sessions(items, offsets, np.arange(len(items), dtype=np.int64)), catalogue


def test_ties_count_against_the_model():
    test, catalogue = made_up_test([[0, 1], [0, 2]], 5)
    report = evaluate([Fixed("level", [1, 1, 1, 1, 1]), Fixed("tied", [0, 3, 3, 1, 2]),
                       Fixed("nan", [np.nan, np.nan, 0, 0, 0])], test, catalogue, ks=(1, 2, 5))
    level, tied, nan = (report["results"][name] for name in ("level", "tied", "nan"))
    assert level["hr@2"] == 0 and level["hr@5"] == 1 and level["mrr@5"] == pytest.approx(1 / 5)  # all last
    assert tied["hr@1"] == 0 and tied["hr@2"] == 1 and tied["mrr@2"] == pytest.approx(1 / 2)  # 1 and 2 share 1st: 2nd
    assert nan["hr@2"] == 0 and nan["mrr@5"] == pytest.approx((1 / 5 + 1 / 3) / 2)  # NaN is no score: below 0


def test_coverage_and_popularity_of_the_top_20():
    popularity = np.arange(25, 0, -1)  # item i has 25 - i training events
    test, catalogue = made_up_test([[0, 1, 2]], 25, popularity)
    scores = np.zeros(25)
    scores[5:] = 1  # items 5 to 24 are the top 20
    report = evaluate([Fixed("pop", popularity), Fixed("odd", scores)], test, catalogue)
    assert report["results"]["pop"]["coverage@20"] == pytest.approx(20 / 25)
    assert report["results"]["pop"]["popularity@20"] == pytest.approx(popularity[:20].mean())
    assert report["results"]["odd"]["popularity@20"] == pytest.approx(popularity[5:].mean())
    assert report["results"]["pop"]["hr@1"] == 0 and report["results"]["pop"]["hr@5"] == 1  # 2nd and 3rd
    assert report["results"]["odd"]["hr@20"] == 0  # below the 20 it scores 1, level with 4 others: 25th


def test_the_table_and_the_picture(tiny, tmp_path):
    report = evaluate([Pop(tiny.train, tiny.catalogue), SPop(tiny.train, tiny.catalogue)], tiny.test, tiny.catalogue)
    table = results_table(report).splitlines()
    assert table[0].startswith("| recommender | HR@1 | HR@5 | HR@10 | HR@20 | MRR@1 |")
    assert len(table[0].split("|")) == len(table[1].split("|")) == len(table[2].split("|"))
    pop, spop = table[2].split(" | "), table[3].split(" | ")
    assert pop[0] == "| pop" and spop[0] == "| spop"
    assert pop[8] == f"**{report['results']['pop']['mrr@20']:.3f}**"  # the best MRR@20 in bold, the other not
    assert spop[8] == f"{report['results']['spop']['mrr@20']:.3f}"
    assert "3 test events in 2 sessions" in table[-1]
    path = results_plot(report, tmp_path / "curves.png", "tiny")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_what_cannot_be_scored_is_said():
    test, catalogue = made_up_test([[0], [1]], 3)
    with pytest.raises(GruveError, match="no test events to score"):
        evaluate([Fixed("pop", [1, 2, 3])], test, catalogue)
    test, catalogue = made_up_test([[0, 1]], 3)
    with pytest.raises(ValueError, match=r"next_scores must give \(1, 3\)"):
        evaluate([Fixed("short", [1, 2])], test, catalogue)
