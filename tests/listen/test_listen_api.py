"""The listen Python API: options that check themselves (naming the field from Python, the flag from the
command line), the verbs on the shipped model, and an import that stays light."""

import csv
import dataclasses
import json
import subprocess
import sys

import pytest
import typer

from conftest import ROOT, run_cli
from gruve.errors import OptionError

DIGITS = ROOT / "examples" / "digits"
CLIP = str(DIGITS / "7_jackson_1.wav")

# (options class, bad keyword arguments, the sentence from Python, the command line that gives it, the sentence there)
CHECKS = [
    ("ListenOptions", {"batch_size": 0}, "batch_size must be at least 1 (got 0).",
     ["listen", "train", "DATA", "--batch-size", "0"], "--batch-size must be at least 1 (got 0)."),
    ("ListenOptions", {"hidden_size": 0}, "hidden_size must be at least 1 (got 0).",
     ["listen", "train", "DATA", "--hidden", "0"], "--hidden must be at least 1 (got 0)."),
    ("ListenOptions", {"num_layers": 0}, "num_layers must be at least 1 (got 0).",
     ["listen", "train", "DATA", "--layers", "0"], "--layers must be at least 1 (got 0)."),
    ("ListenOptions", {"lr": 0.0}, "lr must be above 0 (got 0.0).",
     ["listen", "train", "DATA", "--lr", "0"], "--lr must be above 0 (got 0.0)."),
    ("ListenOptions", {"architecture": "tcn"}, "architecture tcn is not one of gru, bigru, crnn, lstm, rnn.",
     ["listen", "train", "DATA", "--model", "tcn"], "--model tcn is not one of gru, bigru, crnn, lstm, rnn."),
    ("ListenOptions", {"pooling": "max"}, "pooling max is not one of attention, mean.",
     ["listen", "train", "DATA", "--pooling", "max"], "--pooling max is not one of attention, mean."),
    ("ListenOptions", {"mixup": -1.0}, "mixup must be 0 (off) or more (got -1.0).",
     ["listen", "train", "DATA", "--mixup", "-1"], "--mixup must be 0 (off) or more (got -1.0)."),
    ("ListenOptions", {"window": 0.0}, "window must be more than 0 seconds (got 0.0).",
     ["listen", "train", "DATA", "--window", "0"], "--window must be more than 0 seconds (got 0.0)."),
    ("EvaluateOptions", {"split": "dev"}, "split dev is not one of train, valid, test.",
     ["listen", "evaluate", "fsdd-digits", "DATA", "--split", "dev"], "--split dev is not one of train, valid, test."),
    ("PredictOptions", {"top_k": 0}, "top_k must be at least 1 (got 0).",
     ["listen", "predict", "fsdd-digits", CLIP, "-k", "0"], "--top-k must be at least 1 (got 0)."),
    ("PredictOptions", {"as_json": True, "as_csv": True}, "as_json and as_csv cannot both be on.",
     ["listen", "predict", "fsdd-digits", CLIP, "--json", "--csv"], "--json and --csv cannot both be on."),
    ("StreamOptions", {"hop_ms": 0.0}, "hop_ms must be more than 0 (got 0.0).",
     ["listen", "stream", "fsdd-digits", "-i", CLIP, "--hop-ms", "0"], "--hop-ms must be more than 0 (got 0.0)."),
    ("StreamOptions", {"threshold": 2.0}, "threshold must be between 0 and 1 (got 2.0).",
     ["listen", "stream", "fsdd-digits", "-i", CLIP, "--threshold", "2"], "--threshold must be between 0 and 1 (got 2.0)."),
]


def options_class(name: str):
    import gruve.listen

    return getattr(gruve.listen, name)


@pytest.mark.parametrize("name,kwargs,python,args,cli", CHECKS, ids=[c[2].split()[0] + "-" + c[0] for c in CHECKS])
def test_each_check_names_the_field_in_python_and_the_flag_on_the_command_line(name, kwargs, python, args, cli,
                                                                                tone_folder, capsys):
    extra = {"data": "anything"} if name == "ListenOptions" else {}
    with pytest.raises(OptionError) as error:
        options_class(name)(**extra, **kwargs)
    assert str(error.value) == python
    if name == "PredictOptions" and "top_k" in kwargs:  # the verb takes top_k itself and checks it the same way
        import gruve.listen

        with pytest.raises(OptionError, match=python.replace("(", r"\(").replace(")", r"\)")):
            gruve.listen.predict("fsdd-digits", [CLIP], **kwargs)
    code, out, err = run_cli([str(tone_folder) if a == "DATA" else a for a in args], capsys)
    assert code == 1 and cli in err and "Traceback" not in err and not out
    assert len([s for s in err.strip().split(". ") if s]) == 1  # one sentence


