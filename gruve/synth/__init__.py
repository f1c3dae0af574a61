"""synth: generate audio sample by sample with a GRU (WaveRNN-style); the Python face of `gruve synth`.

Verb for verb as on the command line::

    from gruve import synth, TrainOptions

    synth.train(synth.SynthOptions(data="my-drums/", envelope=True), TrainOptions(out="runs/drums"))
    result = synth.generate("drums", synth.GenerateOptions(label="snare", n=4), out="runs/sounds")
    synth.equalise("runs/drums", "my-drums/", out="runs/drums")
    synth.evaluate("drums", "my-drums/", "runs/drums-classifier", synth.EvaluateOptions(n=20), out="runs/evaluation")

Names are imported on first use (PEP 562): training needs Lightning, which takes seconds to import, and
generating must not wait for it.
"""

from __future__ import annotations

from gruve.lazy import exports

_EXPORTS = {
    "SynthOptions": "gruve.synth.training",
    "train": "gruve.synth.training",
    "equalise": "gruve.synth.training",
    "GenerateOptions": "gruve.synth.generation",
    "Generated": "gruve.synth.generation",
    "generate": "gruve.synth.generation",
    "EvaluateOptions": "gruve.synth.evaluation",
    "Judge": "gruve.synth.evaluation",
    "evaluate": "gruve.synth.evaluation",
    "WaveGRU": "gruve.synth.model",
    "SynthConfig": "gruve.synth.model",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
