"""Where labelled audio comes from: a class-per-folder tree, a CSV manifest, or a known corpus; and how it splits.

Every source becomes a `Corpus`: a list of `Item`s, each a file with one or more
labels (one per target: `label`, or `digit` and `speaker`, ...) and, where the
corpus publishes one, its official split or fold. The types live in `gruve.data.items`
(and are importable from here); the known corpora in `gruve.data.corpora`, which this
module imports and which imports nothing from it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from gruve import files
from gruve.audio import is_audio_file
from gruve.data import corpora
from gruve.data.downloads import cache_root
from gruve.data.items import SPLITS, Corpus, DataError, Item
from gruve.errors import OptionError, check

__all__ = ["SPLITS", "Corpus", "DataError", "Grouping", "Item", "describe_grouping", "from_folder", "from_manifest",
           "grouping", "merges", "relabel", "resolve", "split", "write_split"]

# Namings whose files carry a speaker, matched against each file's path below the data's folder. A naming is
# taken when most files match it; Speech Commands' `_nohash_` says the part before it is the speaker's hash.
CONVENTIONS = (
    ("the Speech Commands naming (<speaker>_nohash_)", re.compile(r"(?P<speaker>[^_/]+)_nohash_")),
    ("the FSDD naming (<digit>_<speaker>_<n>)", re.compile(r"(?:^|/)\d_(?P<speaker>[A-Za-z]+)_\d+\.[^/]+$")),
)
GROUP_COLUMNS = ("speaker",)  # a manifest column that groups by default (unless it is the target)


def resolve(spec: str, cache_dir: Path | None = None, noise_folder: str | None = None,
            silence: bool = False) -> Corpus:
    """DATA as the CLI takes it: a folder, a CSV manifest, or `NAME[:PATH]` of a known corpus. `noise_folder` and
    `silence` are for a folder (see `from_folder`)."""
    name, _, local = spec.partition(":")
    path = Path(spec)
    folder_only = (("noise_folder", noise_folder), ("silence_class", silence))
    if name.lower() in corpora.KNOWN or path.is_file():
        for field, value in folder_only:
            check(not value, field, f"{{{field}}} is for a folder of class folders; {_literal(spec)} is not one.")
    if name.lower() in corpora.KNOWN:
        return corpora.KNOWN[name.lower()].corpus(Path(local) if local else None, cache_dir)
    if path.is_dir():
        return from_folder(path, cache_dir, noise_folder, silence)
    if path.is_file() and path.suffix.lower() == ".csv":
        return from_manifest(path)
    if not path.exists():
        known = ", ".join(corpora.KNOWN)
        raise DataError(f"{spec} is not a folder, a CSV manifest or a known corpus ({known}).")
    raise DataError(f"{spec} is a file but not a CSV manifest; give a folder of class folders or a .csv.")


def from_folder(root: Path, cache_dir: Path | None = None, noise_folder: str | None = None,
                silence: bool = False) -> Corpus:
    """One sub-folder per class; audio files anywhere below it.

    The sub-folder `noise_folder` (default `_background_noise_`, the Speech Commands convention) is background
    noise for augmentation, not a class: it becomes the corpus's `noise`. With `silence`, about an average class
    of one-second clips is cut from it (into the cache) as a `_silence_` class, as Speech Commands does; each
    stretch of a recording the clips come from is a group that a split keeps in one part.
    """
    folders = [d for d in sorted(root.iterdir()) if d.is_dir()]
    noise = root / (noise_folder or corpora.NOISE_FOLDER)
    check(noise_folder is None or noise.is_dir(), "noise_folder",
          f"{{noise_folder}} {_literal(noise_folder or '')}: {root} has no such folder "
          f"(its folders: {_literal(', '.join(d.name for d in folders))}).")
    noise = noise if noise.is_dir() else None
    items = [Item(p, {"label": d.name}) for d in folders if d != noise
             for p in sorted(d.rglob("*")) if is_audio_file(p)]
    if not items:
        raise DataError(f"{root} has no audio files in class sub-folders (expected {root}/CLASS/file.wav).")
    notes = []
    if noise is not None:
        recordings = sum(is_audio_file(p) for p in noise.rglob("*"))
        notes.append(f"{noise} holds background noise ({recordings} recordings), not a class")
    if silence:
        check(noise is not None, "silence_class", f"{{silence_class}} needs a folder of background noise in {root} "
                                                  f"({corpora.NOISE_FOLDER}, or the one {{noise_folder}} names).")
        clips = _silence_class(noise, round(len(items) / len({i.labels['label'] for i in items})), cache_dir)
        check(bool(clips), "silence_class", f"{{silence_class}}: {noise} has no .wav recording of a second or more "
                                            "to cut silence from.")
        items += clips
        notes.append(f"cut {len(clips)} one-second clips from {noise} as a _silence_ class (as Speech Commands does, "
                     "so its test clips come from the recordings that are also the training noise)")
    return Corpus(root.name, items, ["label"], root=root, noise=noise, notes=notes)


def _silence_class(noise: Path, n: int, cache_dir: Path | None) -> list[Item]:
    """`_silence_` items of about `n` clips of `noise`, cut once into the cache (not into the user's data), each
    grouped with the clips of the same stretch of the same recording."""
    recordings = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(noise.glob("*.wav"))]
    key = hashlib.sha256(json.dumps([str(noise.resolve()), n, recordings]).encode()).hexdigest()[:16]
    clips = corpora.silence_clips(noise, cache_root(cache_dir) / "silence" / key, n,
                                  "set --cache-dir or GRUVE_CACHE to a writable folder")
    items = []
    for clip in clips:
        stretch, rest = clip.stem.split("-", 1)
        items.append(Item(clip, {"label": "_silence_"}, group=f"{rest.rsplit('-', 1)[0]}:{stretch}"))
    return items


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
    return Corpus(path.stem, items, targets, root=path.parent)


def split(corpus: Corpus, target: str, test_fold: int | None = None, seed: int = 0,
          valid_fraction: float = 0.1, group_by: str | None = None) -> dict[str, list[Item]]:
    """Train, valid and test items by the corpus's own protocol.

    - Official splits are used as given; a missing `valid` is carved from `train` (seeded, per class).
    - Folds: `test_fold` (default the first) is the test set and the rest train; there is no
      validation set, so training runs its full length (the ESC and UrbanSound8K protocol).
    - Neither: a seeded 80/10/10 split per class, for a user's own folder.

    What is carved at random keeps each group of `grouping(corpus, target, group_by)` (a speaker, a recording)
    in one part, as stratified by class as the groups allow.
    """
    items = _labelled(corpus, target)
    group_of = _group_of(grouping(corpus, target, group_by), items)
    if any(i.split for i in items):
        parts = {s: [i for i in items if i.split == s] for s in SPLITS}
        if not parts["valid"]:
            parts["train"], parts["valid"] = _stratified(parts["train"], target, valid_fraction, seed, group_of)
        return parts
    if any(i.fold is not None for i in items):
        folds = corpus.folds
        test_fold = folds[0] if test_fold is None else test_fold
        if test_fold not in folds:
            raise DataError(f"{corpus.name} has no fold {test_fold}; its folds are {folds}.")
        return {"train": [i for i in items if i.fold != test_fold], "valid": [],
                "test": [i for i in items if i.fold == test_fold]}
    rest, test = _stratified(items, target, 0.1, seed, group_of)
    train, valid = _stratified(rest, target, 1 / 9, seed + 1, group_of)
    return {"train": train, "valid": valid, "test": test}


@dataclass
class Grouping:
    """Which group (a speaker, a recording) each file is in, and how that was found: a split never puts one
    group in two parts. A file it does not name is in the group its reader gave it, else in one of its own."""

    noun: str  # what a group is: "speaker", or the name of the regular expression's group
    how: str  # how the groups were found, e.g. "the Speech Commands naming (<speaker>_nohash_)"
    groups: dict[Path, str]  # file -> group

    def of(self, item: Item) -> str:
        """The group that `item` is kept with."""
        if item.path in self.groups:
            return "=" + self.groups[item.path]
        return "~" + item.group if item.group else "/" + str(item.path)


def grouping(corpus: Corpus, target: str, group_by: str | None = None) -> Grouping | None:
    """How `corpus` groups for learning `target`: `group_by` is a manifest column, a regular expression with one
    named group searched in each file's path below the data's folder (e.g. `(?P<speaker>[^_]+)_nohash_`), or
    "none"; by default a `speaker` column (unless it is the target), else a naming of `CONVENTIONS` that most
    files follow, else None."""
    if group_by == "none":
        return None
    items = _labelled(corpus, target)
    if group_by in corpus.targets:
        check(group_by != target, "group_by", f"{{group_by}} {_literal(group_by)} is the label being learnt: no "
                                              f"{_literal(group_by)} of the test set would have been seen in training.")
        return _by_column(corpus, items, group_by)
    if group_by is not None:
        return _by_pattern(corpus, items, group_by)
    for column in GROUP_COLUMNS:
        if column in corpus.targets and column != target:
            return _by_column(corpus, items, column)
    for how, pattern in CONVENTIONS:
        groups = _matches(corpus, items, pattern)
        if len(groups) > len(items) / 2:
            return Grouping(next(iter(pattern.groupindex)), how, groups)
    return None


def describe_grouping(corpus: Corpus, target: str, parts: dict[str, list[Item]],
                      group_by: str | None = None) -> str | None:
    """One sentence on how `split(corpus, target, ..., group_by=group_by)` grouped `parts`, or a warning where it
    did not group but the file names look grouped; None where there is nothing to say (the data's own split)."""
    items = _labelled(corpus, target)
    carved = any(i.split for i in items) and not any(i.split == "valid" for i in items)
    if not carved and any(i.split or i.fold is not None for i in items):
        return (None if group_by in (None, "none") else
                f"--group-by has no effect: {corpus.name} has its own split, which is used as it is")
    found = grouping(corpus, target, group_by)
    if found is None:
        return None if group_by == "none" or carved else _looks_grouped(corpus, items, target)
    used = [i for name in (("train", "valid") if carved else SPLITS) for i in parts[name]]
    matched = [i for i in used if i.path in found.groups]
    sentence = (f"grouped {len(matched):,} clips into {len({found.groups[i.path] for i in matched}):,} {found.noun}s "
                f"by {found.how}; no {found.noun} is in " + ("both train and valid (the test set is the data's own)"
                                                            if carved else "two parts"))
    by_reader = sum(i.path not in found.groups and bool(i.group) for i in used)
    alone = len(used) - len(matched) - by_reader
    if by_reader:
        sentence += f"; {by_reader:,} clips cut from longer recordings are grouped by the stretch they were cut from"
    if alone:
        sentence += f"; {alone:,} clips whose paths do not match are each a group of their own"
    return sentence


def merges(specs: list[str]) -> dict[str, str]:
    """`["a,b=c", ...]` (classes a and b become class c) as `{"a": "c", "b": "c"}`; a malformed spec or a class
    merged into two is an `OptionError` of `merge`."""
    merge: dict[str, str] = {}
    for spec in specs:
        sources, equals, into = spec.partition("=")
        names, into = [name.strip() for name in sources.split(",")], into.strip()
        check(bool(equals and into) and "," not in into and all(names), "merge",
              f"{{merge}} {_literal(repr(spec))} is not of the form 'a,b=c' (classes a and b become class c).")
        for name in names:
            check(merge.get(name, into) == into, "merge",
                  f"{{merge}} puts {_literal(repr(name))} into both {_literal(repr(merge.get(name)))} and "
                  f"{_literal(repr(into))}.")
            merge[name] = into
    return merge


def relabel(corpus: Corpus, target: str, merge: dict[str, str], exclude: list[str]) -> Corpus:
    """`corpus` with the classes of `target` renamed by `merge` (see `merges`) and the items of the classes in
    `exclude` left out; a class it does not have is an `OptionError` of `merge` or `exclude`."""
    if not merge and not exclude:
        return corpus
    labels = corpus.labels(target)
    for field, names in (("merge", merge), ("exclude", exclude)):
        for name in names:
            check(name in labels, field, f"{{{field}}} {_literal(name)}: {_literal(corpus.name)} has no class "
                                         f"{_literal(repr(name))} (its classes: {_literal(', '.join(labels))}).")
    items = [replace(i, labels={**i.labels, target: merge.get(i.labels[target], i.labels[target])})
             if i.labels.get(target) else i
             for i in corpus.items if i.labels.get(target) not in exclude]
    notes = [f"merged {', '.join(sorted(n for n in merge if merge[n] == into))} into {into}"
             for into in sorted(set(merge.values()))]
    if exclude:
        notes.append(f"left out {', '.join(exclude)} ({len(corpus.items) - len(items):,} clips)")
    return replace(corpus, items=items, notes=corpus.notes + notes)


def _labelled(corpus: Corpus, target: str) -> list[Item]:
    return [i for i in corpus.items if target in i.labels and i.labels[target] != ""]


def _relative(path: Path, root: Path | None) -> str:
    """`path` below `root` as `a/b.wav`; its name where it is not below it."""
    try:
        return path.relative_to(root).as_posix() if root is not None else path.name
    except ValueError:
        return path.name


def _by_column(corpus: Corpus, items: list[Item], column: str) -> Grouping:
    whose = "the manifest's" if corpus.root is not None else f"{corpus.name}'s"
    return Grouping(column, f"{whose} {column} column", {i.path: i.labels[column] for i in items if i.labels.get(column)})


def _by_pattern(corpus: Corpus, items: list[Item], group_by: str) -> Grouping:
    literal = _literal(group_by)
    try:
        pattern = re.compile(group_by)
    except re.error as error:
        raise OptionError("group_by", f"{{group_by}} {literal} is neither a column of {_literal(corpus.name)} "
                                      f"nor a valid regular expression ({_literal(str(error))}).") from None
    check(len(pattern.groupindex) == 1, "group_by",
          f"{{group_by}} {literal} is neither a column of {_literal(corpus.name)} (its columns: "
          f"{_literal(', '.join(corpus.targets))}) nor a regular expression with one named group, such as "
          "(?P<speaker>[^_]+)_nohash_.")
    groups = _matches(corpus, items, pattern)
    check(bool(groups), "group_by", f"{{group_by}} {literal} matches none of the {len(items):,} file paths (the "
                                    f"first: {_literal(_relative(items[0].path, corpus.root))}).")
    return Grouping(next(iter(pattern.groupindex)), f"--group-by {group_by}", groups)


def _matches(corpus: Corpus, items: list[Item], pattern: re.Pattern) -> dict[Path, str]:
    """The file -> group of the items whose path `pattern` finds a non-empty named group in."""
    name, groups = next(iter(pattern.groupindex)), {}
    for item in items:
        found = pattern.search(_relative(item.path, corpus.root))
        if found and found.group(name):
            groups[item.path] = found.group(name)
    return groups


def _group_of(found: Grouping | None, items: list[Item]):
    """The function that gives each item its group, or None where nothing groups (each item is its own)."""
    if found is not None:
        return found.of
    return Grouping("", "", {}).of if any(i.group for i in items) else None


def _looks_grouped(corpus: Corpus, items: list[Item], target: str) -> str | None:
    """A warning where most file names start with a part (up to `_`, `-`, `.` or a space) that recurs in several
    classes, as a speaker's or a recording's name would; None otherwise."""
    prefixes = {i.path: re.split(r"[_\-. ]", i.path.stem, maxsplit=1)[0] for i in items
                if re.search(r"[_\-. ]", i.path.stem)}
    if len(prefixes) <= len(items) / 2 or len(set(prefixes.values())) > len(prefixes) / 2:
        return None
    classes = defaultdict(set)
    for item in items:
        if item.path in prefixes:
            classes[prefixes[item.path]].add(item.labels[target])
    shared = sorted((p for p in classes if len(classes[p]) > 1), key=lambda p: (-len(classes[p]), p))
    if len(shared) < 2:
        return None
    return (f"warning: the split is not grouped, but {len(prefixes):,} of {len(items):,} file names start with a "
            f"part that recurs across classes (such as {shared[0]!r}, in {len(classes[shared[0]])} classes); if it "
            "names a speaker, a recording or a source, keep each in one part with "
            "--group-by '(?P<group>[^/_.-]+)[_.-][^/]*$'")


def _literal(text: str) -> str:
    """`text` as it reads inside an `OptionError` message, whose `{...}` name options."""
    return text.replace("{", "{{").replace("}", "}}")


def _stratified(items: list[Item], target: str, fraction: float, seed: int,
                group_of=None) -> tuple[list[Item], list[Item]]:
    """About `fraction` of each class held out, seeded; with `group_of`, whole groups (see `_grouped`)."""
    if group_of is not None:
        return _grouped(items, target, fraction, seed, group_of)
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


def _grouped(items: list[Item], target: str, fraction: float, seed: int, group_of) -> tuple[list[Item], list[Item]]:
    """Whole groups held out, in a seeded order, each where it fills more of its classes' quotas (`fraction` of
    each class) than it overfills, and never the last clips of a class; then, for a class with a quota that
    still has nothing held out, the smallest group that gives it some, so that no class is missing from a part
    while a group could be held out for it."""
    groups = defaultdict(list)
    for item in sorted(items, key=lambda i: str(i.path)):
        groups[group_of(item)].append(item)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    total = Counter(i.labels[target] for i in items)
    quota = {label: round(n * fraction) if n > 1 else 0 for label, n in total.items()}
    held_counts: Counter = Counter()

    def gain(name: str) -> tuple[int, bool]:
        counts = Counter(i.labels[target] for i in groups[name])
        filled = sum(min(k, max(0, quota[c] - held_counts[c])) for c, k in counts.items())
        return filled, all(held_counts[c] + k < total[c] for c, k in counts.items())

    chosen = set()

    def hold(name: str) -> None:
        chosen.add(name)
        held_counts.update(i.labels[target] for i in groups[name])

    for name in order:
        filled, leaves = gain(name)
        if leaves and filled > len(groups[name]) - filled:
            hold(name)
    for label in sorted(quota):
        fits = [name for name in order if name not in chosen and not held_counts[label] and quota[label]
                and any(i.labels[target] == label for i in groups[name]) and gain(name)[1]]
        if fits:
            hold(min(fits, key=lambda name: len(groups[name])))
    return ([i for name in order if name not in chosen for i in groups[name]],
            [i for name in order if name in chosen for i in groups[name]])


def write_split(parts: dict[str, list[Item]], target: str, path: Path) -> None:
    """Save a split as a manifest (atomically), so a random split can be reused and audited."""
    files.write_csv(path, ["path", target, "split"],
                    ([str(i.path), i.labels[target], name] for name, items in parts.items() for i in items))
