"""Using a trained GRU4Rec: the next tracks for a listening history (`suggest`), a playlist continued track by
track with controls (`playlist`), and `Listener`, one listener's state carried as each track is played, which
both are built on: a suggestion after each track costs one GRU step, not a re-reading of the history.

Items are named by their id in the data or, where the data had names, by "artist - track". Plain torch
(no Lightning), so a cold `gruve recommend suggest` starts fast.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
import torch

from gruve import bundle
from gruve.errors import OptionError, check, check_at_least
from gruve.recommend.model import GRU4Rec

SHOWN = 5  # unknown items named in a message before "and N more"


class Suggestion(NamedTuple):
    """One suggested item: its id, its "artist - track" name (None where the data had none), and the model's
    probability of it as the next track (for the popularity fallback: its share of training plays)."""

    item: str
    name: str | None
    score: float


def load_recommender(model: str | os.PathLike | GRU4Rec) -> GRU4Rec:
    """A loaded GRU4Rec from a model file, a run folder or a shipped model's name (or the model itself)."""
    return model if isinstance(model, GRU4Rec) else bundle.load(model, task="recommend")


class Listener:
    """One listener's session as it happens: `play` feeds a track through one GRU step, carrying the state;
    `scores` rank every catalogue item as the next track, after the tracks played so far."""

    def __init__(self, model: GRU4Rec):
        self.model = model.eval()
        self.played: list[int] = []
        self._state: torch.Tensor | None = None
        self._h: torch.Tensor | None = None

    @torch.inference_mode()
    def play(self, index: int) -> None:
        """Feed the track of catalogue index `index`."""
        self._h, self._state = self.model.advance(torch.tensor([index]), self._state)
        self.played.append(index)

    @torch.inference_mode()
    def scores(self) -> torch.Tensor:
        """Every catalogue item's score as the next track `(n_items,)`; before any track is played, each
        item's log share of training plays (the popularity fallback)."""
        if self._h is None:
            popularity = self.model.popularity.double().clamp(min=1)
            return torch.log(popularity / popularity.sum()).float()
        return self.model.scores(self._h)[0]


def resolve(model: GRU4Rec, items: list[str], say) -> list[int]:
    """The catalogue indices of `items` (ids or names) that the model knows; the others are named and left out."""
    found = [(item, model.index(item)) for item in items]
    unknown = [item for item, index in found if index is None]
    if unknown:
        more = f" and {len(unknown) - SHOWN} more" if len(unknown) > SHOWN else ""
        say(f"ignored {len(unknown)} item{'s' if len(unknown) > 1 else ''} the model does not know: "
            f"{', '.join(unknown[:SHOWN])}{more}")
    return [index for _, index in found if index is not None]


def _listen(model: GRU4Rec, items: list[str], field: str, say) -> Listener:
    """A listener who has played the `items` the model knows (said when none is known: popularity instead)."""
    check(any(item.strip() for item in items), field, f"{{{field}}} names no items.")
    listener = Listener(model)
    known = resolve(model, [item.strip() for item in items if item.strip()], say)
    if not known:
        say("none of these items is in the model's catalogue: falling back to the most played items in training")
    for index in known:
        listener.play(index)
    return listener


def suggest(model: str | os.PathLike | GRU4Rec, history: list[str], k: int = 10, say=print) -> list[Suggestion]:
    """The `k` items the model finds likeliest to be played after `history` (ids or "artist - track" names,
    oldest first), best first. Items the model does not know are named (through `say`) and ignored; a history
    of only unknown items gets the most played items instead, and says so."""
    check_at_least(k, "k", 1)
    model = load_recommender(model)
    scores = _listen(model, history, "history", say).scores()
    probabilities = torch.softmax(scores, 0)
    top = torch.topk(probabilities, min(k, len(probabilities)))
    return [Suggestion(*model.label(int(i)), float(p)) for p, i in zip(top.values, top.indices)]


def playlist(model: str | os.PathLike | GRU4Rec, start: str | list[str], length: int = 20, no_repeats: bool = True,
             max_per_artist: int | None = None, temperature: float = 1.0, seed: int = 0, say=print) -> list[Suggestion]:
    """Continue a playlist that begins with `start` (one item, or several, oldest first) by `length` tracks,
    each drawn from the model's distribution after the tracks so far, sharpened (`temperature` below 1) or
    flattened (above 1); 0 takes the likeliest track every time. With `no_repeats` no track comes twice
    (`start` counted), and with `max_per_artist` no artist has more than that many tracks. Each track comes
    with the model's probability of it among the tracks still allowed; the same `seed` gives the same
    playlist. Ends early, and says so, if the controls leave no track."""
    check_at_least(length, "length", 1)
    check_at_least(max_per_artist, "max_per_artist", 1, optional=True)
    check(math.isfinite(temperature) and temperature >= 0, "temperature",
          f"{{temperature}} must be 0 (always the likeliest) or more (got {temperature}).")
    model = load_recommender(model)
    if max_per_artist is not None and not model.has_artists:
        raise OptionError("max_per_artist", "{max_per_artist} needs the artist of each track, and the data this "
                                            "model was trained on named none.")
    listener = _listen(model, [start] if isinstance(start, str) else start, "start", say)
    artists = model.item_artists.numpy() if model.has_artists else None
    per_artist = np.bincount(artists[listener.played], minlength=model.config.n_artists) if artists is not None else None
    allowed = np.ones(model.config.n_items, bool)
    if no_repeats:
        allowed[listener.played] = False
    if max_per_artist is not None:
        allowed &= per_artist[artists] < max_per_artist
    rng, tracks = np.random.default_rng(seed), []
    while len(tracks) < length:
        if not allowed.any():
            say(f"no track is left that the controls allow: the playlist ends after {len(tracks)} tracks")
            break
        scores = listener.scores().double().numpy()
        probabilities = _softmax(np.where(allowed, scores, -np.inf))
        if temperature == 0:
            index = int(np.argmax(probabilities))
        else:
            index = int(rng.choice(len(scores), p=_softmax(np.where(allowed, scores / temperature, -np.inf))))
        tracks.append(Suggestion(*model.label(index), float(probabilities[index])))
        listener.play(index)
        if no_repeats:
            allowed[index] = False
        if max_per_artist is not None:
            per_artist[artists[index]] += 1
            if per_artist[artists[index]] >= max_per_artist:
                allowed[artists == artists[index]] = False
    return tracks


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities from scores (float64; -inf for items left out, of which not all are)."""
    weights = np.exp(scores - scores.max())
    return weights / weights.sum()
