"""How well a piano-roll model predicts held-out pieces: NLL per time step and frame accuracy, per split."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gruve.compose.pianoroll.model import PianoRollModel


def score(model: PianoRollModel, pieces: list[torch.Tensor], batch_size: int = 32,
          advance: Callable[[int], None] = lambda steps: None) -> dict:
    """NLL per time step (summed over the notes, averaged over all frames pooled) and frame accuracy
    (Bay et al. 2009: TP / (TP + FP + FN), counted over all frames pooled); `advance` is told the steps of
    each batch scored."""
    model.eval()
    nll, frames, tp, fp, fn = 0.0, 0, 0.0, 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(pieces), batch_size):
            contexts, truth = model.real_frames(*pad(pieces[start : start + batch_size]))
            nll -= model.head.log_prob(contexts, truth).sum().item()
            frames += len(truth)
            guess = model.head.mode(contexts)  # the most likely frame given the true frames before it
            tp += (guess * truth).sum().item()
            fp += (guess * (1 - truth)).sum().item()
            fn += ((1 - guess) * truth).sum().item()
            advance(sum(len(p) for p in pieces[start : start + batch_size]))
    return {"nll": nll / frames, "accuracy": tp / max(tp + fp + fn, 1.0), "frames": frames}


def pad(pieces: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pieces of different lengths as one batch `(B, T, 88)`, padded at the end, and their lengths."""
    lengths = torch.tensor([len(p) for p in pieces])
    return nn.utils.rnn.pad_sequence([p.float() for p in pieces], batch_first=True), lengths


def evaluate(model: PianoRollModel | str, sets, cache_dir=None, say=print) -> dict[str, dict]:
    """`score` on every non-empty split of `sets`: a `rolls.RollSets`, or a piano-roll set to load as
    `rolls.load` takes it (then read on the model's own grid). `model` may be a bundle to load."""
    from gruve import bundle
    from gruve.compose.pianoroll import rolls

    if not isinstance(model, PianoRollModel):
        model = bundle.load(model, task="pianoroll")
    if not isinstance(sets, rolls.RollSets):
        sets = rolls.load(str(sets), model.config.steps_per_quarter, say=say, cache_dir=cache_dir)
    from gruve.progress import counting

    splits = {split: pieces for split, pieces in sets.splits.items() if pieces}
    total = sum(len(p) for pieces in splits.values() for p in pieces)
    say(f"scoring on {', '.join(splits)}: {total:,} steps")
    with counting(total, "scoring") as advance:
        return {split: score(model, [torch.from_numpy(p) for p in pieces], advance=advance)
                for split, pieces in splits.items()}
