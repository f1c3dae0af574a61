"""GRU4Rec: stepping agrees with the whole-session forward, session-parallel batches reset the state exactly
where sessions start, the sampled losses, learning a made-up pattern, the bundle round trip on a 30Music
slice, and suggestions and playlists with their controls."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gruve import bundle
from gruve.recommend.model import GRU4Rec, RecommenderConfig
from gruve.recommend.sessions import Catalogue, Sessions, Split
from gruve.recommend.suggestion import Listener, playlist, suggest
from gruve.recommend.training import (RecommendOptions, RecommendTask, SessionBatches, expected_log_count,
                                      fit_model, sampled_loss, session_parallel, session_parallel_steps, train,
                                      tune)
from gruve.training import TrainOptions


def made_up_sessions(lengths: list[int], n_items: int, seed: int = 0) -> Sessions:
    """Sessions of the given lengths over random items, each starting a minute after the one before."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = rng.integers(0, n_items, offsets[-1]).astype(np.int64)
    starts = np.repeat(np.arange(len(lengths)) * 60, lengths)
    return Sessions(items=items, offsets=offsets, times=(starts + np.arange(offsets[-1]) % 7).astype(np.int64))


def made_up_model(n_items: int = 12, n_artists: int = 4, seed: int = 0, **config) -> GRU4Rec:
    """A small untrained GRU4Rec with a catalogue of named items, item i by artist i % n_artists and played
    n_items - i times."""
    torch.manual_seed(seed)
    model = GRU4Rec(RecommenderConfig(n_items=n_items, hidden_size=8, n_sample=4, n_artists=n_artists, **config))
    model.popularity.copy_(torch.arange(n_items, 0, -1))
    if n_artists:
        model.item_artists.copy_(torch.arange(n_items) % n_artists)
    model.meta = {"catalogue": {"item_ids": [f"t{i}" for i in range(n_items)],
                                "item_names": [f"Artist {i % max(n_artists, 1)} - Track {i}" for i in range(n_items)],
                                "artist_ids": [f"a{i}" for i in range(n_artists)] if n_artists else None}}
    with torch.no_grad():  # a bias and embeddings far from the near-zero start, so scores differ widely
        model.output.weight.normal_()
        model.output_bias.weight.normal_()
    return model.eval()


@pytest.mark.parametrize("config", [{}, {"tied": False, "embedding": 6, "num_layers": 2},
                                    {"artist_input": True}])
def test_step_gives_the_scores_of_the_whole_session(config):
    model = made_up_model(**config)
    if model.artists is not None:
        torch.nn.init.normal_(model.artists.weight)
    items = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    whole = model.next_scores(items)
    state, stepped = None, []
    with torch.inference_mode():
        for item in items[:-1]:
            scores, state = model.step(torch.tensor([item]), state)
            stepped.append(scores[0].numpy())
    assert whole.shape == (len(items) - 1, model.config.n_items) and whole.dtype == np.float32
    np.testing.assert_allclose(np.stack(stepped), whole, atol=1e-5)
    assert np.ptp(whole, axis=1).min() > 0.1  # the scores say something: not all equal


def test_session_parallel_batches_follow_each_session_and_start_it_afresh():
    sessions = made_up_sessions([5, 2, 7, 3, 1, 4, 6, 2, 3], n_items=50)
    order = np.arange(len(sessions))
    followed = {row: [] for row in range(3)}  # per row: (input, target, starts) in the order the steps came
    steps = 0
    for inputs, targets, starts, valid in session_parallel(sessions, order, 3):
        steps += 1
        for row in np.flatnonzero(valid):
            followed[row].append((inputs[row], targets[row], starts[row]))
        assert not (starts & ~valid).any()
    # Cut each row's steps where it says a session starts: the pieces are the sessions, each event's next one.
    pieces = []
    for row_steps in followed.values():
        for inputs, targets, starts in row_steps:
            if starts:
                pieces.append(([inputs], []))
            assert pieces[-1][0][-1] == inputs
            pieces[-1][0].append(targets)
    got = sorted(tuple(int(i) for i in piece[0]) for piece in pieces)
    assert got == sorted(tuple(sessions.session(s).tolist()) for s in range(len(sessions)) if len(sessions.session(s)) >= 2)
    assert steps == session_parallel_steps(np.diff(sessions.offsets), 3)


