"""The feature cache: log-mel of each file on disk, keyed by the file's bytes and the feature parameters.

A second epoch, and a second run with the same features, read `.npy` files instead
of decoding, resampling and transforming audio again. Broken files are collected
with their reason, so one bad file in thousands is reported, not a crash; a cached
file that is not what the cache writes (a crash, a full disk) is recomputed, and the
first of a run is logged as a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from gruve import audio, files
from gruve.data.downloads import cache_root
from gruve.data.items import Item
from gruve.features import FeatureConfig, LogMel
from gruve.progress import track

log = logging.getLogger(__name__)


class FeatureCache:
    """Log-mel features of audio files for one `FeatureConfig`, kept in `features/<key>/` of the cache."""

    def __init__(self, config: FeatureConfig, cache_dir: Path | None = None):
        key = hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
        self.dir = cache_root(cache_dir) / "features" / key
        self.config = config
        self.logmel = LogMel(config)
        self._told = False  # whether a corrupt file was reported: once per cache is enough to act on

    def get(self, path: Path) -> np.ndarray:
        """`(n_mels, frames)` float32 log-mel of one file; raises `AudioError` for a file that is not usable audio."""
        try:
            digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()
        except OSError:  # a folder, a missing file, no permission, a symbolic link loop
            audio.load(path, self.config.sr)  # raises the right AudioError
            raise
        stored = self.dir / digest[:2] / f"{digest}.npy"
        if stored.exists():
            features = self._read(stored)
            if features is not None:
                return features
        y = audio.load(path, self.config.sr)
        with torch.inference_mode():
            features = self.logmel(torch.from_numpy(y)[None])[0].numpy()
        with files.atomic_path(stored) as tmp:
            np.save(tmp, features)
        return features

    def _read(self, stored: Path) -> np.ndarray | None:
        """The features in `stored`, or None (reported once) when it is not a `.npy` of this cache's float32
        `(n_mels, frames)` finite log-mel."""
        try:
            with open(stored, "rb") as f:
                features = np.lib.format.read_array(f, allow_pickle=False)  # a .npy and nothing else: no pickle
        except (OSError, ValueError, EOFError) as error:
            problem = str(error) or type(error).__name__
        else:
            if features.dtype != np.float32 or features.ndim != 2 or features.shape[0] != self.config.n_mels:
                problem = f"{features.dtype} {features.shape}, not float32 ({self.config.n_mels}, frames)"
            elif not np.isfinite(features).all():
                problem = "it holds NaN or infinite values"
            else:
                return features
        if not self._told:
            log.warning(f"corrupt file in the feature cache: {stored} ({problem}); recomputed it, as any other "
                        "corrupt one will be")
            self._told = True
        return None

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
