"""listen: classify and transcribe audio with GRU, BiGRU and CRNN models; the Python face of `gruve listen`.

Verb for verb as on the command line::

    from gruve import listen, TrainOptions

    listen.train(listen.ListenOptions(data="my-sounds/"), TrainOptions(out="runs/mine"))
    listen.evaluate("runs/mine", "my-sounds/", listen.EvaluateOptions(out="runs/mine/test"))
    result = listen.predict("fsdd-digits", ["examples/digits"], top_k=3)
    for event in listen.stream("fsdd-digits", listen.StreamOptions(source="examples/digits/sequence_2_0_4_8_6.wav")):
        print(event.label)
    listen.transcribe("fsdd-transcribe", ["examples/digits/sequence_2_0_4_8_6.wav"]).transcripts[0].text  # "2 0 4 8 6"

A manifest or corpus with a text column (`fsdd-sequences`) makes `train` train a speech-to-text model (CTC),
and `evaluate` score one by WER and CER.

Names are imported on first use (PEP 562): training needs Lightning, which takes seconds to import, and
predicting must not wait for it.
"""

from __future__ import annotations

from gruve.lazy import exports

_EXPORTS = {
    "ListenOptions": "gruve.listen.fitting",
    "train": "gruve.listen.training",
    "cross_validate": "gruve.listen.training",
    "EvaluateOptions": "gruve.listen.evaluation",
    "evaluate": "gruve.listen.evaluation",
    "PredictOptions": "gruve.listen.prediction",
    "Predictions": "gruve.listen.prediction",
    "predict": "gruve.listen.prediction",
    "expand_files": "gruve.listen.prediction",
    "StreamOptions": "gruve.listen.streaming",
    "Stream": "gruve.listen.streaming",
    "TranscriptStream": "gruve.listen.streaming",
    "Heard": "gruve.listen.streaming",
    "Event": "gruve.listen.streaming",
    "stream": "gruve.listen.streaming",
    "events": "gruve.listen.streaming",
    "AudioClassifier": "gruve.listen.model",
    "ClassifierConfig": "gruve.listen.model",
    "Prediction": "gruve.listen.model",
    "AugmentConfig": "gruve.listen.augment",
    "Transcriber": "gruve.listen.transcriber",
    "TranscriberConfig": "gruve.listen.transcriber",
    "Transcript": "gruve.listen.transcriber",
    "Transcripts": "gruve.listen.transcription",
    "transcribe": "gruve.listen.transcription",
    "Explanation": "gruve.listen.explanation",
    "explain": "gruve.listen.explanation",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
