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
    from matplotlib.ticker import MaxNLocator

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("train_loss", loss_ax), ("val_loss", loss_ax), ("val_acc", acc_ax)):
        # Epochs counted from 1, as the training's log counts them (Lightning's CSV counts from 0); a marker on
        # every point, so a one-epoch run shows its one point.
        points = [(float(r["epoch"]) + 1, float(r[key])) for r in rows if r.get(key)]
        if points:
            ax.plot(*zip(*points), label=key, marker="o" if len(points) < 30 else None, markersize=3)
    for ax, name in ((loss_ax, "loss"), (acc_ax, "validation accuracy")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(name)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    _save(fig, path, dpi=110)
    return path


def piano_rolls(rolls: list[np.ndarray], path: Path, titles: list[str], lowest: int = 21,
                primer_steps: int = 0, steps_per_quarter: int = 4) -> Path:
    """One panel per piece on one time axis, in quarter notes: piano keys up; a primer is shaded apart from
    what followed."""
    fig, axes = plt.subplots(len(rolls), 1, figsize=(10, 2.2 * len(rolls) + 0.4), squeeze=False, sharex=True)
    for ax, roll, title in zip(axes[:, 0], rolls, titles):
        keys = np.flatnonzero(roll.any(0)) if roll.any() else np.array([39])
        low, high = max(int(keys.min()) - 2, 0), min(int(keys.max()) + 3, roll.shape[1])
        ax.imshow(roll[:, low:high].T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                  extent=(0, max(roll.shape[0], 1) / steps_per_quarter, lowest + low - 0.5, lowest + high - 0.5))
        if primer_steps:
            ax.axvspan(0, primer_steps / steps_per_quarter, color="tab:blue", alpha=0.12, label="primer")
            ax.legend(loc="upper right", fontsize=7)
        ax.set_ylabel("MIDI pitch")
        ax.set_title(title, fontsize=9)
    axes[-1, 0].set_xlabel("time (quarter notes)")
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


def _time_panels(heights: dict[str, float], colour_bars: tuple[str, ...]):
    """A figure 11 inches wide of one panel per entry of `heights` (name: inches), top to bottom on one time
    axis, and the axes of the colour bars of the panels named in `colour_bars`, in a narrow column of their
    own so that every panel's time axis has the same width: the figure and both as dicts by name. Fixed
    margins rather than a layout engine: constrained layout took another half a second to draw these."""
    rows = list(heights)
    height = sum(heights.values()) + 0.55 * len(rows) + 1.2
    fig = plt.figure(figsize=(11, height))
    grid = fig.add_gridspec(len(rows), 2, width_ratios=(60, 1), height_ratios=list(heights.values()),
                            left=0.085, right=0.91, top=1 - 0.85 / height, bottom=0.5 / height, wspace=0.02,
                            hspace=0.55 * len(rows) / sum(heights.values()))
    axes = {row: fig.add_subplot(grid[i, 0]) for i, row in enumerate(rows)}
    bars = {row: fig.add_subplot(grid[i, 1]) for i, row in enumerate(rows) if row in colour_bars}
    return fig, axes, bars


def explanation(e, path: Path) -> Path:
    """Why a listen model labelled a file (`e`, a `gruve.listen.Explanation`), panels on one time axis in
    seconds: the log-mel input, each frame's evidence for the classes shown with the deciding frames shaded,
    the last recurrent layer's gate (its mean over units, and units by frames), and the occlusion map. A long
    recording's segments are marked in every panel and named over the input."""
    gated = e.gate is not None
    heights = {"input": 2.2, "evidence": 2.0, "gate": 1.3 if gated else 0.45, "units": 1.9, "occlusion": 2.2}
    fig, axes, bars = _time_panels({row: inches for row, inches in heights.items() if gated or row != "units"},
                                    ("input", "units", "occlusion"))
    rows = list(axes)
    fig.suptitle(f"{Path(e.path).name}: {e.verdict}, {e.architecture} model, {e.pooling} pooling", fontsize=11)

    hop = e.mel_times[1] - e.mel_times[0]
    extent = (e.mel_times[0] - hop / 2, e.mel_times[-1] + hop / 2, -0.5, len(e.frequencies) - 0.5)
    image = axes["input"].imshow(e.spectrogram, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                                 extent=extent, vmin=max(e.spectrogram.min(), e.spectrogram.max() - 80))
    fig.colorbar(image, cax=bars["input"], label="dB")
    axes["input"].set_title("log-mel input the model saw (the top 80 dB; gold bar: the deciding frames)", loc="left",
                            fontsize=9)
    for a, b in e.decisive_spans():
        axes["input"].axvspan(a, b, ymin=0.96, color="gold", linewidth=0)

    ax = axes["evidence"]
    for n, c in enumerate(e.classes):
        ax.step(e.frame_times, e.evidence[:, c], where="mid", color=plt.cm.tab10(n % 10), label=e.labels[c])
    for a, b in e.decisive_spans():
        ax.axvspan(a, b, color="gold", alpha=0.35, linewidth=0)
    ax.axvspan(0, 0, color="gold", alpha=0.35, label="deciding frames")
    ax.axhline(0, color="grey", linewidth=0.5)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.45 * (high - low))  # headroom for the legend, above the lines
    ax.legend(loc="upper left", ncol=min(len(e.classes) + 1, 8), fontsize=8, framealpha=0.8)
    ax.set_ylabel("share of logit")
    weight = "attention weight" if e.pooling == "attention" else "1 / frames (mean pooling)"
    ax.set_title(f"evidence per recurrent frame: {weight} x the frame's logit (a window's frames add up to its "
                 "logits)", loc="left", fontsize=9)

    edges = np.concatenate([[e.frame_times[0] - e.frame_seconds / 2], (e.frame_times[1:] + e.frame_times[:-1]) / 2,
                            [e.frame_times[-1] + e.frame_seconds / 2]])
    _gate_panels(fig, axes["gate"], axes.get("units"), bars.get("units"), e.frame_times, e.gate, edges, e.gate,
                 e.cell, e.layer, e.gate_name, e.bidirectional)

    limit = max(float(np.abs(e.occlusion).max()), 1e-6)
    image = axes["occlusion"].imshow(e.occlusion, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                                     extent=extent, interpolation="nearest")
    fig.colorbar(image, cax=bars["occlusion"], label="fall in probability")
    whose = f"p({e.label})" if len(e.prediction.timeline) < 2 else "the probability of its window's label"
    axes["occlusion"].set_title(f"occlusion: how far masking each patch (set to the training mean) lowers {whose}",
                                loc="left", fontsize=9)

    for row in ("input", "occlusion"):
        ticks = [f for f in (250, 500, 1000, 2000, 4000, 8000, 16000) if e.frequencies[0] <= f <= e.frequencies[-1]]
        axes[row].set_yticks(np.interp(ticks, e.frequencies, np.arange(len(e.frequencies))),
                             [f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
        axes[row].set_ylabel("Hz (mel bands)")
    segments = e.prediction.segments if len(e.prediction.segments) > 1 else []
    for start, end, name, _ in segments:
        for ax in axes.values():
            ax.axvline(end, color="grey", linestyle="--", linewidth=0.8)
        axes["input"].text((start + end) / 2, 0.9, name, transform=axes["input"].get_xaxis_transform(), ha="center",
                           va="top", fontsize=8, bbox={"facecolor": "white", "alpha": 0.75, "linewidth": 0})
    for row, ax in axes.items():
        ax.set_xlim(0, e.duration)
        ax.tick_params(labelbottom=row == rows[-1])
    axes[rows[-1]].set_xlabel("time (s)")
    _save(fig, path, dpi=100)
    return path


def _gate_panels(fig, ax, units_ax, bar, times: np.ndarray, gate: np.ndarray | None, edges: np.ndarray,
                 columns: np.ndarray | None, cell: str, layer: int, name: str | None, bidirectional: bool = False,
                 columns_say: str = "") -> None:
    """A recurrent layer's gate (see `gruve.nn.GATES`) over time, as listen's and compose's explanations
    show it: on `ax` its mean over units at each of `times`; on `units_ax` a heat map of `columns (columns,
    units)` between `edges`, units sorted by their mean (a bidirectional layer's forward units below, its
    backward ones above), with its colour bar on `bar`. A plain RNN (`gate` None) gets a sentence saying it
    has no gate."""
    if gate is None:
        ax.text(0.5, 0.5, f"layer {layer} is a plain RNN: it has no gate, every step rewrites its whole state",
                transform=ax.transAxes, ha="center", va="center", fontsize=9)
        ax.set_yticks([])
        return
    symbol = "z" if cell == "GRU" else "f"
    count = 2 if bidirectional else 1
    for part, direction in zip(np.split(gate, count, axis=1),
                               ("forward", "backward") if bidirectional else ("mean over units",)):
        ax.plot(times, part.mean(1), drawstyle="steps-mid", label=direction)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"mean {symbol}")
    ax.legend(loc="lower right", fontsize=8, framealpha=0.8)
    ax.set_title(f"layer {layer} {name}", loc="left", fontsize=9)
    parts = np.split(columns, count, axis=1)
    units = np.concatenate([part[:, np.argsort(np.nanmean(part, 0))] for part in parts], axis=1)
    mesh = units_ax.pcolormesh(edges, np.arange(units.shape[1] + 1) - 0.5, np.ma.masked_invalid(units.T), vmin=0,
                               vmax=1, cmap="viridis")
    fig.colorbar(mesh, cax=bar, label=symbol)
    units_ax.set_ylabel("unit")
    units_ax.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
    direction = " (forward units below the line, backward above)" if bidirectional else ""
    units_ax.set_title(f"{symbol} of each unit{columns_say}, units sorted by their mean{direction}", loc="left",
                       fontsize=9)
    if bidirectional:
        units_ax.axhline(parts[0].shape[1] - 0.5, color="white", linewidth=1)


def surprisal(e, path: Path) -> Path:
    """Where a compose model was surprised by a piece (`e`, a `gruve.compose.explanation.Explanation`), panels
    on one time axis: the piece's piano roll with its most surprising moments marked, each token's (step's)
    surprisal in nats, and the last recurrent layer's gate as it read the piece (its mean over units, and
    units by time)."""
    gated, lm = e.gate is not None, e.kind == "language model"
    heights = {"roll": 2.4, "surprisal": 2.2, "gate": 1.3 if gated else 0.45, "units": 1.9}
    fig, axes, bars = _time_panels({row: inches for row, inches in heights.items() if gated or row != "units"},
                                    ("units",))
    rows = list(axes)
    name = Path(e.path).name if Path(e.path).is_file() else e.path  # a file by its name, a set's piece whole
    fig.suptitle(f"{name} under {e.model} ({e.kind}): mean surprisal {e.nll:.3f} nats per {e.unit}",
                 fontsize=11)
    # Row r of the roll holds the notes whose onsets round to r steps (symusic's resampling), so it is centred
    # on r steps, where a token at that onset stands and where a piano-roll model's step r stands.
    step = e.roll_step
    start, end = -step / 2, max(len(e.roll), round(float(e.times[-1]) / step) + 1) * step - step / 2

    ax = axes["roll"]
    keys = np.flatnonzero(e.roll.any(0)) if e.roll.any() else np.array([39])
    low, high = max(int(keys.min()) - 2, 0), min(int(keys.max()) + 3, e.roll.shape[1])
    lowest = 21  # the roll's first column is MIDI note 21 (A0), as gruve.compose.pianoroll.rolls has it
    ax.imshow(e.roll[:, low:high].T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
              extent=(start, start + len(e.roll) * step, lowest + low - 0.5, lowest + high - 0.5))
    surprises = e.surprises()
    for n, (_, time, _) in enumerate(surprises):
        ax.axvline(time, color="tab:red", alpha=0.6, linewidth=1.2, label="the most surprising" if n == 0 else None)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    ax.set_ylabel("drum (MIDI note)" if e.drums else "MIDI pitch")
    grid_name = f"the tokenizer's grid, {round(1 / step)} steps a quarter note" if lm else "the model's steps"
    ax.set_title(f"the piece as a piano roll (on {grid_name}; red: its {len(surprises)} most surprising {e.unit}s)",
                 loc="left", fontsize=9)

    ax = axes["surprisal"]
    if lm:
        kinds = np.array([item.split("_")[0] for item in e.items])
        shown = [kind for kind, _ in sorted(((k, (kinds == k).sum()) for k in set(kinds)), key=lambda x: -x[1])][:7]
        for n, kind in enumerate(shown):
            chosen = kinds == kind
            ax.scatter(e.times[chosen], e.surprisal[chosen], s=9, color=plt.cm.tab10(n % 10), label=kind)
        rest = ~np.isin(kinds, shown)
        if rest.any():
            ax.scatter(e.times[rest], e.surprisal[rest], s=9, color="grey", label="other")
        ax.legend(loc="upper left", ncol=8, fontsize=8, framealpha=0.8, markerscale=1.5)
        ax.set_title("surprisal of each token given the ones before it, by the kind of token (several tokens "
                     "share an instant)", loc="left", fontsize=9)
    else:
        ax.step(e.times, e.surprisal, where="mid", color="tab:red")
        ax.set_title("surprisal of each step (all 88 notes) given the steps before it", loc="left", fontsize=9)
    ax.axhline(e.nll, color="grey", linestyle="--", linewidth=0.8)
    low, high = 0, max(float(e.surprisal.max()), 1e-3)
    ax.set_ylim(low, high * (1.35 if lm else 1.05))  # headroom for the legend
    ax.set_ylabel("nats")

    if gated:
        if lm:  # tokens are not evenly spaced: the heat map shows each grid step's mean over its tokens
            cells = np.round(e.times / step).astype(int)
            columns = np.full((round((end - start) / step), e.gate.shape[1]), np.nan)
            for cell in np.unique(cells):
                columns[cell] = e.gate[cells == cell].mean(0)
            say = " (the mean over the tokens at each step of the grid)"
        else:
            columns, say = e.gate, ""
        edges = start + np.arange(len(columns) + 1) * step
        _gate_panels(fig, axes["gate"], axes["units"], bars["units"], e.times, e.gate, edges, columns, e.cell,
                     e.layer, e.gate_name + f", as it read the {e.unit} before", columns_say=say)
    else:
        _gate_panels(fig, axes["gate"], None, None, e.times, None, np.array([]), None, e.cell, e.layer, None)
    for row, ax in axes.items():
        ax.set_xlim(start, end)
        ax.tick_params(labelbottom=row == rows[-1])
    axes[rows[-1]].set_xlabel(e.time_unit + (" from the start" if lm else ""))
    _save(fig, path, dpi=100)
    return path


def ranking_curves(ks: list[int], hit_rates: dict[str, list[float]], mrrs: dict[str, list[float]], path: Path,
                   title: str = "") -> Path:
    """HitRate@K and MRR@K against K side by side, one line per recommender."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, curves, name in ((axes[0], hit_rates, "HitRate@K"), (axes[1], mrrs, "MRR@K")):
        for label, values in curves.items():
            ax.plot(ks, values, marker=".", label=label)
        ax.set_xlabel("K")
        ax.set_xticks(ks)
        ax.set_title(name)
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, dpi=110)
    return path
