"""Pictures people would rather look at than read: confusion matrices, spectrograms, training curves,
piano rolls, waveforms and spectra of generated sounds."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gruve.files import atomic_path  # noqa: E402


def _save(fig, path: Path, dpi: int) -> None:
    """Write the figure atomically and free it: a picture is never half-written."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)


def confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts written in each cell."""
    counts = np.asarray(matrix)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 40:
        for (i, j), count in np.ndenumerate(counts):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                        color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=120)
    return path


def training_curves(metrics_csv: Path, path: Path) -> Path:
    """Loss and accuracy per epoch from Lightning's CSV log."""
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("train_loss", loss_ax), ("val_loss", loss_ax), ("val_acc", acc_ax)):
        points = [(float(r["epoch"]), float(r[key])) for r in rows if r.get(key)]
        if points:
            ax.plot(*zip(*points), label=key, marker="." if key.startswith("val") else None)
    for ax, name in ((loss_ax, "loss"), (acc_ax, "validation accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(name)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    _save(fig, path, dpi=110)
    return path


def piano_rolls(rolls: list[np.ndarray], path: Path, titles: list[str], lowest: int = 21,
                primer_steps: int = 0) -> Path:
    """One panel per piece: time steps across, piano keys up; a primer is shaded apart from what followed."""
    fig, axes = plt.subplots(len(rolls), 1, figsize=(10, 2.2 * len(rolls) + 0.4), squeeze=False)
    for ax, roll, title in zip(axes[:, 0], rolls, titles):
        keys = np.flatnonzero(roll.any(0)) if roll.any() else np.array([39])
        low, high = max(int(keys.min()) - 2, 0), min(int(keys.max()) + 3, roll.shape[1])
        ax.imshow(roll[:, low:high].T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                  extent=(0, max(roll.shape[0], 1), lowest + low - 0.5, lowest + high - 0.5))
        if primer_steps:
            ax.axvspan(0, primer_steps, color="tab:blue", alpha=0.12, label="primer")
            ax.legend(loc="upper right", fontsize=7)
        ax.set_ylabel("MIDI pitch")
        ax.set_title(title, fontsize=9)
    axes[-1, 0].set_xlabel("time step")
    fig.tight_layout()
    _save(fig, path, dpi=110)
    return path


def sounds(waves: list[np.ndarray], sample_rate: int, titles: list[str], path: Path) -> Path:
    """One row per sound: its waveform, and its spectrogram (dB) beside it."""
    fig, axes = plt.subplots(len(waves), 2, figsize=(10, 1.9 * len(waves) + 0.4), squeeze=False)
    for (wave_ax, spec_ax), y, title in zip(axes, waves, titles):
        wave_ax.plot(np.arange(len(y)) / sample_rate, y, linewidth=0.4)
        wave_ax.set_ylim(-1, 1)
        wave_ax.set_title(title, fontsize=9)
        with np.errstate(divide="ignore"):  # a sound that has decayed to digital silence: -inf dB, drawn as vmin
            spec_ax.specgram(y, NFFT=512, Fs=sample_rate, noverlap=384, cmap="magma", vmin=-130)
        spec_ax.set_ylabel("Hz")
    axes[-1, 0].set_xlabel("seconds")
    axes[-1, 1].set_xlabel("seconds")
    fig.tight_layout()
    _save(fig, path, dpi=100)
    return path


def spectra(curves: dict[str, dict[str, np.ndarray]], frequencies: np.ndarray, path: Path, title: str = "") -> Path:
    """One panel per class: mean log power spectra (dB) of each source (real, generated, noise) over frequency."""
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3.2), squeeze=False, sharey=True)
    for ax, (label, sources) in zip(axes[0], curves.items()):
        for name, db in sources.items():
            ax.plot(frequencies, db, label=name, linewidth=1)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("Hz")
    axes[0, 0].set_ylabel("mean power (dB)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=110)
    return path
