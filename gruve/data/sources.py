"""Where labelled audio comes from: a class-per-folder tree, a CSV manifest, or a known corpus; and how it splits.

Every source becomes a `Corpus`: a list of `Item`s, each a file with one or more
labels (one per target: `label`, or `digit` and `speaker`, ...) and, where the
corpus publishes one, its official split or fold. The types live in `gruve.data.items`
(and are importable from here); the known corpora in `gruve.data.corpora`, which this
module imports and which imports nothing from it.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from gruve import files
from gruve.audio import is_audio_file
from gruve.data import corpora
from gruve.data.items import SPLITS, Corpus, DataError, Item

__all__ = ["SPLITS", "Corpus", "DataError", "Item", "from_folder", "from_manifest", "resolve", "split",
           "write_split"]


def resolve(spec: str, cache_dir: Path | None = None) -> Corpus:
    """DATA as the CLI takes it: a folder, a CSV manifest, or `NAME[:PATH]` of a known corpus."""
    name, _, local = spec.partition(":")
    if name.lower() in corpora.KNOWN:
        return corpora.KNOWN[name.lower()].corpus(Path(local) if local else None, cache_dir)
    path = Path(spec)
    if path.is_dir():
        return from_folder(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return from_manifest(path)
    if not path.exists():
        known = ", ".join(corpora.KNOWN)
        raise DataError(f"{spec} is not a folder, a CSV manifest or a known corpus ({known}).")
    raise DataError(f"{spec} is a file but not a CSV manifest; give a folder of class folders or a .csv.")


def from_folder(root: Path) -> Corpus:
    """One sub-folder per class; audio files anywhere below it."""
    items = [Item(p, {"label": d.name}) for d in sorted(root.iterdir()) if d.is_dir()
             for p in sorted(d.rglob("*")) if is_audio_file(p)]
    if not items:
        raise DataError(f"{root} has no audio files in class sub-folders (expected {root}/CLASS/file.wav).")
    return Corpus(root.name, items, ["label"])


def from_manifest(path: Path) -> Corpus:
    """A CSV with `path,label` and optionally `fold`, `split`, `speaker` or any other label column."""
    rows = files.read_csv(path)
    if not rows or "path" not in rows[0]:
        raise DataError(f"{path} needs a header row with a 'path' column and at least one label column.")
    reserved = {"path", "split", "fold"}
    targets = [c for c in rows[0] if c not in reserved]
    if not targets:
        raise DataError(f"{path} has no label column (add 'label' beside 'path').")
    targets.sort(key=lambda c: c != "label")
    items = []
    for line, row in enumerate(rows, start=2):
        split = (row.get("split") or "").strip() or None
        if split == "validation":
            split = "valid"
        if split is not None and split not in SPLITS:
            raise DataError(f"{path} line {line}: split {split!r} is not one of {', '.join(SPLITS)}.")
        fold = row.get("fold")
        try:
            fold = int(fold) if fold not in (None, "") else None
        except ValueError:
            raise DataError(f"{path} line {line}: fold {fold!r} is not a whole number.") from None
        file = Path(row["path"])
        items.append(Item(file if file.is_absolute() else path.parent / file,
                          {t: row[t] for t in targets}, split, fold))
    return Corpus(path.stem, items, targets)


def split(corpus: Corpus, target: str, test_fold: int | None = None, seed: int = 0,
          valid_fraction: float = 0.1) -> dict[str, list[Item]]:
    """Train, valid and test items by the corpus's own protocol.

    - Official splits are used as given; a missing `valid` is carved from `train` (seeded, per class).
    - Folds: `test_fold` (default the first) is the test set and the rest train; there is no
      validation set, so training runs its full length (the ESC and UrbanSound8K protocol).
    - Neither: a seeded 80/10/10 split per class, for a user's own folder.
    """
    items = [i for i in corpus.items if target in i.labels and i.labels[target] != ""]
    if any(i.split for i in items):
        parts = {s: [i for i in items if i.split == s] for s in SPLITS}
        if not parts["valid"]:
            parts["train"], parts["valid"] = _stratified(parts["train"], target, valid_fraction, seed)
        return parts
    if any(i.fold is not None for i in items):
        folds = corpus.folds
        test_fold = folds[0] if test_fold is None else test_fold
        if test_fold not in folds:
            raise DataError(f"{corpus.name} has no fold {test_fold}; its folds are {folds}.")
        return {"train": [i for i in items if i.fold != test_fold], "valid": [],
                "test": [i for i in items if i.fold == test_fold]}
    rest, test = _stratified(items, target, 0.1, seed)
    train, valid = _stratified(rest, target, 1 / 9, seed + 1)
    return {"train": train, "valid": valid, "test": test}


def _stratified(items: list[Item], target: str, fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    by_label = defaultdict(list)
    for item in items:
        by_label[item.labels[target]].append(item)
    rng = random.Random(seed)
    keep, held = [], []
    for label in sorted(by_label):
        group = sorted(by_label[label], key=lambda i: str(i.path))
        rng.shuffle(group)
        n = round(len(group) * fraction) if len(group) > 1 else 0
        held += group[:n]
        keep += group[n:]
    return keep, held


def write_split(parts: dict[str, list[Item]], target: str, path: Path) -> None:
    """Save a split as a manifest (atomically), so a random split can be reused and audited."""
    files.write_csv(path, ["path", target, "split"],
                    ([str(i.path), i.labels[target], name] for name, items in parts.items() for i in items))
