"""`gruve listen`: train, evaluate and use audio classifiers.

Each command parses its flags into an options dataclass, calls one verb of `gruve.listen` and prints
the result; the checks and the files are the library's. Parameter names are the options' field names,
so an error about a field names the flag. Verbs are imported inside the commands: Lightning takes
seconds to import, and `gruve listen predict` must start fast.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Column, Table
from rich.text import Text

from gruve.cli_common import (trains, CACHE_DIR, MODEL_HELP, err, print_summary)
from gruve.cli_common import out as console

app = typer.Typer(help="Classify and transcribe audio: train, evaluate and use GRU, BiGRU and CRNN classifiers and "
                       "speech-to-text (CTC) models.", no_args_is_help=True)

DATA_HELP = ("A folder with one sub-folder per class, a CSV manifest (path,label[,fold,split,speaker]), or a known "
             "corpus NAME[:PATH] (fsdd, fsdd-sequences, esc10, esc50, urbansound8k, speechcommands-v1/v2, gtzan, "
             "groove-styles); a manifest or corpus with a text column (path,text[,speaker][,split]) trains speech to text; "
             "without PATH the corpus is downloaded into the cache.")
STRICT = typer.Option(False, "--strict", help="Stop at the first unreadable file instead of skipping it.")


@app.command("train")
@trains("runs/listen", "the corpus's, else 60")
def listen_train(
    data: str = typer.Argument(..., help=DATA_HELP),
    target: Optional[str] = typer.Option(None, help="Which label to learn, e.g. digit or speaker for fsdd; "
                                                    "default: the corpus's first."),
    architecture: str = typer.Option("crnn", "--model", help="gru, bigru, crnn (causal conv + GRU), or lstm / rnn "
                                                             "to compare."),
    folds: bool = typer.Option(False, "--folds", help="Cross-validate over the corpus's folds; report mean and std."),
    test_fold: Optional[int] = typer.Option(None, help="For fold corpora: the fold held out as test (default the first)."),
    batch_size: int = typer.Option(32, help="Clips per batch."),
    lr: float = typer.Option(3e-3, help="Peak learning rate: reached by a linear warm-up over the first 10% of "
                                        "steps, then a cosine decay to zero."),
    hidden_size: int = typer.Option(128, "--hidden", help="Recurrent units per layer (and direction)."),
    num_layers: int = typer.Option(2, "--layers", help="Recurrent layers."),
    pooling: Optional[str] = typer.Option(None, help="How frames become one vector: attention or mean "
                                                     "(default: the corpus's, else attention)."),
    window: Optional[float] = typer.Option(None, help="Seconds the model sees at once (default: from the data)."),
    answer: Optional[str] = typer.Option(None, help="What predict says of a recording longer than the window: "
                                                    "'segments', its labels in order (words), or 'clip', one label, "
                                                    "the mean over its windows (music); default: the corpus's, "
                                                    "else segments."),
    augment: bool = typer.Option(True, help="SpecAugment, mixup, gain and time shift while training."),
    mixup: float = typer.Option(0.2, help="Mixup Beta alpha (0 turns mixup off)."),
    noise: Optional[str] = typer.Option(None, help="Add background noise: a folder of recordings, 'white' or 'pink'."),
    noise_folder: Optional[str] = typer.Option(None, help="The class folder that holds background noise, not a "
                                                          "class: mixed into training (default: _background_noise_)."),
    silence_class: bool = typer.Option(False, "--silence-class", help="Add a _silence_ class cut from that noise "
                                                                      "folder, as Speech Commands does."),
    group_by: Optional[str] = typer.Option(None, help="Keep each group in one part of the split: a manifest column "
                                                      "(speaker), a regular expression with a named group searched "
                                                      "in each file's path, e.g. '(?P<speaker>[^_]+)_nohash_', or "
                                                      "none (default: a speaker column, or the Speech Commands or "
                                                      "FSDD naming)."),
    merge: Optional[list[str]] = typer.Option(None, help="'a,b=c': classes (folders) a and b become class c; "
                                                         "repeatable."),
    exclude: Optional[list[str]] = typer.Option(None, help="A class (folder) to leave out; repeatable."),
    unit: Optional[str] = typer.Option(None, help="For data with a text column (a transcription model): the "
                                                   "tokens, characters or words (default: the corpus's, else "
                                                   "characters)."),
    strict: bool = STRICT,
    cache_dir: Optional[Path] = CACHE_DIR,
    run=None,  # the TrainOptions that @trains makes of the shared training flags
):
    """Train a classifier on labelled audio and save it as OUT/model.safetensors; on data with a text column
    (fsdd-sequences, a manifest path,text[,speaker][,split]), a speech-to-text model (CTC)."""
    from gruve.listen.fitting import ListenOptions
    from gruve.listen.training import cross_validate, train

    options = ListenOptions(data=data, target=target, architecture=architecture, hidden_size=hidden_size,
                            num_layers=num_layers, pooling=pooling, window=window, answer=answer, batch_size=batch_size, lr=lr,
                            augment=augment, mixup=mixup, noise=noise, noise_folder=noise_folder,
                            silence_class=silence_class, group_by=group_by, merge=merge or [], exclude=exclude or [],
                            test_fold=test_fold, unit=unit, strict=strict, cache_dir=cache_dir)
    if folds:
        summary = cross_validate(options, run, say=err.print)
        console.print(f"cross-validation over {len(summary['folds'])} folds: accuracy "
                      f"{summary['mean_accuracy']:.4f} ± {summary['std_accuracy']:.4f} ({summary['path']})")
        return
    print_summary(train(options, run, say=err.print))


@app.command("evaluate")
def listen_evaluate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    data: str = typer.Argument(..., help=DATA_HELP),
    split: str = typer.Option("test", help="train, valid or test."),
    target: Optional[str] = typer.Option(None, help="Label to score against (default: the one the model learnt)."),
    test_fold: Optional[int] = typer.Option(None, help="For fold corpora: the test fold (default: the model's)."),
    out: Path = typer.Option(Path("runs/evaluate"), "--out", help="Where report.json and confusion.png go."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
    beam: int = typer.Option(1, help="A transcription model's decoding: a prefix beam search of this many "
                                     "prefixes (1: greedy)."),
    strict: bool = STRICT,
    cache_dir: Optional[Path] = CACHE_DIR,
):
    """Accuracy, macro-F1, per-class precision and recall, and a confusion matrix of MODEL on DATA; for a
    transcription model, WER, CER and the worst utterances."""
    from gruve.listen.evaluation import EvaluateOptions, evaluate

    options = EvaluateOptions(split=split, target=target, test_fold=test_fold, out=out, strict=strict,
                              cache_dir=cache_dir, beam=beam)
    report = evaluate(model, data, options, say=err.print)
    if as_json:
        console.print_json(json.dumps(report), ensure_ascii=True)
        return
    if "wer" in report:  # a transcription model
        _print_error_rates(report, f"{model} on {data} ({split})", out)
        return
    table = Table("class", "precision", "recall", "clips", title=f"{model} on {data} ({split}, {report['clips']} clips)")
    for label, row in report["per_class"].items():
        if row["support"]:
            table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", str(row["support"]))
        else:  # as macro-F1 counts it: only when the model predicted it, as an F1 of 0
            counted = f"predicted {row['predicted']}×, F1 0 in macro-F1" if row["in_macro_f1"] else "not in macro-F1"
            table.add_row(label, "-", "-", f"0: no test clips, {counted}")
    console.print(table)
    console.print(f"accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}")
    if report["too_small"]:
        console.print(f"warning: a test set of {report['clips']} clip(s) is too small to trust (one clip moves "
                      "accuracy by more than 3 points).", soft_wrap=True)
    console.print(f"report: {out / 'report.json'}   confusion matrix: {out / 'confusion.png'}", soft_wrap=True)


@app.command("predict")
def listen_predict(
    model: str = typer.Argument(..., help=MODEL_HELP),
    files: list[str] = typer.Argument(..., help="Audio files, folders (searched recursively) or globs."),
    top_k: int = typer.Option(1, "--top-k", "-k", help="How many labels to show per file."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document with every prediction."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV rows: path, rank, label, probability."),
):
    """Label audio files; recordings longer than the model's window also get a timeline."""
    from gruve.listen.prediction import PredictOptions, predict

    options = PredictOptions(top_k=top_k, as_json=as_json, as_csv=as_csv)
    result = predict(model, files, options.top_k)
    if as_json:
        console.print_json(json.dumps(result.to_json()), ensure_ascii=True)  # any file name, as a JSON escape
    elif as_csv:
        header, rows = result.csv_rows()
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
    elif result.predictions:
        _print_predictions(result.predictions)
    for failure in result.failures:
        err.print(Text.assemble(("skipped:", "red"), " ", failure), highlight=False)
    if result.failures:
        raise typer.Exit(1)


