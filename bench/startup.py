"""Cold-start time of the CLI: `gruve --help` and one `gruve listen predict` on a clip.

Each command runs as a new process, as a user runs it; prints the median of --runs.
Usage: .venv/bin/python bench/startup.py [--runs 7]
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRUVE = str(Path(sys.executable).parent / "gruve")
COMMANDS = {
    "gruve --help": [GRUVE, "--help"],
    "gruve listen predict fsdd-digits clip.wav": [GRUVE, "listen", "predict", "fsdd-digits",
                                                  str(ROOT / "examples" / "digits" / "3_theo_0.wav")],
}
TARGETS = {"gruve --help": 0.5, "gruve listen predict fsdd-digits clip.wav": 2.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    print("| command | median s | target s |\n|---|---|---|")
    for name, command in COMMANDS.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        print(f"| `{name}` | {statistics.median(times):.2f} | {TARGETS[name]} |")


if __name__ == "__main__":
    main()
