"""The compose options check themselves: from Python the error names the field, from the command line the flag."""

from __future__ import annotations

import pytest

from conftest import run_cli
from gruve.compose import GenerateOptions, LMOptions
from gruve.compose.evaluation import EvaluateOptions
from gruve.compose.pianoroll import PianoRollOptions, SampleOptions
from gruve.errors import OptionError


@pytest.mark.parametrize("make, field", [
    (lambda: GenerateOptions(n=0), "n"), (lambda: GenerateOptions(bars=0), "bars"),
    (lambda: GenerateOptions(tokens=0), "tokens"), (lambda: GenerateOptions(temperature=float("nan")), "temperature"),
    (lambda: GenerateOptions(top_k=-1), "top_k"), (lambda: GenerateOptions(top_p=1.5), "top_p"),
    (lambda: GenerateOptions(conditions="style=funk,style=rock"), "conditions"),
    (lambda: GenerateOptions(conditions="style"), "conditions"),
    (lambda: LMOptions(corpus="bach", window=1), "window"), (lambda: LMOptions(corpus="bach", batch_size=0), "batch_size"),
    (lambda: LMOptions(corpus="bach", hidden_size=0), "hidden_size"), (lambda: LMOptions(corpus="bach", num_layers=0), "num_layers"),
    (lambda: LMOptions(corpus="bach", lr=0), "lr"), (lambda: LMOptions(corpus="bach", dropout=1.0), "dropout"),
    (lambda: LMOptions(corpus="bach", tokenizer="Nope"), "tokenizer"),
    (lambda: LMOptions(corpus="bach", conditions="style,style"), "conditions"),
    (lambda: LMOptions(corpus="bach", lookback=True, tokenizer="TSD"), "lookback"),
    (lambda: PianoRollOptions(data="jsb", architecture="transformer"), "architecture"),
    (lambda: PianoRollOptions(data="jsb", hidden_size=0), "hidden_size"),
    (lambda: PianoRollOptions(data="jsb", dropout=-0.1), "dropout"),
    (lambda: SampleOptions(steps=0), "steps"), (lambda: EvaluateOptions(reference="bach", split="dev"), "split"),
])
def test_a_bad_option_names_its_field_from_python(make, field):
    with pytest.raises(OptionError) as raised:
        make()
    assert raised.value.field == field and field in str(raised.value) and "--" not in str(raised.value)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        LMOptions("bach", "REMI")  # noqa


@pytest.mark.parametrize("args, sentence", [
    (["compose", "generate", "bach-chorales", "--top-p", "0"], "--top-p must be above 0 and at most 1"),
    (["compose", "generate", "bach-chorales", "--condition", "style=funk,style=rock"], "--condition gives style twice"),
    (["compose", "generate", "bach-chorales", "--condition", "nonsense"], "--condition takes LABEL=VALUE pairs"),
    (["compose", "train", "bach", "--hidden", "0"], "--hidden must be at least 1"),
    (["compose", "train", "bach", "--window", "1"], "--window must be at least 2"),
    (["compose", "pianoroll", "train", "jsb", "--model", "transformer"], "unknown piano-roll --model 'transformer'"),
    (["compose", "pianoroll", "train", "jsb", "--layers", "0"], "--layers must be at least 1"),
])
def test_a_bad_option_names_its_flag_from_the_command_line(args, sentence, capsys):
    code, _, err = run_cli(args, capsys)
    assert code == 1 and sentence in err and "Traceback" not in err


def test_generate_from_python_writes_its_files(tmp_path):
    import gruve

    result = gruve.compose.generate("bach-chorales", gruve.compose.GenerateOptions(n=2, bars=2), tmp_path,
                                    say=lambda _: None)
    assert len(result.pieces) == 2 and result.tokens > 0 and len(result.validity) == 2
    assert (tmp_path / "sample-1.mid").is_file() and (tmp_path / "sample-2.mid").is_file()
    assert (tmp_path / "samples.png") in result.written and all(p.exists() for p in result.written)


def test_the_model_classes_describe_their_bundles():
    from gruve import bundle

    what, score = bundle.model_class("compose").describe(bundle.read("bach-chorales")[0])
    assert "GRU over REMI tokens" in what and score.startswith("NLL")
    what, score = bundle.model_class("pianoroll").describe(bundle.read("jsb-gru-nade")[0])
    assert what == "gru-nade" and score.startswith("NLL")
