"""Training GRU4Rec on listening sessions: what to train (`RecommendOptions`), session-parallel mini-batches,
the sampled losses, the LightningModule, and Optuna tuning on the validation tail.

Session-parallel mini-batches (Hidasi et al. 2016): each row of a batch follows one session, an event per
step, and the GRU's state is carried from batch to batch; when a row's session ends the next session takes
the row and the row's state starts again from zeros. Each step scores every row's next item against the
batch's targets and `n_sample` negatives drawn by popularity ** `sample_alpha`, shared by all rows.
"""

from __future__ import annotations

import heapq
import math
import os
import shutil
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from gruve import training
from gruve.errors import GruveError, check, check_at_least, check_positive
from gruve.recommend.evaluation import conservative_ranks, evaluate
from gruve.recommend.model import GRU4Rec, RecommenderConfig
from gruve.recommend.sessions import Catalogue, Sessions, Split, load_split
from gruve.training import TrainOptions

VALID_BATCH = 64  # validation sessions scored together
MONITOR = "val_loss"  # what early stopping and the best checkpoint follow: see RecommendTask.validation_step
K = 20  # the cut-off of the MRR and hit rate that validation and tuning report


@dataclass(kw_only=True)
class RecommendOptions:
    """What to train: the events, how they become sessions and splits (passed to `load_split`), the model and
    its loss. Every default works on the 30Music slices without tuning; `trials` tunes the main ones."""

    data: str  # a file of listening events
    format: str = "csv"  # 30music, lastfm or csv (then the columns below name the fields)
    user: str | None = None  # csv: the column of user ids
    time: str | None = None  # csv: the column of times (ISO 8601 or unix seconds)
    item: str | None = None  # csv: the column of item ids
    artist: str | None = None  # csv: the column of artist ids, if any
    session: str | None = None  # csv: the column of session ids, if any (else sessions are cut at `session_gap`)
    name: str | None = None  # csv: the column of item names, if any
    session_gap: float = 30.0  # minutes of inactivity that end a session, where the data has no session column
    test_days: float = 1.0  # sessions starting in the last `test_days` are the test set
    valid_days: float = 1.0  # and those starting in the last `valid_days` of the rest the validation tail
    min_item_count: int = 2  # items seen fewer times in training are dropped
    min_session_length: int = 2  # sessions shorter than this are dropped
    hidden_size: int = 128
    num_layers: int = 1
    embedding: int = 0  # input embedding width (0: the hidden size; tied to the output embedding with `tied`)
    tied: bool = True
    dropout: float = 0.5
    embedding_dropout: float = 0.5
    loss: str = "ce"  # one of LOSSES
    n_sample: int = 2048
    sample_alpha: float = 0.5
    logq: float = 1.0
    bpreg: float = 1.0
    artists: bool = True  # add an artist embedding to each item's (where the data names artists)
    lr: float = 0.1  # Adagrad's learning rate
    batch_size: int = 32  # sessions side by side in a mini-batch
    trials: int = 0  # Optuna trials tuning the main hyper-parameters by validation MRR@20 (0: the options as given)
    cache_dir: Path | None = None  # where the preprocessed sessions are cached (default: gruve's cache)

    def __post_init__(self):
        self.data = str(self.data)
        self.cache_dir = None if self.cache_dir is None else Path(self.cache_dir)
        check_positive(self.session_gap, "session_gap")  # in minutes here; the split's other options are load_split's
        check_at_least(self.batch_size, "batch_size", 1)
        check_at_least(self.trials, "trials", 0)
        check_positive(self.lr, "lr")
        self.model_config(1, 1)  # the model's own checks, on the options that make it

    def split_options(self) -> dict:
        """The options `load_split` takes, as these options give them."""
        names = ("format", "user", "time", "item", "artist", "session", "name", "test_days", "valid_days",
                 "min_item_count", "min_session_length", "cache_dir")
        return {"session_gap": self.session_gap * 60, **{name: getattr(self, name) for name in names}}

    def model_config(self, n_items: int, n_artists: int) -> RecommenderConfig:
        """The network these options describe for a catalogue of `n_items` (and `n_artists`, 0 for none)."""
        return RecommenderConfig(n_items=n_items, hidden_size=self.hidden_size, num_layers=self.num_layers,
                                 embedding=self.embedding, tied=self.tied, dropout=self.dropout,
                                 embedding_dropout=self.embedding_dropout, loss=self.loss, n_sample=self.n_sample,
                                 sample_alpha=self.sample_alpha, logq=self.logq, bpreg=self.bpreg,
                                 n_artists=n_artists, artist_input=self.artists and n_artists > 0)


