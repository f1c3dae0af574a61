"""MidiTok tokens for the music language model: the tokenizer and its JSON form (kept in the model
bundle), scores to token ids, augmentation done on the ids, and ids back to a score.

All parts of a score are merged into one stream (chorale voices, drum kit pieces): the tokenizers here
write one sequence, and the model reads one.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from gruve.errors import OptionError, check, check_at_least

TOKENIZERS = ("REMI", "TSD", "MIDILike", "Structured")


def build(kind: str = "REMI"):
    """A tokenizer of `kind` with tempo and time-signature tokens (so tempo can be augmented and kept)."""
    import miditok

    check(kind in TOKENIZERS, "tokenizer", f"unknown tokenizer {kind!r}; {{tokenizer}} must be one of {', '.join(TOKENIZERS)}.")
    config = miditok.TokenizerConfig(use_tempos=True, num_tempos=32, tempo_range=(40, 250),
                                     use_time_signatures=kind != "Structured")
    return getattr(miditok, kind)(config)


def to_json(tokenizer) -> dict:
    """The tokenizer's full configuration, as MidiTok saves it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        tokenizer.save(path)
        return json.loads(path.read_text())


def from_json(kind: str, params: dict):
    """The tokenizer `to_json` saved."""
    import miditok

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        path.write_text(json.dumps(params))
        return getattr(miditok, kind)(params=path)


def encode(tokenizer, score) -> np.ndarray:
    """Token ids of every note of `score`, its parts merged into one stream."""
    return np.asarray(_sequence(tokenizer, _merged(score)).ids, dtype=np.int64)


def timed(tokenizer, score) -> tuple[np.ndarray, np.ndarray, int]:
    """`encode`'s ids, where each token stands in the piece in quarter notes from its start, and the steps per
    quarter note of the tokenizer's grid: MidiTok counts its events' times in the ticks of the score it
    resamples to its grid."""
    merged = _merged(score)
    sequence = _sequence(tokenizer, merged)
    ticks = tokenizer.preprocess_score(merged.copy()).ticks_per_quarter
    return (np.asarray(sequence.ids, dtype=np.int64),
            np.asarray([event.time for event in sequence.events], dtype=float) / ticks, ticks)


def _sequence(tokenizer, merged):
    sequences = tokenizer.encode(merged)
    return sequences[0] if isinstance(sequences, list) else sequences


def primer_ids(tokenizer, path: Path, bars: int) -> np.ndarray:
    """The token ids of the first `bars` bars of a score file, to continue from."""
    from gruve.compose.scores import read_score

    check_at_least(bars, "primer_bars", 1)
    ids = encode(tokenizer, read_score(path))
    bar = tokenizer.vocab.get("Bar_None")
    starts = np.flatnonzero(ids == bar) if bar is not None else np.array([], dtype=int)
    return ids[: starts[bars]] if len(starts) > bars else ids


def _merged(score):
    from symusic import Score, Track

    merged = Score(score.ticks_per_quarter)
    merged.tempos, merged.time_signatures = score.tempos, score.time_signatures
    drums = bool(score.tracks) and all(track.is_drum for track in score.tracks)
    track = Track(program=0, is_drum=drums)
    for part in score.tracks:
        track.notes.extend(part.notes)
    track.notes.sort()
    merged.tracks.append(track)
    return merged


