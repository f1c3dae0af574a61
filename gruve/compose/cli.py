"""`gruve compose`: music language models and piano-roll models. Each command builds its options and calls
one verb of `gruve.compose` (or `gruve.compose.pianoroll`); the options check themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from gruve.cli_common import (trains, CACHE_DIR, MODEL_HELP, err, print_summary)
from gruve.cli_common import out as console

app = typer.Typer(help="Generate music with GRUs: train on scores, sample, listen to and measure the result.",
                  no_args_is_help=True)
pianoroll = typer.Typer(help="Polyphonic piano-roll models (GRU, GRU-NADE) on the Boulanger-Lewandowski benchmark "
                             "(jsb, nottingham, musedata, pianomidi) or on your own scores.", no_args_is_help=True)
app.add_typer(pianoroll, name="pianoroll")

CORPUS_HELP = ("A folder of MIDI / MusicXML / ABC / Humdrum scores (searched recursively), or a known corpus: bach "
               "(the chorales inside music21), groove[:PATH] (Groove MIDI drums, with styles and its split), "
               "jsb[:PATH] or nottingham[:PATH] (the Boulanger-Lewandowski sets); without PATH it is downloaded.")
ROLLS_HELP = ("A piano-roll set: jsb, nottingham, musedata or pianomidi (downloaded into the cache), NAME:PATH for a "
              "local copy, a published .json / .pickle / .mat file, or a folder of MIDI / MusicXML / ABC scores.")


SPLIT_BY = typer.Option("file", help="How a folder of scores is split 80/10/10: by file, or by top-level folder, "
                                    "so that the versions of one song (POP909's 001/versions/*.mid) stay on one "
                                    "side; split by file, each piece's top-level folder is its 'folder' label.")
EXCLUDE = typer.Option(None, "--exclude", help="Leave out the files of a folder corpus whose path in it matches this "
                                               "glob, e.g. '*/versions/*'; may be given more than once.")


@app.command("train")
@trains("runs/compose", "100", patience=6, monitored="validation NLL")
def compose_train(
    corpus: str = typer.Argument(..., help=CORPUS_HELP),
    split_by: str = SPLIT_BY,
    exclude: Optional[list[str]] = EXCLUDE,
    tokenizer: str = typer.Option("REMI", help="MidiTok tokenization: REMI, TSD, MIDILike or Structured."),
    hidden_size: int = typer.Option(256, "--hidden", help="GRU units per layer (also the token embedding size: the "
                                                          "output is tied)."),
    num_layers: int = typer.Option(2, "--layers", help="GRU layers."),
    dropout: float = typer.Option(0.3, help="Dropout on embeddings, between layers and on the output."),
    conditions: Optional[str] = typer.Option(None, "--condition", help="Labels of the corpus to condition on, "
                                             "separated by commas, e.g. style,beat_type for groove; then generate "
                                             "takes --condition style=funk,beat_type=fill. 'transposition' tells the "
                                             "model how far --transpose moved each window, so it keeps the corpus's "
                                             "keys (generate: 0)."),
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
    cache_dir: Optional[Path] = CACHE_DIR,
    run=None,  # the TrainOptions that @trains makes of the shared training flags
):
    """Train a GRU language model on a corpus of scores (MidiTok tokens); prints the held-out NLL per token and
    perplexity on the valid and test pieces."""
    from gruve.compose.lm.training import LMOptions, train

    options = LMOptions(corpus=corpus, split_by=split_by, exclude=tuple(exclude or ()), tokenizer=tokenizer, hidden_size=hidden_size, num_layers=num_layers,
                        dropout=dropout, conditions=conditions or "", window=window, carry_state=carry_state,
                        lookback=lookback, batch_size=batch_size, lr=lr, transpose=transpose, tempo=tempo,
                        cache_dir=cache_dir)
    print_summary(train(options, run, say=err.print))


COMPOSE_TEMPERATURE = typer.Option(1.0, help="Below 1: safer, more repetitive; above 1: wilder.")
COMPOSE_TOP_P = typer.Option(0.95, help="Sample only among the likeliest tokens that together hold this "
                                        "probability (1: all).")


@app.command("generate")
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
    conditions: Optional[str] = typer.Option(None, "--condition", help="LABEL=VALUE pairs, separated by commas, of "
                                             "labels the model was trained on, e.g. style=funk,beat_type=fill; a "
                                             "label left out is drawn at random for each piece (transposition: 0, "
                                             "the corpus's keys; transposition=2, a tone up)."),
    out: Path = typer.Option(Path("runs/generated"), "--out", help="Where sample-N.mid/.wav and samples.png go."),
):
    """Generate new pieces; writes each as MIDI and WAV (through FluidSynth) and a piano-roll PNG of them all."""
    from gruve.compose.lm.generation import MAX_TOKENS, GenerateOptions, generate

    options = GenerateOptions(n=n, bars=bars if tokens is None else None,
                              tokens=MAX_TOKENS if tokens is None else tokens, temperature=temperature,
                              top_k=top_k, top_p=top_p, seed=seed, primer=primer, primer_bars=primer_bars,
                              conditions=conditions or "")
    result = generate(model, options, out, say=err.print)
    for path in result.written:
        console.print(f"wrote {path}", highlight=False)
    err.print(f"{result.tokens:,} tokens; {sum(result.validity) / len(result.validity):.1%} of them decode",
              highlight=False)


@app.command("evaluate")
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
    split_by: Optional[str] = typer.Option(None, help="A folder reference's split, by file or folder, as given to "
                                                      "train. Default: as the model was trained; by file."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", help="Globs left out of a folder reference, as "
                                                "given to train. Default: as the model was trained; none."),
    split_seed: Optional[int] = typer.Option(None, help="Seed of the reference's 80/10/10 split where it has no "
                                                        "official one (bach, a folder), as given to train. "
                                                        "Default: a model's own training seed, so it is measured "
                                                        "on pieces it never saw; 0 for a folder of scores."),
    out: Path = typer.Option(Path("runs/evaluation"), "--out", help="Where evaluation.json, pieces.csv and "
                                                                    "distributions.png go."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    cache_dir: Optional[Path] = CACHE_DIR,
):
    """How close generated music is to a corpus: pitch classes, range, density, inter-onset intervals, polyphony,
    repetition and groove consistency, each as the overlapping area (OA, higher is closer) and KL divergence of
    Yang and Lerch (2018), beside the corpus's other pieces (from outside --split, up to 2,000): with their tokens
    shuffled (the baseline to beat) and as they are (real music, the ceiling); for a model also the share of its
    tokens that decode and its NLL per token on the reference pieces."""
    from gruve.compose.evaluation import EvaluateOptions, evaluate

    options = EvaluateOptions(reference=reference, split=split, n=n, bars=bars, temperature=temperature, top_p=top_p,
                              seed=seed, split_seed=split_seed, split_by=split_by,
                              exclude=tuple(exclude) if exclude else None, cache_dir=cache_dir)
    report = evaluate(source, options, out, say=err.print)
    if as_json:
        console.print_json(json.dumps(report))
        return
    table = Table("metric", "OA", "KL", "OA shuffled", "KL shuffled", "closer than shuffled", "OA real",
                  title=f"{source} against {report['reference']} (shuffled and real: {report['others']})")
    for name, row in report["metrics"].items():
        table.add_row(name, f"{row['model']['oa']:.3f}", f"{row['model']['kl']:.3f}", f"{row['shuffled']['oa']:.3f}",
                      f"{row['shuffled']['kl']:.3f}", "yes" if row["closer"] else "no", f"{row['real']['oa']:.3f}")
    console.print(table)
    if "held_out" in report:
        held, generated = report["held_out"], report["generated"]
        console.print(f"NLL per token on the reference pieces {held['nll_per_token']:.4f} (perplexity "
                  f"{held['perplexity']:.3f}, {held['tokens']:,} tokens); {generated['validity']:.1%} of the "
                  f"{generated['tokens']:,} generated tokens decode", highlight=False)
    console.print(f"wrote {out / 'evaluation.json'}, {out / 'pieces.csv'} and {out / 'distributions.png'}",
              highlight=False)


@app.command("explain")
def compose_explain(
    model: str = typer.Argument(..., help=MODEL_HELP + " A language model or a piano-roll model."),
    piece: str = typer.Argument(..., help="A MIDI / MusicXML / ABC score file, or a piece of a piano-roll set as "
                                          "SET@SPLIT/INDEX, e.g. jsb@test/0 or nottingham:DIR@valid/3."),
    out: Path = typer.Option(Path("runs/explain"), "--out", help="Where explain.png and explain.json go."),
    as_json: bool = typer.Option(False, "--json", help="Print explain.json instead of the summary."),
    cache_dir: Optional[Path] = CACHE_DIR,
):
    """Show where MODEL was surprised by PIECE: explain.png holds the piece's piano roll, the surprisal (NLL in
    nats) of each token or step given the ones before it, and the last recurrent layer's gate over time;
    explain.json the same numbers. The mean surprisal is the model's NLL per token (step) on the piece."""
    from gruve.compose.explanation import explain

    explanation = explain(model, piece, out, cache_dir)
    if as_json:
        print(json.dumps(explanation.to_dict()))  # plain: rich's highlighting of thousands of numbers is slow
        return
    for line in explanation.summary():
        console.print(line, highlight=False, soft_wrap=True)


