"""The music language model: a GRU over MidiTok tokens, conditioned on a corpus's labels.

One concern a module: `config` (LMConfig), `model` (MusicLM), `onnx` (its exported step), `tokens`
(tokenizers, augmentation, the lookback), `sampler` (the sampling loop and its rules), `scoring` (pieces as
the model reads them, and their NLL token by token), `generation` (GenerateOptions and the `generate` verb)
and `training` (LMOptions and the `train` verb).
"""

from __future__ import annotations

from gruve.lazy import exports

_WHERE = {
    "LMConfig": "config", "MusicLM": "model",
    "GenerateOptions": "generation", "Generated": "generation", "generate": "generation",
    "Sampler": "sampler", "LMOptions": "training", "train": "training",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, _WHERE, globals())
