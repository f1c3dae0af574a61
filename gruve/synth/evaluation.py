"""Measuring generated sounds: does a listen classifier trained on the real sounds hear the intended label
(beside what it hears in the raw GRU's sounds, before the model's equaliser, and in shaped noise: white noise
given a real sound's loudness envelope and the label's mean spectrum, no GRU at all), how far is each label's
spectrum from the real sounds', against white noise and against the real sounds among themselves, how peaky
its spectra are beside theirs, and how far is its loudness over time (its envelope) from theirs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch

from gruve import audio, bundle
from gruve.data.sources import DataError, resolve
from gruve.errors import check_positive
from gruve.files import write_json
from gruve.plots import confusion_matrix, spectra
from gruve.signal import envelope, equalised, log_spectrum, long_term_power, loudness, spectral_detail, spectral_distance
from gruve.synth.generation import check_sounds
from gruve.synth.model import ENVELOPE_SECONDS, TIMBRE_FFT, WaveGRU

N_FFT, HOP = 1024, 256  # of the long-term spectra compared
ENVELOPE_FRAMES = 10  # per sound
DETAIL_BINS = 33  # about 500 Hz at 16 kHz: the width of a cymbal's clusters of partials


class Judge(Protocol):
    """What evaluation uses of the classifier that listens to the generated sounds: a listen model
    (`gruve.listen.AudioClassifier`, loaded by `bundle.load(name, task="listen")`) fits, as does anything
    else with these members. Synth never imports listen: a capability imports only the core."""

    labels: list[str]  # the class names, in the order of its outputs
    config: object  # with `features.sr`, the sample rate it hears
    meta: dict  # the bundle's metadata; `meta["metrics"]["test_accuracy"]` is reported if there

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """Scores `(batch, labels)` for waveforms `y (batch, samples)`."""
        ...


@dataclass(kw_only=True)
class EvaluateOptions:
    """How many sounds per label to generate for an evaluation, and how."""

    n: int = 20  # sounds per label
    seconds: float = 1.0  # length of each generated sound
    temperature: float = 1.0
    tail_temperature: float | None = None  # see GenerateOptions
    seed: int = 0

    def __post_init__(self):
        check_positive(self.seconds, "seconds")
        check_sounds(self)  # per label here: the bound on all of them together holds for each label's n


def shaped_noise(real: np.ndarray, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """`n` sounds of white noise, each given the loudness envelope (10 ms frames) of a sound of `real (count,
    samples)` drawn at random and, all through one filter, their mean long-term spectrum, `(n, samples)`: what
    a classifier hears in a label's envelopes and average colour alone: the bar a GRU's sounds should clear."""
    hop = round(ENVELOPE_SECONDS * sample_rate)
    drawn = torch.from_numpy(real[rng.integers(len(real), size=n)])
    amplitude = (10 ** (loudness(drawn, hop) / 20)).repeat_interleave(hop, -1)[:, : drawn.shape[1]]
    noise = torch.from_numpy(rng.standard_normal(drawn.shape, dtype=np.float32)) * amplitude
    gains = 10 * torch.log10((long_term_power(torch.from_numpy(real), TIMBRE_FFT).mean(0) + 1e-10)
                             / (long_term_power(noise, TIMBRE_FFT).mean(0) + 1e-10))
    return equalised(noise, gains.expand(n, -1)).clamp(-1, 1).numpy()


def evaluate(model: str | Path | WaveGRU, data: str, classifier: str | Path | Judge, options: EvaluateOptions,
             out: str | Path, say: Callable[[str], None] = print) -> dict:
    """Generate `options.n` sounds per label with `model`, label them with `classifier` (a listen model's
    name or path, or any `Judge`), compare their spectra and envelopes with `data`'s real sounds of the label;
    writes `evaluation.json`, `confusion.png` and `spectra.png` into `out` and returns the report."""
    model_name = model if isinstance(model, (str, Path)) else "the model"
    classifier_name = classifier if isinstance(classifier, (str, Path)) else "the classifier"
    model = bundle.load(model, task="synth") if isinstance(model, (str, Path)) else model
    classifier = bundle.load(classifier, task="listen") if isinstance(classifier, (str, Path)) else classifier
    out, n, seconds, temperature, seed = Path(out), options.n, options.seconds, options.temperature, options.seed
    tail_temperature = options.tail_temperature
    labels, sr = model.config.labels, model.config.sr
    if classifier.config.features.sr != sr:
        raise DataError(f"the classifier hears {classifier.config.features.sr} Hz and the synthesiser makes {sr} Hz.")
    unknown = sorted(set(labels) - set(classifier.labels))
    if unknown:
        raise DataError(f"the classifier does not know the label(s) {', '.join(unknown)}.")
    real = _real_sounds(data, labels, model.config.samples, sr)
    say(f"generating {n} sounds of each of {len(labels)} labels ({seconds} s at {sr} Hz)")
    wanted = [label for label in labels for _ in range(n)]
    raw = model.generate(wanted, seconds, temperature, seed, tail_temperature=tail_temperature, raw=True)
    generated = model.equalise(torch.from_numpy(raw), torch.tensor([labels.index(w) for w in wanted])).numpy()
    truth = torch.tensor([classifier.labels.index(label) for label in wanted])
    shaping = np.random.default_rng([seed, 2])  # not the stream of the white noise below
    shaped = np.concatenate([shaped_noise(real[label], n, sr, shaping)[:, : generated.shape[1]] for label in labels])
    shaped = np.pad(shaped, ((0, 0), (0, generated.shape[1] - shaped.shape[1])))  # as long as the generated sounds
    heard, heard_raw, heard_noise = (_heard(classifier, waves) for waves in (generated, raw, shaped))
    rng = np.random.default_rng(seed)
    report = {"model": str(model_name), "classifier": str(classifier_name),
              "classifier_test_accuracy": classifier.meta.get("metrics", {}).get("test_accuracy"),
              "data": data, "sounds_per_label": n, "seconds": seconds, "temperature": temperature,
              "tail_temperature": tail_temperature,
              "equalised": model.config.equaliser, "accuracy": _share(heard, truth),
              "accuracy_raw": _share(heard_raw, truth), "accuracy_shaped_noise": _share(heard_noise, truth),
              "labels": {}}
    curves, frequencies = {}, np.fft.rfftfreq(N_FFT, 1 / sr)
    common = min(generated.shape[1], model.config.samples)  # the envelopes are compared over the same seconds
    for i, label in enumerate(labels):
        ours = np.stack([log_spectrum(y, N_FFT, HOP) for y in generated[i * n:(i + 1) * n]])
        theirs = np.stack([log_spectrum(y, N_FFT, HOP) for y in real[label]])
        rms = float(np.sqrt(np.mean(np.square(real[label]))))  # white noise as loud as the label's real sounds
        noise = np.stack([log_spectrum(rms * rng.standard_normal(len(generated[0])).astype(np.float32), N_FFT, HOP)
                          for _ in range(n)])
        pairs = spectral_distance(theirs, theirs) * len(theirs) / max(len(theirs) - 1, 1)  # leave out self-pairs
        report["labels"][label] = {
            **{key: _share(said[i * n:(i + 1) * n], truth[i * n:(i + 1) * n]) for key, said in
               (("accuracy", heard), ("accuracy_raw", heard_raw), ("accuracy_shaped_noise", heard_noise))},
            "lsd_generated": round(spectral_distance(ours, theirs), 2), "lsd_noise": round(spectral_distance(noise, theirs), 2),
            "lsd_real": round(pairs, 2), "real_sounds": len(theirs),
            "detail_generated": round(spectral_detail(ours, DETAIL_BINS), 2),
            "detail_real": round(spectral_detail(theirs, DETAIL_BINS), 2),
            "envelope_error": round(float(np.abs(envelope(generated[i * n:(i + 1) * n, :common], ENVELOPE_FRAMES)
                                                 - envelope(real[label][:, :common], ENVELOPE_FRAMES)).mean()), 2)}
        curves[label] = {"real": theirs.mean(0), "generated": ours.mean(0), "noise": noise.mean(0)}
    write_json(out / "evaluation.json", report)
    matrix = np.zeros((len(classifier.labels),) * 2, dtype=int)
    np.add.at(matrix, (truth.numpy(), heard.numpy()), 1)
    confusion_matrix(matrix.tolist(), classifier.labels, out / "confusion.png",
                     f"what the classifier hears in {model_name}'s sounds ({report['accuracy']:.0%})")
    spectra(curves, frequencies, out / "spectra.png", f"{model_name}: mean spectra against {data}")
    return report


@torch.inference_mode()
def _heard(classifier: Judge, waves: np.ndarray) -> torch.Tensor:
    """The label index `classifier` hears in each of `waves (count, samples)`."""
    return torch.cat([classifier(torch.from_numpy(np.ascontiguousarray(waves[i:i + 16]))).argmax(1)
                      for i in range(0, len(waves), 16)])


def _share(heard: torch.Tensor, truth: torch.Tensor) -> float:
    return round(float((heard == truth).float().mean()), 4)


def _real_sounds(data: str, labels: list[str], samples: int, sr: int) -> dict[str, np.ndarray]:
    """The real sounds of each label, cut or padded with silence to `samples`, `(count, samples)`."""
    corpus = resolve(data)
    found: dict[str, list[np.ndarray]] = {label: [] for label in labels}
    for item in corpus.items:
        label = item.labels.get("label")
        if label in found:
            try:
                x = audio.load(item.path, sr)[:samples]
            except audio.AudioError:
                continue  # train reported it
            found[label].append(np.pad(x, (0, samples - len(x))))
    missing = [label for label, sounds in found.items() if not sounds]
    if missing:
        raise DataError(f"{data} has no sounds of {', '.join(missing)} to compare with.")
    return {label: np.stack(sounds) for label, sounds in found.items()}
