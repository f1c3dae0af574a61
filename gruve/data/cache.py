"""The feature cache: log-mel of each file on disk, keyed by the file's bytes and the feature parameters.

A second epoch, and a second run with the same features, read `.npy` files instead
of decoding, resampling and transforming audio again. Broken files are collected
with their reason, so one bad file in thousands is reported, not a crash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from gruve import audio, files
from gruve.data.downloads import cache_root
from gruve.data.items import Item
from gruve.features import FeatureConfig, LogMel
from gruve.progress import track


class FeatureCache:
    """Log-mel features of audio files for one `FeatureConfig`, kept in `features/<key>/` of the cache."""

    def __init__(self, config: FeatureConfig, cache_dir: Path | None = None):
        key = hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
        self.dir = cache_root(cache_dir) / "features" / key
        self.config = config
        self.logmel = LogMel(config)

    def get(self, path: Path) -> np.ndarray:
        """`(n_mels, frames)` float32 log-mel of one file; raises `AudioError` for a file that is not usable audio."""
        try:
            digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()
        except (IsADirectoryError, FileNotFoundError, PermissionError):
            audio.load(path, self.config.sr)  # raises the right AudioError
            raise
        stored = self.dir / digest[:2] / f"{digest}.npy"
        if stored.exists():
            return np.load(stored)
        y = audio.load(path, self.config.sr)
        with torch.inference_mode():
            features = self.logmel(torch.from_numpy(y)[None])[0].numpy()
        with files.atomic_path(stored) as tmp:
            np.save(tmp, features)
        return features

    def load(self, items: list[Item], strict: bool = False, description: str = "features"
             ) -> tuple[list[tuple[Item, np.ndarray]], list[tuple[Path, str]]]:
        """Features of every item that is usable audio, and `(path, reason)` for every one that is not.

        With `strict`, the first broken file raises its `AudioError` instead.
        """
        loaded, failures = [], []
        for item in track(items, f"reading {description}"):
            try:
                loaded.append((item, self.get(item.path)))
            except audio.AudioError as error:
                if strict:
                    raise
                failures.append((item.path, str(error)))
        return loaded, failures
