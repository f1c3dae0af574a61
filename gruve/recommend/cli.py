"""`gruve recommend`: learn listening sessions with GRU4Rec, measure it beside the baselines, suggest next
tracks and continue playlists.

Each command parses its flags into the library's options and calls one verb of `gruve.recommend`; the checks
and the files are the library's. Verbs are imported inside the commands: training imports Lightning, which
takes seconds, and `gruve recommend suggest` must start fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from gruve.cli_common import CACHE_DIR, MODEL_HELP, err, print_summary, trains
from gruve.cli_common import out as console

app = typer.Typer(help="Recommend tracks: train GRU4Rec on listening sessions, compare it with the popularity, "
                       "item-kNN, SKNN and V-SKNN baselines, suggest what to play next and continue playlists.",
                  no_args_is_help=True)

EVENTS_HELP = ("A file of listening events: a 30Music session TSV (UserId SessionId ItemId Time ArtistId), a "
               "Last.fm-1K TSV (user, ISO time, artist id, artist, track id, track), or any CSV/TSV whose columns "
               "--user, --time, --item (and optionally --artist, --session, --name) name.")


@app.command("train")
@trains("runs/recommend", "30 on the training sessions, stopping early on the validation tail, then as many as were best on training and validation together; 10 without a validation tail", patience=5, monitored="validation MRR@20")
def recommend_train(
    data: str = typer.Argument(..., help=EVENTS_HELP),
    format: str = typer.Option("csv", "--format", help="30music, lastfm or csv (columns named by the options below)."),
    user: Optional[str] = typer.Option(None, help="csv: the column of user ids."),
    time: Optional[str] = typer.Option(None, help="csv: the column of times, ISO 8601 or unix seconds."),
    item: Optional[str] = typer.Option(None, help="csv: the column of item ids."),
    artist: Optional[str] = typer.Option(None, help="csv: the column of artist ids (optional)."),
    session: Optional[str] = typer.Option(None, help="csv: the column of session ids (optional; without it "
                                                     "sessions are cut at --session-gap)."),
    name: Optional[str] = typer.Option(None, help="csv: the column of item names (optional)."),
    session_gap: float = typer.Option(30.0, help="Minutes of inactivity that end a session (data without sessions)."),
    test_days: float = typer.Option(1.0, help="Sessions that start in the last this many days are the test set."),
    valid_days: float = typer.Option(1.0, help="Those that start in the last this many days before them are the "
                                               "validation tail (early stopping, --trials)."),
    min_item_count: int = typer.Option(2, help="Items played fewer times in training are dropped."),
    min_session_length: int = typer.Option(2, help="Sessions with fewer events (after that) are dropped."),
    hidden_size: int = typer.Option(128, "--hidden", help="GRU units per layer."),
    num_layers: int = typer.Option(1, "--layers", help="GRU layers."),
    embedding: int = typer.Option(0, help="Input embedding width (0: the hidden size)."),
    tied: bool = typer.Option(True, help="Share the input and output item embeddings (as GRU4Rec's authors "
                                         "recommend); --no-tied learns a separate input embedding."),
    dropout: float = typer.Option(0.5, help="Dropout on the GRU's output."),
    embedding_dropout: float = typer.Option(0.5, help="Dropout on the input embedding."),
    loss: str = typer.Option("ce", help="ce: cross-entropy over sampled negatives with the logQ correction; "
                                        "bpr-max: BPR-max with its score regulariser."),
    n_sample: int = typer.Option(2048, help="Negatives drawn per mini-batch, shared by its rows."),
    sample_alpha: float = typer.Option(0.5, help="Negatives are drawn by popularity to this power (0: uniform)."),
    logq: float = typer.Option(1.0, help="ce: weight of the logQ correction (0: none)."),
    bpreg: float = typer.Option(1.0, help="bpr-max: weight of the score regulariser."),
    artists: bool = typer.Option(True, help="Add an artist embedding to each item's, where the data names "
                                            "artists (--no-artists: items alone)."),
    lr: float = typer.Option(0.1, help="Adagrad's learning rate."),
    batch_size: int = typer.Option(32, help="Sessions side by side in a mini-batch."),
    trials: int = typer.Option(0, help="Tune the main hyper-parameters with this many Optuna trials on the "
                                       "validation tail (MRR@20) before the final training."),
    cache_dir: Optional[Path] = CACHE_DIR,
    run=None,  # the TrainOptions that @trains makes of the shared training flags
):
    """Train GRU4Rec on listening sessions and save it as OUT/model.safetensors: the sessions split by time
    (the last --test-days are the test set), session-parallel mini-batches, early stopping on the validation
    tail's MRR@20."""
    from gruve.recommend.training import RecommendOptions, train

    options = RecommendOptions(data=data, format=format, user=user, time=time, item=item, artist=artist,
                               session=session, name=name, session_gap=session_gap, test_days=test_days,
                               valid_days=valid_days, min_item_count=min_item_count,
                               min_session_length=min_session_length, hidden_size=hidden_size,
                               num_layers=num_layers, embedding=embedding, tied=tied, dropout=dropout,
                               embedding_dropout=embedding_dropout, loss=loss, n_sample=n_sample,
                               sample_alpha=sample_alpha, logq=logq, bpreg=bpreg, artists=artists, lr=lr,
                               batch_size=batch_size, trials=trials, cache_dir=cache_dir)
    print_summary(train(options, run, say=err.print))


