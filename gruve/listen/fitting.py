"""What every listen training shares, a classifier's or a transcriber's: the options (`ListenOptions`), the
optimiser and its schedule, the random split kept across a resume, the noise bank, the skipped files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch

from gruve import audio, files
from gruve.data.cache import FeatureCache
from gruve.data.sources import merges, write_split
from gruve.errors import OptionError, check, check_at_least, check_positive
from gruve.listen.augment import AugmentConfig
from gruve.listen.model import ANSWERS, ARCHITECTURES, POOLINGS, AudioClassifier
from gruve.listen.transcriber import UNITS
from gruve.training import TrainOptions


@dataclass(kw_only=True)
class ListenOptions:
    """What to train: data, target and model; everything but `data` has a default that gives a good model.
    How long and where is `TrainOptions`' business."""

    data: str  # a class-per-folder tree, a CSV manifest, or a known corpus NAME[:PATH]
    target: str | None = None  # which label to learn (default: the corpus's first)
    architecture: str = "crnn"  # one of ARCHITECTURES
    hidden_size: int = 128  # recurrent units per layer (and direction)
    num_layers: int = 2
    pooling: str | None = None  # how frames become one vector, attention or mean (default: the corpus's, else attention)
    dropout: float = 0.2
    window: float | None = None  # seconds the model sees at once (default: the corpus's, else from the data)
    answer: str | None = None  # "segments" or "clip" (see ClassifierConfig.answer; default: the corpus's, else segments)
    features: dict = field(default_factory=dict)  # FeatureConfig fields over the corpus's defaults
    batch_size: int = 32
    lr: float = 3e-3  # peak learning rate, after a linear warm-up and before a cosine decay
    weight_decay: float = 1e-2
    augment: bool = True  # SpecAugment, mixup, gain and time shift while training
    mixup: float = 0.2  # Beta(alpha, alpha) of mixup (0 turns it off)
    noise: str | None = None  # add background noise: a folder of recordings, "white" or "pink"
    noise_folder: str | None = None  # the class folder that is background noise, not a class (default: _background_noise_)
    silence_class: bool = False  # add a _silence_ class cut from that noise folder, as Speech Commands does
    group_by: str | None = None  # keep each group in one part: a manifest column, a regex with a named group, or
    # "none" (default: a speaker column, or the Speech Commands or FSDD naming)
    merge: list[str] = field(default_factory=list)  # "a,b=c": classes a and b become class c
    exclude: list[str] = field(default_factory=list)  # classes (folders) to leave out
    test_fold: int | None = None  # for fold corpora: the fold held out as test (default: the first)
    unit: str | None = None  # a transcription model's tokens (data with a text column): characters or words
    # (default: the corpus's, else characters)
    strict: bool = False  # stop at the first unreadable file instead of skipping it
    cache_dir: Path | None = None  # cache for downloads and features

    def __post_init__(self):
        self.data = str(self.data)
        check(self.unit is None or self.unit in UNITS, "unit", f"{{unit}} {self.unit} is not one of {', '.join(UNITS)}.")
        self.cache_dir = None if self.cache_dir is None else Path(self.cache_dir)
        check(self.architecture in ARCHITECTURES, "architecture",
              f"{{architecture}} {self.architecture} is not one of {', '.join(ARCHITECTURES)}.")
        check(self.pooling is None or self.pooling in POOLINGS, "pooling",
              f"{{pooling}} {self.pooling} is not one of {', '.join(sorted(POOLINGS))}.")
        for name in ("batch_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            check_at_least(value, name, 1)
        check_positive(self.lr, "lr")
        check(self.weight_decay >= 0, "weight_decay", f"{{weight_decay}} must be 0 or more (got {self.weight_decay}).")
        check(0 <= self.dropout < 1, "dropout", f"{{dropout}} must be at least 0 and below 1 (got {self.dropout}).")
        check(self.mixup >= 0, "mixup", f"{{mixup}} must be 0 (off) or more (got {self.mixup}).")
        check(self.answer is None or self.answer in ANSWERS, "answer",
              f"{{answer}} {self.answer} is not one of {', '.join(ANSWERS)}.")
        check(self.window is None or self.window > 0, "window", f"{{window}} must be more than 0 seconds (got {self.window}).")
        check(self.noise in (None, "white", "pink") or Path(self.noise).is_dir(), "noise",
              f"{{noise}} {self.noise} is not 'white', 'pink' or a folder.")
        self.merge, self.exclude = list(self.merge), list(self.exclude)
        merges(self.merge)

    def augment_config(self) -> AugmentConfig:
        """The augmentation these options ask for: the defaults with `mixup`, noise half the time when
        there is `noise`; nothing at all without `augment`."""
        if not self.augment:
            return AugmentConfig.off()
        return AugmentConfig(mixup=self.mixup, noise=0.5 if self.noise else 0.0)


class WarmupCosine(L.LightningModule):
    """The optimiser every listen model learns with: AdamW at `options.lr` with a linear warm-up and a cosine
    decay, stepped every batch."""

    def configure_optimizers(self):
        """AdamW at `lr` with the warm-up and cosine schedule of `_warmup_cosine`, stepped every batch."""
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.options.lr, weight_decay=self.options.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self._warmup_cosine)
        return [optimizer], [{"scheduler": schedule, "interval": "step"}]

    def _warmup_cosine(self, step: int) -> float:
        """Linear warm-up over the first 10% of steps, then cosine decay to zero.

        Read from the trainer at each step (not stored in the scheduler's state), so a run resumed
        with more epochs stretches its schedule instead of failing.
        """
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = max(1, total // 10)
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def keep_split(parts: dict, target: str, run: TrainOptions) -> None:
    """Write the random split to `run.out/split.csv`; a resumed run keeps the one it started with, and data
    that now splits differently (files added or removed) is refused: the model would go on with test clips
    among its training clips."""
    path = run.out / "split.csv"
    if not (run.resume and path.is_file()):
        write_split(parts, target, path)
        return
    started = {(row["path"], row["split"]) for row in files.read_csv(path)}
    if started != {(str(item.path), name) for name, items in parts.items() for item in items}:
        raise OptionError("resume", f"{{resume}}: the data now splits differently from {path} (files were added or "
                                    "removed since the run started); resume with the same files, or start afresh "
                                    "with {overwrite}.")


def noise_bank(spec: str | None, cache: FeatureCache, model: AudioClassifier) -> torch.Tensor:
    """Log-mel of background noise: a folder of recordings, or 30 s of generated white or pink noise."""
    if spec in (None, "white", "pink"):
        rng = np.random.default_rng(0)
        spectrum = np.fft.rfft(rng.standard_normal(30 * cache.config.sr))
        if spec == "pink":
            spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        y = torch.from_numpy(np.fft.irfft(spectrum).astype(np.float32))
        with torch.inference_mode():
            return model.features(y[None])[0].clone()
    folder = Path(spec)
    files = sorted(p for p in folder.rglob("*") if audio.is_audio_file(p)) if folder.is_dir() else []
    if not files:
        raise OptionError("noise", f"{{noise}} {spec} is not 'white', 'pink' or a folder with audio files.")
    return torch.from_numpy(np.concatenate([cache.get(p) for p in files], axis=1))


def report_skipped(skipped: list[tuple[Path, str]], out: Path, say) -> None:
    """List unreadable files in `out/skipped.txt` and say how many there were."""
    if not skipped:
        return
    with files.atomic_open(out / "skipped.txt") as f:
        f.write("".join(f"{path}\t{reason}\n" for path, reason in skipped))
    say(f"skipped {len(skipped)} unreadable file(s), listed in {out / 'skipped.txt'}; the first: {skipped[0][1]}")