# Session-parallel mini-batches --------------------------------------------------------------------------------


def session_parallel(sessions: Sessions, order: np.ndarray, batch_size: int, steps: int | None = None):
    """Yield `(inputs, targets, starts, valid)` per step, each `(batch_size,)`: row r's input item and the item
    after it, whether the row's session starts at this step (its state must start from zeros), and whether the
    row holds a session at all (rows whose sessions have run out are padding). Sessions in `order` take the
    rows as they come free, lowest row first; with `steps`, padding steps follow until there are that many (so
    that every DDP rank takes as many steps)."""
    items, offsets = sessions.items, sessions.offsets
    order = order[offsets[order + 1] - offsets[order] >= 2]  # a session of one event has nothing to predict
    position = np.zeros(batch_size, np.int64)  # the index in `items` of each row's next input
    end = np.zeros(batch_size, np.int64)  # one past its session's last event: the row is free once position + 1 == end
    taken, done = 0, 0
    while True:
        free = np.flatnonzero(position + 1 >= end)
        new = free[: len(order) - taken]
        position[new], end[new] = offsets[order[taken:taken + len(new)]], offsets[order[taken:taken + len(new)] + 1]
        taken += len(new)
        valid = position + 1 < end
        if not valid.any():
            break
        starts = np.zeros(batch_size, bool)
        starts[new] = True
        inputs = np.where(valid, items[np.minimum(position, len(items) - 1)], 0)
        targets = np.where(valid, items[np.minimum(position + 1, len(items) - 1)], 0)
        yield inputs, targets, starts, valid
        position[valid] += 1
        done += 1
    for _ in range(0, (steps or done) - done):
        nothing = np.zeros(batch_size, np.int64)
        yield nothing, nothing, np.ones(batch_size, bool), np.zeros(batch_size, bool)


def session_parallel_steps(lengths: np.ndarray, batch_size: int) -> int:
    """How many steps `session_parallel` takes over sessions of `lengths` events (in order): the time the last
    row comes free when each session takes the row free first."""
    rows = [(0, row) for row in range(batch_size)]
    for length in lengths[lengths >= 2]:
        free_at, row = heapq.heappop(rows)
        heapq.heappush(rows, (free_at + int(length) - 1, row))
    return max(free_at for free_at, _ in rows)


class SessionBatches(IterableDataset):
    """The training sessions as session-parallel mini-batches (see `session_parallel`), in the order the
    sessions start, as GRU4Rec trains. Under DDP each rank takes every world-size-th session, and every rank
    as many steps (padded with empty ones), so that no rank waits for another at the end of an epoch."""

    def __init__(self, sessions: Sessions, batch_size: int):
        self.sessions, self.batch_size = sessions, batch_size
        self.order = np.argsort(sessions.times[sessions.offsets[:-1]], kind="stable")

    def __iter__(self):
        rank, world = _rank_and_world()
        lengths = np.diff(self.sessions.offsets)
        steps = max(session_parallel_steps(lengths[self.order[r::world]], self.batch_size) for r in range(world))
        for batch in session_parallel(self.sessions, self.order[rank::world], self.batch_size, steps):
            yield tuple(torch.from_numpy(np.ascontiguousarray(part)) for part in batch)


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class PaddedSessions(IterableDataset):
    """Whole sessions, `VALID_BATCH` at a time, padded at the end: `(items (batch, longest), lengths)`, for
    validation. Under DDP each rank takes every world-size-th batch."""

    def __init__(self, sessions: Sessions):
        self.sessions = sessions

    def __iter__(self):
        rank, world = _rank_and_world()
        keep = np.flatnonzero(np.diff(self.sessions.offsets) >= 2)
        for first in range(rank * VALID_BATCH, len(keep), VALID_BATCH * world):
            chosen = [self.sessions.session(s) for s in keep[first:first + VALID_BATCH]]
            lengths = np.array([len(items) for items in chosen])
            padded = np.zeros((len(chosen), lengths.max()), np.int64)
            for row, items in enumerate(chosen):
                padded[row, :len(items)] = items
            yield torch.from_numpy(padded), torch.from_numpy(lengths)


# Losses -------------------------------------------------------------------------------------------------------


