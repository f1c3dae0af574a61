"""`gruve synth`: sample-level GRU synthesis. Each command builds its options and calls one verb of
`gruve.synth`; the options check themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from gruve.cli_common import (trains, MODEL_HELP, SEED, err, print_summary)
from gruve.cli_common import out as console

app = typer.Typer(help="Generate audio sample by sample with a GRU (WaveRNN-style): train on sounds by label, "
                       "generate new ones, measure them.", no_args_is_help=True)

@app.command("train")
@trains("runs/synth", "30", patience=6, monitored="validation NLL")
def synth_train(
    data: str = typer.Argument(..., help="A folder with one sub-folder of sounds per label (any format and rate; "
                                         "resampled), or a CSV manifest (path,label[,split])."),
    output: str = typer.Option("mulaw", help="mulaw (one 256-way softmax over 8-bit mu-law) or dual (coarse and "
                                             "fine bytes of 16-bit samples, WaveRNN's)."),
    sr: int = typer.Option(16000, "--sample-rate", help="Samples per second the model works at."),
    seconds: float = typer.Option(1.0, help="Sounds are cut to this length (shorter ones end in silence)."),
    hidden_size: int = typer.Option(256, "--hidden", help="GRU units."),
    head: int = typer.Option(256, help="Units of each output layer."),
    mel: bool = typer.Option(False, "--mel", help="Condition on log-mel frames too: a vocoder (generate --like FILE)."),
    envelope: bool = typer.Option(False, "--envelope", help="Condition on a loudness envelope (10 ms frames) too: "
                                                            "generate draws one from the training sounds of the "
                                                            "label, or takes --like FILE's."),
    bands: int = typer.Option(1, help="With --envelope: frequency bands of the envelope, split at log-spaced "
                                      "edges from 250 Hz (1: the overall loudness; 4 tells a kick's quiet top "
                                      "from a snare's)."),
    timbre: int = typer.Option(0, help="With --envelope: condition on each sound's timbre too, its long-term "
                                       "spectrum in this many mel bands (0: none; 40 lets a cymbal's ringing "
                                       "partials through). Generate draws it with the envelope, from the same "
                                       "training sound, or takes --like FILE's."),
    lags: int = typer.Option(1, help="How many previous samples the GRU reads at each step (1: WaveRNN's one; "
                                     "16 gives it the recent waveform directly, for ringing sounds such as "
                                     "cymbals). Each costs one table row per sample in generation."),
    window: int = typer.Option(1024, help="Samples per training window."),
    onset_share: float = typer.Option(0.25, help="Share of training windows that start at a sound's onset (the "
                                                 "others start anywhere, the silence after it included)."),
    batch_size: int = typer.Option(32, help="Windows per batch."),
    lr: float = typer.Option(2e-3, help="Adam learning rate; halved after 2 epochs without progress."),
    run=None,  # the TrainOptions that @trains makes of the shared training flags
):
    """Train a sample-level GRU on labelled sounds; prints the validation NLL per sample on held-out sounds
    (whole kits held out where file names start with KIT__)."""
    from gruve.synth.training import SynthOptions, train

    options = SynthOptions(data=data, output=output, sr=sr, seconds=seconds, hidden_size=hidden_size, head=head,
                           mel=mel, envelope=envelope, bands=bands, lags=lags, timbre=timbre, window=window,
                           onset_share=onset_share, batch_size=batch_size, lr=lr)
    print_summary(train(options, run, say=err.print))


SYNTH_TAIL_TEMPERATURE = typer.Option(None, help="The temperature each sound eases to after its onset (time "
                                                  "constant 0.1 s). Below --temperature, tails decay towards "
                                                  "silence instead of holding a noise floor. Default: "
                                                  "--temperature throughout.")


@app.command("generate")
def synth_generate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    label: Optional[str] = typer.Option(None, help="Which kind of sound, e.g. snare (see `gruve models`); "
                                                   "default: the model's first."),
    n: int = typer.Option(8, "--n", help="How many sounds (generated together, in one batch)."),
    seconds: Optional[float] = typer.Option(None, help="Length of each sound (default 1.0, or --like's length)."),
    temperature: float = typer.Option(1.0, help="Below 1: cleaner, more predictable; above 1: noisier."),
    tail_temperature: Optional[float] = SYNTH_TAIL_TEMPERATURE,
    seed: int = typer.Option(0, help="The same seed gives the same sounds."),
    like: Optional[Path] = typer.Option(None, help="For a --mel model: the audio file whose log-mel frames to "
                                                   "resynthesise; for an --envelope model: the file whose "
                                                   "loudness envelope to follow (default: a training sound's)."),
    raw: bool = typer.Option(False, "--raw", help="Skip the model's output equaliser: the GRU's own sounds."),
    out: Path = typer.Option(Path("runs/sounds"), "--out", help="Where LABEL-N.wav and sounds.png go."),
):
    """Generate sounds sample by sample; writes each as a WAV and one PNG of their waveforms and spectrograms."""
    from gruve.synth.generation import GenerateOptions, generate

    options = GenerateOptions(label=label, n=n, seconds=seconds, temperature=temperature,
                              tail_temperature=tail_temperature, seed=seed, like=like, raw=raw)
    result = generate(model, options, out)
    for path in [*result.paths, result.picture]:
        console.print(f"wrote {path}", highlight=False)
    err.print(f"{result.samples.size:,} samples in {result.seconds:.1f} s: {result.samples_per_second:,.0f} samples/s",
              highlight=False)


@app.command("equalise")
def synth_equalise(
    model: str = typer.Argument(..., help=MODEL_HELP),
    data: str = typer.Option(..., help="The sounds whose mean spectrum per label to match, as for train (the "
                                       "model's held-out sounds are left out)."),
    out: Path = typer.Option(..., "--out", help="Where to write the equalised model (a .safetensors file or a run "
                                                "folder)."),
    n: int = typer.Option(32, "--n", help="Sounds to generate per label to measure the model's mean spectrum."),
):
    """Fit the model's output equaliser per label: the gains that bring the mean spectrum of its sounds to
    that of --data's. `synth train` does this at its end; this refits a model, for example after other sounds."""
    from gruve.synth.training import equalise

    result = equalise(model, data, out, n, say=err.print)
    console.print(f"wrote {result['model']} (equaliser fitted to {result['sounds']} sounds)", highlight=False)


