"""Put the common claims about GRUs to the test, on real sound, with numbers anyone can rerun.

GRU, LSTM and plain (tanh) RNN listen models (gruve.listen.train, architectures gru, lstm and rnn, mean
pooling), on the Free Spoken Digit Dataset's official split (takes 0-4 test, 5-9 valid, the rest train):

1. parameters and speed, at equal hidden size: parameters, training seconds per epoch on one thread, and
   the time of one inference step (batch 1) through torch and, for the GRU, gruve's fused kernel;
2. quality at equal parameter count (the LSTM's and RNN's hidden sizes chosen so that their recurrent
   layers hold as many weights as the GRU's): test accuracy over several seeds, mean and spread;
3. long dependencies: each FSDD digit followed by T seconds of ESC-10 background, labelled by the digit, for
   growing T. Pooling is the mean over all frames, so the longer the background, the more of the answer
   has to come from frames long after the digit: those help only where the state still holds it;
4. the adding problem (Hochreiter and Schmidhuber 1997), the standard sanity check of memory: T steps of a
   random value and a marker, two marked, and the answer, read from the last state, is the sum of the two
   marked values; a cell that learns nothing scores the variance of that sum, 1/6.

Each claim gets a figure and a one-sentence verdict drawn from its numbers; claims.json holds them all.

Usage: PYTHONPATH=. .venv/bin/python bench/claims.py [--quick] [--datasets DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

CELLS = ("gru", "lstm", "rnn")
SR = 8000  # FSDD's
CHANCE = 0.1  # ten digits


@dataclass
class Settings:
    """How big the run is: `--quick` (under 5 minutes, in the test suite) or the full one."""

    hidden: int  # the GRU's units per layer, and every cell's at equal hidden size
    layers: int
    epochs: int
    seeds: int  # of the quality comparison
    speakers: int  # FSDD speakers used (of 6), every digit of each
    takes: int  # takes per speaker and digit (of 50): 0-4 test, 5-9 valid, the rest train
    delays: tuple[float, ...]  # seconds of background after the digit
    delay_takes: int  # takes per speaker and digit of the long-dependency task
    delay_seeds: int  # seeds of each long-dependency cell
    delay_epochs: int
    adding_lengths: tuple[int, ...]  # sequence lengths T of the adding problem
    adding_steps: int  # its training steps (batches of 64) per cell and length

    @classmethod
    def of(cls, quick: bool) -> Settings:
        if quick:
            return cls(hidden=32, layers=1, epochs=6, seeds=2, speakers=3, takes=20, delays=(0.5, 2.0),
                       delay_takes=20, delay_seeds=1, delay_epochs=6, adding_lengths=(10, 50), adding_steps=300)
        return cls(hidden=64, layers=1, epochs=10, seeds=3, speakers=6, takes=50, delays=(0.5, 1.0, 2.0, 4.0, 8.0),
                   delay_takes=30, delay_seeds=2, delay_epochs=10, adding_lengths=(25, 50, 100, 200),
                   adding_steps=2000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run, under 5 minutes")
    parser.add_argument("--datasets", type=Path, default=Path(os.environ.get("GRUVE_DATASETS", "../shared/datasets")),
                        help="the folder holding fsdd/ and esc10/ (default: $GRUVE_DATASETS)")
    parser.add_argument("--out", type=Path, default=Path("runs/claims"), help="where claims.json and the figures go")
    args = parser.parse_args()
    report = run(Settings.of(args.quick), args.datasets, args.out)
    for claim in report["claims"].values():
        print(f"\n{claim['title']}\n{claim['table']}\nverdict: {claim['verdict']}")
    print(f"\nwrote {args.out / 'claims.json'} and {', '.join(c['figure'] for c in report['claims'].values())}")


def run(settings: Settings, datasets: Path, out: Path) -> dict:
    """Every claim measured with `settings` on the sets in `datasets`; writes claims.json and a figure per claim
    into `out` and returns the report."""
    for name in ("fsdd", "esc10"):
        if not (datasets / name).is_dir():
            raise SystemExit(f"{datasets / name} is not a folder; give --datasets the folder holding fsdd/ and esc10/")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        work = Path(tmp)
        digits = _digit_subset(datasets / "fsdd", settings.speakers, settings.takes, work / "fsdd")
        # A throwaway first run, so that no cell's seconds per epoch pay for the first training's warm-up.
        _train(digits, "gru", settings.hidden, replace(settings, epochs=1), 0, work / "warm-up")
        equal_hidden = {cell: _train(digits, cell, settings.hidden, settings, 0, work, speed=True) for cell in CELLS}
        sizes = matched_sizes(settings, n_mels=equal_hidden["gru"]["input_size"])
        quality = {cell: [equal_hidden["gru"]] if cell == "gru" else [] for cell in CELLS}
        for cell in CELLS:
            for seed in range(len(quality[cell]), settings.seeds):
                quality[cell].append(_train(digits, cell, sizes[cell], settings, seed, work))
        delays = {cell: {} for cell in CELLS}
        short = _digit_subset(datasets / "fsdd", settings.speakers, settings.delay_takes, work / "fsdd-delays")
        for delay in settings.delays:
            folder = _delayed(datasets, short, delay, work / f"delay-{delay:g}")
            for cell in CELLS:
                delays[cell][delay] = [_train(folder, cell, settings.hidden, settings, seed, work,
                                              epochs=settings.delay_epochs, window=delay + 1.5)["accuracy"]
                                       for seed in range(settings.delay_seeds)]
    adding = {cell: {length: adding_mse(cell, settings.hidden, length, settings.adding_steps)
                     for length in settings.adding_lengths} for cell in CELLS}
    claims = {"speed": _speed_claim(equal_hidden, settings, out), "quality": _quality_claim(quality, sizes, out),
              "memory": _memory_claim(delays, settings, out), "adding": _adding_claim(adding, settings, out)}
    report = {"settings": asdict(settings), "torch": torch.__version__, "threads": 1,
              "seconds": round(time.perf_counter() - started, 1), "claims": claims}
    (out / "claims.json").write_text(json.dumps(report, indent=1))
    return report


def matched_sizes(settings: Settings, n_mels: int) -> dict[str, int]:
    """Each cell's hidden size whose recurrent layers hold about as many weights as the GRU's at
    `settings.hidden` (the GRU's own size for the GRU)."""
    from gruve.nn import RecurrentStack

    def weights(cell: str, hidden: int) -> int:
        return sum(p.numel() for p in RecurrentStack(cell, n_mels, hidden, settings.layers).parameters())

    target = weights("gru", settings.hidden)
    return {cell: min(range(1, 4 * settings.hidden), key=lambda h: abs(weights(cell, h) - target)) for cell in CELLS}


def _digit_subset(fsdd: Path, speakers: int, takes: int, folder: Path) -> Path:
    """The recordings of the first `speakers` speakers (in name order) and their first `takes` takes, linked
    into `folder` as FSDD names them, so that `fsdd:folder` keeps the official split."""
    recordings = fsdd / "recordings" if (fsdd / "recordings").is_dir() else fsdd
    files = sorted(recordings.glob("*_*_*.wav"))
    chosen = sorted({f.stem.split("_")[1] for f in files})[:speakers]
    folder.mkdir(parents=True)
    for f in files:
        _, speaker, take = f.stem.split("_")
        if speaker in chosen and int(take) < takes:
            (folder / f.name).symlink_to(f.resolve())
    return folder


def _delayed(datasets: Path, digits: Path, delay: float, folder: Path) -> Path:
    """Every recording in `digits` followed by `delay` seconds of ESC-10 background (clips drawn at random,
    joined, at the digit's loudness), under the recording's own name."""
    from gruve import audio

    backgrounds = sorted((datasets / "esc10").rglob("*.ogg"))
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    loaded: dict[Path, np.ndarray] = {}
    for path in sorted(digits.glob("*.wav")):
        y = audio.load(path, SR)
        need, noise = int(delay * SR), []
        while sum(len(n) for n in noise) < need:
            clip = backgrounds[int(rng.integers(len(backgrounds)))]
            if clip not in loaded:
                loaded[clip] = audio.load(clip, SR)
            noise.append(loaded[clip])
        noise = np.concatenate(noise)
        start = int(rng.integers(0, len(noise) - need + 1))
        noise = noise[start:start + need]
        gain = np.sqrt(np.mean(y ** 2) / max(float(np.mean(noise ** 2)), 1e-10))
        sf.write(folder / path.name, np.concatenate([y, gain * noise]).astype(np.float32), SR)
    return folder


def _train(data: Path, cell: str, hidden: int, settings: Settings, seed: int, work: Path, epochs: int | None = None,
           window: float | None = None, speed: bool = False) -> dict:
    """One listen model on `fsdd:data` on one thread; its test accuracy, parameters and seconds per epoch,
    and with `speed` the time of one inference step."""
    import gruve
    from gruve.listen import ListenOptions, train
    from gruve.training import TrainOptions

    out = work / "runs" / f"{data.name}-{cell}-{hidden}-{seed}"
    options = ListenOptions(data=f"fsdd:{data}", architecture=cell, hidden_size=hidden, num_layers=settings.layers,
                            pooling="mean", window=window, answer="clip", cache_dir=work / "cache")
    result = train(options, TrainOptions(out=out, max_epochs=epochs or settings.epochs, patience=0, seed=seed,
                                         threads=1, progress=False, accelerator="cpu"), say=lambda *_: None)
    model = gruve.load(result["model"])
    row = {"cell": cell, "hidden": hidden, "seed": seed, "accuracy": result["test_accuracy"],
           "parameters": sum(p.numel() for p in model.parameters()),
           "recurrent_parameters": sum(p.numel() for p in model.recurrent.parameters()),
           "seconds_per_epoch": result["train_seconds"] / result["epochs"],
           "input_size": model.recurrent.rnn.input_size}
    if speed:
        row.update(step_times(model.recurrent))
    return row


def step_times(stack, steps: int = 400) -> dict[str, float]:
    """Median microseconds of one step (batch 1) of the recurrent stack on one thread: through torch, and
    through `stack.step` (gruve's fused kernel for a GRU, torch for the others)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x = torch.randn(steps, 1, stack.rnn.input_size)
    times = {}
    try:
        with torch.inference_mode():
            for name, step in (("torch", lambda x_t, s: stack.rnn(x_t[:, None], s)[1]),
                               ("gruve", lambda x_t, s: stack.step(x_t, s)[1])):
                state, spent = None, []
                for x_t in x[:50]:  # warm-up: numba compiles the fused kernel on its first call
                    state = step(x_t, state)
                state = None
                for x_t in x:
                    start = time.perf_counter()
                    state = step(x_t, state)
                    spent.append(time.perf_counter() - start)
                times[f"step_us_{name}"] = 1e6 * statistics.median(spent)
    finally:
        torch.set_num_threads(threads)
    return times


def _speed_claim(rows: dict[str, dict], settings: Settings, out: Path) -> dict:
    gru, lstm, rnn = rows["gru"], rows["lstm"], rows["rnn"]
    table = ["| cell | parameters | s / epoch (1 thread) | step, torch (µs) | step, stack.step (µs) | test accuracy |",
             "|---|---|---|---|---|---|"]
    table += [f"| {r['cell']} | {r['parameters']:,} | {r['seconds_per_epoch']:.2f} | {r['step_us_torch']:.1f} | "
              f"{r['step_us_gruve']:.1f} | {r['accuracy']:.3f} |" for r in rows.values()]
    ratio_params = gru["recurrent_parameters"] / lstm["recurrent_parameters"]
    ratio_time = gru["seconds_per_epoch"] / lstm["seconds_per_epoch"]
    faster = "trains faster" if ratio_time < 0.95 else "trains slower" if ratio_time > 1.05 else "trains as fast"
    verdict = (f"At {settings.hidden} units the GRU's recurrent layer holds {ratio_params:.2f}x the LSTM's weights "
               f"(fewer parameters: true) and {faster} than it ({ratio_time:.2f}x its seconds per epoch on one "
               f"thread of this CPU); one inference step takes {gru['step_us_gruve']:.0f} µs through gruve's fused "
               f"kernel against {gru['step_us_torch']:.0f} µs through torch (LSTM {lstm['step_us_torch']:.0f}, RNN "
               f"{rnn['step_us_torch']:.0f}).")
    figure = out / "claim-speed.png"
    _bars(figure, [("parameters", "parameters", lambda r: r["parameters"]),
                   ("training s / epoch, one thread", "seconds", lambda r: r["seconds_per_epoch"]),
                   ("one inference step, batch 1 (torch; gruve's fused GRU hatched)", "µs",
                    lambda r: r["step_us_torch"])], rows, verdict,
          extra=lambda axes: axes[2].bar([0], [gru["step_us_gruve"]], width=0.4, fill=False, hatch="//",
                                         label="gruve fused"))
    return {"title": f"Parameters and speed at equal hidden size ({settings.hidden} units, {settings.layers} layer(s))",
            "rows": list(rows.values()), "table": "\n".join(table), "verdict": verdict, "figure": str(figure)}


def _quality_claim(runs: dict[str, list[dict]], sizes: dict[str, int], out: Path) -> dict:
    summary = {cell: _spread([r["accuracy"] for r in rows]) for cell, rows in runs.items()}
    table = ["| cell | hidden | recurrent parameters | test accuracy, mean | spread (sd) | seeds |", "|---|---|---|---|---|---|"]
    table += [f"| {cell} | {sizes[cell]} | {runs[cell][0]['recurrent_parameters']:,} | {m:.3f} | {s:.3f} | "
              f"{len(runs[cell])} |" for cell, (m, s) in summary.items()]
    (g, gs), (l, ls), (r, rs) = summary["gru"], summary["lstm"], summary["rnn"]
    def against(mean, spread, other, other_spread, name):
        if abs(mean - other) <= max(spread, other_spread, 0.005):
            return f"level with the {name} (within a spread)"
        return f"{'ahead of' if mean > other else 'behind'} the {name} by {abs(mean - other):.3f}"
    verdict = (f"At equal parameter count the GRU ({g:.3f} ± {gs:.3f}) is {against(g, gs, l, ls, 'LSTM')} "
               f"({l:.3f} ± {ls:.3f}) and {against(g, gs, r, rs, 'plain RNN')} ({r:.3f} ± {rs:.3f}).")
    figure = out / "claim-quality.png"
    _errorbars(figure, summary, sizes, verdict)
    return {"title": "Quality at equal parameter count (test accuracy over seeds)",
            "runs": {cell: rows for cell, rows in runs.items()}, "table": "\n".join(table), "verdict": verdict,
            "figure": str(figure)}


def _fails(accuracy: dict[float, float], longest: float) -> str:
    """Where a cell fails, in words: the shortest delay at which it is within 0.05 of chance."""
    failed = [d for d, value in accuracy.items() if value <= CHANCE + 0.05]
    return f"is near chance from {min(failed):g} s" if failed else f"stays above chance up to {longest:g} s"


def _spread(values: list[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for one value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _memory_claim(delays: dict[str, dict[float, list[float]]], settings: Settings, out: Path) -> dict:
    spreads = {cell: {d: _spread(v) for d, v in by.items()} for cell, by in delays.items()}
    means = {cell: {d: m for d, (m, _) in by.items()} for cell, by in spreads.items()}
    table = ["| T (s) | " + " | ".join(CELLS) + " |", "|---|" + "---|" * len(CELLS)]
    table += [f"| {d:g} | " + " | ".join(f"{spreads[c][d][0]:.3f} ± {spreads[c][d][1]:.3f}" for c in CELLS) + " |"
              for d in settings.delays]
    first, longest = settings.delays[0], settings.delays[-1]
    order = sorted(CELLS, key=lambda c: -means[c][first])
    ranked = ", ".join(f"{c.upper()} {means[c][first]:.3f}" for c in order)
    verdict = (f"With {first:g} s of background after the digit the cells rank {ranked} (chance 0.1); " +
               ", ".join(f"the {c.upper()} {_fails(means[c], longest)}" for c in order) +
               (f", so at {longest:g} s none holds the digit." if all(means[c][longest] <= CHANCE + 0.05 for c in CELLS)
                else "."))
    figure = out / "claim-memory.png"
    _curves(figure, spreads, verdict)
    return {"title": f"Long dependencies: a digit, then T seconds of ESC-10 background ({settings.hidden} units, mean "
                     "pooling, test accuracy)", "accuracy": {c: {str(d): v for d, v in by.items()}
                                                             for c, by in delays.items()},
            "table": "\n".join(table), "verdict": verdict, "figure": str(figure)}


ADDING_CHANCE = 1 / 6  # the variance of the sum of two uniform values: the error of always answering 1
SOLVED = 0.1  # an adding model is counted as solving it below this share of ADDING_CHANCE


def adding_batch(batch: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Adding-problem sequences `(batch, length, 2)` (a uniform value, and a marker on one step of each half)
    and their answers `(batch,)`, the sum of the two marked values."""
    values = torch.rand(batch, length, generator=generator)
    rows = torch.arange(batch)
    first = torch.randint(0, length // 2, (batch,), generator=generator)
    second = torch.randint(length // 2, length, (batch,), generator=generator)
    markers = torch.zeros(batch, length)
    markers[rows, first] = markers[rows, second] = 1.0
    return torch.stack([values, markers], -1), values[rows, first] + values[rows, second]


def adding_mse(cell: str, hidden: int, length: int, steps: int, seed: int = 0) -> float:
    """Test mean squared error of a `cell` layer of `hidden` units (gruve's RecurrentStack) and a linear read-out
    of its last output, trained with Adam for `steps` batches of 64 on the adding problem of `length` steps."""
    from gruve.nn import RecurrentStack

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    stack, head = RecurrentStack(cell, 2, hidden), torch.nn.Linear(hidden, 1)
    parameters = [*stack.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=3e-3)
    for _ in range(steps):
        x, y = adding_batch(64, length, generator)
        loss = torch.nn.functional.mse_loss(head(stack(x)[:, -1])[:, 0], y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
    with torch.no_grad():
        x, y = adding_batch(2000, length, torch.Generator().manual_seed(10_000 + seed))
        return float(torch.nn.functional.mse_loss(head(stack(x)[:, -1])[:, 0], y))


def _adding_claim(mse: dict[str, dict[int, float]], settings: Settings, out: Path) -> dict:
    lengths = settings.adding_lengths
    table = ["| T (steps) | " + " | ".join(CELLS) + " |", "|---|" + "---|" * len(CELLS)]
    table += [f"| {t} | " + " | ".join(f"{mse[c][t]:.4f}" for c in CELLS) + " |" for t in lengths]
    solved = {c: [t for t in lengths if mse[c][t] < SOLVED * ADDING_CHANCE] for c in CELLS}

    def said(cell: str) -> str:
        failed = [t for t in lengths if t not in solved[cell]]
        if not failed:
            return f"the {cell.upper()} solves every length up to {lengths[-1]}"
        return (f"the {cell.upper()} " + (f"solves up to {max(solved[cell])} steps and " if solved[cell] else "")
                + f"fails from {min(failed)}")

    verdict = (f"After {settings.adding_steps} batches ({settings.hidden} units; solved: an error below "
               f"{SOLVED * ADDING_CHANCE:.4f}, a tenth of guessing's 1/6): " + "; ".join(said(c) for c in CELLS) + ".")
    figure = out / "claim-adding.png"
    plt, fig, (ax,) = _figure(1, verdict)
    for i, cell in enumerate(CELLS):
        ax.plot(lengths, [mse[cell][t] for t in lengths], marker="o", color=plt.cm.tab10(i), label=cell.upper())
    ax.axhline(ADDING_CHANCE, color="grey", linestyle="--", linewidth=0.8, label="guessing (1/6)")
    ax.axhline(SOLVED * ADDING_CHANCE, color="grey", linestyle=":", linewidth=0.8, label="solved below")
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [str(t) for t in lengths])
    ax.minorticks_off()
    ax.set_xlabel("T: steps between the first marked value and the answer, at most")
    ax.set_ylabel("test mean squared error")
    ax.legend(fontsize=8)
    ax.set_title("the adding problem: the sum of two marked values among T", fontsize=9)
    fig.subplots_adjust(bottom=0.3)
    fig.savefig(figure, dpi=100)
    plt.close(fig)
    return {"title": f"The adding problem ({settings.hidden} units, {settings.adding_steps} batches of 64, test MSE)",
            "mse": {c: {str(t): v for t, v in by.items()} for c, by in mse.items()}, "table": "\n".join(table),
            "verdict": verdict, "figure": str(figure)}


# --- figures -----------------------------------------------------------------------------------------------

def _figure(panels: int, verdict: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import textwrap

    width = max(4.2 * panels + 1, 8.5)
    fig, axes = plt.subplots(1, panels, figsize=(width, 4.8), squeeze=False)
    fig.text(0.5, 0.02, "\n".join(textwrap.wrap(verdict, int(width * 13))), ha="center", va="bottom", fontsize=9)
    return plt, fig, list(axes[0])


def _bars(path: Path, panels, rows: dict[str, dict], verdict: str, extra) -> None:
    plt, fig, axes = _figure(len(panels), verdict)
    for ax, (title, unit, value) in zip(axes, panels):
        ax.bar(range(len(rows)), [value(r) for r in rows.values()], color=[plt.cm.tab10(i) for i in range(len(rows))])
        ax.set_xticks(range(len(rows)), [c.upper() for c in rows])
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(unit)
    extra(axes)
    axes[-1].legend(fontsize=8)
    fig.subplots_adjust(bottom=0.26, wspace=0.35)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _errorbars(path: Path, summary: dict[str, tuple[float, float]], sizes: dict[str, int], verdict: str) -> None:
    plt, fig, (ax,) = _figure(1, verdict)
    cells = list(summary)
    ax.bar(range(len(cells)), [summary[c][0] for c in cells], yerr=[summary[c][1] for c in cells], capsize=6,
           color=[plt.cm.tab10(i) for i in range(len(cells))])
    ax.set_xticks(range(len(cells)), [f"{c.upper()}\n{sizes[c]} units" for c in cells])
    ax.set_ylabel("test accuracy (mean ± sd over seeds)")
    ax.set_ylim(0, 1)
    ax.set_title("FSDD digits at equal recurrent parameter count", fontsize=9)
    fig.subplots_adjust(bottom=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _curves(path: Path, spreads: dict[str, dict[float, tuple[float, float]]], verdict: str) -> None:
    plt, fig, (ax,) = _figure(1, verdict)
    for i, (cell, by) in enumerate(spreads.items()):
        ax.errorbar(list(by), [m for m, _ in by.values()], yerr=[s for _, s in by.values()], marker="o", capsize=4,
                    color=plt.cm.tab10(i), label=cell.upper())
    ax.axhline(CHANCE, color="grey", linestyle="--", linewidth=0.8, label="chance")
    ax.set_xscale("log", base=2)
    delays = sorted({d for by in spreads.values() for d in by})
    ax.set_xticks(delays, [f"{d:g}" for d in delays])
    ax.minorticks_off()
    ax.set_xlabel("T: seconds of background after the digit")
    ax.set_ylabel("test accuracy (mean ± sd over seeds)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("an FSDD digit, then T s of ESC-10 background; label = the digit", fontsize=9)
    fig.subplots_adjust(bottom=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
