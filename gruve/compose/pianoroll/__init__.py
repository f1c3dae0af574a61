"""Piano-roll models: a GRU (or LSTM, RNN) over binary frames of 88 notes with a sigmoid or NADE output.

`model` (PianoRollConfig, PianoRollModel), `rolls` (piano-roll sets and their conversion to and from
scores), `training` (PianoRollOptions and `train`), `scoring` (`evaluate`: NLL per step and frame
accuracy) and `sampling` (SampleOptions and `sample`). The verbs mirror `gruve compose pianoroll ...`::

    from gruve.compose import pianoroll

    pianoroll.train(pianoroll.PianoRollOptions(data="jsb"), gruve.TrainOptions(out="runs/jsb"))
    pianoroll.evaluate("jsb-gru", "jsb")
    pianoroll.sample("jsb-gru-nade", pianoroll.SampleOptions(n=2), out="runs/samples")
"""

from __future__ import annotations

from gruve.lazy import exports

_WHERE = {
    "PianoRollConfig": "model", "PianoRollModel": "model",
    "PianoRollOptions": "training", "train": "training",
    "evaluate": "scoring", "score": "scoring",
    "SampleOptions": "sampling", "sample": "sampling",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, _WHERE, globals())