@app.command("transcribe")
def listen_transcribe(
    model: str = typer.Argument(..., help=MODEL_HELP),
    files: list[str] = typer.Argument(..., help="Audio files, folders (searched recursively) or globs."),
    beam: int = typer.Option(1, help="Decode with a prefix beam search of this many prefixes (1: greedy)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document with every transcript."),
):
    """Speech to text: each file's words, with their start and end in seconds (from the CTC alignment)."""
    from gruve.listen.transcription import transcribe

    result = transcribe(model, files, beam)
    if as_json:
        console.print_json(json.dumps(result.to_json()), ensure_ascii=True)
    for transcript in [] if as_json else result.transcripts:
        console.print(Text.assemble((transcript.path, "bold"), "  ", transcript.text or "(nothing heard)"),
                      soft_wrap=True)
        for start, end, word in transcript.words:
            console.print(f"  {start:7.2f} – {end:7.2f} s  {word}", highlight=False)
    for failure in result.failures:
        err.print(Text.assemble(("skipped:", "red"), " ", failure), highlight=False)
    if result.failures:
        raise typer.Exit(1)


@app.command("stream")
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
    seconds from the start). A transcription model prints its text as it grows, and the final text when a
    pause of a second ends an utterance. Bidirectional models cannot stream."""
    from gruve.listen.streaming import StreamOptions, stream

    run = stream(model, StreamOptions(source=source, hop_ms=hop_ms, threshold=threshold))
    for event in run:
        if as_json:
            print(json.dumps(event.to_dict()), flush=True)
        elif hasattr(event, "text"):  # a transcription model's partial or final text
            console.print(f"{event.start:8.2f} – {event.end:8.2f} s  {'final  ' if event.final else 'partial'}  "
                          f"{event.text}", highlight=False)
        else:
            console.print(f"{event.start:8.2f} – {event.end:8.2f} s  {event.label}  {event.probability:.3f}",
                          highlight=False)
    if run.samples:
        err.print(f"streamed {run.audio_seconds:.2f} s of audio in {run.elapsed:.2f} s "
                  f"(real-time factor {run.real_time_factor:.4f})", highlight=False)


@app.command("explain")
def listen_explain(
    model: str = typer.Argument(..., help=MODEL_HELP),
    file: str = typer.Argument(..., help="The audio file to explain."),
    out: Path = typer.Option(Path("runs/explain"), "--out", help="Where explain.png and explain.json go."),
    as_json: bool = typer.Option(False, "--json", help="Print explain.json instead of the summary."),
):
    """Show why MODEL gives FILE its label: explain.png holds the log-mel input, each frame's evidence for the
    top classes (the deciding frames marked), the recurrent gate over time and an occlusion map; explain.json
    the same numbers. A recording longer than the model's window is shown window by window, as predict reads it."""
    from gruve.listen.explanation import explain

    explanation = explain(model, file, out)
    if as_json:
        print(json.dumps(explanation.to_dict()))  # plain: rich's highlighting of thousands of numbers is slow
        return
    for line in explanation.summary():
        console.print(line, highlight=False, soft_wrap=True)


