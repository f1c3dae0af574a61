"""gruve: GRU models on sound.

The public API mirrors the `gruve` command verb for verb; each capability is a sub-package::

    import gruve

    model = gruve.load("fsdd-digits")                 # a shipped name, a .safetensors file or a run folder
    model.predict("examples/digits/7_jackson_1.wav").label
    gruve.listen.train(gruve.listen.ListenOptions(data="my-sounds/"), gruve.TrainOptions(out="runs/mine"))
    gruve.compose.generate("bach-chorales", gruve.compose.GenerateOptions(n=2), out="runs/bach")
    gruve.synth.generate("drums", gruve.synth.GenerateOptions(label="snare"), out="runs/drums")

Sub-packages and heavy classes are imported on first use, so `import gruve` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = ["load", "pretrained", "TrainOptions", "GruveError", "OptionError", "listen", "compose", "synth", "recommend"]

_LAZY = {"TrainOptions": "gruve.training", "GruveError": "gruve.errors", "OptionError": "gruve.errors"}
_CAPABILITIES = ("listen", "compose", "synth", "recommend")


def load(model):
    """A model from a bundle path, a run folder or the name of a shipped model (see `gruve.pretrained()`):
    an AudioClassifier, Transcriber, MusicLM, PianoRollModel, WaveGRU or GRU4Rec, ready for inference."""
    from gruve.bundle import load as load_bundle

    return load_bundle(model)


def pretrained() -> list[str]:
    """Names of the models shipped inside the package."""
    from gruve.bundle import pretrained_names

    return pretrained_names()


def __getattr__(name: str):
    if name in _CAPABILITIES:
        return importlib.import_module(f"gruve.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gruve' has no attribute {name!r}")
