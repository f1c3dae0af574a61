"""Using and scoring speech recognisers: files in, transcripts out; word and character error rates (jiwer)
with the worst utterances. Plain torch (no Lightning), so `gruve listen transcribe` starts fast."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import jiwer
import numpy as np
import torch

from gruve import bundle
from gruve.data.cache import FeatureCache
from gruve.data.items import Corpus, DataError, Item
from gruve.errors import check_at_least
from gruve.listen.transcriber import Transcriber, Transcript, normalise

WORST = 10  # utterances a report lists, worst first
EVERY = "_utterance"  # a label every utterance shares, so that `split` draws a plain (grouped) random split


def utterances(corpus: Corpus, data: str) -> tuple[Corpus, list[tuple[Path, str]]]:
    """`corpus` with each item's text normalised and the label EVERY, less the items with no text; and
    `(path, sentence)` for each of those, naming its manifest line where `data` is a manifest."""
    kept, skipped = [], []
    for line, item in enumerate(corpus.items, start=2):
        text = normalise(item.labels.get("text", ""))
        if text:
            kept.append(replace(item, labels={**item.labels, "text": text, EVERY: EVERY}))
        else:
            skipped.append((item.path, f"{where(data, item, line)} has no text"))
    return replace(corpus, items=kept, targets=[*corpus.targets, EVERY]), skipped


def where(data: str, item: Item, line: int) -> str:
    """Where an utterance comes from, for a sentence about it: its manifest line (`line`, where `data` is a
    manifest: `from_manifest` makes an item of each row in order), else its file."""
    manifest = Path(data).suffix.lower() == ".csv" and Path(data).is_file()
    return f"{data} line {line} ({item.path.name})" if manifest else str(item.path)


@dataclass
class Transcripts:
    """What `transcribe` returns: a transcript per readable file, and a sentence per file that could not be read."""

    transcripts: list[Transcript] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> list[dict]:
        """Every transcript as JSON-ready dicts (see `Transcript.to_dict`)."""
        return [t.to_dict() for t in self.transcripts]


def transcribe(model: str | Path | Transcriber, files: str | Path | Iterable[str | Path], beam: int = 1) -> Transcripts:
    """The text of every audio file in `files` (files, folders searched recursively, or globs), with word times,
    by `model` (a name, a bundle or a loaded transcriber), decoded greedily or with a prefix beam search of
    `beam` prefixes. A file that cannot be read is reported in `failures`, and the rest are still transcribed."""
    from gruve.listen.prediction import each_file

    check_at_least(beam, "beam", 1)
    recogniser = model if isinstance(model, Transcriber) else bundle.load(model, task="transcribe")
    return Transcripts(*each_file(files, lambda path: recogniser.transcribe(path, beam)))


@torch.inference_mode()
def hypotheses(model: Transcriber, features: list[np.ndarray], beam: int = 1) -> list[str]:
    """The transcript of each of log-mel `features` (each `(n_mels, frames)`), as `transcribe` reads it."""
    model.eval()
    return [model.decode(model.recording_log_probs(torch.from_numpy(f)), beam=beam).text for f in features]


def error_rates(references: list[str], hypotheses: list[str], paths: list[str] | None = None) -> dict:
    """Word and character error rates of `hypotheses` against `references` (jiwer's, over all utterances
    pooled), the utterances, and the WORST of them by their own word errors, each with its text and what was heard."""
    words = jiwer.process_words(references, hypotheses)
    paths = paths or [""] * len(references)
    scored = []
    for path, reference, hypothesis, alignment in zip(paths, references, hypotheses, words.alignments):
        errors = sum(max(chunk.ref_end_idx - chunk.ref_start_idx, chunk.hyp_end_idx - chunk.hyp_start_idx)
                     for chunk in alignment if chunk.type != "equal")
        scored.append({"path": path, "reference": reference, "hypothesis": hypothesis, "word_errors": errors,
                       "wer": errors / max(1, len(reference.split()))})
    worst = sorted((s for s in scored if s["word_errors"]), key=lambda s: (-s["wer"], -s["word_errors"], s["path"]))
    return {"wer": float(words.wer), "cer": float(jiwer.cer(references, hypotheses)), "utterances": len(references),
            "words": sum(len(r.split()) for r in references), "worst": worst[:WORST]}


def score(model: Transcriber, items: list[Item], data: str, split: str, lines: dict[Path, int],
          strict: bool = False, cache_dir: Path | None = None, say=print, beam: int = 1) -> dict:
    """WER, CER and the worst utterances of `model` on `items` (the evaluated split, their text normalised, each
    on manifest line `lines[path]`). Utterances with tokens outside the model's vocabulary are said and
    skipped, as unreadable audio is."""
    kept = []
    for item in items:
        if model.encode(item.labels["text"]) is None:
            say(f"skipped: {where(data, item, lines[item.path])} has {model.config.unit} outside the model's "
                f"vocabulary ({item.labels['text']!r})")
        else:
            kept.append(item)
    if not kept:
        raise DataError(f"{data} has no {split} utterances that the model can be scored on.")
    loaded, failures = FeatureCache(model.config.features, cache_dir).load(kept, strict, f"{split} audio")
    for _, reason in failures:
        say(f"skipped: {reason}")
    report = error_rates([item.labels["text"] for item, _ in loaded], hypotheses(model, [f for _, f in loaded], beam),
                         [str(item.path) for item, _ in loaded])
    report.update(data=data, split=split, beam=beam, skipped=len(items) - len(loaded))
    return report
