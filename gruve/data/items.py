"""What every data source produces: a `Corpus` of `Item`s, and the `DataError` a bad source raises.

These types sit below both `sources` (folders, manifests) and `corpora` (known corpora), so each of
those imports them from here and neither imports the other's types: the data modules form no circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gruve.errors import GruveError

SPLITS = ("train", "valid", "test")


class DataError(GruveError):
    """A data source that cannot be read as labelled audio."""


@dataclass
class Item:
    """One audio file with its labels (one per target) and, where the corpus publishes one, its split or fold;
    `group` is a group the reader knows it belongs to (the stretch of recording a silence clip was cut from),
    which a random split keeps in one part."""

    path: Path
    labels: dict[str, str]
    split: str | None = None
    fold: int | None = None
    group: str | None = None


@dataclass
class Corpus:
    """A named list of items, the targets they are labelled for, and the defaults that suit the corpus."""

    name: str
    items: list[Item]
    targets: list[str]  # the first is the default
    defaults: dict = field(default_factory=dict)  # model and feature defaults that suit this corpus
    root: Path | None = None  # the folder a folder's or a manifest's file paths are matched relative to
    noise: Path | None = None  # a folder of background noise found among the class folders
    notes: list[str] = field(default_factory=list)  # what reading decided that the user should be told

    def target(self, name: str | None) -> str:
        """`name`, or the default target when it is None; a target the corpus lacks is a `DataError`."""
        name = name or self.targets[0]
        if name not in self.targets:
            raise DataError(f"{self.name} has no target {name!r}; it has: {', '.join(self.targets)}.")
        return name

    def labels(self, target: str) -> list[str]:
        """The classes of `target`, in natural order (2 before 10)."""
        return sorted({item.labels[target] for item in self.items if item.labels.get(target)}, key=_natural)

    @property
    def folds(self) -> list[int]:
        """The folds the items are in, ascending (empty for a corpus without folds)."""
        return sorted({item.fold for item in self.items if item.fold is not None})


def _natural(label: str):
    return (0, int(label), "") if label.isdigit() else (1, 0, label)
