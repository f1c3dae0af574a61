"""The `gruve` command. Thin: it parses options and calls the capabilities, imported lazily so
`gruve --help` and `gruve listen predict` start fast (Lightning alone takes seconds to import)."""

from __future__ import annotations

import csv
import glob
import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from gruve.errors import GruveError

app = typer.Typer(help="GRU models on sound: listen (classify audio), compose (generate music) and synth (generate "
                       "audio sample by sample).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
listen = typer.Typer(help="Classify audio: train, evaluate and use GRU, BiGRU and CRNN classifiers.",
                     no_args_is_help=True)
app.add_typer(listen, name="listen")
compose = typer.Typer(help="Generate music with GRUs: train on scores, sample, listen to and measure the result.",
                      no_args_is_help=True)
app.add_typer(compose, name="compose")
pianoroll = typer.Typer(help="Polyphonic piano-roll models (GRU, GRU-NADE) on the Boulanger-Lewandowski benchmark "
                             "(jsb, nottingham, musedata, pianomidi) or on your own scores.", no_args_is_help=True)
compose.add_typer(pianoroll, name="pianoroll")
synth = typer.Typer(help="Generate audio sample by sample with a GRU (WaveRNN-style): train on sounds by label, "
                         "generate new ones, measure them.", no_args_is_help=True)
app.add_typer(synth, name="synth")
out = Console()
err = Console(stderr=True, soft_wrap=True)

DATA_HELP = ("A folder with one sub-folder per class, a CSV manifest (path,label[,fold,split,speaker]), or a known "
             "corpus NAME[:PATH] (fsdd, esc10, esc50, urbansound8k, speechcommands-v1/v2, gtzan); without PATH "
             "the corpus is downloaded into the cache.")
MODEL_HELP = "A model file (.safetensors), a training run folder, or the name of a shipped model (see `gruve models`)."
CORPUS_HELP = ("A folder of MIDI / MusicXML / ABC / Humdrum scores (searched recursively), or a known corpus: bach "
               "(the chorales inside music21), groove[:PATH] (Groove MIDI drums, with styles and its split), "
               "jsb[:PATH] or nottingham[:PATH] (the Boulanger-Lewandowski sets); without PATH it is downloaded.")
ROLLS_HELP = ("A piano-roll set: jsb, nottingham, musedata or pianomidi (downloaded into the cache), NAME:PATH for a "
              "local copy, a published .json / .pickle / .mat file, or a folder of MIDI / MusicXML / ABC scores.")

# Options every training command shares; typer reads each of these as a parameter's default.
PATIENCE = typer.Option(12, help="Stop after this many epochs without a better validation loss (0: never).")
SEED = typer.Option(0, help="Seed for splits, initialisation and augmentation.")
RESUME = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint.")
ACCELERATOR = typer.Option("auto", help="Lightning accelerator: auto, cpu, gpu, mps.")
DEVICES = typer.Option("auto", help="Lightning devices: auto, a count, or a list.")
STRATEGY = typer.Option("auto", help="Lightning strategy, e.g. ddp.")
PRECISION = typer.Option(None, help="Lightning precision, e.g. 16-mixed or bf16-mixed.")
CACHE_DIR = typer.Option(None, help="Cache for downloads and features (default $GRUVE_CACHE or ~/.cache/gruve).")


def _run_options(out_dir, epochs, patience, seed, accelerator, devices, strategy, precision, resume):
    from gruve.training import TrainOptions

    return TrainOptions(out_dir, epochs, patience, seed, accelerator, devices, strategy, precision, resume,
                        progress=sys.stderr.isatty())


@listen.command("train")
def listen_train(
    data: str = typer.Argument(..., help=DATA_HELP),
    target: Optional[str] = typer.Option(None, help="Which label to learn, e.g. digit or speaker for fsdd; "
                                                    "default: the corpus's first."),
    model: str = typer.Option("crnn", help="gru, bigru, crnn (causal conv + GRU), or lstm / rnn to compare."),
    out_dir: Path = typer.Option(Path("runs/listen"), "--out", help="Run folder: checkpoints, metrics.csv, "
                                                                    "model.safetensors."),
    folds: bool = typer.Option(False, "--folds", help="Cross-validate over the corpus's folds; report mean and std."),
    test_fold: Optional[int] = typer.Option(None, help="For fold corpora: the fold held out as test (default the first)."),
    epochs: Optional[int] = typer.Option(None, help="Most epochs to train (default: the corpus's, else 60)."),
    patience: int = PATIENCE,
    batch_size: int = typer.Option(32, help="Clips per batch."),
    lr: float = typer.Option(3e-3, help="Peak learning rate of the one-cycle schedule."),
    hidden: int = typer.Option(128, help="Recurrent units per layer (and direction)."),
    layers: int = typer.Option(2, help="Recurrent layers."),
    pooling: Optional[str] = typer.Option(None, help="How frames become one vector: attention or mean "
                                                     "(default: the corpus's, else attention)."),
    window: Optional[float] = typer.Option(None, help="Seconds the model sees at once (default: from the data)."),
    augment: bool = typer.Option(True, help="SpecAugment, mixup, gain and time shift while training."),
    mixup: float = typer.Option(0.2, help="Mixup Beta alpha (0 turns mixup off)."),
    noise: Optional[str] = typer.Option(None, help="Add background noise: a folder of recordings, 'white' or 'pink'."),
    seed: int = SEED,
    resume: bool = RESUME,
    strict: bool = typer.Option(False, "--strict", help="Stop at the first unreadable file instead of skipping it."),
    accelerator: str = ACCELERATOR,
    devices: str = DEVICES,
    strategy: str = STRATEGY,
    precision: Optional[str] = PRECISION,
    cache_dir: Optional[Path] = CACHE_DIR,
):
    """Train a classifier on labelled audio and save it as OUT/model.safetensors."""
    from gruve.listen.augment import AugmentConfig
    from gruve.listen.train import ListenOptions, cross_validate, train

    augment_config = AugmentConfig(mixup=mixup, noise=0.5 if noise else 0.0) if augment else AugmentConfig.off()
    options = ListenOptions(data, target, model, hidden, layers, pooling, window=window, batch_size=batch_size,
                            lr=lr, augment=augment_config, noise=noise, test_fold=test_fold, strict=strict,
                            cache_dir=cache_dir)
    run = _run_options(out_dir, epochs, patience, seed, accelerator, devices, strategy, precision, resume)
    if folds:
        summary = cross_validate(options, run, say=err.print)
        out.print(f"cross-validation over {len(summary['folds'])} folds: accuracy "
                  f"{summary['mean_accuracy']:.4f} ± {summary['std_accuracy']:.4f} "
                  f"({out_dir / 'cross_validation.json'})")
        return
    summary = train(options, run, say=err.print)
    _print_summary(summary)


def _print_summary(summary: dict) -> None:
    table = Table("metric", "value")
    for key, value in summary.items():
        if key != "model":
            table.add_row(key, str(value) if not isinstance(value, float) or key.endswith("seconds") else f"{value:.4f}")
    out.print(table)
    out.print(f"saved {summary['model']}", soft_wrap=True)


@listen.command("evaluate")
def listen_evaluate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    data: str = typer.Argument(..., help=DATA_HELP),
    split: str = typer.Option("test", help="train, valid or test."),
    target: Optional[str] = typer.Option(None, help="Label to score against (default: the one the model learnt)."),
    test_fold: Optional[int] = typer.Option(None, help="For fold corpora: the test fold (default: the model's)."),
    out_dir: Path = typer.Option(Path("runs/evaluate"), "--out", help="Where report.json and confusion.png go."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first unreadable file."),
    cache_dir: Optional[Path] = typer.Option(None, help="Cache for downloads and features."),
):
    """Accuracy, macro-F1, per-class precision and recall, and a confusion matrix of MODEL on DATA."""
    from gruve.listen.evaluate import evaluate

    if split not in ("train", "valid", "test"):
        raise GruveError(f"--split {split} is not one of train, valid, test.")
    report = evaluate(model, data, split, target, test_fold, out_dir, strict, cache_dir, say=err.print)
    if as_json:
        out.print_json(json.dumps(report))
        return
    table = Table("class", "precision", "recall", "clips",
                  title=f"{model} on {data} ({split}, {report['clips']} clips)")
    for label, row in report["per_class"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", str(row["support"]))
    out.print(table)
    out.print(f"accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}")
    out.print(f"report: {out_dir / 'report.json'}   confusion matrix: {out_dir / 'confusion.png'}", soft_wrap=True)


@listen.command("predict")
def listen_predict(
    model: str = typer.Argument(..., help=MODEL_HELP),
    files: list[str] = typer.Argument(..., help="Audio files, folders (searched recursively) or globs."),
    top_k: int = typer.Option(1, "--top-k", "-k", help="How many labels to show per file."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document with every prediction."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV rows: path, rank, label, probability."),
):
    """Label audio files; recordings longer than the model's window also get a timeline."""
    from gruve import bundle
    from gruve.audio import AudioError

    classifier = bundle.load(model, task="listen")
    predictions, failures = [], []
    for path in expand_files(files):
        try:
            predictions.append(classifier.predict(path, top_k))
        except AudioError as error:
            failures.append(str(error))
    if as_json:
        out.print_json(json.dumps([{"path": p.path, "top": [{"label": l, "probability": v} for l, v in p.top],
                                    "timeline": [dict(zip(("start", "end", "label", "probability"), t))
                                                 for t in p.timeline]} for p in predictions]))
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["path", "rank", "label", "probability"])
        writer.writerows([p.path, rank, label, f"{value:.4f}"] for p in predictions
                         for rank, (label, value) in enumerate(p.top, 1))
    elif predictions:
        _print_predictions(predictions)
    for failure in failures:
        err.print(f"[red]skipped:[/red] {failure}", highlight=False)
    if failures:
        raise typer.Exit(1)


@listen.command("stream")
def listen_stream(
    model: str = typer.Argument(..., help=MODEL_HELP),
    source: str = typer.Option("mic", "--input", "-i", help="An audio file; - for raw signed 16-bit mono PCM at the "
                                                            "model's sample rate on standard input; or mic."),
    hop_ms: float = typer.Option(250.0, help="Milliseconds of audio read per update (the model still steps every "
                                             "recurrent frame, e.g. 40 ms for the digit model)."),
    threshold: float = typer.Option(0.5, help="Report an event only when its top probability reaches this."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per event and line."),
):
    """Classify audio as it arrives, carrying the model's state from frame to frame. The stream is cut into
    segments as long as the model's window, and each segment's label is printed as soon as it ends (time in
    seconds from the start). Bidirectional models cannot stream."""
    import time

    import torch

    from gruve import bundle
    from gruve.audio import blocks
    from gruve.listen.stream import events, microphone_blocks, raw_pcm_blocks
    from gruve.nn.fused import compile_kernels

    if hop_ms <= 0:
        raise GruveError("--hop-ms must be more than 0.")
    classifier = bundle.load(model, task="listen")
    torch.set_num_threads(1)  # a stream's operations are small: threads cost more than they give
    sr, seconds = classifier.config.features.sr, hop_ms / 1000
    if source == "mic":
        audio_blocks = microphone_blocks(sr, seconds)
    elif source == "-":
        audio_blocks = raw_pcm_blocks(sr, seconds)
    else:
        audio_blocks = blocks(source, sr, seconds)
    compile_kernels()  # numba loads its compiled GRU kernel (about 0.7 s) before the clock starts
    samples = 0

    def counted(stream):
        nonlocal samples
        for block in stream:
            samples += len(block)
            yield block

    start = time.perf_counter()
    for event in events(classifier, counted(audio_blocks), threshold):
        if as_json:
            print(json.dumps(event.to_dict()), flush=True)
        else:
            out.print(f"{event.start:8.2f} – {event.end:8.2f} s  {event.label}  {event.probability:.3f}", highlight=False)
    elapsed = time.perf_counter() - start
    if samples:
        err.print(f"streamed {samples / sr:.2f} s of audio in {elapsed:.2f} s "
                  f"(real-time factor {elapsed / (samples / sr):.4f})", highlight=False)


def _print_predictions(predictions) -> None:
    table = Table("file", "label", "probability")
    for p in predictions:
        table.add_row(p.path, *(("\n".join(lines)) for lines in zip(*[(l, f"{v:.3f}") for l, v in p.top])))
    out.print(table)
    for p in predictions:
        if p.timeline:
            timeline = Table("start", "end", "label", "probability", title=f"timeline of {p.path}")
            for start, end, label, value in p.timeline:
                timeline.add_row(f"{start:.2f}", f"{end:.2f}", label, f"{value:.3f}")
            out.print(timeline)


def expand_files(specs: list[str]) -> list[str]:
    """Files as given, audio files below folders, and matches of globs; a missing path is kept so it is reported."""
    from gruve.audio import is_audio_file

    files = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            files += sorted(str(p) for p in path.rglob("*") if is_audio_file(p))
        elif not path.exists() and glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                raise GruveError(f"{spec} matches no files.")
            files += matches
        else:
            files.append(spec)
    if not files:
        raise GruveError(f"no audio files in {' '.join(specs)}.")
    return files


@compose.command("train")
def compose_train(
    corpus: str = typer.Argument(..., help=CORPUS_HELP),
    out_dir: Path = typer.Option(Path("runs/compose"), "--out", help="Run folder: checkpoints, metrics.csv, "
                                                                     "curves.png, model.safetensors."),
    tokenizer: str = typer.Option("REMI", help="MidiTok tokenization: REMI, TSD, MIDILike or Structured."),
    hidden: int = typer.Option(256, help="GRU units per layer (also the token embedding size: the output is tied)."),
    layers: int = typer.Option(2, help="GRU layers."),
    dropout: float = typer.Option(0.3, help="Dropout on embeddings, between layers and on the output."),
    condition: Optional[str] = typer.Option(None, help="Labels of the corpus to condition on, separated by commas, "
                                                       "e.g. style,beat_type for groove; then generate takes "
                                                       "--condition style=funk,beat_type=fill. 'transposition' "
                                                       "tells the model how far --transpose moved each window, "
                                                       "so it keeps the corpus's keys (generate: 0)."),
    window: int = typer.Option(256, help="Tokens per training window."),
    carry_state: bool = typer.Option(False, help="Play each piece from its start in consecutive windows and carry "
                                                 "the GRU state from one to the next (truncated backpropagation "
                                                 "through time), instead of random windows from a zero state."),
    lookback: bool = typer.Option(False, help="Feed the model, with each token, the token that followed the same "
                                              "point of the bar before (REMI only), so that bars can come back "
                                              "note for note, as drummers' do (Magenta's Lookback RNN)."),
    batch_size: int = typer.Option(32, help="Windows per batch."),
    lr: float = typer.Option(2e-3, help="AdamW learning rate; halved after 2 epochs without progress."),
    transpose: int = typer.Option(5, help="Augment: transpose pitched pieces by up to this many semitones."),
    tempo: int = typer.Option(2, help="Augment: move tempo tokens by up to this many steps."),
    epochs: Optional[int] = typer.Option(None, help="Most epochs to train (default 100)."),
    patience: int = typer.Option(6, help="Stop after this many epochs without a better validation NLL (0: never)."),
    seed: int = SEED,
    resume: bool = RESUME,
    accelerator: str = ACCELERATOR,
    devices: str = DEVICES,
    strategy: str = STRATEGY,
    precision: Optional[str] = PRECISION,
    cache_dir: Optional[Path] = CACHE_DIR,
):
    """Train a GRU language model on a corpus of scores (MidiTok tokens); prints the held-out NLL per token and
    perplexity on the valid and test pieces."""
    from gruve.compose.lm_train import LMOptions, train
    from gruve.compose.tokens import Lookback, build

    built = build(tokenizer)  # an unknown tokenizer, or one without bars for --lookback, is refused before any data is read
    if lookback:
        Lookback(built)
    if window < 2 or batch_size < 1:
        raise GruveError(f"--window must be at least 2 and --batch-size at least 1 (got {window} and {batch_size}).")
    labels = tuple(label.strip() for label in condition.split(",")) if condition else ()
    options = LMOptions(corpus, tokenizer, hidden, layers, dropout, labels, window, carry_state, lookback, batch_size,
                        lr, transpose=transpose, tempo=tempo, cache_dir=cache_dir)
    run = _run_options(out_dir, epochs, patience, seed, accelerator, devices, strategy, precision, resume)
    _print_summary(train(options, run, say=err.print))


COMPOSE_TEMPERATURE = typer.Option(1.0, help="Below 1: safer, more repetitive; above 1: wilder.")
COMPOSE_TOP_P = typer.Option(0.95, help="Sample only among the likeliest tokens that together hold this "
                                        "probability (1: all).")


@compose.command("generate")
def compose_generate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    n: int = typer.Option(4, "--n", help="How many pieces."),
    bars: Optional[int] = typer.Option(16, help="Bars per piece (the primer's included)."),
    tokens: Optional[int] = typer.Option(None, help="Tokens per piece instead of --bars."),
    temperature: float = COMPOSE_TEMPERATURE,
    top_k: int = typer.Option(0, help="Sample only among the k likeliest tokens (0: all)."),
    top_p: float = COMPOSE_TOP_P,
    seed: int = typer.Option(0, help="The same seed gives the same music."),
    primer: Optional[Path] = typer.Option(None, help="A MIDI or score file whose opening bars the pieces continue."),
    primer_bars: int = typer.Option(2, help="How many bars of --primer to keep."),
    condition: Optional[str] = typer.Option(None, help="LABEL=VALUE pairs, separated by commas, of labels the model "
                                                       "was trained on, e.g. style=funk,beat_type=fill; a label "
                                                       "left out is drawn at random for each piece (transposition: "
                                                       "0, the corpus's keys; transposition=2, a tone up)."),
    out_dir: Path = typer.Option(Path("runs/generated"), "--out", help="Where sample-N.mid/.wav and samples.png go."),
):
    """Generate new pieces; writes each as MIDI and WAV (through FluidSynth) and a piano-roll PNG of them all."""
    from gruve import bundle
    from gruve.compose.lm import Controls, write_pieces
    from gruve.compose.tokens import primer_ids

    lm = bundle.load(model, task="compose")
    chosen = {}
    for pair in condition.split(",") if condition else []:
        label, _, value = pair.strip().partition("=")
        if not label or not value:
            raise GruveError(f"--condition takes LABEL=VALUE pairs separated by commas, e.g. style=funk (got {pair!r}).")
        chosen[label] = value
    start = primer_ids(lm.tokenizer, primer, primer_bars) if primer is not None else None
    controls = Controls(n, None if tokens else bars, tokens or 4096, temperature, top_k, top_p, seed, start, chosen)
    pieces, conditions = lm.generate(controls)
    titles = [f"sample {i} (temperature {temperature}, top-p {top_p}, seed {seed}"
              + "".join(f", {label}={value}" for label, value in values.items()) + ")"
              for i, values in enumerate(conditions, 1)]
    written, validity = write_pieces(lm, pieces, out_dir, titles, say=err.print)
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    err.print(f"{sum(len(p) for p in pieces):,} tokens; {sum(validity) / len(validity):.1%} of them decode", highlight=False)


@compose.command("evaluate")
def compose_evaluate(
    source: str = typer.Argument(..., help="A model (generates --n pieces to measure) or a folder of MIDI / "
                                           "score files (e.g. what generate wrote)."),
    reference: str = typer.Option(..., help="The corpus to compare with (as for train); its --split pieces are used."),
    split: str = typer.Option("test", help="Which part of the reference: test, valid or train."),
    n: int = typer.Option(20, "--n", help="Pieces to generate when SOURCE is a model."),
    bars: Optional[int] = typer.Option(None, help="The most bars per generated piece (a piece may end sooner). "
                                                  "Unset: each piece is exactly as long as a reference piece "
                                                  "drawn at random, so lengths match the reference's."),
    temperature: float = COMPOSE_TEMPERATURE,
    top_p: float = COMPOSE_TOP_P,
    seed: int = typer.Option(0, help="Seed of generation and of the pieces drawn for the baselines."),
    split_seed: Optional[int] = typer.Option(None, help="Seed of the reference's 80/10/10 split where it has no "
                                                        "official one (bach, a folder), as given to train. "
                                                        "Default: a model's own training seed, so it is measured "
                                                        "on pieces it never saw; 0 for a folder of scores."),
    out_dir: Path = typer.Option(Path("runs/evaluation"), "--out", help="Where evaluation.json, pieces.csv and "
                                                                        "distributions.png go."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    cache_dir: Optional[Path] = CACHE_DIR,
):
    """How close generated music is to a corpus: pitch classes, range, density, inter-onset intervals, polyphony,
    repetition and groove consistency, each as the overlapping area (OA, higher is closer) and KL divergence of
    Yang and Lerch (2018), beside the corpus's other pieces (from outside --split, up to 2,000): with their tokens
    shuffled (the baseline to beat) and as they are (real music, the ceiling); for a model also the share of its
    tokens that decode and its NLL per token on the reference pieces."""
    from gruve.compose.evaluate import evaluate

    report = evaluate(source, reference, out_dir, split, n, bars, seed, say=err.print, cache_dir=cache_dir,
                      temperature=temperature, top_p=top_p, split_seed=split_seed)
    if as_json:
        out.print_json(json.dumps(report))
        return
    table = Table("metric", "OA", "KL", "OA shuffled", "KL shuffled", "closer than shuffled", "OA real",
                  title=f"{source} against {report['reference']} (shuffled and real: {report['others']})")
    for name, row in report["metrics"].items():
        table.add_row(name, f"{row['model']['oa']:.3f}", f"{row['model']['kl']:.3f}", f"{row['shuffled']['oa']:.3f}",
                      f"{row['shuffled']['kl']:.3f}", "yes" if row["closer"] else "no", f"{row['real']['oa']:.3f}")
    out.print(table)
    if "held_out" in report:
        held, generated = report["held_out"], report["generated"]
        out.print(f"NLL per token on the reference pieces {held['nll_per_token']:.4f} (perplexity "
                  f"{held['perplexity']:.3f}, {held['tokens']:,} tokens); {generated['validity']:.1%} of the "
                  f"{generated['tokens']:,} generated tokens decode", highlight=False)
    out.print(f"wrote {out_dir / 'evaluation.json'}, {out_dir / 'pieces.csv'} and {out_dir / 'distributions.png'}",
              highlight=False)


@pianoroll.command("train")
def pianoroll_train(
    data: str = typer.Argument(..., help=ROLLS_HELP),
    model: str = typer.Option("gru", help="gru (sigmoid outputs, Chung et al. 2014), gru-nade (a NADE over the "
                                          "notes of each step), or lstm, lstm-nade, rnn, rnn-nade to compare."),
    out_dir: Path = typer.Option(Path("runs/pianoroll"), "--out", help="Run folder: checkpoints, metrics.csv, "
                                                                       "curves.png, model.safetensors."),
    hidden: int = typer.Option(256, help="Recurrent units per layer."),
    layers: int = typer.Option(1, help="Recurrent layers."),
    dropout: float = typer.Option(0.3, help="Dropout on the recurrent output (and between layers)."),
    nade_hidden: int = typer.Option(150, help="Hidden units of the NADE output (-nade models)."),
    batch_size: int = typer.Option(8, help="Pieces per batch."),
    lr: float = typer.Option(1e-3, help="Adam learning rate; halved after 5 epochs without progress."),
    weight_decay: float = typer.Option(0.0, help="AdamW weight decay."),
    transpose: int = typer.Option(0, help="Augment: shift each training piece by up to this many semitones."),
    ema: float = typer.Option(0.0, help="Validate and keep an exponential moving average of the weights with "
                                        "this decay per step, e.g. 0.99 (0: off)."),
    steps_per_quarter: int = typer.Option(1, help="Time steps per quarter note, for rolls built from scores."),
    epochs: Optional[int] = typer.Option(None, help="Most epochs to train (default 200)."),
    patience: int = PATIENCE,
    seed: int = SEED,
    resume: bool = RESUME,
    accelerator: str = ACCELERATOR,
    devices: str = DEVICES,
    strategy: str = STRATEGY,
    precision: Optional[str] = PRECISION,
    cache_dir: Optional[Path] = CACHE_DIR,
):
    """Train a piano-roll model; prints NLL per time step and frame accuracy on train, valid and test."""
    from gruve.compose.pianoroll import PianoRollConfig
    from gruve.compose.pianoroll_train import PianoRollOptions, train

    try:
        PianoRollConfig(model)
    except ValueError as error:
        raise GruveError(f"{error}.") from None
    options = PianoRollOptions(data, model, hidden, layers, dropout, nade_hidden, batch_size, lr, weight_decay,
                               transpose, ema, steps_per_quarter, cache_dir)
    run = _run_options(out_dir, epochs, patience, seed, accelerator, devices, strategy, precision, resume)
    _print_summary(train(options, run, say=err.print))


@pianoroll.command("evaluate")
def pianoroll_evaluate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    data: str = typer.Argument(..., help=ROLLS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    cache_dir: Optional[Path] = CACHE_DIR,
):
    """NLL per time step (over the 88 notes, averaged over all steps pooled) and frame accuracy on each split."""
    from gruve import bundle
    from gruve.compose import rolls
    from gruve.compose.pianoroll import evaluate

    roll_model = bundle.load(model, task="pianoroll")
    sets = rolls.load(data, roll_model.config.steps_per_quarter, say=err.print, cache_dir=cache_dir)
    scores = evaluate(roll_model, sets)
    if as_json:
        out.print_json(json.dumps(scores))
        return
    table = Table("split", "NLL per step", "frame accuracy", "steps", title=f"{model} on {sets.name}")
    for split, result in scores.items():
        table.add_row(split, f"{result['nll']:.3f}", f"{result['accuracy']:.4f}", f"{result['frames']:,}")
    out.print(table)


@pianoroll.command("sample")
def pianoroll_sample(
    model: str = typer.Argument(..., help=MODEL_HELP),
    n: int = typer.Option(4, "--n", help="How many pieces."),
    steps: int = typer.Option(64, help="Time steps per piece (the primer included)."),
    temperature: float = typer.Option(1.0, help="Below 1: safer, more repetitive; above 1: wilder."),
    seed: int = typer.Option(0, help="The same seed gives the same music."),
    primer: Optional[Path] = typer.Option(None, help="A MIDI or score file whose opening the pieces continue."),
    primer_steps: int = typer.Option(8, help="How many steps of --primer to keep."),
    qpm: float = typer.Option(100.0, help="Tempo of the written MIDI, in quarter notes per minute."),
    out_dir: Path = typer.Option(Path("runs/samples"), "--out", help="Where sample-N.mid/.wav and samples.png go."),
):
    """Sample new pieces; writes each as MIDI and WAV (through FluidSynth), and a piano-roll PNG of them all."""
    from gruve import bundle
    from gruve.compose.pianoroll import write_samples

    roll_model = bundle.load(model, task="pianoroll")
    opening = None
    if primer is not None:
        from gruve.compose.rolls import score_to_roll
        from gruve.compose.scores import read_score

        opening = score_to_roll(read_score(primer), roll_model.config.steps_per_quarter)[:primer_steps]
        if not opening.any():
            raise GruveError(f"{primer} has no notes on the piano's keys in its first {primer_steps} steps.")
    written = write_samples(roll_model, out_dir, n, steps, temperature, seed, opening, qpm, say=err.print)
    for path in written:
        out.print(f"wrote {path}", soft_wrap=True, highlight=False)


@app.command("export")
def export_model(
    model: str = typer.Argument(..., help=MODEL_HELP),
    path: Path = typer.Argument(..., help="Where to write, e.g. digits.onnx; a streaming model also gets "
                                          "digits.stream.onnx beside it."),
):
    """Write a model as ONNX, with what it needs to run in the file's metadata. A listen model: waveform
    (batch, samples) in, class probabilities out, features inside; one that can stream also gets its
    streaming step, with its state as inputs and outputs. A compose model: one step (a token and the state
    in; the next token's logits and the state out), its tokenizer in the metadata. A piano-roll model: one
    sampling step (last frame, state and uniform noise in; next frame and state out). Each file is checked
    against the torch model with onnxruntime before it is kept."""
    from gruve import bundle
    from gruve.export import export

    for target, difference in export(bundle.load(model), path):
        out.print(f"wrote {target} (onnxruntime matches torch to {difference:.1e})", highlight=False, soft_wrap=True)


@synth.command("train")
def synth_train(
    data: str = typer.Argument(..., help="A folder with one sub-folder of sounds per label (any format and rate; "
                                         "resampled), or a CSV manifest (path,label[,split])."),
    out_dir: Path = typer.Option(Path("runs/synth"), "--out", help="Run folder: checkpoints, metrics.csv, "
                                                                   "curves.png, model.safetensors."),
    output: str = typer.Option("mulaw", help="mulaw (one 256-way softmax over 8-bit mu-law) or dual (coarse and "
                                             "fine bytes of 16-bit samples, WaveRNN's)."),
    sample_rate: int = typer.Option(16000, help="Samples per second the model works at."),
    seconds: float = typer.Option(1.0, help="Sounds are cut to this length (shorter ones end in silence)."),
    hidden: int = typer.Option(256, help="GRU units."),
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
    epochs: Optional[int] = typer.Option(None, help="Most epochs to train (default 30)."),
    patience: int = typer.Option(6, help="Stop after this many epochs without a better validation NLL (0: never)."),
    seed: int = SEED,
    resume: bool = RESUME,
    accelerator: str = ACCELERATOR,
    devices: str = DEVICES,
    strategy: str = STRATEGY,
    precision: Optional[str] = PRECISION,
):
    """Train a sample-level GRU on labelled sounds; prints the validation NLL per sample on held-out sounds
    (whole kits held out where file names start with KIT__)."""
    from gruve.nn.heads import SampleHead
    from gruve.synth.train import SynthOptions, train

    if output not in SampleHead.KINDS:
        raise GruveError(f"--output must be one of {', '.join(SampleHead.KINDS)} (got {output!r}).")
    if seconds <= 0 or window < 2 or sample_rate < 1000 or not 0 <= onset_share <= 1:
        raise GruveError("--seconds must be above 0, --window at least 2, --sample-rate at least 1000 and "
                         "--onset-share from 0 to 1.")
    if mel and envelope:
        raise GruveError("choose --mel or --envelope, not both (log-mel frames already carry the loudness).")
    if timbre < 0 or (timbre > 0 and not envelope):
        raise GruveError("--timbre must be at least 0, and above 0 only with --envelope.")
    if lags < 1:
        raise GruveError(f"--lags must be at least 1 (got {lags}).")
    if bands < 1 or (bands > 1 and not envelope):
        raise GruveError("--bands must be at least 1, and more than 1 only with --envelope.")
    options = SynthOptions(data, output, sample_rate, seconds, hidden, head, mel=mel, envelope=envelope, bands=bands,
                           lags=lags, timbre=timbre, window=window, onset_share=onset_share, batch_size=batch_size, lr=lr)
    run = _run_options(out_dir, epochs, patience, seed, accelerator, devices, strategy, precision, resume)
    _print_summary(train(options, run, say=err.print))


SYNTH_TAIL_TEMPERATURE = typer.Option(None, help="The temperature each sound eases to after its onset (time "
                                                  "constant 0.1 s). Below --temperature, tails decay towards "
                                                  "silence instead of holding a noise floor. Default: "
                                                  "--temperature throughout.")


@synth.command("generate")
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
    out_dir: Path = typer.Option(Path("runs/sounds"), "--out", help="Where LABEL-N.wav and sounds.png go."),
):
    """Generate sounds sample by sample; writes each as a WAV and one PNG of their waveforms and spectrograms."""
    import time

    import soundfile as sf
    import torch

    from gruve import audio, bundle
    from gruve.plots import sounds

    synthesiser = bundle.load(model, task="synth")
    config = synthesiser.config
    label = label or config.labels[0]
    synthesiser.label_index(label)  # an unknown label is refused before any work
    if n < 1:
        raise GruveError("--n must be at least 1.")
    reference = None if like is None else torch.from_numpy(audio.load(like, config.sample_rate))
    started = time.perf_counter()
    waves = synthesiser.generate([label] * n, seconds if seconds is not None or like else 1.0, temperature, seed,
                                 reference, tail_temperature, raw)
    took = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{label}-{i}.wav" for i in range(1, n + 1)]
    for path, y in zip(paths, waves):
        sf.write(path, y, config.sample_rate, subtype="PCM_16")
        out.print(f"wrote {path}", highlight=False)
    heat = f"temperature {temperature}" + ("" if tail_temperature is None else f" to {tail_temperature}")
    picture = sounds(list(waves), config.sample_rate, [f"{p.stem} ({heat}, seed {seed})" for p in paths],
                     out_dir / "sounds.png")
    out.print(f"wrote {picture}", highlight=False)
    err.print(f"{waves.size:,} samples in {took:.1f} s: {waves.size / took:,.0f} samples/s", highlight=False)


@synth.command("equalise")
def synth_equalise(
    model: str = typer.Argument(..., help=MODEL_HELP),
    data: str = typer.Option(..., help="The sounds whose mean spectrum per label to match, as for train (the "
                                       "model's held-out sounds are left out)."),
    out_file: Path = typer.Option(..., "--out", help="Where to write the equalised model (a .safetensors file "
                                                     "or a run folder)."),
    n: int = typer.Option(32, "--n", help="Sounds to generate per label to measure the model's mean spectrum."),
):
    """Fit the model's output equaliser per label: the gains that bring the mean spectrum of its sounds to
    that of --data's. `synth train` does this at its end; this refits a model, for example after other sounds."""
    from gruve.synth.train import equalise

    if n < 1:
        raise GruveError("--n must be at least 1.")
    if out_file.is_dir() or not out_file.suffix:
        out_file = out_file / "model.safetensors"
    result = equalise(model, data, out_file, n, say=err.print)
    out.print(f"wrote {result['model']} (equaliser fitted to {result['sounds']} sounds)", highlight=False)


@synth.command("evaluate")
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
    out_dir: Path = typer.Option(Path("runs/synth/evaluation"), "--out", help="Where evaluation.json, "
                                                                              "confusion.png and spectra.png go."),
):
    """Generate --n sounds per label; print how often the classifier hears the intended label (also in the GRU's
    own output before the model's equaliser, and in shaped noise: white noise given a real sound's envelope and
    the label's mean spectrum, what the classifier hears without any GRU), and each label's
    log-spectral distance to the real sounds beside white noise's and the real sounds' own, how peaky its
    spectra are beside theirs (spectral detail), and how far its loudness over time (envelope) is from theirs."""
    from gruve.synth.evaluate import evaluate

    if n < 1 or seconds <= 0 or temperature <= 0 or (tail_temperature is not None and tail_temperature <= 0):
        raise GruveError("--n must be at least 1, and --seconds, --temperature and --tail-temperature above 0.")
    report = evaluate(model, data, classifier, out_dir, n, seconds, temperature, seed, say=err.print,
                      tail_temperature=tail_temperature)
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
    out.print(table)
    out.print(f"heard as intended: {report['accuracy']:.1%} of {n * len(report['labels'])} sounds "
              f"({report['accuracy_raw']:.1%} before the model's equaliser; shaped noise "
              f"{report['accuracy_shaped_noise']:.1%}); wrote {out_dir / 'evaluation.json'}", highlight=False)