@pianoroll.command("train")
@trains("runs/pianoroll", "200")
def pianoroll_train(
    data: str = typer.Argument(..., help=ROLLS_HELP),
    architecture: str = typer.Option("gru", "--model", help="gru (sigmoid outputs, Chung et al. 2014), gru-nade (a "
                                                            "NADE over the notes of each step), or lstm, lstm-nade, "
                                                            "rnn, rnn-nade to compare."),
    hidden_size: int = typer.Option(256, "--hidden", help="Recurrent units per layer."),
    num_layers: int = typer.Option(1, "--layers", help="Recurrent layers."),
    dropout: float = typer.Option(0.3, help="Dropout on the recurrent output (and between layers)."),
    nade_hidden: int = typer.Option(150, help="Hidden units of the NADE output (-nade models)."),
    batch_size: int = typer.Option(8, help="Pieces per batch."),
    lr: float = typer.Option(1e-3, help="AdamW learning rate; halved after 5 epochs without progress."),
    weight_decay: float = typer.Option(0.0, help="AdamW weight decay."),
    transpose: int = typer.Option(0, help="Augment: shift each training piece by up to this many semitones."),
    steps_per_quarter: int = typer.Option(1, help="Time steps per quarter note, for rolls built from scores."),
    cache_dir: Optional[Path] = CACHE_DIR,
    run=None,  # the TrainOptions that @trains makes of the shared training flags
):
    """Train a piano-roll model; prints NLL per time step and frame accuracy on train, valid and test."""
    from gruve.compose.pianoroll.training import PianoRollOptions, train

    options = PianoRollOptions(data=data, architecture=architecture, hidden_size=hidden_size, num_layers=num_layers,
                               dropout=dropout, nade_hidden=nade_hidden, batch_size=batch_size, lr=lr,
                               weight_decay=weight_decay, transpose=transpose,
                               steps_per_quarter=steps_per_quarter, cache_dir=cache_dir)
    print_summary(train(options, run, say=err.print))


