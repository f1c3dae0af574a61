"""GRU against LSTM and a plain tanh RNN, same data, same options, one run: parameters, time, accuracy.

Tests the usual claims that GRUs need fewer parameters than LSTMs and train faster.
Usage: .venv/bin/python bench/cells.py [--data fsdd:PATH] [--epochs 15] [--hidden 128]
"""

import argparse
import tempfile
from pathlib import Path

from gruve.listen import ListenOptions, train
from gruve.training import TrainOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="fsdd:../shared/datasets/fsdd")
    parser.add_argument("--target", default=None)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--cells", default="gru,lstm,rnn", help="which cells, in this order (the first is the reference)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cell in args.cells.split(","):
            options = ListenOptions(data=args.data, target=args.target, architecture=cell, hidden_size=args.hidden)
            result = train(options, TrainOptions(out=Path(tmp) / cell, max_epochs=args.epochs, patience=0,
                                                 progress=False), say=lambda *_: None)
            import gruve

            parameters = sum(p.numel() for p in gruve.load(result["model"]).parameters())
            rows.append((cell, parameters, result["train_seconds"] / result["epochs"], result["test_accuracy"]))
    reference = rows[0]
    print(f"{args.data}, {args.epochs} epochs, hidden {args.hidden}, 2 layers, attention pooling\n")
    print(f"| cell | parameters | vs {reference[0]} | s / epoch | vs {reference[0]} | test accuracy |\n"
          "|---|---|---|---|---|---|")
    for cell, parameters, seconds, accuracy in rows:
        print(f"| {cell} | {parameters:,} | {parameters / reference[1]:.2f}x | {seconds:.2f} | {seconds / reference[2]:.2f}x "
              f"| {accuracy:.4f} |")


if __name__ == "__main__":
    main()