@app.command("evaluate")
def synth_evaluate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    data: str = typer.Option(..., help="The real sounds, as for train: a folder per label or a CSV manifest."),
    classifier: str = typer.Option(..., help="A listen model trained on the real sounds' labels, e.g. from "
                                             "`gruve listen train DATA`."),
    n: int = typer.Option(20, "--n", help="Sounds to generate per label."),
    seconds: float = typer.Option(1.0, help="Length of each generated sound."),
    temperature: float = typer.Option(1.0, help="Sampling temperature."),
    tail_temperature: Optional[float] = SYNTH_TAIL_TEMPERATURE,
    seed: int = SEED,
    out: Path = typer.Option(Path("runs/synth/evaluation"), "--out", help="Where evaluation.json, confusion.png "
                                                                       "and spectra.png go."),
):
    """Generate --n sounds per label; print how often the classifier hears the intended label (also in the GRU's
    own output before the model's equaliser, and in shaped noise: white noise given a real sound's envelope and
    the label's mean spectrum, what the classifier hears without any GRU), and each label's
    log-spectral distance to the real sounds beside white noise's and the real sounds' own, how peaky its
    spectra are beside theirs (spectral detail), and how far its loudness over time (envelope) is from theirs."""
    from gruve.synth.evaluation import EvaluateOptions, evaluate

    options = EvaluateOptions(n=n, seconds=seconds, temperature=temperature, tail_temperature=tail_temperature,
                              seed=seed)
    report = evaluate(model, data, classifier, options, out, say=err.print)
    table = Table("label", "heard", "raw", "shaped noise", "LSD", "LSD noise", "LSD real", "detail/real",
                  "envelope",
                  caption="heard: share heard as intended (raw: before the model's equaliser; shaped noise: "
                          "no GRU). LSD: log-spectral distance to the real sounds, dB, of the generated sounds, "
                          "white noise and the real ones. detail: spectral detail, dB. envelope: envelope error, dB.")
    for label, row in report["labels"].items():
        table.add_row(label, f"{row['accuracy']:.0%}", f"{row['accuracy_raw']:.0%}",
                      f"{row['accuracy_shaped_noise']:.0%}", f"{row['lsd_generated']:.1f}", f"{row['lsd_noise']:.1f}",
                      f"{row['lsd_real']:.1f}", f"{row['detail_generated']:.1f}/{row['detail_real']:.1f}",
                      f"{row['envelope_error']:.1f}")
    console.print(table)
    console.print(f"heard as intended: {report['accuracy']:.1%} of {n * len(report['labels'])} sounds "
              f"({report['accuracy_raw']:.1%} before the model's equaliser; shaped noise "
              f"{report['accuracy_shaped_noise']:.1%}); wrote {out / 'evaluation.json'}", highlight=False)

