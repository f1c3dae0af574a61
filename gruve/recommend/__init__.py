"""recommend: next-track suggestions from listening sessions; the Python face of `gruve recommend`.

A GRU4Rec session model (Hidasi et al. 2016, 2018) beside the strong baselines of session-based
recommendation, all scored by one evaluation on the same test events::

    from gruve import recommend

    split = recommend.load_split("slice-0.tsv", "30music")       # train / valid / test sessions, by time
    baselines = recommend.baselines(split.train, split.catalogue)  # pop, spop, iknn, sknn, vsknn
    report = recommend.evaluate(baselines, split.test, split.catalogue)
    print(recommend.results_table(report))

Names are imported on first use (PEP 562): training needs Lightning, which takes seconds to import, and
suggesting must not wait for it.
"""

from __future__ import annotations

from gruve.lazy import exports

_EXPORTS = {
    "load_split": "gruve.recommend.sessions",
    "Sessions": "gruve.recommend.sessions",
    "Catalogue": "gruve.recommend.sessions",
    "Split": "gruve.recommend.sessions",
    "Recommender": "gruve.recommend.sessions",
    "EventsError": "gruve.recommend.sessions",
    "baselines": "gruve.recommend.baselines",
    "Pop": "gruve.recommend.baselines",
    "SPop": "gruve.recommend.baselines",
    "ItemKNN": "gruve.recommend.baselines",
    "SKNN": "gruve.recommend.baselines",
    "VSKNN": "gruve.recommend.baselines",
    "evaluate": "gruve.recommend.evaluation",
    "results_table": "gruve.recommend.evaluation",
    "results_plot": "gruve.recommend.evaluation",
    "RecommendOptions": "gruve.recommend.training",
    "train": "gruve.recommend.training",
    "GRU4Rec": "gruve.recommend.model",
    "RecommenderConfig": "gruve.recommend.model",
    "suggest": "gruve.recommend.suggestion",
    "playlist": "gruve.recommend.suggestion",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