def sampled_loss(scores: torch.Tensor, candidates: torch.Tensor, targets: torch.Tensor, log_q: torch.Tensor,
                 config: RecommenderConfig) -> torch.Tensor:
    """Each row's loss, `(batch,)`, from its `scores (batch, candidates)` of the step's candidate items
    `candidates`: the batch's targets first (row i's own target in column i), then the sampled negatives.
    A candidate that is a row's target but not in its own column (another row's same target, or a negative
    that happens to be it) is no negative for that row, and is left out of its loss.

    "ce": softmax cross-entropy over the candidates, each score less `logq` times the log of the expected
    number of times its item is among them (`log_q`: the logQ correction, which undoes the favour that
    sampling by popularity shows popular items). "bpr-max": -log of the softmax-weighted mean over negatives of
    sigmoid(target - negative), plus `bpreg` times the softmax-weighted mean of the negatives' squared scores
    (Hidasi & Karatzoglou 2018)."""
    batch = len(targets)
    own = torch.zeros_like(scores, dtype=torch.bool)
    own[:, :batch] = torch.eye(batch, dtype=torch.bool, device=scores.device)
    other_hit = (candidates[None, :] == targets[:, None]) & ~own
    target_scores = scores[:, :batch].diagonal()
    if config.loss == "ce":
        logits = (scores - config.logq * log_q[None, :]).masked_fill(other_hit, -math.inf)
        return torch.logsumexp(logits, 1) - logits[:, :batch].diagonal()
    negative = ~(own | other_hit)
    weights = torch.softmax(scores.masked_fill(~negative, -math.inf), 1)
    ranked = (weights * torch.sigmoid(target_scores[:, None] - scores)).sum(1)
    return -torch.log(ranked + 1e-24) + config.bpreg * (weights * scores ** 2).sum(1)


def expected_log_count(popularity: torch.Tensor, batch_size: int, n_sample: int, alpha: float) -> torch.Tensor:
    """Log of how many times each item is expected among a step's candidates: a row's target is an event
    drawn by popularity, each of `n_sample` negatives an item drawn by popularity ** `alpha`."""
    popularity = popularity.double().clamp(min=1)
    weights = popularity ** alpha
    count = batch_size * popularity / popularity.sum() + n_sample * weights / weights.sum()
    return torch.log(count).float()


# The LightningModule ------------------------------------------------------------------------------------------


