"""A drum groove's style, heard or read: the audio model against two baselines on Groove's official test clips.

- majority: every clip gets the style most common among the training clips;
- note statistics: a logistic regression (scikit-learn) on what the MIDI of each clip says, never heard: the
  hits per second and mean velocity of each of Groove's nine drum voices, the tempo, the hits per second and
  the spread of velocities in all, and where in the beat the hits fall (a 12-bin histogram, which tells a
  shuffle from a straight feel); its C is chosen on the validation clips;
- the audio model (`--model`, trained on the rendered clips), scored by `gruve listen evaluate`.
All three are scored on the same clips (`gruve.data.groove_styles.clips`) by gruve's own classification report,
so accuracy and macro-F1 mean the same for each.
Usage: .venv/bin/python bench/groove_styles.py [--groove PATH] [--model runs/groove-styles]
"""

import argparse
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import symusic
import torch

from gruve.data.groove_styles import Clip, clips
from gruve.listen.evaluation import classification_report

# Groove's nine drum voices (Gillick et al. 2019, table 2) and the General MIDI notes each gathers
VOICES = {"kick": (35, 36), "snare": (37, 38, 40), "closed hi-hat": (22, 42, 44), "open hi-hat": (26, 46),
          "low tom": (43, 58), "mid tom": (45, 47), "high tom": (48, 50), "crash": (49, 52, 55, 57),
          "ride": (51, 53, 59)}
PHASE_BINS = 12  # sixteenths and triplets both fall on a bin edge


@lru_cache(maxsize=8)
def performance(path: Path) -> tuple[dict[str, np.ndarray], float]:
    """The notes of one performance in seconds, and its tempo in quarter notes per minute."""
    score = symusic.Score(str(path)).to("second")
    notes = [track.notes.numpy() for track in score.tracks if len(track.notes)]
    qpm = score.tempos[0].qpm if len(score.tempos) else 120.0
    return {key: np.concatenate([n[key] for n in notes]) for key in ("time", "pitch", "velocity")}, qpm


def note_statistics(root: Path, clip: Clip) -> np.ndarray:
    notes, qpm = performance(root / clip.midi)
    keep = (notes["time"] >= clip.start) & (notes["time"] < clip.start + clip.seconds)
    time, pitch, velocity = notes["time"][keep], notes["pitch"][keep], notes["velocity"][keep] / 127
    row = []
    for pitches in VOICES.values():
        voice = np.isin(pitch, pitches)
        row += [voice.sum() / clip.seconds, velocity[voice].mean() if voice.any() else 0.0]
    row += [qpm, len(time) / clip.seconds, velocity.std() if len(time) else 0.0]
    phase = np.histogram((time * qpm / 60) % 1, PHASE_BINS, (0, 1))[0] / max(len(time), 1)
    return np.array(row + list(phase))


def one_hot(indices: list[int], n: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(indices), n).float()


def note_statistics_baseline(root: Path, parts: dict[str, list[Clip]], labels: list[str]) -> tuple[torch.Tensor, float]:
    """Test-clip probabilities of the logistic regression whose C did best on the validation clips, and that C."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = {split: np.stack([note_statistics(root, c) for c in clips_]) for split, clips_ in parts.items()}
    y = {split: [c.style for c in clips_] for split, clips_ in parts.items()}
    fits = {}
    for c in (0.01, 0.1, 1.0, 10.0, 100.0):
        fit = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000)).fit(x["train"], y["train"])
        fits[c] = (fit.score(x["valid"], y["valid"]), fit)
    best = max(fits, key=lambda c: fits[c][0])
    fit = fits[best][1]
    probs = torch.zeros(len(parts["test"]), len(labels))
    columns = [labels.index(style) for style in fit.classes_]
    probs[:, columns] = torch.tensor(fit.predict_proba(x["test"]), dtype=torch.float32)
    return probs, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groove", type=Path,
                        default=Path(os.environ.get("GRUVE_DATASETS", "../shared/datasets")) / "groove")
    parser.add_argument("--model", help="an audio model trained on groove-styles (a run folder or bundle)")
    args = parser.parse_args()
    found = clips(args.groove)
    parts = {split: [c for c in found if c.split == split] for split in ("train", "valid", "test")}
    labels = sorted({c.style for c in found})
    truth = [labels.index(c.style) for c in parts["test"]]
    majority = Counter(c.style for c in parts["train"]).most_common(1)[0][0]
    rows = [(f"majority ({majority})", classification_report(labels, truth, one_hot([labels.index(majority)] * len(truth),
                                                                                   len(labels))))]
    probs, c = note_statistics_baseline(args.groove, parts, labels)
    rows.append((f"note statistics (logistic regression, C={c:g})", classification_report(labels, truth, probs)))
    if args.model:
        from gruve.listen import EvaluateOptions, evaluate

        report = evaluate(args.model, f"groove-styles:{args.groove}", EvaluateOptions(out=None), say=lambda _: None)
        rows.append((f"audio: {args.model}", report))
    styles = Counter(c.style for c in parts["test"])
    print(f"Groove MIDI, official split: {len(parts['train'])} train / {len(parts['valid'])} valid / "
          f"{len(parts['test'])} test clips of up to 30 s; the test clips' styles: "
          + ", ".join(f"{s} {n}" for s, n in styles.most_common()) + "\n")
    print("| classifier | accuracy | macro-F1 |\n|---|---|---|")
    for name, report in rows:
        print(f"| {name} | {report['accuracy']:.1%} | {report['macro_f1']:.3f} |")


if __name__ == "__main__":
    main()
