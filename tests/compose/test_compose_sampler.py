"""The sampler, rebuilt as a loop of logit filters, draws exactly the tokens the one-function sampler drew.

`sampler_tokens.json` was recorded with the sampler as it stood before the refactor (gruve/compose/lm.py's
`Sampler.run` and `Controls`), from the shipped bach-chorales and groove-drums with fixed seeds: bars and
token limits, temperature, top-k, top-p, primers, conditions given and drawn, may_end, the drum-flam rule,
the lookback, and per-piece lengths as evaluate asks for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gruve import bundle
from gruve.compose.lm.generation import GenerateOptions

CASES = json.loads((Path(__file__).parent / "sampler_tokens.json").read_text())


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(1)
    return {name: bundle.load(name) for name in ("bach-chorales", "groove-drums")}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['model']}-{i}" for i, c in enumerate(CASES)])
def test_the_same_seed_gives_the_same_tokens_as_before(case, models):
    model = models[case["model"]]
    options = _options(case)
    lengths = [tuple(length) for length in case["lengths"]] if "lengths" in case else None
    pieces, drawn = model.generate(options, case["drawn"] if lengths else None, lengths)
    assert drawn == case["drawn"]
    assert [p.tolist() for p in pieces] == case["tokens"]


def _options(case) -> GenerateOptions:
    """The recorded controls, with the old `Controls` defaults (tokens 1024, top-p 1) where a case left them out."""
    controls = {"tokens": 1024, "top_k": 0, "top_p": 1.0, **case["controls"]}
    primer = None if case["primer"] is None else np.array(case["primer"], dtype=np.int64)
    return GenerateOptions(**controls, conditions=case["conditions"], primer=primer)
