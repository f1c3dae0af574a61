"""The synthesiser: the sample head's codecs, the fused generation kernel against torch, training, the
CLI's verbs and their mistakes, on made-up tones; and the shipped `drums` model on the real drums."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import run_cli, tone
from gruve import bundle
from gruve.data.sources import Item
from gruve.nn.heads import SampleHead
from gruve.synth.model import SynthConfig, WaveGRU
from gruve.synth.training import split_by_group


def test_mulaw_and_dual_codecs_round_trip_and_silence_is_zero():
    y = torch.linspace(-1, 1, 2001)
    mulaw, dual = SampleHead(8, 8, "mulaw"), SampleHead(8, 8, "dual")
    levels = mulaw.encode(y)
    assert levels.shape == (2001, 1) and levels.min() == 0 and levels.max() == 255
    # 8-bit mu-law: the error grows with the level, and is about 2% of full scale at the top
    assert (mulaw.decode(levels) - y).abs().max() < 0.025
    assert (mulaw.decode(mulaw.encode(torch.tensor([0.001]))) - 0.001).abs() < 2e-4  # fine steps near zero
    assert (dual.decode(dual.encode(y)) - y).abs().max() <= 1 / 32768
    assert dual.encode(y).shape == (2001, 2) and int(dual.encode(y).max()) == 255
    for head in (mulaw, dual):
        assert abs(float(head.decode(head.silence))) < 1e-4
    with pytest.raises(ValueError, match="unknown sample output"):
        SampleHead(8, 8, "float")


def test_a_training_example_gives_each_target_the_samples_before_it_nearest_first():
    from gruve.synth.training import Sound, _example

    levels = torch.arange(1, 11)[:, None]  # sample i (from 0) has level i + 1; silence is level 0
    sound = Sound(levels, 10, 0, torch.zeros(10))
    previous, targets, mask, *_ = _example(sound, 4, 3, torch.zeros(1, dtype=torch.long), lags=3)
    assert targets[:, 0].tolist() == [5, 6, 7] and previous.shape == (3, 3, 1)
    assert previous[..., 0].tolist() == [[4, 3, 2], [5, 4, 3], [6, 5, 4]]
    previous, targets, *_ = _example(sound, 0, 2, torch.zeros(1, dtype=torch.long), lags=3)
    assert targets[:, 0].tolist() == [1, 2] and previous[..., 0].tolist() == [[0, 0, 0], [1, 0, 0]]  # silence before


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_onset_share_sets_how_many_training_windows_start_where_the_sound_is_made(share):
    from gruve.synth.training import Sound, Windows

    sound = Sound(torch.zeros(16000, 1, dtype=torch.long), 4000, 0, torch.zeros(16000))
    windows = Windows([sound] * 50, 1024, share, torch.zeros(1, dtype=torch.long), lags=1, seed=0)
    starts = np.array([windows[i][4] for i in range(len(windows))])
    assert len(starts) == 50 * 15 and starts.max() <= 16000 - 1024
    assert abs((starts == 0).mean() - share) < 0.05  # a window drawn anywhere starts at 0 one time in 15,000


def _model(output: str, condition: str | None = None, lags: int = 1) -> WaveGRU:
    torch.manual_seed(0)
    config = SynthConfig(["a", "b"], output, hidden_size=48, head=24, embed=16, lags=lags,
                         mel={"sr": 16000, "n_fft": 256, "hop_length": 64, "n_mels": 16, "fmin": 0.0,
                              "fmax": None, "amin": 1e-10} if condition == "mel" else None,
                         envelope=condition in ("envelope", "bands", "timbre"), bands=3 if condition == "bands" else 1,
                         timbre=8 if condition == "timbre" else 0)
    model = WaveGRU(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)  # sharper distributions than at initialisation, so the draws depend on the weights
    return model


@pytest.mark.parametrize("output,condition,batch,lags", [("mulaw", None, 3, 1), ("dual", None, 3, 1),
                                                         ("mulaw", "mel", 2, 1), ("mulaw", "envelope", 2, 16),
                                                         ("dual", "bands", 3, 3), ("mulaw", "timbre", 2, 4),
                                                         ("dual", None, 20, 1)])  # batch 20: the kernel's BLAS path
def test_fused_kernel_draws_the_same_samples_as_a_torch_step_loop(output, condition, batch, lags):
    model = _model(output, condition, lags)
    label = torch.tensor([0, 1] * (batch // 2) + [0] * (batch % 2))
    like = torch.from_numpy(np.random.default_rng(1).standard_normal(400).astype(np.float32) * 0.3)
    frames = model.frames_of(like.expand(batch, -1))
    uniform = np.random.default_rng(0).random((400, batch, model.head.parts), dtype=np.float32)
    temperature = np.linspace(1.2, 0.7, 400, )  # each sample at its own temperature
    fused = model.levels(label, 400, frames, temperature, uniform)
    differs = (fused != model.levels_torch(label, 400, frames, temperature, uniform)).any(axis=2)
    # Sums in another order (BLAS at batch 20, another CPU's vector width) can put a draw on the other side of
    # a boundary, after which that sound goes its own way: rare, not systematic. So the sounds agree, draw for
    # draw, up to where each first differs, and that is nearly always the end.
    agreed = np.where(differs.any(axis=0), differs.argmax(axis=0), 400)
    assert agreed.mean() >= 0.9 * 400
    assert len(np.unique(fused)) > 20  # not a degenerate sequence


@pytest.mark.parametrize("output,lags", [("mulaw", 1), ("dual", 1), ("mulaw", 4)])
def test_teacher_forced_forward_gives_the_distributions_generation_drew_from(output, lags):
    """The whole-sequence pass (training, on `_example`s) and the step kernel (generation) are the same model."""
    from gruve.synth.training import Sound, _example

    model = _model(output, lags=lags)
    label = torch.tensor([1, 0])
    uniform = np.random.default_rng(3).random((300, 2, model.head.parts), dtype=np.float32)
    levels = torch.from_numpy(model.levels(label, 300, None, np.ones(300), uniform)).transpose(0, 1)
    previous = torch.stack([_example(Sound(levels[b], 300, b, torch.zeros(300)), 0, 300, model.head.silence, lags)[0]
                            for b in range(2)])
    with torch.no_grad():
        h = model(previous, label, torch.zeros(2, dtype=torch.long))
        for part in range(model.head.parts):
            cdf = torch.softmax(model.head.logits(h, part, levels[..., 0]), -1).cumsum(-1)
            draws = torch.from_numpy(uniform[..., part]).T.contiguous()
            redrawn = torch.searchsorted(cdf, (draws * cdf[..., -1])[..., None], right=True)[..., 0]
            assert (redrawn == levels[..., part]).float().mean() > 0.99  # float sums may differ at a boundary


def test_a_tail_temperature_eases_from_the_onsets_temperature_and_none_changes_nothing(trained):
    from gruve.synth.model import TAIL_SECONDS, temperature_curve

    curve = temperature_curve(16000, 16000, 1.05, 0.9)
    assert curve[0] == pytest.approx(1.05) and curve[-1] == pytest.approx(0.9, abs=1e-3)
    assert curve[round(TAIL_SECONDS * 16000)] == pytest.approx(0.9 + 0.15 / np.e, abs=1e-4)
    assert np.all(np.diff(curve) <= 0)
    model = bundle.load(trained[0], task="synth")
    same = model.generate(["low"] * 2, 0.1, 1.1, seed=4)
    np.testing.assert_array_equal(model.generate(["low"] * 2, 0.1, 1.1, seed=4, tail_temperature=1.1), same)
    assert not np.array_equal(model.generate(["low"] * 2, 0.1, 1.1, seed=4, tail_temperature=0.5), same)


def test_an_envelope_that_holds_a_noise_floor_lies_far_from_one_that_decays():
    from gruve.signal import envelope

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    decaying = rng.standard_normal((8, 16000)) * np.exp(-t / 0.05)
    holding = decaying + 0.03 * rng.standard_normal((8, 16000))
    real = rng.standard_normal((8, 16000)) * np.exp(-t / 0.05)
    assert np.abs(envelope(decaying) - envelope(real)).mean() < 1
    assert np.abs(envelope(holding) - envelope(real)).mean() > 20
    assert envelope(np.zeros((2, 16000))).min() == -80


def test_a_held_out_group_is_a_whole_kit_and_a_manifest_split_is_kept(tmp_path):
    items = [Item(tmp_path / f"{kit}__{i}.wav", {"label": "x"}) for kit in "ABCDEFGHIJ" for i in range(5)]
    train, valid = split_by_group(items, 0.2, seed=0)
    kits = lambda part: {i.path.name.split("__")[0] for i in part}  # noqa: E731
    assert len(valid) == 10 and not kits(train) & kits(valid) and len(train) + len(valid) == 50
    assert split_by_group(items, 0.2, seed=0) == (train, valid)
    given = [Item(tmp_path / "a.wav", {"label": "x"}, "train"), Item(tmp_path / "b.wav", {"label": "x"}, "valid")]
    assert split_by_group(given, 0.5, 0) == ([given[0]], [given[1]])


@pytest.fixture(scope="module")
def trained(tone_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "run"
    from gruve.synth.training import SynthOptions, train
    from gruve.training import TrainOptions

    summary = train(SynthOptions(data=str(tone_folder), hidden_size=32, head=32, embed=16, seconds=0.5, window=256),
                    TrainOptions(out=out, max_epochs=2, progress=False), say=lambda _: None)
    return out, summary


def test_training_learns_and_writes_a_bundle_with_its_curves(trained):
    out, summary = trained
    assert (out / "model.safetensors").is_file() and (out / "curves.png").is_file()
    assert summary["epochs"] == 2
    assert summary["valid_nll_per_sample"] < np.log(256) - 0.5  # well below a uniform guess of 5.55 nats
    meta, _ = bundle.read(out / "model.safetensors")
    assert meta["task"] == "synth" and meta["config"]["labels"] == ["high", "low"]
    with open(out / "metrics.csv") as f:
        assert {row["epoch"] for row in csv.DictReader(f)} == {"0", "1"}


def test_training_fits_an_equaliser_that_brings_each_labels_mean_spectrum_to_the_real_ones(trained, tone_folder):
    from gruve.signal import long_term_power

    out, _ = trained
    model = bundle.load(out, task="synth")
    assert model.config.equaliser and model.meta["equaliser"]["sounds"] == 22  # the 22 training sounds (2 held out)
    labels = ["high"] * 8 + ["low"] * 8
    raw = torch.from_numpy(model.generate(labels, seed=5, raw=True))
    equalised = torch.from_numpy(model.generate(labels, seed=5))
    assert not torch.equal(raw, equalised) and equalised.abs().max() <= 1

    def level(waves: torch.Tensor) -> torch.Tensor:  # a label's mean long-term spectrum, dB
        return 10 * torch.log10(long_term_power(waves).mean(0) + 1e-10)

    for i, label in enumerate(("high", "low")):
        real = torch.stack([torch.from_numpy(sf.read(p, dtype="float32")[0][:8000])
                            for p in sorted((tone_folder / label).glob("*.wav"))])
        errors = [float((level(waves[8 * i: 8 * i + 8]) - level(real)).square().mean().sqrt())
                  for waves in (raw, equalised)]
        assert errors[1] < 0.7 * errors[0], errors


@pytest.mark.parametrize("samples", [1, 160, 16000])
def test_an_equaliser_of_flat_gains_scales_a_sound_of_any_length(samples):
    from gruve.signal import equalised

    y = torch.from_numpy(np.random.default_rng(0).standard_normal((2, samples), dtype=np.float32))
    assert torch.allclose(equalised(y, torch.zeros(2, 513)), y, atol=1e-5)
    assert torch.allclose(equalised(y, torch.full((2, 513), 20 * np.log10(2))), 2 * y, atol=1e-5)


def test_equalise_refits_a_models_equaliser_as_training_did(trained, tone_folder, tmp_path, capsys):
    out, _ = trained
    code, stdout, _ = run_cli(["synth", "equalise", str(out), "--data", str(tone_folder), "--out", str(tmp_path)],
                              capsys)
    assert code == 0 and "fitted to 22 sounds" in stdout
    refitted, original = bundle.load(tmp_path, task="synth"), bundle.load(out, task="synth")
    assert torch.equal(refitted.equaliser, original.equaliser)  # the training sounds, the same generated ones
    assert refitted.meta["metrics"] == original.meta["metrics"]
    code, _, _ = run_cli(["synth", "equalise", str(out), "--data", str(tone_folder), "--n", "2", "--out",
                          str(tmp_path / "two.safetensors")], capsys)
    assert code == 0 and not torch.equal(bundle.load(tmp_path / "two.safetensors").equaliser, original.equaliser)


def test_shaped_noise_follows_a_real_sounds_envelope_and_the_labels_mean_spectrum():
    from gruve.signal import long_term_power
    from gruve.synth.evaluation import shaped_noise

    t = np.arange(8000) / 16000
    real = np.stack([np.sin(2 * np.pi * 500 * t) * np.exp(-t / 0.05) for _ in range(3)]).astype(np.float32)
    noise = shaped_noise(real, 4, 16000, np.random.default_rng(0))
    assert noise.shape == (4, 8000) and np.abs(noise).max() <= 1
    peak = long_term_power(torch.from_numpy(noise)).mean(0).argmax()
    assert abs(int(peak) - 32) <= 2  # 500 Hz is bin 32 of 1024 at 16 kHz
    assert np.abs(noise[:, :800]).mean() > 10 * np.abs(noise[:, -800:]).mean()  # it decays as the tone does


def test_resume_continues_from_the_last_checkpoint_of_a_dual_softmax_model(tone_folder, tmp_path, capsys):
    args = ["synth", "train", str(tone_folder), "--out", str(tmp_path), "--hidden", "16", "--head", "16",
            "--seconds", "0.3", "--window", "128", "--output", "dual"]
    assert run_cli([*args, "--epochs", "1"], capsys)[0] == 0
    code, stdout, _ = run_cli([*args, "--epochs", "2", "--resume"], capsys)
    assert code == 0 and "valid_nll_per_sample" in stdout
    with open(tmp_path / "metrics.csv") as f:
        assert {row["epoch"] for row in csv.DictReader(f) if row.get("val_loss")} == {"0", "1"}
    assert bundle.load(tmp_path, task="synth").generate(["low"], 0.01).shape == (1, 160)


def test_generate_writes_wavs_and_a_picture_and_repeats_by_seed(trained, tmp_path, capsys):
    model = str(trained[0])
    args = ["synth", "generate", model, "--label", "low", "--n", "3", "--seconds", "0.25"]
    code, stdout, stderr = run_cli([*args, "--out", str(tmp_path / "a")], capsys)
    assert code == 0 and "samples/s" in stderr
    paths = sorted((tmp_path / "a").glob("low-*.wav"))
    assert len(paths) == 3 and (tmp_path / "a" / "sounds.png").stat().st_size > 10_000
    y, sr = sf.read(paths[0])
    assert sr == 16000 and len(y) == 4000 and np.abs(y).max() > 0
    run_cli([*args, "--out", str(tmp_path / "b")], capsys)
    run_cli([*args, "--seed", "1", "--out", str(tmp_path / "c")], capsys)
    assert (tmp_path / "b" / "low-1.wav").read_bytes() == paths[0].read_bytes()
    assert (tmp_path / "c" / "low-1.wav").read_bytes() != paths[0].read_bytes()
    assert paths[0].read_bytes() != paths[1].read_bytes()  # a batch is not one sound three times


def test_a_mel_model_resynthesises_a_file_at_its_length(tone_folder, tmp_path, capsys):
    args = ["synth", "train", str(tone_folder), "--out", str(tmp_path / "run"), "--hidden", "16", "--head", "16",
            "--seconds", "0.3", "--window", "128", "--mel", "--epochs", "1"]
    assert run_cli(args, capsys)[0] == 0
    like = next((tone_folder / "low").glob("*.wav"))
    code, _, _ = run_cli(["synth", "generate", str(tmp_path / "run"), "--like", str(like), "--n", "1",
                          "--out", str(tmp_path / "out")], capsys)
    assert code == 0 and len(sf.read(tmp_path / "out" / "high-1.wav")[0]) == len(sf.read(like)[0])
    code, _, stderr = run_cli(["synth", "generate", str(tmp_path / "run")], capsys)
    assert code == 1 and "--like FILE" in stderr
    assert not bundle.load(tmp_path / "run", task="synth").config.equaliser  # it follows the frames it is given
    code, _, stderr = run_cli(["synth", "equalise", str(tmp_path / "run"), "--data", str(tone_folder), "--out",
                               str(tmp_path / "eq")], capsys)
    assert code == 1 and "a vocoder follows the log-mel frames" in stderr and "Traceback" not in stderr


def test_an_envelope_model_draws_its_training_sounds_envelopes_or_follows_a_files(tone_folder, tmp_path, capsys):
    from gruve.signal import loudness
    from gruve.synth.model import ENVELOPE_FLOOR

    args = ["synth", "train", str(tone_folder), "--out", str(tmp_path / "run"), "--hidden", "16", "--head", "16",
            "--seconds", "0.3", "--window", "128", "--envelope", "--epochs", "1"]
    assert run_cli(args, capsys)[0] == 0
    model = bundle.load(tmp_path / "run", task="synth")
    meta, _ = bundle.read(tmp_path / "run" / "model.safetensors")
    kept = 24 - len(meta["training"]["valid_files"])
    assert model.config.envelope and model.config.bank == kept and model.bank.shape == (kept, 30)
    assert (model.bank > -12).all()  # tones at 0.5 amplitude: about -9 dB in every 10 ms frame
    draws = {seed: model.drawn(torch.tensor([0, 1]), 40, seed)[0] for seed in range(8)}
    for envelopes in draws.values():
        assert envelopes.shape == (2, 1, 40) and (envelopes[..., 30:] == ENVELOPE_FLOOR).all()  # silence after 0.3 s
        for label, row in zip((0, 1), envelopes):
            assert any(torch.equal(row[0, :30], kept_row) for kept_row in model.bank[model.bank_label == label])
    assert len({tuple(d[0, 0].tolist()) for d in draws.values()}) > 1  # seeds draw different sounds' envelopes
    half = np.concatenate([tone(500.0, 0.15), np.zeros(2400, np.float32)])  # loud, then silent
    sf.write(tmp_path / "half.wav", half, 16000)
    _, steps, frames = model.prepare(["low"], None, torch.from_numpy(half), seed=0)
    assert steps == 4800
    assert torch.allclose(frames, model.envelope_frames(loudness(torch.from_numpy(half)[None, None], 160)))
    code, _, _ = run_cli(["synth", "generate", str(tmp_path / "run"), "--like", str(tmp_path / "half.wav"),
                          "--n", "1", "--seconds", "0.4", "--out", str(tmp_path / "out")], capsys)
    assert code == 0 and len(sf.read(tmp_path / "out" / "high-1.wav")[0]) == 6400
    code, _, stderr = run_cli([*args[:-2], "--mel"], capsys)
    assert code == 1 and "choose --mel or --envelope" in stderr


def test_band_envelopes_split_a_frames_power_by_frequency_and_a_band_model_keeps_them(tone_folder, tmp_path, capsys):
    from gruve.signal import band_loudness, loudness

    t = np.arange(16000) / 16000
    low, high = np.sin(2 * np.pi * 100 * t), np.sin(2 * np.pi * 6000 * t)
    noise = np.random.default_rng(0).standard_normal(16000) * np.exp(-t / 0.1)
    y = torch.from_numpy(np.stack([low, high, noise]).astype(np.float32))
    bands = band_loudness(y, 160, 4, 16000)
    assert bands.shape == (3, 4, 100)
    # By Parseval the bands' powers add up to the frame's: the one-band envelope is their sum.
    total = 10 * torch.log10((10 ** (bands / 10)).sum(1))
    heard = loudness(y, 160) > -60  # (each band is floored at -80 dB, so their sum is not, below that)
    assert torch.allclose(total[heard], loudness(y, 160)[heard], atol=0.01) and heard.sum() > 250
    assert bands[0, 0].min() > -4 and bands[0, 1:].max() < -20  # a 100 Hz tone: the band below 250 Hz
    assert bands[1, 3].min() > -4 and bands[1, :3].max() < -20  # a 6 kHz tone: the top band
    assert torch.equal(band_loudness(y, 160, 1, 16000), loudness(y, 160)[:, None])
    args = ["synth", "train", str(tone_folder), "--out", str(tmp_path / "run"), "--hidden", "16", "--head", "16",
            "--seconds", "0.3", "--window", "128", "--envelope", "--bands", "3", "--epochs", "1"]
    assert run_cli(args, capsys)[0] == 0
    model = bundle.load(tmp_path / "run", task="synth")
    assert model.config.bands == 3 and model.bank.shape == (model.config.bank, 3 * 30)
    assert model.drawn(torch.tensor([0, 1]), 40, seed=0)[0].shape == (2, 3, 40)
    assert model.generate(["low", "high"], 0.05).shape == (2, 800)
    code, _, stderr = run_cli([a for a in args if a != "--envelope"], capsys)
    assert code == 1 and "--bands" in stderr and "only with --envelope" in stderr


def test_a_timbre_model_draws_envelope_and_timbre_from_one_training_sound_or_takes_a_files(tone_folder, tmp_path,
                                                                                          capsys):
    from gruve.signal import timbre

    t = np.arange(16000) / 16000
    tones = torch.from_numpy(np.stack([np.sin(2 * np.pi * f * t) for f in (300, 3000)]).astype(np.float32))
    colours = timbre(tones, 16, 16000)
    assert colours.shape == (2, 16) and (colours <= 0).all() and (colours.amax(1) == 0).all()
    assert colours[0].argmax() < colours[1].argmax() and colours[0, -1] < -40  # a low tone: nothing up top
    args = ["synth", "train", str(tone_folder), "--out", str(tmp_path / "run"), "--hidden", "16", "--head", "16",
            "--seconds", "0.3", "--window", "128", "--envelope", "--timbre", "8", "--epochs", "1"]
    assert run_cli(args, capsys)[0] == 0
    model = bundle.load(tmp_path / "run", task="synth")
    assert model.config.timbre == 8 and model.bank_timbre.shape == (model.config.bank, 8)
    for seed in range(4):
        levels, timbres = model.drawn(torch.tensor([0, 1]), 30, seed)
        for envelope, colour in zip(levels, timbres):  # both from the same kept sound
            row = next(r for r in range(model.config.bank) if torch.equal(model.bank[r], envelope.flatten()))
            assert torch.equal(model.bank_timbre[row], colour)
    low = model.bank_timbre[model.bank_label == model.label_index("low")].argmax(1)
    high = model.bank_timbre[model.bank_label == model.label_index("high")].argmax(1)
    assert low.max() < high.min()
    like = torch.from_numpy(tone(2000.0, 0.3))
    _, _, frames = model.prepare(["low"], None, like, seed=0)
    assert torch.allclose(frames, model.envelope_frames(model.envelopes(like[None]), timbre(like[None], 8, 16000)))
    assert model.generate(["low", "high"], 0.05).shape == (2, 800)
    code, _, stderr = run_cli([a for a in args if a != "--envelope"], capsys)
    assert code == 1 and "--timbre" in stderr and "only with --envelope" in stderr


def test_a_synthesiser_of_one_sound_trains_where_a_classifier_of_one_class_is_refused(tone_folder, tmp_path,
                                                                                       capsys):
    import shutil

    shutil.copytree(tone_folder / "low", tmp_path / "data" / "low")
    code, stdout, _ = run_cli(["synth", "train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--hidden",
                               "16", "--head", "16", "--seconds", "0.2", "--window", "128", "--epochs", "1"], capsys)
    assert code == 0 and "valid_nll_per_sample" in stdout
    assert bundle.load(tmp_path / "run", task="synth").config.labels == ["low"]
    code, _, stderr = run_cli(["listen", "train", str(tmp_path / "data"), "--out", str(tmp_path / "listen")], capsys)
    assert code == 1 and "only one class of 'label'; a classifier needs at least two" in stderr


@pytest.mark.parametrize("args,phrase", [
    (["generate", "MODEL", "--label", "snare"], "knows no label 'snare'"),
    (["generate", "MODEL", "--temperature", "0"], "--temperature must be above 0"),
    (["generate", "MODEL", "--tail-temperature", "-1"], "--tail-temperature must be above 0"),
    (["evaluate", "MODEL", "--data", "DATA", "--classifier", "MODEL", "--tail-temperature", "0"],
     "--tail-temperature must be above 0"),
    (["generate", "MODEL", "--n", "0"], "--n must be at least 1"),
    (["generate", "MODEL", "--like", "WAV"], "not conditioned on log-mel frames or an envelope"),
    (["generate", "MODEL", "--like", "MODEL"], "is not a readable audio file"),
    (["generate", "bach-chorales"], "is a compose model"),
    (["train", "DATA", "--output", "float"], "--output must be one of mulaw, dual"),
    (["train", "DATA", "--onset-share", "1.5"], "--onset-share must be from 0 to 1"),
    (["train", "DATA", "--lags", "0"], "--lags must be at least 1"),
    (["train", "/nowhere"], "is not a folder, a CSV manifest"),
    (["equalise", "MODEL", "--data", "DATA", "--n", "0", "--out", "OUT"], "--n must be at least 1"),
    (["equalise", "MODEL", "--data", "/nowhere", "--out", "OUT"], "is not a folder, a CSV manifest"),
    (["equalise", "MODEL", "--data", "NOISES", "--out", "OUT"], "no readable sounds of this model's labels"),
])
def test_user_mistakes_get_one_sentence_and_no_traceback(args, phrase, trained, tone_folder, tmp_path, capsys):
    (tmp_path / "noises" / "noise").mkdir(parents=True)
    sf.write(tmp_path / "noises" / "noise" / "a.wav", np.zeros(800), 16000)
    paths = {"MODEL": trained[0] / "model.safetensors", "DATA": tone_folder, "WAV": tone_folder / "low" / "low0.wav",
             "OUT": tmp_path / "out", "NOISES": tmp_path / "noises"}
    args = [str(paths.get(a, a)) for a in args]
    code, _, stderr = run_cli(["synth", *args], capsys)
    assert code == 1 and phrase in stderr and "Traceback" not in stderr


def test_spectral_detail_tells_ringing_partials_from_noise_of_the_same_spectral_shape():
    from scipy.signal import lfilter

    from gruve.signal import log_spectrum, spectral_detail

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    partials = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in rng.uniform(300, 7000, 40))
    noise = rng.standard_normal(16000)
    darker = lfilter([1.0], [1.0, -0.9], noise)  # a smooth tilt is not detail
    details = [spectral_detail(np.stack([log_spectrum(y.astype(np.float32))])) for y in (partials, noise, darker)]
    assert details[0] > 5 and details[1] < 1.5 and details[2] < 1.5


def test_evaluate_hears_the_labels_and_measures_spectra_against_noise(trained, tone_folder, tmp_path, capsys):
    classifier = tmp_path / "classifier"
    code, _, _ = run_cli(["listen", "train", str(tone_folder), "--out", str(classifier), "--epochs", "3",
                          "--hidden", "16", "--model", "gru"], capsys)
    assert code == 0
    code, stdout, _ = run_cli(["synth", "evaluate", str(trained[0]), "--data", str(tone_folder), "--classifier",
                               str(classifier), "--n", "2", "--seconds", "0.25", "--tail-temperature", "0.8",
                               "--out", str(tmp_path / "ev")], capsys)
    assert code == 0 and "heard as intended" in stdout and "before the model's equaliser" in stdout.replace("\n", " ")
    report = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert set(report["labels"]) == {"high", "low"} and report["equalised"]
    assert all(0 <= report[key] <= 1 for key in ("accuracy", "accuracy_raw", "accuracy_shaped_noise"))
    assert report["tail_temperature"] == 0.8
    for row in report["labels"].values():
        assert row["real_sounds"] == 12 and row["lsd_noise"] > row["lsd_real"] > 0 and row["lsd_generated"] > 0
        assert row["envelope_error"] >= 0 and row["detail_real"] > 1.5 and row["detail_generated"] > 0
        assert row["accuracy_shaped_noise"] == 1  # tones this far apart: the mean spectrum alone tells them
    assert (tmp_path / "ev" / "confusion.png").is_file() and (tmp_path / "ev" / "spectra.png").is_file()


def test_shipped_drums_model_makes_every_class_and_scores_its_recorded_nll(datasets):
    """The shipped model generates every class it lists, and scores on the held-out kits of the real drums
    the NLL per sample recorded when it was trained."""
    from gruve.data.sources import resolve
    from gruve.synth.training import held_out_nll, load_sounds

    model = bundle.load("drums", task="synth")
    assert model.config.labels == ["clap", "cymbal", "hihat", "kick", "snare", "tom"]
    assert model.config.hidden_size >= 256
    assert model.config.equaliser and model.meta["equaliser"]["sounds"] == 504  # its training sounds
    waves = model.generate(model.config.labels, 0.1, seed=0)
    assert waves.shape == (6, 1600) and np.abs(waves).max() <= 1 and np.all(np.isfinite(waves))
    held_out = set(model.meta["training"]["valid_files"])
    items = [i for i in resolve(str(datasets / "drums")).items if i.path.name in held_out]
    assert len(items) == model.meta["metrics"]["valid_sounds"]
    nll = held_out_nll(model, load_sounds(items, model, say=lambda _: None))
    assert nll == pytest.approx(model.meta["metrics"]["valid_nll_per_sample"], abs=2e-4)
