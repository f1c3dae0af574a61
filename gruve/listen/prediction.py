"""Labelling audio files with a classifier: files, folders and globs in; predictions and failures out.

Each file is read and classified a block at a time (`AudioClassifier.predict`), so a recording of hours takes
no more memory than one of a minute. Plain torch (no Lightning), so `gruve listen predict` starts fast.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gruve.errors import GruveError, check, check_at_least
from gruve.listen.model import AudioClassifier, Prediction


@dataclass(kw_only=True)
class PredictOptions:
    """`gruve listen predict`'s options: how many labels to give per file, and which form the command line
    prints them in. (`predict` takes `top_k` itself, as `AudioClassifier.predict` does, and checks it here.)"""

    top_k: int = 1  # labels per file, most likely first
    as_json: bool = False  # the command line prints one JSON document
    as_csv: bool = False  # the command line prints CSV rows: path, rank, label, probability

    def __post_init__(self):
        check_at_least(self.top_k, "top_k", 1)
        check(not (self.as_json and self.as_csv), "as_json", "{as_json} and {as_csv} cannot both be on.")


@dataclass
class Predictions:
    """What `predict` returns: a prediction per readable file, and a sentence per file that could not be read."""

    predictions: list[Prediction] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> list[dict]:
        """Every prediction as JSON-ready dicts (see `Prediction.to_dict`)."""
        return [p.to_dict() for p in self.predictions]

    def csv_rows(self) -> tuple[list[str], list[list]]:
        """A CSV header and one row per file and rank (path, rank, label, probability), then for a long
        recording one row per segment, its rank `segment` and its start and end in seconds."""
        rows = []
        for p in self.predictions:
            rows += [[p.path, rank, label, f"{value:.4f}", "", ""] for rank, (label, value) in enumerate(p.top, 1)]
            rows += [[p.path, "segment", label, "" if value is None else f"{value:.4f}", start, end]
                     for start, end, label, value in p.segments]
        return ["path", "rank", "label", "probability", "start", "end"], rows


def expand_files(specs: Iterable[str | Path]) -> list[str]:
    """Files as given, audio files below folders, and matches of globs; a missing path is kept so it is reported."""
    from gruve.audio import is_audio_file

    specs = [str(spec) for spec in specs]
    files = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            files += sorted(str(p) for p in path.rglob("*") if is_audio_file(p))
        elif not path.exists() and glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                raise GruveError(f"{spec} matches no files.")
            files += matches
        else:
            files.append(spec)
    if not files:
        raise GruveError(f"no audio files in {' '.join(specs)}.")
    return files


def predict(model: str | Path | AudioClassifier, files: str | Path | Iterable[str | Path],
            top_k: int = 1) -> Predictions:
    """Label every audio file in `files` (files, folders searched recursively, or globs) with `model` (a
    name, a bundle or a loaded classifier), with its `top_k` labels. A file that cannot be read is reported
    in `failures`, and the rest are still labelled."""
    from gruve import bundle

    options = PredictOptions(top_k=top_k)
    classifier = model if isinstance(model, AudioClassifier) else bundle.load(model, task="listen")
    return Predictions(*each_file(files, lambda path: classifier.predict(path, options.top_k)))


def each_file(files: str | Path | Iterable[str | Path], read: Callable[[str], object]) -> tuple[list, list[str]]:
    """`read(path)` of every audio file in `files` (as `expand_files` finds them), and the sentence of each
    that could not be read (an `AudioError`): one broken file among many is reported, and the rest are read."""
    from gruve.audio import AudioError

    results, failures = [], []
    for path in expand_files([files] if isinstance(files, (str, Path)) else files):
        try:
            results.append(read(path))
        except AudioError as error:
            failures.append(str(error))
    return results, failures