def test_dropout_is_checked_from_python():
    from gruve.listen import ListenOptions

    with pytest.raises(OptionError, match=r"^dropout must be at least 0 and below 1 \(got 1.0\)\.$"):
        ListenOptions(data="x", dropout=1.0)


def test_options_are_keyword_only():
    from gruve.listen import EvaluateOptions, ListenOptions, PredictOptions, StreamOptions

    for cls in (ListenOptions, EvaluateOptions, PredictOptions, StreamOptions):
        with pytest.raises(TypeError):
            cls("positional")


@pytest.mark.parametrize("command,name", [("train", "ListenOptions"), ("evaluate", "EvaluateOptions"),
                                          ("predict", "PredictOptions"), ("stream", "StreamOptions")])
def test_the_command_line_defaults_are_the_options_defaults(command, name):
    from gruve.listen.cli import app

    fields = {f.name: f.default for f in dataclasses.fields(options_class(name))
              if f.default is not dataclasses.MISSING}
    params = {p.name: p.default for p in typer.main.get_command(app).commands[command].params}
    shared = set(fields) & set(params)
    assert len(shared) >= 3
    assert {k: params[k] for k in shared} == {k: fields[k] for k in shared}
    assert set(fields) - {"features", "weight_decay", "dropout"} <= set(params)  # every option has a flag


def test_the_augmentation_is_built_from_the_options():
    from gruve.listen import AugmentConfig, ListenOptions

    assert ListenOptions(data="x", augment=False).augment_config() == AugmentConfig.off()
    config = ListenOptions(data="x", mixup=0.4, noise="pink").augment_config()
    assert config.mixup == 0.4 and config.noise == 0.5
    assert ListenOptions(data="x").augment_config().noise == 0


def test_predict_from_python_labels_files_folders_and_reports_failures(tmp_path):
    import gruve.listen

    result = gruve.listen.predict("fsdd-digits", [DIGITS], top_k=2)
    assert len(result.predictions) == 5 and not result.failures
    for p in result.predictions:
        name = p.path.rsplit("/", 1)[-1]
        assert len(p.top) == 2 and (name.startswith("sequence") or p.label == name[0])
    (tmp_path / "bad.wav").write_bytes(b"nope")
    model = gruve.load("fsdd-digits")
    result = gruve.listen.predict(model, [CLIP, tmp_path / "bad.wav"])
    assert [p.label for p in result.predictions] == ["7"] and "bad.wav is not a readable audio file" in result.failures[0]
    assert result.to_json()[0]["top"][0]["label"] == "7"
    header, rows = result.csv_rows()
    assert header == ["path", "rank", "label", "probability", "start", "end"] and rows[0][1:3] == [1, "7"]


def test_evaluate_from_python_scores_the_shipped_model_on_the_examples(tmp_path):
    import gruve.listen

    manifest = tmp_path / "digits.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "digit", "split"])
        writer.writerows([p, p.name[0], "test"] for p in sorted(DIGITS.glob("[0-9]_*.wav")))
    report = gruve.listen.evaluate("fsdd-digits", str(manifest),
                                   gruve.listen.EvaluateOptions(out=tmp_path / "report"), say=lambda *_: None)
    assert report["clips"] == 4 and report["accuracy"] == 1.0 and report["target"] == "digit"
    assert json.loads((tmp_path / "report" / "report.json").read_text())["accuracy"] == 1.0
    assert (tmp_path / "report" / "confusion.png").stat().st_size > 1000


def test_stream_from_python_gives_the_events_and_the_time_they_took():
    import gruve.listen

    run = gruve.listen.stream("fsdd-digits", gruve.listen.StreamOptions(source=str(DIGITS / "sequence_2_0_4_8_6.wav")))
    events = list(run)
    assert events and all(e.probability >= 0.5 for e in events)
    assert run.audio_seconds > 1 and run.real_time_factor > 0


def test_the_describe_line_of_a_listen_model():
    from gruve import bundle
    from gruve.listen import AudioClassifier

    meta, _ = bundle.read("fsdd-digits")
    what, score = AudioClassifier.describe(meta)
    assert what == "10 labels: 0, 1, 2, 3…" and score.startswith("accuracy ") and score.endswith("%")


def test_importing_the_listen_api_and_predicting_does_not_import_lightning():
    code = ("import sys, gruve.listen; assert 'lightning' not in sys.modules; "
            "from gruve.listen import PredictOptions, StreamOptions, EvaluateOptions, predict, stream, AudioClassifier; "
            "assert 'lightning' not in sys.modules, 'predicting imports lightning'; "
            "from gruve.listen import ListenOptions; assert callable(gruve.listen.train)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