class RecommendTask(L.LightningModule):
    """How GRU4Rec learns: session-parallel steps carrying the GRU's state, a sampled loss per step, Adagrad
    (the authors' optimiser, with sparse updates of the item embeddings); validation ranks every next item of
    the validation sessions against the whole catalogue."""

    def __init__(self, model: GRU4Rec, lr: float, batch_size: int):
        super().__init__()
        self.model, self.lr = model, lr
        config = model.config
        draw = model.popularity.double().clamp(min=1) ** config.sample_alpha
        self.register_buffer("sampling", torch.cumsum(draw / draw.sum(), 0).float(), persistent=False)
        self.register_buffer("log_q", expected_log_count(model.popularity, batch_size, config.n_sample,
                                                         config.sample_alpha), persistent=False)
        self.state: torch.Tensor | None = None  # the GRU's state of each batch row, carried from step to step

    def setup(self, stage: str):
        """Dense gradients for the item embeddings where DDP reduces over NCCL (GPUs), which cannot all-reduce
        sparse tensors; gloo (CPUs) can, and one process reduces nothing."""
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if distributed and torch.distributed.get_backend() != "gloo":
            for module in self.model.modules():
                if isinstance(module, torch.nn.Embedding):
                    module.sparse = False

    def on_train_epoch_start(self):
        self.state = None

    def negatives(self) -> torch.Tensor:
        """`n_sample` items drawn by popularity ** sample_alpha (with replacement), shared by the batch."""
        uniform = torch.rand(self.model.config.n_sample, device=self.sampling.device)
        return torch.searchsorted(self.sampling, uniform).clamp(max=len(self.sampling) - 1)

    def carry(self, starts: torch.Tensor) -> torch.Tensor | None:
        """The state to step the batch from: the last step's, cut from its history (truncated backpropagation,
        as GRU4Rec trains), with zeros for the rows whose session starts now."""
        if self.state is None:
            return None
        return self.state.detach() * ~starts[None, :, None]

    def training_step(self, batch, _):
        """One session-parallel step: each row's next item scored against the batch's targets and the
        negatives; the mean loss over the rows that hold a session."""
        inputs, targets, starts, valid = batch
        h, self.state = self.model(inputs[:, None], self.carry(starts))
        candidates = torch.cat([targets, self.negatives()])
        scores = self.model.scores(h[:, 0], candidates)
        losses = sampled_loss(scores, candidates, targets, self.log_q[candidates], self.model.config)
        rows = valid.sum().clamp(min=1)
        loss = (losses * valid).sum() / rows
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=int(rows), sync_dist=True)
        return loss

    def validation_step(self, batch, _):
        """The rank of every validation event's item among all catalogue items, as `evaluate` ranks it (ties
        counted against the model): MRR@20 and HR@20 logged for people, and `val_loss`, 1 - MRR@20, for early
        stopping and the best checkpoint (`training.fit` keeps the lowest)."""
        items, lengths = batch
        h, _ = self.model(items[:, :-1])
        mask = torch.arange(items.shape[1] - 1, device=items.device)[None, :] < (lengths[:, None] - 1)
        ranks = conservative_ranks(self.model.scores(h[mask]).cpu().numpy(), items[:, 1:][mask].cpu().numpy())
        mrr = float(np.mean(np.where(ranks <= K, 1.0 / ranks, 0.0)))
        events = len(ranks)
        self.log(f"val_mrr@{K}", mrr, prog_bar=True, batch_size=events, sync_dist=True)
        self.log(f"val_hr@{K}", float(np.mean(ranks <= K)), prog_bar=True, batch_size=events, sync_dist=True)
        self.log(MONITOR, 1 - mrr, batch_size=events, sync_dist=True)

    def configure_optimizers(self):
        """Adagrad at `lr`, which takes the item embeddings' sparse gradients (whose invariants torch's own
        Adagrad keeps: its warning that they go unchecked says nothing to act on)."""
        warnings.filterwarnings("ignore", ".*Sparse invariant checks are implicitly disabled.*")
        return torch.optim.Adagrad(self.parameters(), lr=self.lr)


# Training ----------------------------------------------------------------------------------------------------


@training.run_folder
def train(options: RecommendOptions, run: TrainOptions, say=print) -> dict:
    """Split `options.data` by time and train GRU4Rec on it in two parts: first on the training sessions,
    stopping early on the validation tail's MRR@20 (with `trials`, Optuna first tunes the main
    hyper-parameters by it), in `run.out/validation`; then afresh on the training and validation sessions
    together for as many epochs as the first part found best, in `run.out`: the validation tail is the most
    recent listening before the test day, and what people play next resembles what they played last. The
    final model's test metrics and the catalogue go into `run.out/model.safetensors`; returns its summary: the
    model's path, the metrics and the time trained."""
    split = load_split(options.data, **options.split_options())
    for note in split.report.get("notes", []):
        say(note)
    epochs = run.max_epochs or EPOCHS
    validation = {}
    if options.trials:
        options, validation = tune(options, run, split, say)
    elif len(split.valid):
        _, validation = fit_model(options, _part(run, run.out / "validation", run.max_epochs or MAX_EPOCHS), split.train, split.valid,
                                  split.catalogue, say)
    if validation:
        epochs = validation["best_epoch"]
        say(f"validation MRR@{K} {validation[f'valid_mrr@{K}']:.4f} after {epochs} epochs: training on the "
            f"training and validation sessions together for {epochs} epochs")
    sessions, catalogue = final_training(split)
    model, metrics = fit_model(options, replace(run, max_epochs=epochs), sessions, None, catalogue, say)
    metrics = {**metrics, "train_seconds": round(metrics["train_seconds"] + validation.get("train_seconds", 0), 1),
               **{key: value for key, value in validation.items() if key.startswith("valid_")}}
    if len(split.test):
        metrics.update(test_metrics(evaluate([model], split.test, catalogue), model.name))
    model.meta["metrics"] = metrics
    path = training.save_model(run, model, model.meta, options.data, options, split=split.report)
    return {"model": str(path), **metrics}


MAX_EPOCHS = 30  # the most epochs of a part that stops early on the validation tail, unless --epochs says
EPOCHS = 10  # epochs where nothing says how many: no validation tail and no --epochs (GRU4Rec's own default)