@app.command("models")
def models():
    """List the pretrained models shipped with gruve, with what they do and how well."""
    from gruve import bundle

    table = Table("name", "task", "what", "test score", "trained on")
    for name in bundle.pretrained_names():
        meta, _ = bundle.read(name)
        metrics = meta.get("metrics", {})
        if meta["task"] == "pianoroll":
            what = meta["config"]["model"]
            score = f"NLL {metrics['test_nll']:.2f}" if "test_nll" in metrics else "-"
        elif meta["task"] == "compose":
            from gruve.compose.lm import LMConfig

            config = LMConfig.from_dict(meta["config"])
            what = (f"{config.layers}x{config.hidden} GRU over {config.tokenizer} tokens"
                    + (f", by {' and '.join(config.conditions)}" if config.conditions else ""))
            score = f"NLL {metrics['test_nll_per_token']:.3f} per token" if "test_nll_per_token" in metrics else "-"
        elif meta["task"] == "synth":
            config = meta["config"]
            bands = config.get("bands", 1)
            envelope = f" by a {bands}-band envelope" if bands > 1 else " by envelope"
            by = envelope if config.get("envelope") else " by log-mel" if config.get("mel") else ""
            by += ", equalised" if config.get("equaliser") else ""
            what = (f"{config['hidden']}-unit GRU, {config['output']} at {config['sample_rate']} Hz{by}: "
                    f"{', '.join(config['labels'])}")
            score = (f"NLL {metrics['valid_nll_per_sample']:.3f} per sample (held-out kits)"
                     if "valid_nll_per_sample" in metrics else "-")
        else:
            labels = meta["config"]["labels"]
            what = f"{len(labels)} labels: {', '.join(labels[:4])}{'…' if len(labels) > 4 else ''}"
            score = f"accuracy {metrics['test_accuracy']:.2%}" if "test_accuracy" in metrics else "-"
        table.add_row(name, meta["task"], what, score, meta["training"].get("corpus", meta["training"]["data"]))
    out.print(table)


def main() -> None:
    try:
        app()
    except GruveError as error:
        err.print(f"[bold red]error:[/bold red] {error}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


def run() -> None:
    """The console entry point: `main`, then an immediate exit once output is flushed.

    Tearing down an interpreter that has imported torch takes 0.3-0.6 s on a 2-core machine, a quarter
    of a cold `gruve listen predict`; every file gruve writes is complete (and atomic) before this point.
    """
    code = 0
    try:
        main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)

