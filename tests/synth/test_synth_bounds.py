"""How much `synth generate` makes at once is bounded: a length or count that would allocate gigabytes (the
issue's `--seconds 1e9` asked for 400 GB) is refused in one sentence naming the option, before any work."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli

import gruve
from gruve.errors import GruveError
from gruve.synth import GenerateOptions


@pytest.mark.parametrize("args,phrase", [
    (["--seconds", "1e9"], "--seconds must be at most 60, a minute of sound (got 1000000000.0)."),
    (["--seconds", "61"], "--seconds must be at most 60"),
    (["--seconds", "nan"], "--seconds must be above 0 (got nan)."),
    (["--seconds", "inf"], "--seconds must be above 0 (got inf)."),
    (["--seconds", "0"], "--seconds must be above 0 (got 0.0)."),
    (["--seconds", "-1"], "--seconds must be above 0 (got -1.0)."),
    (["--n", "1000", "--seconds", "1"], "--n 1000 sounds of 1 seconds make 1,000 seconds of audio, more than the 600"),
    (["--n", "100000"], "--n 100000 sounds of 1 seconds make 100,000 seconds of audio"),
])
def test_generate_refuses_lengths_it_cannot_hold_in_one_sentence(args, phrase, tmp_path, capsys):
    code, _, err = run_cli(["synth", "generate", "drums", *args, "--out", str(tmp_path / "out")], capsys)
    assert code == 1 and phrase in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_like_file_longer_than_a_sound_may_be_is_refused_naming_it(tmp_path):
    like = tmp_path / "long.wav"
    sf.write(like, np.full(61 * 16000, 0.1, np.float32), 16000)
    with pytest.raises(GruveError, match=r"long\.wav lasts 61 seconds, more than the 60 a generated sound may"):
        gruve.synth.generate("drums", GenerateOptions(n=1, like=like), tmp_path / "out")


def test_a_minute_long_sound_is_still_allowed():
    assert GenerateOptions(n=1, seconds=60).seconds == 60
