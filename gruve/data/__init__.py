"""Labelled audio for training and evaluation: sources, known corpora, splits, downloads and the feature cache.

The modules import one way: `items` (the types) <- `downloads` <- `corpora` <- `sources`, and `cache`
beside them. Names are exported lazily, so `import gruve.data` costs nothing until one is used (the
feature cache imports torch).
"""

from __future__ import annotations

from gruve.lazy import exports

_WHERE = {
    "SPLITS": "items", "Corpus": "items", "DataError": "items", "Item": "items",
    "cache_root": "downloads", "download": "downloads",
    "KNOWN": "corpora", "KnownCorpus": "corpora",
    "from_folder": "sources", "from_manifest": "sources", "resolve": "sources", "split": "sources",
    "write_split": "sources",
    "FeatureCache": "cache",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = exports(__name__, _WHERE, globals())
