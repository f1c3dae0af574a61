"""Objective metrics of generated music: per-piece features by hand, set comparison, the figure."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from gruve.compose import metrics

TPQ = 480


def make_score(notes: list[tuple[float, int]], drum: bool = False, bar: tuple[int, int] | None = None):
    """A one-track score of (onset in quarters, pitch) notes, each a sixteenth long."""
    score = symusic.Score(TPQ)
    if bar:
        score.time_signatures.append(symusic.TimeSignature(0, *bar))
    track = symusic.Track(name="drums" if drum else "melody", program=0, is_drum=drum)
    for onset, pitch in notes:
        track.notes.append(symusic.Note(round(onset * TPQ), TPQ // 4, pitch, 80))
    score.tracks.append(track)
    return score


def scalar(score, name: str) -> float:
    return float(metrics.features(score)[name][0])


def test_a_c_major_scale_by_hand():
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    found = metrics.features(make_score([(i, pitch) for i, pitch in enumerate(scale)]))
    assert list(found) == list(metrics.FEATURES)
    assert all(value.ndim == 1 and value.dtype == float for value in found.values())
    histogram = found["pitch_class_histogram"]
    assert np.count_nonzero(histogram) == 7 and histogram.sum() == pytest.approx(1)
    assert histogram[0] == pytest.approx(2 / 8)  # C4 and C5
    assert found["pitch_range"][0] == 12
    assert found["note_density"][0] == 4  # 8 quarter notes over 2 bars of 4/4
    assert found["inter_onset_interval"][0] == 1
    assert list(np.flatnonzero(found["ioi_histogram"])) == [metrics.IOI_EDGES.index(1.0)]
    assert found["polyphony"][0] == 1 and found["repetition"][0] == 0


def test_a_repeated_bar_repeats_and_keeps_its_groove():
    beat = [(0, 36), (0, 42), (0.5, 42), (1, 38), (1, 42), (1.5, 42), (2, 36), (2.5, 36), (3, 38), (3.75, 42)]
    piece = make_score([(4 * bar + onset, pitch) for bar in range(8) for onset, pitch in beat], drum=True)
    assert scalar(piece, "repetition") == pytest.approx(7 / 8)
    assert scalar(piece, "groove_consistency") == 1.0
    assert scalar(piece, "note_density") == len(beat)
    assert metrics.features(piece)["pitch_class_histogram"].sum() == pytest.approx(1)  # drum pitches count


def test_bars_alternating_two_rhythms_are_less_consistent():
    straight = [(0, 36), (1, 38), (2, 36), (3, 38)]
    syncopated = [(0, 36), (0.75, 38), (1.5, 36), (2.5, 38), (3.25, 36)]
    piece = make_score([(4 * bar + onset, pitch) for bar in range(8)
                        for onset, pitch in (straight if bar % 2 == 0 else syncopated)], drum=True)
    assert scalar(piece, "groove_consistency") == pytest.approx(1 - 7 / 16)  # 7 of 16 positions differ
    assert scalar(piece, "repetition") == pytest.approx(6 / 8)  # all but the first of each kind


def test_the_first_time_signature_sets_the_bar():
    waltz = [(0, 43), (1, 55), (2, 59)]
    piece = make_score([(3 * bar + onset, pitch) for bar in range(4) for onset, pitch in waltz], bar=(3, 4))
    assert scalar(piece, "repetition") == pytest.approx(3 / 4)
    assert scalar(piece, "groove_consistency") == 1.0
    assert scalar(piece, "note_density") == 3
    assert scalar(make_score([(3 * bar + onset, pitch) for bar in range(4) for onset, pitch in waltz]),
                  "note_density") == 4  # read as 4/4: 12 notes over 3 bars


def test_three_note_chords_have_polyphony_three():
    chords = [(60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67)]
    piece = make_score([(2 * i, pitch) for i, chord in enumerate(chords) for pitch in chord])
    assert scalar(piece, "polyphony") == 3
    assert scalar(piece, "inter_onset_interval") == 2


def test_a_one_note_piece_is_refused():
    with pytest.raises(ValueError, match="at least 2 notes"):
        metrics.features(make_score([(0, 60)]))


def test_summarise_gives_the_scalars_of_each_piece():
    rows = metrics.summarise([make_score([(0, 60), (1, 67)]), make_score([(0, 60), (0, 64), (0.5, 67)])])
    assert len(rows) == 2 and set(rows[0]) == set(metrics.FEATURES) - set(metrics.HISTOGRAMS)
    assert rows[0]["pitch_range"] == 7 and rows[1]["polyphony"] == 1.5
    assert all(isinstance(value, float) for value in rows[1].values())


def tune(rng: np.random.Generator) -> symusic.Score:
    """Like the reference: a C major melody of quarters and eighths, bars A A B A A A B A."""
    def bar() -> list[tuple[float, int]]:
        onsets = np.cumsum([0] + list(rng.choice([0.5, 1.0], size=12)))
        return [(float(t), int(rng.choice([60, 62, 64, 65, 67, 69, 71, 72]))) for t in onsets if t < 4]

    a, b = bar(), bar()
    return make_score([(4 * i + t, pitch) for i, part in enumerate([a, a, b, a, a, a, b, a]) for t, pitch in part])


def noise(rng: np.random.Generator) -> symusic.Score:
    """Unlike it: chromatic chords over a wide range on a random half of the sixteenths, never repeating."""
    notes = []
    for step in np.flatnonzero(rng.random(int(rng.integers(64, 128))) < 0.5):
        root = int(rng.integers(30, 90))
        notes += [(step / 4, root + int(k)) for k in rng.choice(12, size=int(rng.integers(2, 5)), replace=False)]
    return make_score(notes)


@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict[str, np.ndarray]]]:
    rng = np.random.default_rng(0)
    return {
        "reference": [metrics.features(tune(rng)) for _ in range(20)],
        "same": [metrics.features(tune(rng)) for _ in range(20)],
        "different": [metrics.features(noise(rng)) for _ in range(20)],
    }


def test_a_set_from_the_reference_distribution_is_closer_than_a_different_one(sets):
    same = metrics.compare(sets["same"], sets["reference"])
    different = metrics.compare(sets["different"], sets["reference"])
    assert set(same) == set(metrics.FEATURES)
    for name in metrics.FEATURES:
        assert 0 <= different[name]["oa"] < same[name]["oa"] <= 1 + 1e-6, name
        assert same[name]["kl"] < different[name]["kl"], name
    assert same["repetition"]["oa"] == pytest.approx(1, abs=1e-3)  # every tune repeats 6 of 8 bars: equal distances
    assert same["repetition"]["reference_mean"] == pytest.approx(6 / 8)
    assert different["note_density"]["generated_mean"] > 2 * different["note_density"]["reference_mean"]
    assert "generated_mean" not in same["pitch_class_histogram"]


def test_identical_sets_overlap_fully(sets):
    report = metrics.compare(sets["reference"], sets["reference"])
    for name in metrics.FEATURES:
        assert report[name]["oa"] > 0.8 and report[name]["kl"] < 0.2, name


def test_a_runaway_piece_costs_its_share_of_the_overlap_and_never_raises_it():
    rng = np.random.default_rng(1)
    reference = [metrics.features(tune(rng)) for _ in range(60)]
    generated = [metrics.features(tune(rng)) for _ in range(60)]
    runaway = dict(generated[0], polyphony=np.array([300.0]), note_density=np.array([900.0]))
    clean = metrics.compare(generated, reference)
    with_runaways = metrics.compare([runaway] * 3 + generated[3:], reference)
    for name in ("polyphony", "note_density"):  # 3 pieces of 60 far off: about 5% of the overlap lost
        assert clean[name]["oa"] - 0.1 < with_runaways[name]["oa"] < clean[name]["oa"], name


def test_compare_needs_two_reference_pieces(sets):
    with pytest.raises(ValueError, match="at least 2 reference"):
        metrics.compare(sets["same"], sets["reference"][:1])


def test_plot_writes_a_png(sets, tmp_path):
    path = metrics.plot(sets["same"], sets["reference"], tmp_path / "metrics.png", title="same vs reference")
    assert path == tmp_path / "metrics.png"
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 10_000
