"""Pieces of music 30 s long, as recipes/gtzan.sh trains on them: the GTZAN layout read with its fault-filtered
split, the music defaults (22.05 kHz, 10 s windows), each test clip scored by the mean over its windows, and
predict answering a piece with one label. Made-up pieces: GTZAN is not here, and its sound adds nothing to
what these check."""

import json

import numpy as np
import soundfile as sf
from conftest import run_cli

from gruve.data.corpora import SPLIT_LISTS

SR = 22050


def piece(genre: str, seed: int) -> np.ndarray:
    """30 s of a made-up genre: a low drone with a beat for blues, a high one, steadier, for classical."""
    rng = np.random.default_rng(seed)
    t = np.arange(30 * SR) / SR
    base = 110 if genre == "blues" else 880
    pulse = (np.sin(2 * np.pi * 2 * t) > 0) if genre == "blues" else 1.0
    return (0.4 * pulse * np.sin(2 * np.pi * base * (1 + 0.01 * seed) * t)
            + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def gtzan_folder(root):
    """Three train, one valid and one test excerpt of two genres, named as the shipped split lists them."""
    lists = {s: (SPLIT_LISTS / f"gtzan_{s}_filtered.txt").read_text().split() for s in ("train", "valid", "test")}
    for genre in ("blues", "classical"):
        names = ([n for n in lists["train"] if n.startswith(genre)][:3]
                 + [next(n for n in lists[s] if n.startswith(genre)) for s in ("valid", "test")])
        for i, name in enumerate(names):
            (root / "genres" / genre).mkdir(parents=True, exist_ok=True)
            sf.write(root / "genres" / name, piece(genre, i), SR)
    return root


def test_the_gtzan_recipe_trains_scores_and_answers_a_piece_with_one_label(tmp_path, capsys):
    data = f"gtzan:{gtzan_folder(tmp_path / 'gtzan')}"
    run = tmp_path / "run"
    code, _, err = run_cli(["listen", "train", data, "--seed", "0", "--out", str(run), "--epochs", "2",
                            "--hidden", "16", "--layers", "1"], capsys)
    assert code == 0, err
    assert "window 10 s, the gtzan corpus's default; median clip 29.98 s" in err
    assert "22050 Hz, 96 mel bins" in err and "answered with one label" in err
    assert "6 train, 2 valid, 2 test clips, 2 classes" in err
    code, out, err = run_cli(["listen", "evaluate", str(run), data, "--split", "test", "--out", str(tmp_path / "e")],
                             capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["clips"] == 2 and report["labels"] == ["blues", "classical"]
    test_piece = tmp_path / "gtzan" / "genres" / "blues" / "blues.00012.wav"
    code, out, _ = run_cli(["listen", "predict", str(run), str(test_piece), "--json"], capsys)
    [prediction] = json.loads(out)
    assert prediction["answer"] == prediction["top"][0]["label"]
    assert len(prediction["segments"]) >= 1 and len(prediction["timeline"]) == 6  # every 5 s, the last one ending with the piece