def decode(tokenizer, ids: np.ndarray | list[int], drums: bool = False):
    """A score from token ids, and the share of the ids that decode (MidiTok's grammar check).

    Ids that break the grammar (a duration with no pitch before it, say) are skipped by the decoder; a
    sequence it still cannot read is cut at the longest prefix it can.
    """
    from miditok import TokSequence

    ids = [int(i) for i in ids]
    validity = 1.0 - float(tokenizer.tokens_errors(TokSequence(ids=list(ids)))) if ids else 0.0
    for end in (len(ids), *range(len(ids) - 1, -1, -max(1, len(ids) // 20))):
        try:
            score = tokenizer.decode([TokSequence(ids=ids[:end])])
            break
        except Exception:  # MidiTok raises KeyError, ValueError or IndexError on what it cannot read
            continue
    else:
        score = tokenizer.decode([TokSequence(ids=[])])
    for track in score.tracks:
        track.is_drum = drums
    # Tempo or time-signature tokens out of place can leave events far past the music (hours of silence
    # to render): the piece ends where its last note ends.
    end = max((note.time + note.duration for track in score.tracks for note in track.notes), default=0)
    return score.clip(0, end + 1, clip_end=False), validity


def drum_strikes(tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Over the vocabulary: which ids strike a drum (PitchDrum, DrumOn), and which move time on (Bar,
    Position, a TimeShift longer than zero). The sampler uses them so that no drum is struck more than twice
    (a flam) at one instant of the grid."""
    strikes, moves = np.zeros(len(tokenizer.vocab), bool), np.zeros(len(tokenizer.vocab), bool)
    for token, i in tokenizer.vocab.items():
        kind, _, value = token.partition("_")
        strikes[i] = kind in ("PitchDrum", "DrumOn")
        moves[i] = kind in ("Bar", "Position") or (kind == "TimeShift" and value.split(".")[:2] != ["0", "0"])
    return strikes, moves


class Augmenter:
    """Transposition and tempo change done on token ids, by lookup tables over the vocabulary.

    A piece is transposed only by amounts that keep every note on the tokenizer's pitch range; drum
    pieces are never transposed (their pitches name instruments).
    """

    def __init__(self, tokenizer, transpose: int = 0, tempo: int = 0):
        vocab = tokenizer.vocab
        size = len(vocab)
        self.transpose, self.tempo = transpose, tempo
        pitch = {int(t.split("_")[1]): i for t, i in vocab.items() if t.startswith("Pitch_")}
        tempos = sorted((float(t.split("_")[1]), i) for t, i in vocab.items() if t.startswith("Tempo_"))
        self.pitch_ids = np.array(sorted(pitch.values()))
        self.shifts = {}
        for k in range(-transpose, transpose + 1):
            table = np.arange(size)
            for p, i in pitch.items():
                table[i] = pitch.get(p + k, -1)
            self.shifts[k] = table
        self.tempo_tables = {}
        for k in range(-tempo, tempo + 1):
            table = np.arange(size)
            for j, (_, i) in enumerate(tempos):
                table[i] = tempos[min(max(j + k, 0), len(tempos) - 1)][1]
            self.tempo_tables[k] = table

    def __call__(self, ids: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """The ids (of any shape: a piece's ids over their lookbacks, say) augmented, and the semitones they
        were transposed by."""
        shift = 0
        if self.transpose:
            shift = int(rng.choice([k for k, table in self.shifts.items() if (table[ids] >= 0).all()]))
            ids = self.shifts[shift][ids]
        if self.tempo:
            ids = self.tempo_tables[int(rng.integers(-self.tempo, self.tempo + 1))][ids]
        return ids, shift


class Lookback:
    """What the previous bar played at this point of the bar, fed to the model beside each token so that a
    bar can come back note for note (Magenta's Lookback RNN, on REMI tokens rather than a fixed grid).

    `feed` takes the next token of a piece and returns the token that followed the same point in the bar
    before: after a Bar, that bar's first token; after Position_p, what followed the first Position on the
    same sixteenth of a beat in the bar before (PAD if it played nothing there: drummers play off the
    tokenizer's finer grid, and the sixteenth is where evaluate hears a bar repeat); after any other token,
    the next token of the bar before (its Bar once it ran out). In a bar that repeats the one before, the
    lookback is the next token, every time.
    The same tracker serves training (`ids`) and sampling (`feed`), so both see the same inputs."""

    def __init__(self, tokenizer):
        vocab = tokenizer.vocab
        if "Bar_None" not in vocab or not any(t.startswith("Position_") for t in vocab):
            raise OptionError("lookback", f"{{lookback}} needs a tokenizer with Bar and Position tokens, as REMI "
                              f"has; {type(tokenizer).__name__} has none.")
        self.bar, self.pad = vocab["Bar_None"], vocab["PAD_None"]
        per_beat = tokenizer.config.max_num_pos_per_beat
        self.positions = {i: (4 * int(t.split("_")[1]) + per_beat // 2) // per_beat  # its sixteenth
                          for t, i in vocab.items() if t.startswith("Position_")}
        self.previous: list[int] = []  # the bar before, from its Bar token
        self.current: list[int] = []  # this bar so far, from its Bar token
        self.found: dict[int, int] = {}  # where the first Position on each sixteenth stands in the bar before
        self.seen: dict[int, int] = {}  # ... and in this bar
        self.at: int | None = None  # where this point of the bar stands in the bar before

    def feed(self, token: int) -> int:
        """Take a piece's next token; the token that followed this point in the bar before (PAD if none)."""
        if token == self.bar:
            if self.current:
                self.previous, self.found = self.current, self.seen
            self.current, self.seen, self.at = [token], {}, 1
        elif self.current:
            if token in self.positions:
                sixteenth = self.positions[token]
                self.seen.setdefault(sixteenth, len(self.current))
                self.at = self.found.get(sixteenth)
                self.at = None if self.at is None else self.at + 1
            elif self.at is not None:
                self.at += 1
            self.current.append(token)
        if self.at is None or not self.previous or self.at > len(self.previous):
            return self.pad
        return self.previous[self.at] if self.at < len(self.previous) else self.bar

    def ids(self, ids: np.ndarray) -> np.ndarray:
        """The lookback after each of a piece's ids, from its start."""
        return np.fromiter((self.feed(int(t)) for t in ids), dtype=np.int64, count=len(ids))
