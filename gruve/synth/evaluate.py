"""Measuring generated sounds: does a listen classifier trained on the real sounds hear the intended label
(beside what it hears in the raw GRU's sounds, before the model's equaliser, and in shaped noise: white noise
given a real sound's loudness envelope and the label's mean spectrum, no GRU at all), how far is each label's
spectrum from the real sounds', against white noise and against the real sounds among themselves, how peaky
its spectra are beside theirs, and how far is its loudness over time (its envelope) from theirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from scipy.ndimage import uniform_filter1d

from gruve import audio, bundle
from gruve.data.sources import DataError, resolve
from gruve.plots import confusion_matrix, spectra
from gruve.synth.model import ENVELOPE_SECONDS, equalised, long_term_power, loudness

N_FFT, HOP = 1024, 256
ENVELOPE_FRAMES = 10  # per sound
DETAIL_BINS = 33  # about 500 Hz at 16 kHz: the width of a cymbal's clusters of partials


def log_spectrum(y: np.ndarray) -> np.ndarray:
    """A sound's mean power per STFT bin over its frames, in dB: its long-term spectrum."""
    y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    spec = torch.stft(y, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True).abs() ** 2
    return (10 * torch.log10(spec.mean(-1) + 1e-10)).numpy()


def envelope(ys: np.ndarray) -> np.ndarray:
    """The median over sounds `ys (count, samples)` of each frame's RMS level in dB (floored), `(frames,)`: a
    generated drum that holds a noise floor where the real ones have decayed lies far from theirs."""
    hop = len(ys[0]) // ENVELOPE_FRAMES
    return np.median(loudness(torch.from_numpy(ys[:, : hop * ENVELOPE_FRAMES]), hop).numpy(), axis=0)


def spectral_detail(spectra: np.ndarray) -> float:
    """The mean over sounds of how far, in dB (root mean square), each long-term spectrum of `spectra
    (sounds, bins)` strays from its own moving mean over DETAIL_BINS bins: how peaky a sound's spectrum is.
    Real cymbals ring at clusters of partials (5.8 dB at 16 kHz in ../shared/datasets/drums, hi-hats 4.9);
    noise of any smooth spectral shape stays under 1.5, and a classifier hears a smooth cymbal (1.8, from a
    one-sample-input `drums`) as a hi-hat."""
    return float((spectra - uniform_filter1d(spectra, DETAIL_BINS, axis=1, mode="nearest")).std(1).mean())


def shaped_noise(real: np.ndarray, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """`n` sounds of white noise, each given the loudness envelope (10 ms frames) of a sound of `real (count,
    samples)` drawn at random and, all through one filter, their mean long-term spectrum, `(n, samples)`: what
    a classifier hears in a label's envelopes and average colour alone. On ../shared/datasets/drums three
    listen classifiers hear 85-93% of it as intended, more than the raw `drums` GRU's 73-78%."""
    hop = round(ENVELOPE_SECONDS * sample_rate)
    drawn = torch.from_numpy(real[rng.integers(len(real), size=n)])
    amplitude = (10 ** (loudness(drawn, hop) / 20)).repeat_interleave(hop, -1)[:, : drawn.shape[1]]
    noise = torch.from_numpy(rng.standard_normal(drawn.shape, dtype=np.float32)) * amplitude
    gains = 10 * torch.log10((long_term_power(torch.from_numpy(real)).mean(0) + 1e-10)
                             / (long_term_power(noise).mean(0) + 1e-10))
    return equalised(noise, gains.expand(n, -1)).clamp(-1, 1).numpy()


def spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over the pairs of rows of `a` and `b` (dB spectra) of the root-mean-square difference, in dB."""
    return float(np.sqrt(((a[:, None] - b[None]) ** 2).mean(-1)).mean())


def evaluate(model_name: str, data: str, classifier_name: str, out: Path, n: int = 20, seconds: float = 1.0,
             temperature: float = 1.0, seed: int = 0, say: Callable[[str], None] = print,
             tail_temperature: float | None = None) -> dict:
    """Generate `n` sounds per label, label them with `classifier_name`, compare their spectra and envelopes
    with `data`'s real sounds of the label; writes `evaluation.json`, `confusion.png` and `spectra.png` into
    `out`."""
    model = bundle.load(model_name, task="synth")
    classifier = bundle.load(classifier_name, task="listen")
    labels, sr = model.config.labels, model.config.sample_rate
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
    report = {"model": model_name, "classifier": classifier_name,
              "classifier_test_accuracy": classifier.meta.get("metrics", {}).get("test_accuracy"),
              "data": data, "sounds_per_label": n, "seconds": seconds, "temperature": temperature,
              "tail_temperature": tail_temperature,
              "equalised": model.config.equaliser, "accuracy": _share(heard, truth),
              "accuracy_raw": _share(heard_raw, truth), "accuracy_shaped_noise": _share(heard_noise, truth),
              "labels": {}}
    curves, frequencies = {}, np.fft.rfftfreq(N_FFT, 1 / sr)
    common = min(generated.shape[1], model.config.samples)  # the envelopes are compared over the same seconds
    for i, label in enumerate(labels):
        ours = np.stack([log_spectrum(y) for y in generated[i * n:(i + 1) * n]])
        theirs = np.stack([log_spectrum(y) for y in real[label]])
        rms = float(np.sqrt(np.mean(np.square(real[label]))))  # white noise as loud as the label's real sounds
        noise = np.stack([log_spectrum(rms * rng.standard_normal(len(generated[0])).astype(np.float32))
                          for _ in range(n)])
        pairs = spectral_distance(theirs, theirs) * len(theirs) / max(len(theirs) - 1, 1)  # leave out self-pairs
        report["labels"][label] = {
            **{key: _share(said[i * n:(i + 1) * n], truth[i * n:(i + 1) * n]) for key, said in
               (("accuracy", heard), ("accuracy_raw", heard_raw), ("accuracy_shaped_noise", heard_noise))},
            "lsd_generated": round(spectral_distance(ours, theirs), 2), "lsd_noise": round(spectral_distance(noise, theirs), 2),
            "lsd_real": round(pairs, 2), "real_sounds": len(theirs),
            "detail_generated": round(spectral_detail(ours), 2), "detail_real": round(spectral_detail(theirs), 2),
            "envelope_error": round(float(np.abs(envelope(generated[i * n:(i + 1) * n, :common])
                                                 - envelope(real[label][:, :common])).mean()), 2)}
        curves[label] = {"real": theirs.mean(0), "generated": ours.mean(0), "noise": noise.mean(0)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(report, indent=2))
    matrix = np.zeros((len(classifier.labels),) * 2, dtype=int)
    np.add.at(matrix, (truth.numpy(), heard.numpy()), 1)
    confusion_matrix(matrix.tolist(), classifier.labels, out / "confusion.png",
                     f"what the classifier hears in {model_name}'s sounds ({report['accuracy']:.0%})")
    spectra(curves, frequencies, out / "spectra.png", f"{model_name}: mean spectra against {data}")
    return report


@torch.inference_mode()
def _heard(classifier, waves: np.ndarray) -> torch.Tensor:
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
