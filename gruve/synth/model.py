"""The sample-level synthesiser: one GRU that reads the previous audio sample and writes the next
(WaveRNN-style), conditioned on a sound's label, on where in the sound it is, and optionally on a loudness
envelope (10 ms frames: generation draws one from the training sounds of the label, or takes a file's), with
it optionally on the sound's timbre (its long-term spectrum in mel bands, drawn from the same sound), or on a
log-mel spectrogram (then it is a small vocoder for the listen capability's features).

The GRU's input is a sum of embeddings: the previous sample's levels (or the last few samples', one
embedding per lag: a direct view of the recent waveform, so resonances need not be carried in the state), the label, the position (a few
fixed curves of the time since the onset, so the envelope of a one-shot is something the model can
follow) and the envelope or mel frame. Being a sum, each becomes a table of input gates for generation, and the
fused kernel (`gruve.nn.fused.sample_scan`) only adds rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gruve.errors import GruveError, OptionError, check
from gruve.features import FeatureConfig, LogMel
from gruve.nn import RecurrentStack
from gruve.nn.heads import LEVELS, SampleHead
from gruve.signal import FLOOR_DB, band_loudness, equalised, frame_count, long_term_power, timbre

POSITION_SCALES = (0.01, 0.05, 0.2, 0.8)  # seconds: the decays of the position curves
TAIL_SECONDS = 0.1
ENVELOPE_SECONDS, ENVELOPE_FLOOR = 0.01, FLOOR_DB  # an envelope frame's length; dB below which silence is silence
TIMBRE_FFT = 1024  # samples per frame of the long-term spectrum
EQUALISER_SMOOTHING, EQUALISER_LIMIT = 9, 24.0  # bins the gains are averaged over; their largest size in dB
EQUALISER_SOUNDS = 32  # generated per label to measure the model's mean spectrum
EQUALISER_SEED = 1  # not generate's or evaluate's default 0: an evaluation does not score the sounds it was fitted on


@dataclass
class SynthConfig:
    """The shape of a synthesiser, as its bundle records it."""

    labels: list[str]
    output: str = "mulaw"  # or "dual" (coarse and fine bytes of 16-bit samples)
    sr: int = 16000  # samples per second
    seconds: float = 1.0  # training sounds are cut or padded with silence to this length
    hidden_size: int = 256  # GRU units
    head: int = 256  # units of each output's hidden layer
    embed: int = 64  # size of the GRU input (the sum of the embeddings)
    mel: dict | None = None  # a FeatureConfig's fields when conditioned on log-mel frames
    envelope: bool = False  # conditioned on a loudness envelope
    bands: int = 1  # the envelope's frequency bands (1: the overall loudness)
    bank: int = 0  # how many training sounds' envelopes the model keeps to draw from
    lags: int = 1  # how many previous samples the GRU reads (1: WaveRNN's one)
    timbre: int = 0  # mel bands of the long-term spectrum an envelope model is also conditioned on (0: none)
    equaliser: bool = False  # whether the model has an output equaliser per label (see `fit_equaliser`)

    @property
    def samples(self) -> int:
        """Samples per sound."""
        return round(self.seconds * self.sr)

    @property
    def envelope_hop(self) -> int:
        """Samples per envelope frame."""
        return round(ENVELOPE_SECONDS * self.sr)


def temperature_curve(steps: int, sr: int, temperature: float, tail: float | None = None) -> np.ndarray:
    """The temperature of each sample, `(steps,)`: `temperature` at the onset, easing to `tail` (if given) with
    a time constant of TAIL_SECONDS. In float64, as the kernel divided by one temperature before it took one
    per sample: the same seed still gives the same sounds."""
    if tail is None:
        return np.full(steps, temperature, np.float64)
    seconds = np.arange(steps) / sr
    return tail + (temperature - tail) * np.exp(-seconds / TAIL_SECONDS)


def position_features(t: torch.Tensor, sr: int) -> torch.Tensor:
    """Curves of the time since the onset `t` (samples): linear, square root and decays, `(..., 6)`."""
    seconds = t.float()[..., None] / sr
    decays = [torch.exp(-seconds / scale) for scale in POSITION_SCALES]
    return torch.cat([seconds, seconds.sqrt(), *decays], dim=-1)


class WaveGRU(nn.Module):
    """A sample-level GRU synthesiser (see the module's docstring); `generate` makes sounds with it."""

    task = "synth"
    config_class = SynthConfig  # what a bundle's "config" is read as (see `gruve.bundle.load`)

    def __init__(self, config: SynthConfig):
        super().__init__()
        self.config = config
        size = config.embed
        self.head = SampleHead(config.hidden_size, config.head, config.output)
        # one per lag and part, lag-major: previous.{lag * parts + part} (models of one lag keep their names)
        self.previous = nn.ModuleList(nn.Embedding(LEVELS, size) for _ in range(config.lags * self.head.parts))
        self.label = nn.Embedding(len(config.labels), size)
        self.position = nn.Linear(len(POSITION_SCALES) + 2, size)
        if config.mel is not None:
            self.features = LogMel(FeatureConfig(**config.mel))
            self.mel = nn.Conv1d(self.features.config.n_mels, size, 3, padding=1)  # sees the frames either side
        if config.envelope:
            self.envelope = nn.Sequential(nn.Conv1d(config.bands, size, 3, padding=1), nn.Tanh(),
                                          nn.Conv1d(size, size, 1))
            frames = frame_count(config.samples, config.envelope_hop)
            # (sounds, bands x frames): for one band the shape that models before bands were saved with
            self.register_buffer("bank", torch.full((config.bank, config.bands * frames), ENVELOPE_FLOOR))
            self.register_buffer("bank_label", torch.zeros(config.bank, dtype=torch.long))
        if config.timbre:
            self.timbre = nn.Sequential(nn.Linear(config.timbre, size), nn.Tanh(), nn.Linear(size, size))
            self.register_buffer("bank_timbre", torch.full((config.bank, config.timbre), ENVELOPE_FLOOR))
        if config.equaliser:
            self.register_buffer("equaliser", torch.zeros(len(config.labels), TIMBRE_FFT // 2 + 1))
        self.rnn = RecurrentStack("gru", size, config.hidden_size)

    @staticmethod
    def describe(meta: dict) -> tuple[str, str]:
        """What a bundle's synthesiser is and its headline held-out score, for `gruve models`."""
        config, metrics = meta["config"], meta.get("metrics", {})
        bands = config.get("bands", 1)
        envelope = f" by a {bands}-band envelope" if bands > 1 else " by envelope"
        by = envelope if config.get("envelope") else " by log-mel" if config.get("mel") else ""
        by += ", equalised" if config.get("equaliser") else ""
        what = (f"{config['hidden_size']}-unit GRU, {config['output']} at {config['sr']} Hz{by}: "
                f"{', '.join(config['labels'])}")
        score = (f"NLL {metrics['valid_nll_per_sample']:.3f} per sample (held-out kits)"
                 if "valid_nll_per_sample" in metrics else "-")
        return what, score

    @property
    def hop(self) -> int:
        """Samples per conditioning frame: log-mel hop, envelope hop, or 1 for an unconditioned model."""
        if self.config.mel:
            return self.features.config.hop_length
        return self.config.envelope_hop if self.config.envelope else 1

    def label_index(self, label: str) -> int:
        """The index of `label`; an unknown label is refused with the labels the model knows."""
        if label not in self.config.labels:
            raise GruveError(f"this model knows no label {label!r}; it knows: {', '.join(self.config.labels)}.")
        return self.config.labels.index(label)

    def frames_of(self, y: torch.Tensor) -> torch.Tensor | None:
        """The conditioning of each mel or envelope frame of waveforms `y (batch, samples)`, `(batch, frames,
        embed)`; None for a model conditioned on neither."""
        if self.config.mel:
            return self.mel(self.features(y) / 20).transpose(1, 2)  # dB / 20: of order one
        return self.envelope_frames(self.envelopes(y), self.timbres(y)) if self.config.envelope else None

    def envelopes(self, y: torch.Tensor) -> torch.Tensor:
        """The envelopes of waveforms `y (batch, samples)` in dB, `(batch, bands, frames)`."""
        return band_loudness(y, self.hop, self.config.bands, self.config.sr)

    def timbres(self, y: torch.Tensor) -> torch.Tensor | None:
        """The timbres of waveforms `y (batch, samples)`, `(batch, timbre)`; None for a model without."""
        return timbre(y, self.config.timbre, self.config.sr, TIMBRE_FFT) if self.config.timbre else None

    def envelope_frames(self, levels: torch.Tensor, timbres: torch.Tensor | None = None) -> torch.Tensor:
        """The conditioning of envelopes `levels (batch, bands, frames)` in dB, and of the sounds' `timbres
        (batch, timbre)` (the same in every frame), `(batch, frames, embed)`."""
        frames = self.envelope(levels / 20 + 2).transpose(1, 2)  # -80..0 dB to -2..2
        return frames if timbres is None else frames + self.timbre(timbres / 20 + 2)[:, None]

    def keep_envelopes(self, waves: torch.Tensor, labels: torch.Tensor) -> None:
        """Keep the envelopes (and timbres) of training sounds `waves (count, samples)` of `labels (count,)` to
        draw from."""
        self.config.bank = len(waves)
        self.bank, self.bank_label = self.envelopes(waves).flatten(1), labels.clone()
        if self.config.timbre:
            self.bank_timbre = self.timbres(waves)

    def drawn(self, label: torch.Tensor, frames: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """For each of `label (batch,)`, a kept sound of that label drawn at random (by `seed`): its envelope
        cut or extended with silence to `frames`, `(batch, bands, frames)`, and its timbre `(batch, timbre)`
        (None for a model without)."""
        rng = np.random.default_rng([seed, 1])  # not the stream the samples are drawn from
        kept = [np.flatnonzero(self.bank_label.numpy() == i) for i in range(len(self.config.labels))]
        missing = sorted({self.config.labels[i] for i in label.tolist() if not len(kept[i])})
        if missing:
            raise OptionError("like", f"this model kept no envelope of {', '.join(missing)} (none was in its training "
                             "sounds): give {like} FILE.")
        rows = [rng.choice(kept[i]) for i in label.tolist()]
        chosen = self.bank[rows].view(len(rows), self.config.bands, -1)[..., :frames]
        levels = torch.nn.functional.pad(chosen, (0, frames - chosen.shape[-1]), value=ENVELOPE_FLOOR)
        return levels, self.bank_timbre[rows] if self.config.timbre else None

    def fit_equaliser(self, waves: torch.Tensor, labels: torch.Tensor, per_label: int = EQUALISER_SOUNDS,
                      seed: int = EQUALISER_SEED) -> None:
        """Fit an output equaliser per label: the gains (dB, smoothed over EQUALISER_SMOOTHING bins, at most
        EQUALISER_LIMIT either way) that bring the mean long-term spectrum of `per_label` sounds the model
        generates to that of training sounds `waves (count, samples)` of `labels (count,)`. The GRU's sounds
        keep their own spectral shape per sound; the equaliser corrects the label's average colour, which the
        model gets wrong by several dB in places."""
        from scipy.ndimage import uniform_filter1d

        if self.config.mel is not None:
            raise GruveError("a vocoder follows the log-mel frames it is given; it has no equaliser to fit.")
        names = self.config.labels
        made = torch.from_numpy(self.generate([name for name in names for _ in range(per_label)],
                                              self.config.seconds, seed=seed, raw=True))
        made = long_term_power(made, TIMBRE_FFT).view(len(names), per_label, -1).mean(1)
        real, gains = long_term_power(waves, TIMBRE_FFT), np.zeros((len(names), TIMBRE_FFT // 2 + 1), np.float32)
        for i in range(len(names)):
            if (labels == i).any():  # a label without training sounds keeps gains of 0 dB
                ratio = 10 * torch.log10((real[labels == i].mean(0) + 1e-10) / (made[i] + 1e-10))
                gains[i] = uniform_filter1d(ratio.numpy(), EQUALISER_SMOOTHING, mode="nearest")
        self.config.equaliser = True
        self.register_buffer("equaliser", torch.from_numpy(gains.clip(-EQUALISER_LIMIT, EQUALISER_LIMIT)))

    def forward(self, previous: torch.Tensor, label: torch.Tensor, start: torch.Tensor,
                frames: torch.Tensor | None = None) -> torch.Tensor:
        """GRU outputs `(batch, time, hidden)` for windows whose previous samples' levels are `previous
        (batch, time, lags, parts)` (the one before first), of sounds `label (batch,)`, starting `start
        (batch,)` samples after the onset; `frames` is `frames_of` the whole sounds for a mel- or envelope-conditioned model."""
        t = start[:, None] + torch.arange(previous.shape[1], device=previous.device)
        return self.rnn.rnn(self.inputs(previous, label, t, frames))[0]

    def inputs(self, previous: torch.Tensor, label: torch.Tensor, t: torch.Tensor,
               frames: torch.Tensor | None) -> torch.Tensor:
        """The GRU's input `(batch, time, embed)` at samples `t (batch, time)` after the onset."""
        x = self.label(label)[:, None] + self.position(position_features(t, self.config.sr))
        for i, embedding in enumerate(self.previous):
            x = x + embedding(previous[..., i // self.head.parts, i % self.head.parts])
        if frames is not None:
            index = (t // self.hop).clamp(max=frames.shape[1] - 1)
            x = x + torch.gather(frames, 1, index[..., None].expand(-1, -1, frames.shape[2]))
        return x

    def prepare(self, labels: list[str], seconds: float | None, like: torch.Tensor | None, seed: int) -> tuple:
        """Checked label indices, sample count and conditioning frames for a generation request: those of
        `like` (cut or extended with silence to the sound's length), else for an envelope model kept
        envelopes of the labels."""
        if self.config.mel is not None and like is None:
            raise OptionError("like", "this model is a vocoder (conditioned on log-mel frames): give {like} FILE to "
                              "resynthesise.")
        if not (self.config.mel or self.config.envelope) and like is not None:
            raise OptionError("like", "this model is not conditioned on log-mel frames or an envelope, so it takes no {like}.")
        label = torch.tensor([self.label_index(name) for name in labels])
        steps = round((seconds if seconds is not None else like.shape[-1] / self.config.sr)
                      * self.config.sr)
        if steps < 1:
            raise OptionError("seconds", "{seconds} must be more than 0.")
        if like is not None:
            like = torch.nn.functional.pad(like[:steps], (0, max(0, steps - like.shape[-1])))
            return label, steps, self.frames_of(like.expand(len(labels), -1))
        if self.config.envelope:
            return label, steps, self.envelope_frames(*self.drawn(label, frame_count(steps, self.hop), seed))
        return label, steps, None

    @torch.inference_mode()
    def generate(self, labels: list[str], seconds: float | None = 1.0, temperature: float = 1.0, seed: int = 0,
                 like: torch.Tensor | None = None, tail_temperature: float | None = None,
                 raw: bool = False) -> np.ndarray:
        """One sound per entry of `labels`, all at once through the fused kernel, `(n, samples)` float32, each
        through its label's equaliser unless `raw` (or the model has none). A mel-conditioned model
        resynthesises `like (samples,)` (of `seconds`, default its length)."""
        for name, value in (("temperature", temperature), ("tail_temperature", tail_temperature)):
            check(value is None or value > 0, name, f"{{{name}}} must be above 0 (got {value}).")
        self.eval()
        label, steps, frames = self.prepare(labels, seconds, like, seed)
        uniform = np.random.default_rng(seed).random((steps, len(labels), self.head.parts), dtype=np.float32)
        curve = temperature_curve(steps, self.config.sr, temperature, tail_temperature)
        waves = self.head.decode(torch.from_numpy(self.levels(label, steps, frames, curve, uniform))).T
        return (waves if raw else self.equalise(waves, label)).numpy()

    def equalise(self, waves: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Waveforms `waves (batch, samples)` of `label (batch,)` through their label's equaliser (as they are
        for a model without one), kept within [-1, 1]."""
        return equalised(waves, self.equaliser[label]).clamp(-1, 1) if self.config.equaliser else waves

    def levels(self, label: torch.Tensor, steps: int, frames: torch.Tensor | None, temperature: np.ndarray,
               uniform: np.ndarray) -> np.ndarray:
        """The fused kernel's levels `(time, batch, parts)` for `uniform (time, batch, parts)` draws, each
        sample at its `temperature (time,)`."""
        from gruve.nn.fused import fused_gru, sample_scan

        ((w_ih, b_ih, w_hh, b_hh),) = fused_gru(self.rnn.rnn).layers

        def gates(x: torch.Tensor) -> np.ndarray:  # embeddings to input gates
            return np.ascontiguousarray(x.detach().float().numpy() @ w_ih.T, dtype=np.float32)

        batch = len(label)
        position = self.position(position_features(torch.arange(steps), self.config.sr))
        frame_gates = gates(frames) if frames is not None else np.zeros((batch, 1, 3 * self.config.hidden_size), np.float32)
        hop = self.hop if frames is not None else steps + 1
        head = self.head
        stack = lambda layers, name: np.ascontiguousarray(  # noqa: E731
            torch.stack([getattr(layer, name) for layer in layers]).detach().numpy())
        coarse_now = (head.coarse_now.weight.detach().numpy() if head.coarse_now is not None
                      else np.zeros((LEVELS, self.config.head), np.float32))
        levels = np.empty(uniform.shape, np.int64)
        first = np.tile(head.silence.numpy(), (batch, self.config.lags, 1))
        sample_scan(np.stack([gates(e.weight) for e in self.previous]), gates(self.label(label)) + b_ih,
                    gates(position), frame_gates, hop, w_hh, b_hh, stack(head.hidden, "weight"),
                    stack(head.hidden, "bias"), np.ascontiguousarray(coarse_now), stack(head.out, "weight"),
                    stack(head.out, "bias"), temperature, uniform, first,
                    np.zeros((batch, self.config.hidden_size), np.float32), levels)
        return levels

    @torch.inference_mode()
    def levels_torch(self, label: torch.Tensor, steps: int, frames: torch.Tensor | None, temperature: np.ndarray,
                     uniform: np.ndarray) -> np.ndarray:
        """What `levels` computes, as a plain torch loop of one `nn.GRU` call and the head per sample: the
        reference the kernel is tested against, and the naive baseline the benchmark times."""
        head, batch = self.head, len(label)
        previous = head.silence.expand(batch, 1, self.config.lags, head.parts)
        state, out = None, torch.empty(uniform.shape, dtype=torch.long)
        draws = torch.from_numpy(uniform)
        for t in range(steps):
            h, state = self.rnn.rnn(self.inputs(previous, label, torch.full((batch, 1), t), frames), state)
            coarse = None
            for part in range(head.parts):
                probabilities = torch.softmax(head.logits(h[:, 0], part, coarse) / float(temperature[t]), dim=-1)
                cdf = probabilities.cumsum(-1)
                chosen = torch.searchsorted(cdf, (draws[t, :, part] * cdf[:, -1])[:, None], right=True)[:, 0]
                out[t, :, part] = coarse = chosen.clamp(max=LEVELS - 1)
            previous = torch.cat([out[t][:, None, None], previous[:, :, :-1]], dim=2)
        return out.numpy()