def test_training_state_is_reset_where_each_session_starts():
    """A training step scores each event as a session read on its own does: state from the session before in
    the same row would change the scores (checked: without the reset they differ)."""
    model = made_up_model(n_items=30, n_artists=0)
    sessions = made_up_sessions([4, 6, 3, 5, 2, 7, 4], n_items=30, seed=1)
    task = RecommendTask(model, lr=0.1, batch_size=2)
    expected = {}
    for s in range(len(sessions)):
        items = sessions.session(s)
        for t, scores in enumerate(model.next_scores(items)):
            expected.setdefault((int(items[t]), int(items[t + 1])), []).append(scores)

    def scored(reset: bool) -> list[bool]:
        task.state, same = None, []
        with torch.inference_mode():
            for inputs, targets, starts, valid in SessionBatches(sessions, 2):
                state = task.carry(starts) if reset else task.state
                h, task.state = model(inputs[:, None], state)
                scores = model.scores(h[:, 0]).numpy()
                for row in np.flatnonzero(valid.numpy()):
                    candidates = expected[(int(inputs[row]), int(targets[row]))]
                    same.append(any(np.allclose(scores[row], c, atol=1e-5) for c in candidates))
        return same

    assert all(scored(reset=True))
    assert not all(scored(reset=False))


def test_cross_entropy_with_logq_and_accidental_hits_by_hand():
    config = RecommenderConfig(n_items=5, loss="ce", logq=1.0)
    scores = torch.tensor([[2.0, 0.5, 1.0, 0.0], [0.0, 1.0, 3.0, -1.0]])
    candidates = torch.tensor([3, 1, 1, 4])  # row 0's target 3, row 1's target 1; negatives 1 and 4
    targets = candidates[:2]
    log_q = torch.tensor([0.1, 0.2, 0.2, 0.3])
    loss = sampled_loss(scores, candidates, targets, log_q, config)
    # Row 0: all four candidates count. Row 1: the negative 1 is its own target (column 2): left out.
    row0 = -(2.0 - 0.1) + math.log(sum(math.exp(s - q) for s, q in zip([2.0, 0.5, 1.0, 0.0], [0.1, 0.2, 0.2, 0.3])))
    row1 = -(1.0 - 0.2) + math.log(math.exp(0.0 - 0.1) + math.exp(1.0 - 0.2) + math.exp(-1.0 - 0.3))
    np.testing.assert_allclose(loss.numpy(), [row0, row1], rtol=1e-6)


def test_bpr_max_by_hand():
    config = RecommenderConfig(n_items=5, loss="bpr-max", bpreg=0.5)
    scores = torch.tensor([[1.0, 0.0, 2.0], [0.5, 1.5, -1.0]])
    candidates = torch.tensor([0, 1, 2])
    loss = sampled_loss(scores, candidates, candidates[:2], torch.zeros(3), config)

    def by_hand(target: float, negatives: list[float]) -> float:
        weights = np.exp(negatives) / np.exp(negatives).sum()
        sigmoid = 1 / (1 + np.exp(-(target - np.array(negatives))))
        return -math.log((weights * sigmoid).sum()) + 0.5 * (weights * np.square(negatives)).sum()

    np.testing.assert_allclose(loss.numpy(), [by_hand(1.0, [0.0, 2.0]), by_hand(1.5, [0.5, -1.0])], rtol=1e-6)


def test_expected_log_count_adds_targets_and_negatives():
    popularity = torch.tensor([6, 3, 1])
    counts = expected_log_count(popularity, batch_size=4, n_sample=10, alpha=0.0).exp()
    np.testing.assert_allclose(counts.numpy(), 4 * np.array([0.6, 0.3, 0.1]) + 10 / 3, rtol=1e-5)
    assert counts.sum().item() == pytest.approx(14)


def cycle_split(n_items: int = 16) -> Split:
    """Made-up sessions in which item i is always followed by item i + 1 (mod n_items)."""
    rng = np.random.default_rng(0)

    def sessions(count: int, day: int) -> Sessions:
        lengths = rng.integers(3, 8, count)
        items = np.concatenate([(rng.integers(n_items) + np.arange(n)) % n_items for n in lengths]).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return Sessions(items=items, offsets=offsets, times=day * 86400 + np.arange(len(items), dtype=np.int64) * 60)

    train_sessions = sessions(300, 0)
    catalogue = Catalogue(item_ids=[str(i) for i in range(n_items)], item_names=None, item_artists=None,
                          artist_ids=None, popularity=np.bincount(train_sessions.items, minlength=n_items))
    return Split(train=train_sessions, valid=sessions(20, 1), test=sessions(20, 2), catalogue=catalogue, report={})