@app.command("evaluate")
def recommend_evaluate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    data: str = typer.Argument(..., help=EVENTS_HELP + " Split as the model's training split it."),
    out: Path = typer.Option(Path("runs/recommend-evaluate"), "--out", help="Where report.json and curves.png go."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
):
    """Next-item HitRate@K and MRR@K (K = 1, 5, 10, 20) of MODEL and of every baseline on the test sessions of
    DATA, ranked against the whole catalogue; also catalogue coverage and the popularity of what each suggests."""
    from gruve.recommend.evaluation import results_table
    from gruve.recommend.training import evaluate_model

    report = evaluate_model(model, data, out, say=err.print)
    if as_json:
        console.print_json(json.dumps(report), ensure_ascii=True)
        return
    console.print(results_table(report), soft_wrap=True)
    console.print(f"report: {out / 'report.json'}   curves: {out / 'curves.png'}", soft_wrap=True)


@app.command("suggest")
def recommend_suggest(
    model: str = typer.Argument(..., help=MODEL_HELP),
    history: str = typer.Option(..., "--history", help="The tracks played so far, oldest first, separated by "
                                                       "commas: ids, or \"artist - track\" names where the data "
                                                       "had names."),
    k: int = typer.Option(10, "-k", help="How many tracks to suggest."),
    as_json: bool = typer.Option(False, "--json", help="Print the suggestions as JSON."),
):
    """The tracks MODEL finds likeliest to be played next after HISTORY, with their probabilities. Unknown
    items are named and ignored; a history of only unknown items gets the most played tracks instead."""
    from gruve.recommend.suggestion import suggest

    _print_tracks(suggest(model, history.split(","), k, say=err.print), as_json)


@app.command("playlist")
def recommend_playlist(
    model: str = typer.Argument(..., help=MODEL_HELP),
    start: str = typer.Option(..., "--start", help="The track (or tracks, separated by commas) the playlist "
                                                   "starts with: ids or \"artist - track\" names."),
    length: int = typer.Option(20, help="How many tracks to add."),
    repeats: bool = typer.Option(False, "--repeats", help="Allow a track more than once (by default none repeats)."),
    max_per_artist: Optional[int] = typer.Option(None, help="At most this many tracks by one artist, the start "
                                                            "counted (data that names artists)."),
    temperature: float = typer.Option(1.0, help="Below 1 keeps to the likeliest tracks, above 1 wanders further; "
                                                "0 always takes the likeliest."),
    seed: int = typer.Option(0, help="The same seed gives the same playlist."),
    as_json: bool = typer.Option(False, "--json", help="Print the playlist as JSON."),
):
    """Continue a playlist from START, track by track, each drawn from MODEL's distribution after the tracks
    so far, within the controls."""
    from gruve.recommend.suggestion import playlist

    tracks = playlist(model, start.split(","), length, no_repeats=not repeats, max_per_artist=max_per_artist,
                      temperature=temperature, seed=seed, say=err.print)
    _print_tracks(tracks, as_json)


def _print_tracks(tracks, as_json: bool) -> None:
    """Suggested tracks as a numbered table (id, name where known, probability), or as JSON."""
    if as_json:
        console.print_json(json.dumps([track._asdict() for track in tracks]), ensure_ascii=True)
        return
    named = any(track.name is not None for track in tracks)
    table = Table("#", "item", *(["name"] if named else []), "probability")
    for rank, track in enumerate(tracks, 1):
        table.add_row(str(rank), track.item, *([track.name or ""] if named else []), f"{track.score:.4f}")
    console.print(table)
