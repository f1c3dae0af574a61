"""gruve's speed against the usual alternatives, each measured in the same run, printed as one markdown table.

Rows: log-mel against librosa; a training epoch on FSDD from the feature cache against a loader that
calls librosa per clip (with --threads, also with gruve's choice of threads against torch's default, idle
and beside a busy process); a GRU step (hidden 256, batch 1) in the fused kernel against a torch loop and
onnxruntime; the streaming real-time factor of the shipped digit model; music sampling speed against
re-reading the prefix, and `compose generate`'s wall time; audio generation by the `drums` synthesiser
against a torch step loop, one sound and 64 at once; CLI cold start; peak memory of training and of predict. Times are medians of repeats; the machine is shared, so compare within a run.

Usage: .venv/bin/python bench/suite.py [--data DATASETS] [--only NAME ...] [--quick] [--threads]
DATASETS holds fsdd/ (default $GRUVE_DATASETS or ../shared/datasets); rows that need it are left out
without it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
GRUVE = str(Path(sys.executable).parent / "gruve")
DIGITS = sorted((ROOT / "examples" / "digits").glob("*.wav"))


def median_time(function, repeats: int, number: int = 1) -> float:
    """Median seconds per call of `function` over `repeats` timings of `number` calls, after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            function()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def row(what: str, gruve: str, alternative: str, ratio: float | None, target: str = "") -> list[str]:
    return [what, gruve, alternative, "" if ratio is None else f"{ratio:.1f}x", target]


def logmel(args) -> list[list[str]]:
    import librosa

    from gruve.features import FeatureConfig, LogMel

    config = FeatureConfig()  # 16 kHz, n_fft 512, hop 160, 64 mels
    y = np.random.default_rng(0).standard_normal((64, config.sr)).astype(np.float32) * 0.1
    module, batch = LogMel(config), torch.from_numpy(y)

    def ours():
        with torch.inference_mode():
            module(batch)

    def librosa_logmel(y):
        power = librosa.feature.melspectrogram(y=y, sr=config.sr, n_fft=config.n_fft, hop_length=config.hop_length,
                                               n_mels=config.n_mels, pad_mode="constant")
        return librosa.power_to_db(power, amin=config.amin, top_db=None)

    repeats = 5 if args.quick else 15
    a = median_time(ours, repeats)
    per_clip = median_time(lambda: [librosa_logmel(clip) for clip in y], repeats)
    batched = median_time(lambda: librosa_logmel(y), repeats)  # librosa's best: one call on (64, samples)
    what = "log-mel, 64 clips of 1 s at 16 kHz"
    return [row(f"{what}, vs librosa called per clip", f"{a * 1e3:.1f} ms", f"librosa {per_clip * 1e3:.1f} ms",
                per_clip / a, ">= 5x"),
            row(f"{what}, vs librosa called once on the batch", f"{a * 1e3:.1f} ms", f"librosa {batched * 1e3:.1f} ms",
                batched / a)]