@pytest.fixture
def one_thread():
    """One torch thread, as `run_folder` would give a training on this busy machine (`fit_model` is called
    here without it): a thread per core that another job holds makes the tiny steps wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_tiny_training_learns_a_deterministic_next_item(tmp_path, one_thread):
    split = cycle_split()
    options = RecommendOptions(data="made-up", hidden_size=16, n_sample=8, dropout=0.0, embedding_dropout=0.0, lr=0.2,
                               batch_size=8)
    run = TrainOptions(out=tmp_path / "run", max_epochs=6, patience=0, threads=1, progress=False)
    model, metrics = fit_model(options, run, split.train, split.valid, split.catalogue, say=lambda _: None)
    hits = [np.argmax(model.next_scores(split.test.session(s)), 1) == split.test.session(s)[1:]
            for s in range(len(split.test))]
    assert np.concatenate(hits).mean() > 0.95
    assert metrics["epochs"] == 6


def test_bundle_round_trip_on_a_30music_slice(datasets, tmp_path):
    options = RecommendOptions(data=str(datasets / "30music" / "slice-0.tsv"), format="30music", hidden_size=16, n_sample=64,
                               artists=True)
    run = TrainOptions(out=tmp_path / "run", max_epochs=1, threads=1, progress=False)
    summary = train(options, run, say=lambda _: None)
    model = bundle.load(summary["model"], task="recommend")
    assert isinstance(model, GRU4Rec) and model.config.artist_input
    assert model.meta["metrics"]["test_mrr@20"] == summary["test_mrr@20"]
    played = model.item_ids[:3]
    suggestions = suggest(summary["model"], played, k=5)
    assert len(suggestions) == 5 and all(s.item in model.item_ids for s in suggestions)
    assert suggestions == sorted(suggestions, key=lambda s: -s.score)
    index = [model.index(item) for item in played]
    probabilities = torch.softmax(torch.from_numpy(model.next_scores(np.array(index + [0]))[-1]), 0)
    assert suggestions[0].score == pytest.approx(float(probabilities.max()), rel=1e-4)


def test_suggest_names_unknown_items_and_falls_back_to_popularity():
    model = made_up_model()
    said = []
    known = suggest(model, ["t3", "nope", "artist 1 - track 5"], k=3, say=said.append)
    assert said == ["ignored 1 item the model does not know: nope"]
    listener = Listener(model)
    listener.play(3)
    listener.play(5)  # "Artist 1 - Track 5", named without regard to case
    assert [s.item for s in known] == [model.item_ids[i] for i in torch.topk(listener.scores(), 3).indices]
    said.clear()
    fallback = suggest(model, ["nope", "nothing"], k=3, say=said.append)
    assert said[0] == "ignored 2 items the model does not know: nope, nothing"
    assert "most played" in said[1]
    assert [s.item for s in fallback] == ["t0", "t1", "t2"]  # the most played first
    assert fallback[0].score == pytest.approx(12 / sum(range(1, 13)))


def test_playlist_keeps_to_its_controls():
    model = made_up_model(n_items=12, n_artists=4)
    tracks = playlist(model, "t0", length=7, max_per_artist=2, temperature=2.0, seed=3, say=lambda _: None)
    indices = [model.index(t.item) for t in tracks]
    assert len(tracks) == 7 and len(set(indices + [0])) == 8  # no repeats, the start counted
    per_artist = np.bincount(np.array(indices + [0]) % 4, minlength=4)
    assert per_artist.max() <= 2
    assert playlist(model, "t0", length=7, max_per_artist=2, temperature=2.0, seed=3, say=lambda _: None) == tracks
    said = []
    short = playlist(model, ["t0", "t1"], length=20, max_per_artist=1, say=said.append)
    assert len(short) == 2 and "ends after 2 tracks" in said[0]  # four artists, two of them taken by the start
    greedy = playlist(model, "t0", length=3, no_repeats=False, temperature=0.0)
    listener = Listener(model)
    listener.play(0)
    assert greedy[0].item == model.item_ids[int(torch.argmax(listener.scores()))]


def test_trials_tune_on_the_validation_tail(tmp_path, one_thread):
    options = RecommendOptions(data="made-up", n_sample=8, trials=2)
    run = TrainOptions(out=tmp_path / "run", max_epochs=1, threads=1, progress=False)
    said = []
    tuned_options, validation = tune(options, run, cycle_split(), say=said.append)
    tuned = json.loads((tmp_path / "run" / "trials.json").read_text())
    assert len(tuned["trials"]) == 2 and {"hidden_size", "lr", "sample_alpha"} <= set(tuned["best"]["params"])
    best = max(tuned["trials"], key=lambda trial: trial["valid_mrr@20"])
    assert tuned["best"] == best and validation["valid_mrr@20"] == best["valid_mrr@20"]
    assert validation["best_epoch"] == 1 and tuned_options.trials == 0
    assert all(getattr(tuned_options, name) == value for name, value in best["params"].items())
    assert said[-1].startswith("best of 2 trials")