@pianoroll.command("evaluate")
def pianoroll_evaluate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    data: str = typer.Argument(..., help=ROLLS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    cache_dir: Optional[Path] = CACHE_DIR,
):
    """NLL per time step (over the 88 notes, averaged over all steps pooled) and frame accuracy on each split."""
    from gruve.compose.pianoroll.scoring import evaluate

    scores = evaluate(model, data, cache_dir=cache_dir, say=err.print)
    if as_json:
        console.print_json(json.dumps(scores))
        return
    table = Table("split", "NLL per step", "frame accuracy", "steps", title=f"{model} on {data}")
    for split, result in scores.items():
        table.add_row(split, f"{result['nll']:.3f}", f"{result['accuracy']:.4f}", f"{result['frames']:,}")
    console.print(table)


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
    out: Path = typer.Option(Path("runs/samples"), "--out", help="Where sample-N.mid/.wav and samples.png go."),
):
    """Sample new pieces; writes each as MIDI and WAV (through FluidSynth), and a piano-roll PNG of them all."""
    from gruve.compose.pianoroll.sampling import SampleOptions, sample

    options = SampleOptions(n=n, steps=steps, temperature=temperature, seed=seed, primer=primer,
                            primer_steps=primer_steps, qpm=qpm)
    for path in sample(model, options, out, say=err.print):
        console.print(f"wrote {path}", soft_wrap=True, highlight=False)
