"""The music language model: corpora, tokens, the model and its sampler, training and generating as a user
does, and export of its step."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace

import numpy as np
import onnxruntime
import pytest
import symusic
import torch

from conftest import melody, run_cli
from gruve import bundle
from gruve.compose import corpus as corpora
from gruve.compose.lm import tokens
from gruve.compose.lm.config import LMConfig
from gruve.compose.lm.generation import GenerateOptions
from gruve.compose.lm.model import MusicLM
from gruve.compose.lm.sampler import FLAM, Sampler, sample
from gruve.compose.lm.scoring import Encoded, held_out_nll
from gruve.compose.lm.training import LMTask, Streams
from gruve.data.sources import DataError
from gruve.errors import GruveError, OptionError


@pytest.fixture(scope="module")
def score_folder(tmp_path_factory):
    """Twenty tunes in two sub-folders, one broken file and one one-note piece."""
    root = tmp_path_factory.mktemp("scores")
    rng = np.random.default_rng(0)
    for i in range(20):
        folder = root / ("high" if i % 2 else "low")
        folder.mkdir(exist_ok=True)
        melody(rng, low=72 if i % 2 else 55).dump_midi(str(folder / f"tune{i}.mid"))
    (root / "broken.mid").write_bytes(b"not a midi file")
    single = symusic.Score(480)
    single.tracks.append(symusic.Track(program=0))
    single.tracks[0].notes.append(symusic.Note(0, 480, 60, 80))
    single.dump_midi(str(root / "single.mid"))
    return root


@pytest.fixture(scope="module")
def trained(score_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = _main(["compose", "train", str(score_folder), "--hidden", "32", "--epochs", "2", "--window", "64",
                  "--condition", "folder", "--out", str(out)])
    assert code == 0
    return out


def _main(args):
    import sys

    from gruve.cli import main

    old, sys.argv = sys.argv, ["gruve", *args]
    try:
        main()
        return 0
    except SystemExit as done:
        return done.code or 0
    finally:
        sys.argv = old


@pytest.fixture(scope="module")
def song_folder(tmp_path_factory):
    """POP909's layout: 30 songs, each `NNN/NNN.mid` with two alternates in `NNN/versions/`."""
    root = tmp_path_factory.mktemp("pop")
    rng = np.random.default_rng(1)
    for song in range(1, 31):
        (root / f"{song:03d}" / "versions").mkdir(parents=True)
        melody(rng).dump_midi(str(root / f"{song:03d}" / f"{song:03d}.mid"))
        for version in (1, 2):
            melody(rng).dump_midi(str(root / f"{song:03d}" / "versions" / f"{song:03d}_v{version}.mid"))
    return root


def test_split_by_folder_keeps_a_songs_versions_on_one_side_and_exclude_leaves_them_out(song_folder, tmp_path, capsys):
    said = []
    by_file = corpora.load(str(song_folder), say=said.append)
    assert len(by_file.pieces) == 90 and by_file.label_values("folder")[:2] == ["001", "002"]
    sides = lambda corpus: {p.name.split("/")[0]: set() for p in corpus.pieces}  # noqa: E731
    spread = sides(by_file)
    for piece in by_file.pieces:
        spread[piece.name.split("/")[0]].add(piece.split)
    assert any(len(s) > 1 for s in spread.values())  # by file, versions of a song land on both sides
    by_folder = corpora.load(str(song_folder), say=said.append, split_by="folder")
    spread = sides(by_folder)
    for piece in by_folder.pieces:
        spread[piece.name.split("/")[0]].add(piece.split)
    assert all(len(s) == 1 for s in spread.values()) and not by_folder.label_values("folder")
    assert [len(by_folder.split(s)) for s in ("train", "valid", "test")] == [72, 9, 9]
    assert said[1] == f"{song_folder}: 90 score files in 30 top-level folders; split by folder (30 units)"
    originals = corpora.load(str(song_folder), say=said.append, split_by="folder", exclude=("*/versions/*",))
    assert len(originals.pieces) == 30 and "(60 left out by --exclude)" in said[-1]
    with pytest.raises(DataError, match=r"holds no score files .* once \*\.mid are left out"):
        corpora.load(str(song_folder), say=said.append, exclude=("*.mid",))
    # train records the split; evaluate then measures against the same held-out songs
    out = tmp_path / "run"
    code, _, err = run_cli(["compose", "train", str(song_folder), "--split-by", "folder", "--exclude", "*/versions/*",
                            "--hidden", "16", "--epochs", "1", "--window", "64", "--out", str(out)], capsys)
    assert code == 0, err
    assert bundle.read(out)[0]["training"]["options"]["split_by"] == "folder"
    code, stdout, err = run_cli(["compose", "evaluate", str(out), "--reference", str(song_folder), "--n", "2",
                                 "--bars", "2", "--json", "--out", str(tmp_path / "eval")], capsys)
    # the one-epoch model may write nothing measurable; either way the reference is the 3 held-out songs
    assert "test (3 pieces)" in stdout if code == 0 else "nothing to measure" in err and "Traceback" not in err
    assert f"{song_folder}: 30 score files (60 left out by --exclude)" in err
    code, _, err = run_cli(["compose", "train", str(song_folder), "--split-by", "song", "--out", str(tmp_path / "x")],
                           capsys)
    assert code == 1 and "--split-by must be one of file, folder (got 'song')" in err