def _print_error_rates(report: dict, title: str, out: Path) -> None:
    """A transcription model's scores: WER and CER over the utterances, and the worst of them."""
    table = Table("utterance", "said", "heard", "WER", title=f"worst utterances of {title}")
    for row in report["worst"]:
        table.add_row(Text(Path(row["path"]).name), row["reference"], row["hypothesis"] or "(nothing)",
                      f"{row['wer']:.2f}")
    if report["worst"]:
        console.print(table)
    console.print(f"WER {report['wer']:.2%}   CER {report['cer']:.2%}   over {report['utterances']} utterances "
                  f"({report['words']} words)", highlight=False)
    console.print(f"report: {out / 'report.json'}", soft_wrap=True)


def _print_predictions(predictions) -> None:
    """A row per file (a long recording's answer is its segments' labels in order, shown below it), file
    names whole, wrapped rather than cut."""
    table = Table("label", "probability")
    table.columns.insert(0, Column("file", overflow="fold"))
    for p in predictions:
        if p.segments and not p.whole:
            table.add_row(Text(p.path), Text(p.answer, overflow="fold"), "segments below")
        else:
            table.add_row(Text(p.path), *(("\n".join(lines)) for lines in zip(*[(l, f"{v:.3f}") for l, v in p.top])))
    console.print(table)
    for p in predictions:
        if p.segments and not p.whole:
            timeline = Table("start", "end", "label", "probability", title=Text(f"segments of {p.path}"))
            for start, end, label, value in p.segments:
                timeline.add_row(f"{start:.2f}", f"{end:.2f}", label, "" if value is None else f"{value:.3f}")
            console.print(timeline)
