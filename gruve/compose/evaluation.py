"""`evaluate` (`gruve compose evaluate`): how close generated music is to a corpus's held-out pieces, metric by metric
(`gruve.compose.metrics`), beside a shuffled-token baseline, with the validity of the tokens and, for a
model, its NLL per token on those pieces.

Beside the model stand two sets made of the corpus's other pieces (those a model learns from, never the
held-out ones it is measured against), all of them up to OTHERS: the same pieces with their tokens in a
random order (the shuffled-token baseline: right token counts, no musical order), and the same pieces as
they are (real music: how close a perfect model could come). Taking all of them, not as many as were
generated, keeps the baseline steady: most shuffled pieces decode to fewer than two notes and drop out,
and a small random draw moves the baseline from one seed to the next (docs/ has the measurement). The
held-out pieces are measured as the tokenizer writes them (encoded and decoded), as are the generated and
the other pieces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from gruve.compose import corpus as corpora
from gruve import progress
from gruve.compose import metrics
from gruve.compose.lm import tokens
from gruve.compose.scores import read_score, score_files
from gruve.data.items import SPLITS, DataError
from gruve.errors import check, check_at_least, check_positive
from gruve.files import write_csv, write_json

OTHERS = 2000  # the most pieces in each baseline set, drawn at random beyond that


@dataclass(kw_only=True)
class EvaluateOptions:
    """What to measure against, and how to generate the pieces measured when the source is a model."""

    reference: str  # the corpus to compare with, as `corpus.load` takes it
    split: str = "test"  # which part of the reference: test, valid or train
    n: int = 20  # pieces to generate when the source is a model
    bars: int | None = None  # the most bars per generated piece (None: each as long as a held-out piece)
    temperature: float = 1.0
    top_p: float = 0.95
    seed: int = 0  # of generation and of the pieces drawn for the baselines
    split_seed: int | None = None  # of the reference's 80/10/10 split (None: a model's training seed; 0 for a folder)
    split_by: str | None = None  # a folder reference's split unit, file or folder (None: as the model trained; file)
    exclude: tuple[str, ...] | None = None  # globs left out of a folder reference (None: as the model trained; none)
    cache_dir: Path | None = None

    def __post_init__(self):
        check(self.split in SPLITS, "split", f"{{split}} must be one of {', '.join(SPLITS)} (got {self.split!r}).")
        check_at_least(self.n, "n", 1)
        check_at_least(self.bars, "bars", 1, optional=True)
        check_positive(self.temperature, "temperature")
        check(0 < self.top_p <= 1, "top_p", f"{{top_p}} must be above 0 and at most 1 (got {self.top_p}).")
        check_at_least(self.seed, "seed", 0)
        check_at_least(self.split_seed, "split_seed", 0, optional=True)
        check(self.split_by in (None, *corpora.SPLIT_BY), "split_by",
              f"{{split_by}} must be one of {', '.join(corpora.SPLIT_BY)} (got {self.split_by!r}).")


def evaluate(source: str | os.PathLike, options: EvaluateOptions, out: str | os.PathLike = "runs/evaluation",
             say: Callable[[str], None] = print) -> dict:
    """Measure `source` (a model, sampled at `options.temperature` and `top_p`, or a folder of MIDI / score
    files) against `options.reference`'s `split` pieces; writes `evaluation.json`, `pieces.csv` and
    `distributions.png` into `out`, and returns the report.

    `seed` draws the generated pieces and the baselines' shuffles. `split_seed` splits a corpus that has no
    official split (bach, a folder) as training did: by default a model's own training seed, so a model is
    measured against the pieces it never saw whatever `seed` is, and 0 (training's default) for a folder."""
    from gruve import bundle

    path, out, split, seed = Path(source), Path(out), options.split, options.seed
    model = None if path.is_dir() and not (path / "model.safetensors").exists() else bundle.load(source, "compose")
    trained = model.meta["training"] if model is not None else {}
    split_seed = trained.get("seed", 0) if options.split_seed is None else options.split_seed
    split_by = trained.get("options", {}).get("split_by", "file") if options.split_by is None else options.split_by
    exclude = trained.get("options", {}).get("exclude", ()) if options.exclude is None else options.exclude
    corpus = corpora.load(options.reference, split_seed, say, options.cache_dir, split_by, tuple(exclude))
    held_out = corpus.split(split)
    if len(held_out) < 2:
        raise DataError(f"{options.reference} has {len(held_out)} {split} pieces; at least two are needed to compare with.")
    report: dict = {"reference": f"{corpus.name} {split} ({len(held_out)} pieces)", "split_seed": split_seed}
    if model is None:
        generated, names = _read_folder(path, say)
        tokenizer, drums = tokens.build("REMI"), corpus.drums
    else:
        sampling = {"temperature": options.temperature, "top_p": options.top_p}
        generated, names, tokenizer, drums = _generate(model, corpus, held_out, options.n, options.bars, seed, sampling,
                                                       report, say)
    # The reference as the tokenizer writes it (onsets on its grid), so that a performance's microtiming
    # is not counted as a difference no token model could close.
    reference_features = [metrics.features(_round_trip(p.score, tokenizer, drums)) for p in held_out]
    ours = [metrics.features(score) for score in generated]
    others = _others(corpus, split, seed)
    encoded = [tokens.encode(tokenizer, p.score) for p in others]
    rng = np.random.default_rng(seed)
    shuffled = [tokens.decode(tokenizer, rng.permutation(ids), drums)[0] for ids in encoded]
    real = [tokens.decode(tokenizer, ids, drums)[0] for ids in encoded]
    scores = {"model": metrics.compare(ours, reference_features)}
    for kind, pieces in (("shuffled", shuffled), ("real", real)):
        scores[kind] = metrics.compare([metrics.features(s) for s in pieces if _notes(s) >= 2], reference_features)
    report["others"] = f"{len(others)} pieces from outside {split}"
    report["metrics"] = {name: {**{kind: scores[kind][name] for kind in scores},
                                "closer": scores["model"][name]["oa"] > scores["shuffled"][name]["oa"]}
                         for name in metrics.FEATURES}
    write_json(out / "evaluation.json", report)
    _write_pieces(names, metrics.summarise(generated), out / "pieces.csv")
    metrics.plot(ours, reference_features, out / "distributions.png", f"{source} against {report['reference']}")
    return report


def _generate(model, corpus, held_out, n, bars, seed, sampling, report, say):
    """Generate `n` pieces, each paired with a held-out piece drawn at random: it is as long as that piece (in
    bars) unless `bars` caps every piece instead, and a conditioned model gets that piece's labels, so the
    generated set has the reference's mix of lengths and (say) styles. Length matters: the longer a piece,
    the wider its pitch range, say. A reference that lacks one of the model's labels (or has a value the
    model never saw) leaves them to chance: each piece's values are drawn at random, and the held-out NLL
    is taken without them."""
    from gruve.compose.lm.config import TRANSPOSITION
    from gruve.compose.lm.generation import GenerateOptions
    from gruve.compose.lm.scoring import encode, held_out_nll

    known = model.config.conditions
    corpus_labels = [label for label in known if label != TRANSPOSITION]  # the transposition is 0: as written
    labelled = all(p.labels.get(label) in known[label] for p in held_out for label in corpus_labels)
    labels = corpus_labels if labelled else []
    data = encode(held_out, model.tokenizer, replace(model.config, conditions=known if labelled else {}))
    report["held_out"] = held_out_nll(model, data)
    wanted = _pairs(held_out, data.ids, labels, n, bars, model.tokenizer.vocab["Bar_None"], seed)
    # All at once, each piece with its pair's labels and length: as the paired piece, exactly its bars; with
    # `bars`, as long as the model makes them, up to `bars`. Twice its pair's tokens stops a runaway piece (a
    # model that has not learnt bars would otherwise write pieces ten times the reference's, for minutes).
    options = GenerateOptions(n=n, bars=bars, seed=seed, may_end=bars is not None, **sampling)
    lengths = [(length, most) for _, length, most in wanted]
    budget = sum(most for _, most in lengths)
    say(f"generating {n} pieces to measure, each as long as a held-out piece (at most {budget:,} tokens in all)"
        if bars is None else f"generating {n} pieces of up to {bars} bars (at most {budget:,} tokens in all)")
    with progress.counting(budget, f"generating {n} pieces") as advance:
        pieces, _ = model.generate(options, [dict(values) for values, _, _ in wanted] if labels else None,
                                   lengths, advance)
    scores, validity = [], []
    for ids in pieces:
        score, valid = tokens.decode(model.tokenizer, ids, model.config.drums)
        scores.append(score)
        validity.append(valid)
    kept = [i for i, score in enumerate(scores) if _notes(score) >= 2]
    if len(kept) < len(scores):
        say(f"{len(scores) - len(kept)} generated pieces had fewer than two notes and are not measured")
    if not kept:
        raise DataError(f"none of the {n} pieces the model generated has two notes, so there is nothing to measure; "
                        "a model that has trained longer, or a lower --temperature, may do better.")
    report["generated"] = {"pieces": n, "measured": len(kept),
                           "bars": "as the held-out pieces" if bars is None else bars, "seed": seed, **sampling,
                           "tokens": int(sum(len(p) for p in pieces)),
                           "validity": round(float(np.mean(validity)), 4),
                           **{f"{label}s": sorted({dict(values)[label] for values, _, _ in wanted}) for label in labels}}
    return [scores[i] for i in kept], [f"sample-{i + 1}" for i in kept], model.tokenizer, model.config.drums


def _pairs(held_out: list[corpora.Piece], ids: list[np.ndarray], labels: list[str], n: int, bars: int | None,
           bar: int, seed: int) -> list[tuple[tuple[tuple[str, str], ...], int, int]]:
    """For each of `n` pieces to generate, its values of `labels` (as (label, value) pairs), its length in
    bars and its most tokens, all from a held-out piece drawn at random (its length: the `bar` tokens of its
    `ids`, unless `bars` sets every length; its most tokens: twice its own)."""
    drawn = np.random.default_rng(seed).integers(0, len(held_out), n)
    return [(tuple((label, held_out[i].labels[label]) for label in labels),
             max(int((ids[i] == bar).sum()), 1) if bars is None else bars, max(2 * len(ids[i]), 64)) for i in drawn]


def _read_folder(path: Path, say: Callable[[str], None]):
    scores, names = [], []
    for file in score_files(path):
        try:
            score = read_score(file)
        except DataError as error:
            say(f"skipped: {error}")
            continue
        if _notes(score) >= 2:
            scores.append(score)
            names.append(str(file.relative_to(path)))
    if len(scores) < 1:
        raise DataError(f"{path} holds no score with at least two notes to measure.")
    return scores, names


def _others(corpus: corpora.ScoreCorpus, split: str, seed: int) -> list[corpora.Piece]:
    """The pieces outside `split`, OTHERS of them drawn at random if there are more."""
    others = [p for p in corpus.pieces if p.split != split]
    if len(others) < 2:
        raise DataError(f"{corpus.name} has {len(others)} pieces outside {split}; the baselines need at least two.")
    chosen = np.random.default_rng(seed).permutation(len(others))[:OTHERS]
    return [others[i] for i in sorted(chosen)]


def _round_trip(score, tokenizer, drums: bool):
    return tokens.decode(tokenizer, tokens.encode(tokenizer, score), drums)[0]


def _notes(score) -> int:
    return sum(len(track.notes) for track in score.tracks)


def _write_pieces(names: list[str], rows: list[dict[str, float]], path: Path) -> None:
    """Each measured piece's metrics, one row a piece."""
    write_csv(path, ["piece", *rows[0]], ([name, *(f"{v:.4f}" for v in row.values())] for name, row in zip(names, rows)))