def test_a_folder_corpus_reports_broken_files_drops_one_note_pieces_and_splits_by_piece(score_folder):
    said = []
    corpus = corpora.load(str(score_folder), seed=0, say=said.append)
    assert len(corpus.pieces) == 20 and corpus.dropped == 1
    assert [path for path, _ in corpus.skipped] == [str(score_folder / "broken.mid")]
    assert any("broken.mid" in line for line in said) and any("dropped 1" in line for line in said)
    sizes = {split: len(corpus.split(split)) for split in ("train", "valid", "test")}
    assert sizes == {"train": 16, "valid": 2, "test": 2}
    again = corpora.load(str(score_folder), seed=0, say=lambda _: None)
    assert [(p.name, p.split) for p in again.pieces] == [(p.name, p.split) for p in corpus.pieces]
    assert corpus.label_values("folder") == ["high", "low"]


def test_groove_keeps_its_official_split_and_style_labels(datasets):
    corpus = corpora.load(f"groove:{datasets / 'groove'}", say=lambda _: None)
    assert corpus.drums and len(corpus.pieces) == 1150
    assert {s: len(corpus.split(s)) for s in ("train", "valid", "test")} == {"train": 897, "valid": 124, "test": 129}
    assert "funk" in corpus.label_values("style")
    piece = next(p for p in corpus.pieces if p.name == "drummer1/session1/1")
    raw = symusic.Score(str(datasets / "groove" / "drummer1/session1/1_funk_80_beat_4-4.mid"))
    assert {n.pitch for t in raw.tracks for n in t.notes} & {22, 26}  # a TD-11 hi-hat edge
    pitches = [n.pitch for t in piece.score.tracks for n in t.notes]
    assert not {22, 26} & set(pitches) and len(pitches) == sum(len(t.notes) for t in raw.tracks)
    tokenizer = tokens.build("REMI")
    kept = tokens.decode(tokenizer, tokens.encode(tokenizer, piece.score), drums=True)[0]
    assert sum(len(t.notes) for t in kept.tracks) == len(pitches)  # no note falls outside the drum range


def test_bach_comes_from_music21_without_a_download(tmp_path, monkeypatch):
    import music21

    chorales = [p for p in music21.corpus.getComposer("bach") if "bwv" in str(p)][:2]
    monkeypatch.setattr(music21.corpus, "getComposer", lambda name: chorales)
    corpus = corpora.load("bach", cache_dir=tmp_path, say=lambda _: None)
    assert len(corpus.pieces) == 2 and all(len(p.score.tracks) >= 1 for p in corpus.pieces)
    assert (tmp_path / "corpora" / "bach-chorales").is_dir()


def test_unknown_corpus_names_the_known_ones():
    with pytest.raises(DataError, match="bach, groove, jsb, nottingham"):
        corpora.load("no-such-corpus")


