"""compose: generate music with GRUs.

Two model families, each its own sub-package: `gruve.compose.lm`, a GRU language model over MidiTok
tokens (train on a corpus of scores, generate, evaluate), and `gruve.compose.pianoroll`, piano-roll GRU and
GRU-NADE models. What both use stays here: reading scores (`scores`), score corpora (`corpus`), rendering
MIDI to sound (`render`), the metrics of generated music (`metrics`, `evaluation`) and where a model of
either family is surprised by a piece (`explanation`).

The verbs mirror `gruve compose ...`::

    import gruve

    gruve.compose.train(gruve.compose.LMOptions(corpus="bach"), gruve.TrainOptions(out="runs/bach"))
    gruve.compose.generate("bach-chorales", gruve.compose.GenerateOptions(n=2), out="runs/generated")
    gruve.compose.evaluate("bach-chorales", gruve.compose.EvaluateOptions(reference="bach"), out="runs/evaluation")
    gruve.compose.explain("jsb-gru-nade", "jsb@test/0", out="runs/explain")

Names are imported on first use, so that `import gruve.compose` costs nothing.
"""

from __future__ import annotations

from gruve.lazy import exports

_WHERE = {
    "LMOptions": "lm.training", "train": "lm.training",
    "GenerateOptions": "lm.generation", "Generated": "lm.generation", "generate": "lm.generation",
    "EvaluateOptions": "evaluation", "evaluate": "evaluation",
    "Explanation": "explanation", "explain": "explanation",
    "MusicLM": "lm.model", "LMConfig": "lm.config",
    "ScoreCorpus": "corpus",
}

__all__ = sorted(_WHERE)


__getattr__, __dir__ = exports(__name__, _WHERE, globals())