def epoch(args) -> list[list[str]]:
    """One epoch of the default CRNN on FSDD's training split, features from the warm cache or from librosa."""
    if args.data is None:
        return []
    import librosa
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset

    from gruve import audio
    from gruve.data.cache import FeatureCache
    from gruve.data.sources import resolve, split
    from gruve.features import FeatureConfig
    from gruve.listen.model import AudioClassifier, ClassifierConfig
    from gruve.listen.training import Clips, collate

    config = FeatureConfig(sr=8000, n_fft=256, hop_length=80, n_mels=40)  # the fsdd recipe's
    corpus = resolve(f"fsdd:{args.data / 'fsdd'}")
    items = split(corpus, "digit")["train"]
    if args.quick:
        items = items[:300]
    labels = corpus.labels("digit")
    cache = FeatureCache(config, Path(tempfile.mkdtemp(prefix="gruve-bench-")))
    cached = [(f, labels.index(i.labels["digit"])) for i, f in cache.load(items)[0]]  # fills the cache

    class LibrosaClips(Dataset):
        """What a loader without a cache does: decode and transform every clip, every epoch."""

        def __len__(self):
            return len(items)

        def __getitem__(self, i):
            y = audio.load(items[i].path, config.sr)
            power = librosa.feature.melspectrogram(y=y, sr=config.sr, n_fft=config.n_fft, n_mels=config.n_mels,
                                                   hop_length=config.hop_length, pad_mode="constant")
            features = librosa.power_to_db(power, amin=config.amin, top_db=None).astype(np.float32)
            return torch.from_numpy(features[:, : 1 + config.sr // config.hop_length]), cached[i][1]

    def train_epoch(make_dataset) -> float:
        torch.manual_seed(0)
        model = AudioClassifier(ClassifierConfig(labels, config))
        optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
        start = time.perf_counter()
        loader = DataLoader(make_dataset(), 32, shuffle=True, collate_fn=collate(config.floor_db))
        for features, lengths, targets in loader:
            loss = F.cross_entropy(model.classify(features, lengths), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start

    window = ClassifierConfig(labels, config).window_frames
    train_epoch(lambda: LibrosaClips())  # librosa's numba compiles once, outside the timing
    ours = statistics.median(train_epoch(lambda: Clips(cached, window, True)) for _ in range(3))
    theirs = statistics.median(train_epoch(lambda: LibrosaClips()) for _ in range(3))
    what = f"training epoch, FSDD train split ({len(items)} clips, crnn)"
    rows = [row(what, f"{ours:.2f} s (feature cache)", f"librosa per clip {theirs:.2f} s", theirs / ours)]
    if args.threads:
        rows += thread_rows(lambda: train_epoch(lambda: Clips(cached, window, True)), what, args.quick)
    return rows


BUSY = "while True: pass"  # another job holding one core


def thread_rows(run_epoch, what: str, quick: bool) -> list[list[str]]:
    """The same training epoch with gruve's choice of threads (`training.choose_threads`) against torch's
    default (a thread per core) and one and two threads, on an idle machine and beside a process busy on
    one core: what oversubscription costs, side by side."""
    from gruve.training import TrainOptions, choose_threads

    default = torch.get_num_threads()
    rows = []
    for busy in (False, True):
        job = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
        try:
            time.sleep(2 if busy else 0)  # the busy job on its core before gruve looks at the load
            chosen, why = choose_threads(TrainOptions())
            times = {}
            for threads in dict.fromkeys([chosen, default, 1, 2]):
                torch.set_num_threads(threads)
                times[threads] = statistics.median(run_epoch() for _ in range(1 if quick else 3))
        finally:
            if job is not None:
                job.kill()
            torch.set_num_threads(default)
        where = "beside a busy process" if busy else "idle"
        others = ", ".join(f"{t} thread{'s' if t > 1 else ''} {seconds:.2f} s" for t, seconds in times.items()
                           if t != chosen)
        rows.append(row(f"{what}, {where}: threads as gruve chooses them ({why})",
                        f"{chosen} thread{'s' if chosen > 1 else ''} {times[chosen]:.2f} s",
                        f"torch's default is {default}; {others}", times[default] / times[chosen]))
    return rows


def gru_step(args) -> list[list[str]]:
    """One step of a GRU with 256 units at batch 1, on one thread, three ways."""
    import onnxruntime

    from gruve.nn import RecurrentStack
    from gruve.nn.fused import fused_gru, gru_layer, gru_scan

    torch.set_num_threads(1)
    torch.manual_seed(0)
    stack = RecurrentStack("gru", 256, 256).eval()
    x, h = torch.randn(1, 1, 256), torch.randn(1, 1, 256)
    kernel = fused_gru(stack.rnn)
    x_np, h_np, out = x.numpy()[0][None], h.numpy()[0].copy(), np.empty((1, 1, 256), np.float32)
    path = Path(tempfile.mkdtemp(prefix="gruve-bench-")) / "gru.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notes
        warnings.simplefilter("ignore")
        torch.onnx.export(stack.rnn, (x, h), path, input_names=["x", "h"], output_names=["y", "h_out"], dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {"x": x.numpy(), "h": h.numpy()}

    embedding = torch.nn.Embedding(512, 256)
    table = np.ascontiguousarray(kernel.input_gates(0, embedding.weight.detach().numpy()), np.float32)[:, None]
    token = torch.tensor([[7]])
    _, _, w_hh, b_hh = kernel.layers[0]

    repeats, number = (5, 500) if args.quick else (9, 2000)
    with torch.inference_mode():
        fused = median_time(lambda: gru_layer(x_np, h_np, *kernel.layers[0], out), repeats, number)
        api = median_time(lambda: stack.step(x[:, 0], h), repeats, number)
        torch_loop = median_time(lambda: stack.rnn(x, h), repeats, number)
        ort = median_time(lambda: session.run(None, feeds), repeats, number)
        fused_token = median_time(lambda: gru_scan(table[7:8], h_np, w_hh, b_hh, out), repeats, number)
        torch_token = median_time(lambda: stack.rnn(embedding(token), h), repeats, number)
    us = 1e6
    step = "GRU step, hidden 256, batch 1, one thread"
    return [
        row(f"{step}, input 256: fused kernel vs torch", f"{fused * us:.1f} us", f"torch {torch_loop * us:.1f} us",
            torch_loop / fused, "<= 20 us"),
        row(f"{step}, input 256: fused kernel vs onnxruntime", f"{fused * us:.1f} us", f"onnxruntime {ort * us:.1f} us",
            ort / fused),
        row(f"{step}, input 256: `RecurrentStack.step` (tensors in and out)", f"{api * us:.1f} us",
            f"torch {torch_loop * us:.1f} us", torch_loop / api),
        row(f"{step}, token input (input gates from a table, as a language model steps)", f"{fused_token * us:.1f} us",
            f"torch embedding + GRU {torch_token * us:.1f} us", torch_token / fused_token, "<= 20 us"),
    ]


def streaming(args) -> list[list[str]]:
    """Seconds of compute per second of audio for the shipped digit model, reading blocks of `hop` ms."""
    from gruve import audio, bundle
    from gruve.listen.streaming import Stream

    torch.set_num_threads(1)
    model = bundle.load("fsdd-digits")
    y = np.concatenate([audio.load(path, 8000) for path in DIGITS] * (2 if args.quick else 8))
    rows = []
    for hop_ms in (250, 40):
        block = int(8000 * hop_ms / 1000)

        def run():
            stream = Stream(model)
            for start in range(0, len(y), block):
                stream.feed(y[start:start + block])
            stream.close()

        factor = median_time(run, 3 if args.quick else 7) / (len(y) / 8000)
        rows.append(row(f"streaming `fsdd-digits`, {len(y) / 8000:.0f} s read {hop_ms} ms at a time, one thread",
                        f"real-time factor {factor:.4f}", "real time 1.0", 1 / factor,
                        "<= 0.01" if hop_ms == 250 else ""))
    return rows


def compose(args) -> list[list[str]]:
    """Sampling speed of the shipped `bach-chorales` model at batch 1, against re-reading the whole prefix for
    every token, and the wall time of `gruve compose generate bach-chorales` with its defaults."""
    from gruve import bundle
    from gruve.compose.lm.generation import GenerateOptions
    from gruve.compose.lm.sampler import Sampler

    torch.set_num_threads(1)
    model = bundle.load("bach-chorales")
    sampler = Sampler(model)
    count = 500 if args.quick else 2000
    controls = GenerateOptions(n=1, bars=None, tokens=count, top_p=1.0, seed=0)
    conditions = controls.draw_conditions(model, np.random.default_rng(0))  # as generate does: untransposed
    fast = median_time(lambda: sampler.run(controls, conditions), 3)
    produced = len(sampler.run(controls, conditions)[0])
    naive_count = 100 if args.quick else 300
    rng = np.random.default_rng(0)

    def naive():  # what a model without a carried state does: the whole prefix again for each new token
        ids = [model.special("BOS")]
        with torch.inference_mode():
            for _ in range(naive_count):
                logits, _ = model(torch.tensor([ids]))
                p = torch.softmax(logits[0, -1], -1).numpy().astype(np.float64)
                ids.append(int(rng.choice(len(p), p=p / p.sum())))

    slow = median_time(naive, 3)
    ours, theirs = produced / fast, naive_count / slow
    rows = [row(f"compose sampling, `bach-chorales`, batch 1, one thread ({produced} tokens; naive: {naive_count})",
                f"{ours:,.0f} tokens/s", f"re-reading the prefix {theirs:,.0f} tokens/s", ours / theirs,
                ">= 5,000 tokens/s")]
    out = tempfile.mkdtemp(prefix="gruve-bench-")
    seconds = median_time(lambda: subprocess.run([GRUVE, "compose", "generate", "bach-chorales", "--out", out],
                                                 check=True, capture_output=True), 1 if args.quick else 3)
    rows.append(row("`gruve compose generate bach-chorales` (4 pieces: MIDI, WAV, PNG), from start", f"{seconds:.1f} s",
                    "", None, "< 10 s"))
    return rows


def synth(args) -> list[list[str]]:
    """Generation speed of the shipped `drums` synthesiser on one core: one sound at a time through the fused
    kernel against a torch loop of one GRU call and the head per sample, and 64 one-second sounds at once."""
    from threadpoolctl import threadpool_limits

    from gruve import bundle

    torch.set_num_threads(1)
    model = bundle.load("drums")
    rate = model.config.sr
    label = torch.tensor([model.config.labels.index("snare")])
    naive_steps = 200 if args.quick else 1000
    uniform = np.random.default_rng(0).random((naive_steps, 1, model.head.parts), dtype=np.float32)
    temperature = np.ones(naive_steps)
    with threadpool_limits(1):  # the batched products go through BLAS: keep it to this one core
        single = median_time(lambda: model.generate(["snare"], 1.0), 3 if args.quick else 7)
        naive = median_time(lambda: model.levels_torch(label, naive_steps, None, temperature, uniform), 3)
        batched = median_time(lambda: model.generate(["snare"] * 64, 1.0), 1 if args.quick else 3)
    ours, theirs = rate / single, naive_steps / naive
    size = f"{model.config.hidden_size}-unit GRU, {model.config.output}"
    return [row(f"synth, `drums` ({size}), one 1 s sound at {rate} Hz, one core", f"{ours:,.0f} samples/s",
                f"torch step loop {theirs:,.0f} samples/s", ours / theirs, f">= {rate:,} samples/s (real time)"),
            row("synth, `drums`, 64 one-second sounds at once, one core", f"{64 * rate / batched:,.0f} samples/s",
                f"one at a time {ours:,.0f} samples/s", 64 * rate / batched / ours)]


def cold_start(args) -> list[list[str]]:
    commands = {"gruve --help": ([GRUVE, "--help"], "< 0.5 s"),
                "gruve listen predict fsdd-digits clip.wav": ([GRUVE, "listen", "predict", "fsdd-digits",
                                                              str(DIGITS[0])], "< 2 s")}
    rows = []
    for name, (command, target) in commands.items():
        seconds = median_time(lambda: subprocess.run(command, check=True, capture_output=True),
                              3 if args.quick else 7)
        rows.append(row(f"cold start `{name}`", f"{seconds:.2f} s", "", None, target))
    return rows


def peak_memory(args) -> list[list[str]]:
    """Largest resident memory of a training run (one epoch of FSDD) and of predict, each its own process."""
    commands = {"predict, one clip": [GRUVE, "listen", "predict", "fsdd-digits", str(DIGITS[0])]}
    if args.data is not None:
        out = tempfile.mkdtemp(prefix="gruve-bench-")
        commands["training, one epoch of FSDD digits"] = [GRUVE, "listen", "train", f"fsdd:{args.data / 'fsdd'}",
                                                          "--epochs", "1", "--out", out, "--cache-dir", out]
    rows = []
    for name, command in commands.items():
        # A small parent runs the command, so its child's peak is not inherited from this process at fork.
        report = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True)
        if report.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {report.stderr[-500:]}")
        rows.append(row(f"peak memory, {name}", f"{int(report.stdout) / 1024:.0f} MB", "", None))
    return rows


MEASURE = """import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"""


BENCHMARKS = {"logmel": logmel, "epoch": epoch, "step": gru_step, "stream": streaming, "compose": compose,
              "synth": synth, "startup": cold_start, "memory": peak_memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(os.environ.get("GRUVE_DATASETS", ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--data", type=Path, default=default, help="folder that holds fsdd/")
    parser.add_argument("--only", nargs="*", choices=list(BENCHMARKS), help="run only these")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a tenth of FSDD: a smoke test")
    parser.add_argument("--threads", action="store_true", help="with `epoch`: also the epoch with gruve's choice of "
                                                               "threads against torch's default, one and two, idle "
                                                               "and beside a busy process")
    args = parser.parse_args()
    if not (args.data / "fsdd").is_dir():
        print(f"note: no fsdd/ in {args.data}; the FSDD rows are left out", file=sys.stderr)
        args.data = None
    rows = []
    for name in args.only or BENCHMARKS:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += BENCHMARKS[name](args)
    print("| measure | gruve | alternative | ratio | target |\n|---|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print(f"\n{os.cpu_count()} CPU cores; peak memory of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