def _part(run: TrainOptions, out: Path, epochs: int) -> TrainOptions:
    """`run` for one part of a training, in the folder `out`; resumed only where that part has a checkpoint
    (a run interrupted in its second part resumes the second part, its first being complete)."""
    return replace(run, out=out, max_epochs=epochs, resume=run.resume and (out / "checkpoints" / "last.ckpt").exists(),
                   overwrite=False)


def final_training(split: Split) -> tuple[Sessions, Catalogue]:
    """What the final model learns from: the training sessions followed by the validation tail's, and the
    catalogue with each item's popularity counted in them (the popularity the baselines are built with too,
    and the popularity@20 of what is suggested is measured by)."""
    first, second = split.train, split.valid
    artists = (None if first.artists is None or second.artists is None
               else np.concatenate([first.artists, second.artists]))
    sessions = Sessions(items=np.concatenate([first.items, second.items]),
                        offsets=np.concatenate([first.offsets, first.offsets[-1] + second.offsets[1:]]),
                        times=np.concatenate([first.times, second.times]), artists=artists)
    popularity = np.bincount(sessions.items, minlength=len(split.catalogue)).astype(np.int64)
    return sessions, replace(split.catalogue, popularity=popularity)


def fit_model(options: RecommendOptions, run: TrainOptions, sessions: Sessions, valid: Sessions | None,
              catalogue: Catalogue, say) -> tuple[GRU4Rec, dict]:
    """Build GRU4Rec for `catalogue` (its popularity counted in `sessions`) and train it on them through
    `training.fit`, stopping early on `valid` where given; the model (its meta holding the config and the
    catalogue) and the metrics `fit` returns, with the best validation MRR@20 and HR@20 and their epoch."""
    n_artists = len(catalogue.artist_ids) if catalogue.artist_ids is not None and catalogue.item_artists is not None else 0
    model = GRU4Rec(options.model_config(len(catalogue.item_ids), n_artists))
    model.popularity.copy_(torch.as_tensor(catalogue.popularity, dtype=torch.int64))
    if n_artists:
        model.item_artists.copy_(torch.as_tensor(catalogue.item_artists, dtype=torch.int64))
    model.meta = {"task": "recommend", "config": model.config.to_dict(),
                  "catalogue": {"item_ids": list(catalogue.item_ids), "item_names": catalogue.item_names,
                                "artist_ids": catalogue.artist_ids}}
    say(f"training GRU4Rec ({options.loss}, {options.num_layers}x{options.hidden_size}) on {len(sessions):,} sessions "
        f"of {len(catalogue.item_ids):,} items, {sum(p.numel() for p in model.parameters()):,} parameters"
        + (f", stopping early on {len(valid):,} validation sessions" if valid is not None else
           f", for {run.max_epochs} epochs"))
    task = RecommendTask(model, options.lr, options.batch_size)
    train_loader = DataLoader(SessionBatches(sessions, options.batch_size), batch_size=None)
    valid_loader = None if valid is None else DataLoader(PaddedSessions(valid), batch_size=None)
    metrics = training.fit(task, run, train_loader, valid_loader, monitor=MONITOR)
    if valid is not None:
        metrics.update(best_validation(run.out / "metrics.csv"))
    return model, metrics


def best_validation(metrics_csv: Path) -> dict:
    """The epoch (counted from 1) whose validation MRR@20 was best in a run's `metrics.csv`, and its MRR@20
    and HR@20 (as `valid_mrr@20`, `valid_hr@20`)."""
    from gruve import files

    rows = [row for row in files.read_csv(metrics_csv) if row.get(MONITOR)]
    best = min(rows, key=lambda row: float(row[MONITOR]))
    return {"best_epoch": int(best["epoch"]) + 1, f"valid_mrr@{K}": float(best[f"val_mrr@{K}"]),
            f"valid_hr@{K}": float(best[f"val_hr@{K}"])}


def test_metrics(report: dict, name: str) -> dict:
    """The model's line of an `evaluate` report as the metrics a bundle keeps (`test_mrr@20`, ...)."""
    return {f"test_{metric}": value for metric, value in report["results"][name].items() if "@" in metric}


# Measuring a trained model -----------------------------------------------------------------------------------