def test_tokens_round_trip_and_the_tokenizer_travels_as_json():
    tokenizer = tokens.build("REMI")
    score = melody(np.random.default_rng(1))
    ids = tokens.encode(tokenizer, score)
    decoded, validity = tokens.decode(tokenizer, ids)
    assert validity == 1.0
    original = sorted((n.time * 8 // 480, n.pitch) for n in score.tracks[0].notes)
    back = sorted((n.time * 8 // decoded.ticks_per_quarter, n.pitch) for n in decoded.tracks[0].notes)
    assert back == original
    again = tokens.from_json("REMI", json.loads(json.dumps(tokens.to_json(tokenizer))))
    assert again.vocab == tokenizer.vocab
    with pytest.raises(GruveError, match="REMI, TSD"):
        tokens.build("NoSuchTokenizer")


def test_garbage_tokens_decode_to_what_can_be_read_never_a_crash():
    tokenizer = tokens.build("REMI")
    garbage = np.random.default_rng(0).integers(4, len(tokenizer), 300)
    score, validity = tokens.decode(tokenizer, garbage, drums=True)
    assert 0.0 < validity < 1.0
    assert all(track.is_drum for track in score.tracks)


def test_augmentation_transposes_within_the_keyboard_and_moves_tempo():
    tokenizer = tokens.build("REMI")
    ids = tokens.encode(tokenizer, melody(np.random.default_rng(2)))
    augment = tokens.Augmenter(tokenizer, transpose=5, tempo=2)
    inverse = {i: t for t, i in tokenizer.vocab.items()}
    pitches = lambda seq: [int(inverse[i].split("_")[1]) for i in seq if inverse[i].startswith("Pitch_")]
    shifts = set()
    for seed in range(20):
        out, shift = augment(ids, np.random.default_rng(seed))
        difference = {a - b for a, b in zip(pitches(out), pitches(ids))}
        assert difference == {shift}  # every pitch moved together, by the shift it reports
        shifts |= difference
    assert len(shifts) > 3 and max(abs(s) for s in shifts) <= 5
    edge = tokens.Augmenter(tokenizer, transpose=5)
    highest = max(i for t, i in tokenizer.vocab.items() if t.startswith("Pitch_"))
    assert all(0 < edge(np.array([highest]), np.random.default_rng(s))[0][0] <= highest for s in range(10))


def test_a_model_conditioned_on_its_transposition_learns_each_windows_shift_and_writes_in_the_corpus_keys(
        score_folder, tmp_path, capsys):
    """Transposition augmentation alone teaches a model every key equally (real chorales transposed by up to
    5 semitones lose as much pitch-class closeness to Bach as the model had); told each window's shift, it
    can learn the keys apart, and generation asks for the corpus's own (0)."""
    from gruve.compose.lm.scoring import encode
    from gruve.compose.lm.training import Windows

    tokenizer = tokens.build("REMI")
    config = LMConfig("REMI", {}, len(tokenizer), conditions={"folder": ["high", "low"],
                                                              "transposition": [str(k) for k in range(-3, 4)]})
    piece = corpora.Piece("tune", melody(np.random.default_rng(2)), "train", {"folder": "low"})
    data = encode([piece], tokenizer, config)
    assert data.conditions == [[1, 2 + 3]] and data.transposition == 1  # "0" is the transposition's 4th value
    inverse = {i: t for t, i in tokenizer.vocab.items()}
    pitches = lambda seq: [int(inverse[int(i)].split("_")[1]) for i in seq if inverse[int(i)].startswith("Pitch_")]
    windows = Windows(data, 10_000, tokens.Augmenter(tokenizer, transpose=3), seed=0)
    shifts = set()
    for _ in range(12):
        (ids,), rows = windows[0]
        assert rows[0] == 1 and {a - b for a, b in zip(pitches(ids), pitches(data.ids[0]))} == {rows[1] - 5}
        shifts.add(rows[1] - 5)
    assert len(shifts) > 2
    args = ["compose", "train", str(score_folder), "--hidden", "16", "--epochs", "1", "--window", "64",
            "--transpose", "2", "--condition", "transposition", "--out", str(tmp_path / "run")]
    assert run_cli(args, capsys)[0] == 0
    model = bundle.load(tmp_path / "run", task="compose")
    assert model.config.conditions == {"transposition": ["-2", "-1", "0", "1", "2"]}
    assert {c["transposition"] for c in model.generate(GenerateOptions(n=6, bars=1, tokens=30))[1]} == {"0"}
    up = GenerateOptions(n=2, bars=1, tokens=30, conditions={"transposition": "2"})
    assert {c["transposition"] for c in model.generate(up)[1]} == {"2"}
    code, _, err = run_cli([*args[:9], "--transpose", "0", "--condition", "transposition", "--out", str(tmp_path)],
                           capsys)
    assert code == 1 and "needs pieces transposed in training" in err


def small_model(conditions=None, lookback: bool = False) -> MusicLM:
    torch.manual_seed(0)
    tokenizer = tokens.build("REMI")
    config = LMConfig("REMI", tokens.to_json(tokenizer), len(tokenizer), hidden_size=24, num_layers=2, dropout=0.0,
                      conditions=conditions or {}, lookback=lookback)
    model = MusicLM(config).eval()
    with torch.no_grad():
        for table in (model.conditions, model.lookback):  # as training leaves them: values that differ
            if table is not None:
                table.weight.normal_()
    return model


TWO_LABELS = {"style": ["funk", "rock"], "beat_type": ["beat", "fill"]}


def test_two_labels_each_add_their_own_embedding():
    assert not MusicLM(small_model(TWO_LABELS).config).conditions.weight.any()  # at first: the unconditioned model
    model = small_model(TWO_LABELS)
    assert model.config.condition_index({"style": "rock", "beat_type": "fill", "drummer": "x"}) == [1, 3]
    ids = torch.randint(4, model.config.vocab_size, (1, 10))
    with torch.inference_mode():
        both, _ = model(ids, torch.tensor([[1, 3]]))
        inputs = model.embedding(ids) + model.conditions.weight[1] + model.conditions.weight[3]
        expected, _ = model.rnn.rnn(inputs)
        torch.testing.assert_close(both, expected @ model.embedding.weight.T + model.out_bias)
    # In a batch, each piece is sampled with its own values: the fused step agrees with torch row by row.
    rows = np.array([[0, 2], [1, 3]])
    fused = Sampler(model)._advance(np.repeat(ids.numpy().T, 2, axis=1), np.zeros((2, 2, 24), np.float32), rows)
    with torch.inference_mode():
        each, _ = model(ids.repeat(2, 1), torch.from_numpy(rows))
    np.testing.assert_allclose(fused, each[:, -1].numpy(), atol=1e-4)
    # A label left out is drawn for each piece, seeded; the one given is kept.
    _, conditions = model.generate(GenerateOptions(n=12, bars=1, tokens=50, seed=1, conditions={"style": "rock"}))
    assert {c["style"] for c in conditions} == {"rock"} and {c["beat_type"] for c in conditions} == {"beat", "fill"}
    assert model.generate(GenerateOptions(n=12, bars=1, tokens=50, seed=1, conditions={"style": "rock"}))[1] == conditions
    with pytest.raises(GruveError, match="knows no beat_type 'solo'"):
        model.generate(GenerateOptions(conditions={"beat_type": "solo"}))


def test_a_bundle_from_before_several_labels_still_loads():
    config = asdict(small_model().config)
    config.pop("conditions")
    assert LMConfig.from_dict({**config, "condition": "style", "condition_values": ["funk", "rock"]}).conditions == {
        "style": ["funk", "rock"]}
    assert LMConfig.from_dict({**config, "condition": None, "condition_values": []}).conditions == {}


def test_the_fused_sampler_steps_as_the_torch_model_reads_the_whole_sequence():
    model = small_model(TWO_LABELS)
    ids = torch.randint(4, model.config.vocab_size, (1, 40))
    with torch.inference_mode():
        whole, _ = model(ids, torch.tensor([[1, 2]]))
        state, stepped = None, []
        for t in range(ids.shape[1]):
            logits, state = model.step(ids[:, t], state, torch.tensor([[1, 2]]))
            stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, 1), whole, atol=1e-4, rtol=1e-4)
    sampler = Sampler(model)
    h = np.zeros((2, 1, 24), np.float32)
    fused = sampler._advance(ids.numpy().T.copy(), h, np.array([[1, 2]]))
    np.testing.assert_allclose(fused[0], whole[0, -1].numpy(), atol=1e-4)


def test_generation_is_seeded_follows_its_controls_and_keeps_the_primer():
    model = small_model()
    bar = model.tokenizer.vocab["Bar_None"]
    first, _ = model.generate(GenerateOptions(n=3, bars=2, tokens=300, seed=4))
    again, _ = model.generate(GenerateOptions(n=3, bars=2, tokens=300, seed=4))
    other, _ = model.generate(GenerateOptions(n=3, bars=2, tokens=300, seed=5))
    assert [p.tolist() for p in first] == [p.tolist() for p in again]
    assert [p.tolist() for p in first] != [p.tolist() for p in other]
    assert all(int((p == bar).sum()) <= 2 for p in first)
    assert all(len(p) <= 300 for p in model.generate(GenerateOptions(n=2, bars=None, tokens=300, seed=0))[0])
    primer = np.array([bar, model.tokenizer.vocab["Position_0"]])
    assert all(p[:2].tolist() == primer.tolist() for p in model.generate(GenerateOptions(n=2, bars=3, primer=primer))[0])
    for wrong, phrase in [({"temperature": 0}, "^temperature must be above 0"), ({"top_p": 0}, "^top_p must be"),
                          ({"top_k": -1}, "^top_k must be")]:
        with pytest.raises(OptionError, match=phrase) as raised:
            GenerateOptions(**wrong)
        assert raised.value.field == next(iter(wrong)) and "--" not in str(raised.value)  # Python names no flag
    with pytest.raises(GruveError, match="conditioned on nothing"):
        model.generate(GenerateOptions(conditions={"style": "funk"}))


def test_top_k_and_top_p_keep_only_the_likeliest_tokens():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    rng = np.random.default_rng(0)
    assert {int(sample(logits, 1.0, 1, 1.0, rng)[0]) for _ in range(50)} == {0}
    assert {int(sample(logits, 1.0, 0, 0.7, rng)[0]) for _ in range(200)} == {0, 1}
    assert {int(sample(logits, 1.0, 0, 1.0, rng)[0]) for _ in range(500)} == {0, 1, 2, 3}


def test_held_out_nll_reads_long_pieces_in_chunks_exactly():
    import gruve.compose.lm.training as lm_train

    model = small_model()
    data = Encoded([np.random.default_rng(i).integers(4, 300, n) for i, n in enumerate((2500, 40, 700))], [[], [], []])
    chunked = held_out_nll(model, data)
    original, lm_train.CHUNK = lm_train.CHUNK, 10_000
    try:
        whole = held_out_nll(model, data)
    finally:
        lm_train.CHUNK = original
    assert chunked["tokens"] == whole["tokens"] == 2500 + 40 + 700 - 3
    assert chunked["nll_per_token"] == pytest.approx(whole["nll_per_token"], abs=1e-4)


def _streams(data: Encoded, window: int, rows: int, seed: int = 0) -> Streams:
    return Streams(data, window, rows, lambda ids, rng: (ids, 0), pad=0, seed=seed)


def test_streams_play_every_piece_whole_and_in_order_in_as_many_batches_every_epoch():
    pieces = [np.random.default_rng(i).integers(4, 300, n) for i, n in enumerate((700, 41, 42, 300, 90, 257, 5))]
    streams = _streams(Encoded(pieces, [[i] for i in range(7)]), window=64, rows=3)
    for _ in range(2):  # two epochs
        batches = list(streams)
        assert len(batches) == len(streams) == 11  # 11, 1, 1, 5, 2, 4 and 1 windows dealt to 3 rows: 11, 7, 7
        heard = []
        for row in range(3):
            playing = None
            for ids, lengths, condition, _, fresh in batches:
                if lengths[row] == 0:
                    continue
                chunk = ids[row, :lengths[row]].numpy()
                if fresh[row]:
                    playing = int(condition[row, 0])
                    heard.append(playing)
                    so_far = chunk
                else:
                    assert int(condition[row, 0]) == playing and chunk[0] == so_far[-1]  # the next window goes on
                    so_far = np.concatenate([so_far, chunk[1:]])
                if len(so_far) == len(pieces[playing]):
                    np.testing.assert_array_equal(so_far, pieces[playing])
        assert sorted(heard) == list(range(7))  # each piece once


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")  # the step is run without a Trainer
def test_training_on_streams_carries_the_state_from_window_to_window():
    model = small_model()
    model.eval()  # no dropout: the windows must score as the whole pieces do
    data = Encoded([np.random.default_rng(i).integers(4, 300, n) for i, n in enumerate((500, 130, 61))], [[], [], []])
    whole = held_out_nll(model, data)
    task = LMTask(model, 1e-3, 0.0)

    def total(batches) -> float:
        task.on_train_epoch_start()
        with torch.no_grad():
            return sum(float(task.training_step(batch, i)) * int((batch[1] - 1).clamp(min=0).sum())
                       for i, batch in enumerate(batches))

    batches = list(_streams(data, window=50, rows=2))
    assert total(batches) / whole["tokens"] == pytest.approx(whole["nll_per_token"], abs=1e-4)
    forgetting = [(*batch[:4], torch.ones_like(batch[4])) for batch in batches]
    assert abs(total(forgetting) / whole["tokens"] - whole["nll_per_token"]) > 1e-3


def test_the_exported_step_gives_torch_logits(tmp_path):
    from gruve.export import export

    model = small_model(TWO_LABELS)
    [(path, difference)] = export(model, tmp_path / "lm.onnx")
    assert difference < 1e-4
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    hidden = np.zeros((2, 1, 24), np.float32)
    logits, _ = session.run(None, {"token": np.array([9]), "hidden": hidden, "condition": np.array([[1, 2]])})
    with torch.inference_mode():
        expected, _ = model.step(torch.tensor([9]), torch.zeros(2, 1, 24), torch.tensor([[1, 2]]))
    np.testing.assert_allclose(logits, expected.numpy(), atol=1e-4)


def drum_bars(*bars: list[tuple[int, int]]) -> symusic.Score:
    """Drum bars in 4/4, each a list of (sixteenth of the bar, drum); 11.5 is a 32nd before the twelfth."""
    score = symusic.Score(480)
    track = symusic.Track(program=0, is_drum=True)
    for b, hits in enumerate(bars):
        track.notes.extend(symusic.Note(b * 1920 + int(step * 120), 60, drum, 90) for step, drum in hits)
    track.notes.sort()
    score.tracks.append(track)
    return score


BEAT = [(0, 36), (0, 42), (4, 38), (4, 42), (8, 36), (8, 42), (12, 38), (12, 42)]


def test_the_lookback_is_the_next_token_wherever_a_bar_repeats_the_one_before():
    tokenizer = tokens.build("REMI")
    vocab = tokenizer.vocab
    bar, pad, kick_at_10 = vocab["Bar_None"], vocab["PAD_None"], vocab["Position_20"]  # 8 positions a beat
    ids = tokens.encode(tokenizer, drum_bars(BEAT, BEAT, BEAT, BEAT[:6] + [(10, 36)] + BEAT[6:]))
    lookback = tokens.Lookback(tokenizer).ids(ids)
    first, second, third, fourth = np.flatnonzero(ids == bar)
    assert (lookback[:second] == pad).all()  # no bar before the first
    np.testing.assert_array_equal(lookback[third:fourth], ids[third + 1:fourth + 1])  # a repeat: always the next token
    # The fourth bar adds a kick where the third had nothing: in step up to it (where the bar before went on to
    # its next position), no lookback from there to the next position, then in step again, up to its last
    # token, after which the bar before had ended (a Bar came next).
    added = fourth + int(np.flatnonzero(ids[fourth:] == kick_at_10)[0])
    back = added + 1 + int(np.flatnonzero(np.isin(ids[added + 1:], list(tokens.Lookback(tokenizer).positions)))[0])
    np.testing.assert_array_equal(lookback[fourth:added - 1], ids[fourth + 1:added])
    assert lookback[added - 1] == ids[back] == vocab["Position_24"]
    assert (lookback[added:back] == pad).all()
    np.testing.assert_array_equal(lookback[back:-1], ids[back + 1:])
    assert lookback[-1] == bar
    # A snare a 32nd early (Position_23, where the bar before had Position_24) is on the same sixteenth: the
    # lookback after it is what the bar before played there.
    ids = tokens.encode(tokenizer, drum_bars(BEAT, BEAT[:6] + [(11.5, 38), (12, 42)]))
    early = int(np.flatnonzero(ids == vocab["Position_23"])[0])
    assert tokens.Lookback(tokenizer).ids(ids)[early] == ids[early + 1] == vocab["PitchDrum_38"]
    with pytest.raises(GruveError, match="needs a tokenizer with Bar and Position tokens.*TSD has none"):
        tokens.Lookback(tokens.build("TSD"))


def test_a_lookback_window_is_cut_and_augmented_with_its_ids():
    from gruve.compose.lm.scoring import encode
    from gruve.compose.lm.training import Windows

    tokenizer = tokens.build("REMI")
    config = LMConfig("REMI", {}, len(tokenizer), lookback=True)
    data = encode([corpora.Piece("tune", melody(np.random.default_rng(3), bars=6), "train", {})], tokenizer, config)
    np.testing.assert_array_equal(data.lookback[0], tokens.Lookback(tokenizer).ids(data.ids[0]))
    whole = Windows(data, 10_000, tokens.Augmenter(tokenizer, transpose=3, tempo=2), seed=0)
    for _ in range(6):  # transposed and moved in tempo alike: the lookbacks of the augmented ids
        (ids, lookback), _ = whole[0]
        assert not np.array_equal(ids.numpy(), data.ids[0]) or _ == 0
        np.testing.assert_array_equal(lookback.numpy(), tokens.Lookback(tokenizer).ids(ids.numpy()))
    (ids, lookback), _ = Windows(data, 40, tokens.Augmenter(tokenizer), seed=0)[0]
    start = next(s for s in range(len(data.ids[0])) if np.array_equal(data.ids[0][s:s + 41], ids.numpy()))
    np.testing.assert_array_equal(lookback.numpy(), data.lookback[0][start:start + 41])  # the piece's, not the window's


def test_a_lookback_model_samples_with_the_lookbacks_it_was_trained_on():
    model = small_model(lookback=True)
    tokenizer = model.tokenizer
    bos, pad = model.special("BOS"), model.special("PAD")
    primer = tokens.encode(tokenizer, drum_bars(BEAT, BEAT))
    pieces, _ = model.generate(GenerateOptions(n=2, bars=None, tokens=len(primer) + 60, top_k=1, primer=primer, may_end=True))
    for piece in pieces:  # greedy: each token the torch model's likeliest, given the tracker's lookbacks
        ids = np.concatenate([[bos], piece])
        lookback = tokens.Lookback(tokenizer).ids(ids)
        assert (lookback[len(primer):] != pad).any()
        with torch.inference_mode():
            logits, _ = model(torch.from_numpy(ids)[None], lookback=torch.from_numpy(lookback)[None])
            blind, _ = model(torch.from_numpy(ids)[None], lookback=torch.full((1, len(ids)), pad))
        np.testing.assert_array_equal(logits[0, len(primer):-1].argmax(-1).numpy(), ids[len(primer) + 1:])
        assert not torch.allclose(logits, blind, atol=1e-3)  # the lookback is heard


@pytest.mark.parametrize("conditions", [None, TWO_LABELS])
def test_the_exported_step_of_a_lookback_model_takes_the_lookback(tmp_path, conditions):
    from gruve.export import export

    model = small_model(conditions, lookback=True)
    [(path, difference)] = export(model, tmp_path / "lm.onnx")
    assert difference < 1e-4
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rows = {"condition": np.array([[1, 2]])} if conditions else {}
    logits, _ = session.run(None, {"token": np.array([9]), "hidden": np.zeros((2, 1, 24), np.float32), **rows,
                                   "lookback": np.array([40])})
    with torch.inference_mode():
        expected, _ = model.step(torch.tensor([9]), torch.zeros(2, 1, 24),
                                 torch.tensor([[1, 2]]) if conditions else None, torch.tensor([40]))
    np.testing.assert_allclose(logits, expected.numpy(), atol=1e-4)
    import onnx

    usage = {p.key: p.value for p in onnx.load(path).metadata_props}["usage"]
    assert "lookback (batch,)" in usage and ("condition (batch, labels)" in usage) == bool(conditions)


def test_train_and_generate_a_lookback_model_as_a_user_does(score_folder, tmp_path, capsys):
    args = ["compose", "train", str(score_folder), "--hidden", "32", "--epochs", "2", "--window", "64", "--lookback"]
    code, _, err = run_cli([*args, "--tokenizer", "TSD", "--out", str(tmp_path / "tsd")], capsys)
    assert code == 1 and "needs a tokenizer with Bar and Position tokens" in err and "Traceback" not in err
    assert not (tmp_path / "tsd").exists()
    assert run_cli([*args, "--out", str(tmp_path / "run")], capsys)[0] == 0
    model = bundle.load(tmp_path / "run", task="compose")
    assert model.config.lookback and model.lookback.weight.any()  # trained away from zero
    assert 0 < model.meta["metrics"]["test_nll_per_token"] < np.log(model.config.vocab_size)
    code, _, err = run_cli(["compose", "generate", str(tmp_path / "run"), "--n", "2", "--bars", "3",
                            "--out", str(tmp_path / "gen")], capsys)
    assert code == 0 and (tmp_path / "gen" / "sample-2.mid").is_file()


def test_train_and_generate_as_a_user_does(trained, tmp_path, capsys):
    from gruve import bundle

    meta, _ = bundle.read(trained)
    assert meta["task"] == "compose" and meta["config"]["conditions"] == {"folder": ["high", "low"]}
    assert 0 < meta["metrics"]["test_nll_per_token"] < np.log(meta["config"]["vocab_size"])
    assert (trained / "curves.png").is_file()
    out = tmp_path / "gen"
    code, stdout, err = run_cli(["compose", "generate", str(trained), "--n", "2", "--bars", "4", "--seed", "3",
                                 "--condition", "folder=high", "--out", str(out)], capsys)
    assert code == 0 and "decode" in err
    assert (out / "sample-1.mid").is_file() and (out / "sample-2.mid").is_file() and (out / "samples.png").is_file()
    from gruve.compose.render import midi_seconds

    lengths = [midi_seconds(out / f"sample-{i}.mid") for i in (1, 2)]
    assert f"lengths: sample-1 {lengths[0]:.1f} s, sample-2 {lengths[1]:.1f} s" in err  # the seconds each plays
    broken = [line for line in err.splitlines() if "of its tokens broke the grammar" in line]
    assert all(line.startswith(("sample-1: ", "sample-2: ")) for line in broken)  # which piece lost tokens
    first = (out / "sample-1.mid").read_bytes()
    run_cli(["compose", "generate", str(trained), "--n", "2", "--bars", "4", "--seed", "3",
             "--condition", "folder=high", "--out", str(out)], capsys)
    assert (out / "sample-1.mid").read_bytes() == first  # the same seed, the same music
    for args, phrase in [(["--condition", "style=funk"], "folder=VALUE"), (["--condition", "folder=jazz"], "knows no"),
                         (["--condition", "folder"], "LABEL=VALUE pairs"),
                         (["--temperature", "0"], "--temperature"), (["--primer", str(tmp_path / "none.mid")],
                                                                     "does not exist")]:
        code, _, err = run_cli(["compose", "generate", str(trained), "--out", str(out), *args], capsys)
        assert code == 1 and phrase in err and "Traceback" not in err


def test_training_refuses_a_label_the_corpus_does_not_have(score_folder, tmp_path, capsys):
    code, _, err = run_cli(["compose", "train", str(score_folder), "--condition", "style", "--epochs", "1",
                            "--out", str(tmp_path)], capsys)
    assert code == 1 and "'style' label" in err and "folder" in err
    code, _, err = run_cli(["compose", "train", str(score_folder), "--tokenizer", "Nope", "--out", str(tmp_path)],
                           capsys)
    assert code == 1 and "unknown tokenizer" in err
    code, _, err = run_cli(["compose", "train", str(score_folder), "--window", "0", "--out", str(tmp_path)], capsys)
    assert code == 1 and "--window must be at least 2" in err


def test_train_with_the_state_carried_across_windows(score_folder, tmp_path, capsys):
    code, _, err = run_cli(["compose", "train", str(score_folder), "--hidden", "32", "--epochs", "1", "--window", "32",
                            "--batch-size", "4", "--carry-state", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    from gruve import bundle

    meta, _ = bundle.read(tmp_path / "model.safetensors")
    assert meta["training"]["options"]["carry_state"] is True and meta["metrics"]["test_nll_per_token"] < 6


def test_evaluate_measures_a_model_and_a_midi_folder_against_held_out_pieces(trained, score_folder, tmp_path, capsys):
    from gruve.compose.metrics import FEATURES

    out = tmp_path / "eval"
    code, stdout, err = run_cli(["compose", "evaluate", str(trained), "--reference", str(score_folder), "--split",
                                 "train", "--n", "4", "--bars", "4", "--out", str(out), "--json"], capsys)
    assert code == 0
    report = json.loads(stdout)
    budget = int(re.search(r"generating 4 pieces of up to 4 bars \(at most ([\d,]+) tokens in all\)", err)[1]
                 .replace(",", ""))  # twice the paired training pieces' tokens: no runaway piece
    assert report["generated"]["tokens"] <= budget < 2 * report["held_out"]["tokens"]
    assert set(report["metrics"]) == set(FEATURES)
    for row in report["metrics"].values():
        assert all(0.0 <= row[source]["oa"] <= 1.0 for source in ("model", "shuffled", "real"))
        assert row["closer"] == (row["model"]["oa"] > row["shuffled"]["oa"])
    # the baselines are drawn from the pieces outside the reference split, never from the reference itself
    assert report["others"].endswith("from outside train")
    assert 0.0 < report["generated"]["validity"] <= 1.0 and report["held_out"]["tokens"] > 0
    assert {p.name for p in out.iterdir()} == {"evaluation.json", "pieces.csv", "distributions.png"}

    # A folder of MIDI files is measured as it is (here: the high tunes, against all the training tunes).
    code, stdout, _ = run_cli(["compose", "evaluate", str(score_folder / "high"), "--reference", str(score_folder),
                               "--split", "train", "--out", str(tmp_path / "eval2"), "--json"], capsys)
    report = json.loads(stdout)
    assert code == 0 and set(report["metrics"]) == set(FEATURES) and "held_out" not in report
    code, _, err = run_cli(["compose", "evaluate", str(tmp_path / "eval2"), "--reference", str(score_folder),
                            "--out", str(tmp_path / "eval4")], capsys)
    assert code == 1 and "no score" in err
    # Another generation seed measures against the same held-out pieces: those of the model's training split.
    code, stdout, _ = run_cli(["compose", "evaluate", str(trained), "--reference", str(score_folder), "--seed", "5",
                               "--json", "--out", str(tmp_path / "eval3")], capsys)  # its test split has 2 pieces
    assert code == 0 and json.loads(stdout)["split_seed"] == 0
    code, stdout, _ = run_cli(["compose", "evaluate", str(score_folder / "high"), "--reference", str(score_folder),
                               "--split-seed", "5", "--json", "--out", str(tmp_path / "eval7")], capsys)
    assert code == 0 and json.loads(stdout)["split_seed"] == 5
    tests = {seed: {p.name for p in corpora.load(str(score_folder), seed, print).split("test")} for seed in (0, 5)}
    assert tests[0] != tests[5]  # so the split's seed matters
    code, _, err = run_cli(["compose", "evaluate", str(trained), "--reference", str(score_folder), "--bars", "0",
                            "--out", str(tmp_path / "eval5")], capsys)  # 0 is not "unset"
    assert code == 1 and "--bars must be at least 1" in err and "--tokens" not in err and "Traceback" not in err
    code, _, err = run_cli(["compose", "evaluate", str(trained), "--reference", str(score_folder), "--n", "0",
                            "--out", str(tmp_path / "eval6")], capsys)
    assert code == 1 and "--n must be at least 1" in err and "Traceback" not in err


def test_evaluate_generates_pieces_as_long_as_held_out_pieces_with_their_labels():
    """Lengths matter to the metrics (a longer piece has a wider pitch range), so each generated piece takes
    the length and label of a held-out piece drawn at random, unless --bars sets every length."""
    from gruve.compose.evaluation import _pairs

    bar = 7
    held_out = [corpora.Piece("short", None, "test", {"style": "funk"}),
                corpora.Piece("long", None, "test", {"style": "rock"})]
    ids = [np.array([1, bar, 3, bar, 3]), np.array([1, *[bar, 3] * 5])]
    pairs = _pairs(held_out, ids, ["style"], 40, None, bar, seed=0)
    funk, rock = (("style", "funk"),), (("style", "rock"),)
    assert set(pairs) == {(funk, 2, 64), (rock, 5, 64)}  # each piece's own bar count and label, both drawn
    assert set(_pairs(held_out, ids, ["style"], 40, 3, bar, seed=0)) == {(funk, 3, 64), (rock, 3, 64)}
    assert set(_pairs(held_out, ids, [], 40, None, bar, seed=0)) == {((), 2, 64), ((), 5, 64)}
    long = [np.array([1, *[bar, 3, 3, 3] * 50])]  # 201 tokens: at most twice that generated, never a runaway
    assert _pairs(held_out[:1], long, [], 1, None, bar, seed=0) == [((), 50, 402)]
    assert _pairs(held_out, ids, ["style"], 40, None, bar, seed=0) == pairs  # seeded


def test_one_batch_gives_each_piece_its_own_labels_bars_and_token_limit():
    model = small_model(TWO_LABELS)
    bar = model.tokenizer.vocab["Bar_None"]
    with torch.no_grad():
        model.out_bias[bar] = 6.0  # bars come often
    wanted = [{"style": "funk", "beat_type": "fill"}, {"style": "rock", "beat_type": "beat"},
              {"style": "rock", "beat_type": "fill"}]
    pieces, conditions = model.generate(GenerateOptions(n=3, seed=0), wanted, [(1, 2000), (3, 2000), (4, 6)])
    assert conditions == wanted
    assert [int((p == bar).sum()) for p in pieces[:2]] == [1, 3]  # each its own bars, none sooner
    assert len(pieces[2]) == 6  # its own token limit, before its 4 bars
    alone, _ = model.generate(GenerateOptions(n=1, bars=3, tokens=2000, seed=0, conditions=wanted[1]))
    assert int((alone[0] == bar).sum()) == 3
    # Drawn (near) greedily, a piece is the same in the batch as alone: the batch shrinks as pieces end, and
    # each state row stays with its piece.
    lengths = [(1, 2000), (3, 2000), (4, 6)]
    batch, _ = model.generate(GenerateOptions(n=3, temperature=1e-4), wanted, lengths)
    for piece, conditions, length in zip(batch, wanted, lengths):
        assert piece.tolist() == model.generate(GenerateOptions(n=1, temperature=1e-4), [conditions], [length])[0][0].tolist()


def test_a_drum_model_strikes_a_drum_at_most_twice_an_instant():
    model = small_model()
    model.config = replace(model.config, drums=True)
    tom, position = model.tokenizer.vocab["PitchDrum_43"], model.tokenizer.vocab["Position_4"]
    with torch.no_grad():
        model.out_bias[tom] = 12.0  # a model that wants nothing but the tom, as a runaway does
    strikes, moves = tokens.drum_strikes(model.tokenizer)
    primer = np.array([model.tokenizer.vocab["Bar_None"], position, tom])
    for piece in model.generate(GenerateOptions(n=4, bars=None, tokens=300, seed=0, primer=primer))[0]:
        counts, toms = [], 1  # the primer's last instant has struck the tom once
        for token in piece[3:].tolist():
            if moves[token]:
                counts, toms = counts + [toms], 0
            toms += token == tom
        assert max(counts) == FLAM and sum(counts) > 10  # the tom again and again, but never more than a flam
    structured = tokens.build("Structured")
    assert not tokens.drum_strikes(structured)[1][structured.vocab["TimeShift_0.0.1"]]  # a zero shift: the same instant


def test_asked_for_n_bars_a_piece_does_not_end_sooner_unless_it_may():
    model = small_model()
    eos = model.special("EOS")
    bar = model.tokenizer.vocab["Bar_None"]
    with torch.no_grad():
        model.out_bias[eos] = 8.0  # a model that wants to stop at once
        model.out_bias[bar] = 6.0  # and writes bars often
    pieces, _ = model.generate(GenerateOptions(n=2, bars=3, tokens=2000, seed=0))
    assert all(int((p == bar).sum()) == 3 for p in pieces)
    assert all(len(p) < 5 for p in model.generate(GenerateOptions(n=2, bars=3, tokens=2000, seed=0, may_end=True))[0])
