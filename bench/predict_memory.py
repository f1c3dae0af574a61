"""Peak memory of `gruve listen predict` against `gruve listen stream` on one long made-up recording.

Both read the file a block at a time, so neither should grow with its length (predict took 2.3 GB on 30
minutes before it did). Each command runs in a process of its own, measured by the peak resident memory
of its child (`getrusage(RUSAGE_CHILDREN).ru_maxrss`).
Usage: .venv/bin/python bench/predict_memory.py [--minutes 30] [--sr 16000] [--model fsdd-digits]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

# Run `gruve ARGS` as a child and print its peak resident memory in kB: the measuring process's own
# memory (and anything else this script ran) does not count.
PEAK = """
import resource, subprocess, sys
command = "import sys; from gruve.cli import main; sys.argv[0] = 'gruve'; main()"
subprocess.run([sys.executable, "-c", command, *sys.argv[1:]], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def write_recording(path: Path, minutes: float, sr: int) -> None:
    """Tones that change every ten seconds, with a little noise, written ten seconds at a time."""
    rng = np.random.default_rng(0)
    t = np.arange(10 * sr) / sr
    with sf.SoundFile(path, "w", sr, 1, "PCM_16") as f:
        for i in range(int(minutes * 6)):
            f.write(0.3 * np.sin(2 * np.pi * (300 + 50 * (i % 7)) * t) + 0.05 * rng.standard_normal(len(t)))


def peak(args: list[str]) -> tuple[float, float]:
    """Peak resident memory in MB and wall-clock seconds of `gruve ARGS`."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *args], capture_output=True, text=True, check=True)
    return int(done.stdout) / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--sr", type=int, default=16000)
    parser.add_argument("--model", default="fsdd-digits")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "long.wav"
        write_recording(wav, args.minutes, args.sr)
        rows = [("predict", *peak(["listen", "predict", args.model, str(wav)])),
                ("stream", *peak(["listen", "stream", args.model, "--input", str(wav)]))]
    print(f"{args.model}, {args.minutes:g} minutes of made-up audio at {args.sr} Hz\n")
    print("| command | peak RSS (MB) | seconds |\n|---|---|---|")
    for command, mb, seconds in rows:
        print(f"| gruve listen {command} | {mb:,.0f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