def evaluate_model(model: str | os.PathLike | GRU4Rec, data: str, out: Path | None = None, say=print) -> dict:
    """Score `model` and every baseline on the test sessions of `data`, split as the model's training split
    it (its stored options), the baselines built from the sessions the model was trained on (training and
    validation together, as `train` trains the final model); write `report.json` and `curves.png` (HR@K and
    MRR@K) into `out` (unless None) and return `evaluate`'s report with the file's split report under `split`."""
    from gruve import bundle, files
    from gruve.recommend.baselines import baselines
    from gruve.recommend.evaluation import results_plot

    if out is not None:
        files.writable_folder(out)  # before the scoring, not after it
    recommender = model if isinstance(model, GRU4Rec) else bundle.load(model, task="recommend")
    stored = recommender.meta.get("training", {}).get("options", {})
    options = RecommendOptions(**{**{key: value for key, value in stored.items()
                                     if key in {f.name for f in fields(RecommendOptions)}}, "data": data})
    split = load_split(data, **options.split_options())
    if recommender.item_ids != split.catalogue.item_ids:
        raise GruveError(f"{model} was trained on another catalogue than {data} gives ({recommender.config.n_items:,} "
                         f"items, and {len(split.catalogue):,} there); evaluate it on the events it was trained on.")
    sessions, catalogue = final_training(split)
    say(f"scoring {recommender.name} and the baselines on {len(split.test):,} test sessions of {data}")
    report = evaluate([recommender, *baselines(sessions, catalogue)], split.test, catalogue)
    report["split"] = split.report
    if out is not None:
        files.write_json(out / "report.json", report)
        results_plot(report, out / "curves.png", f"{Path(data).name}: test sessions")
    return report


# Tuning ------------------------------------------------------------------------------------------------------


SEARCH = {  # GRU4Rec's standard search space (its authors' paropt), as Optuna draws it
    "hidden_size": ("int", 64, 512, 32),
    "batch_size": ("int", 16, 256, 16),
    "lr": ("float", 0.01, 0.25, 0.005),
    "embedding_dropout": ("float", 0.0, 0.5, 0.05),
    "dropout": ("float", 0.0, 0.5, 0.05),
    "sample_alpha": ("float", 0.0, 1.0, 0.1),
}
BPR_SEARCH = {"bpreg": ("float", 0.0, 2.0, 0.05)}


def tune(options: RecommendOptions, run: TrainOptions, split: Split, say) -> tuple[RecommendOptions, dict]:
    """`options` with the hyper-parameters of SEARCH (and `bpreg` for BPR-max) that give the best validation
    MRR@20 over `options.trials` Optuna trials (TPE, seeded), and that trial's validation metrics (its best
    epoch among them). Each trial trains on the training sessions, stopping early on the validation tail, in
    `run.out/trials/N`, where its metrics stay; every trial's parameters and scores go to `run.out/trials.json`."""
    import optuna

    from gruve import files

    check(len(split.valid) > 0, "trials", f"{{trials}} tunes on the validation tail, and {options.data} has no "
                                          "validation sessions (see {valid_days}).")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {**SEARCH, **(BPR_SEARCH if options.loss == "bpr-max" else {})}
    trials = []

    def objective(trial) -> float:
        drawn = {name: (trial.suggest_int if kind == "int" else trial.suggest_float)(name, low, high, step=step)
                 for name, (kind, low, high, step) in space.items()}
        trial_run = replace(_part(run, run.out / "trials" / str(trial.number), run.max_epochs or MAX_EPOCHS),
                            progress=False)
        _, metrics = fit_model(replace(options, trials=0, **drawn), trial_run, split.train, split.valid,
                               split.catalogue, lambda _: None)
        shutil.rmtree(trial_run.out / "checkpoints", ignore_errors=True)
        trials.append({"trial": trial.number, "params": drawn, **metrics})
        score = metrics[f"valid_mrr@{K}"]
        say(f"trial {trial.number + 1}/{options.trials}: validation MRR@{K} {score:.4f} after {metrics['best_epoch']} "
            "epochs with " + ", ".join(f"{name} {value:g}" for name, value in drawn.items()))
        return score

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=run.seed))
    study.optimize(objective, n_trials=options.trials)
    best = trials[study.best_trial.number]
    files.write_json(run.out / "trials.json", {"best": best, "trials": trials})
    say(f"best of {options.trials} trials: validation MRR@{K} {study.best_value:.4f} with "
        + ", ".join(f"{name} {value:g}" for name, value in study.best_params.items()))
    validation = {key: value for key, value in best.items() if key not in ("trial", "params", "epochs")}
    validation["train_seconds"] = sum(trial["train_seconds"] for trial in trials)
    return replace(options, trials=0, **study.best_params), validation
