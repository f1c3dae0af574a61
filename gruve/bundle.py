"""Model bundles: one `.safetensors` file, weights as tensors and everything else as JSON in its header.

Loading never unpickles, so a model file from a stranger cannot run code. Shipped
pretrained models live in `gruve/pretrained/` and are found by name.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from gruve.errors import GruveError
from gruve.files import atomic_path

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
SUFFIX = ".safetensors"
TASKS = {"listen": "gruve.listen.model:AudioClassifier", "pianoroll": "gruve.compose.pianoroll.model:PianoRollModel",
         "compose": "gruve.compose.lm.model:MusicLM", "synth": "gruve.synth.model:WaveGRU"}


# Config fields renamed since a bundle was written, per task: {old name: new name}. Applied on reading, so
# models trained with an earlier gruve keep loading.
RENAMED: dict[str, dict[str, str]] = {
    "listen": {},
    "pianoroll": {"model": "architecture", "hidden": "hidden_size", "layers": "num_layers"},
    "compose": {"hidden": "hidden_size", "layers": "num_layers"},
    "synth": {"sample_rate": "sr", "hidden": "hidden_size"},
}


class BundleError(GruveError):
    """A model name or file that cannot be loaded."""


def pretrained_names() -> list[str]:
    """Names of the models shipped in gruve/pretrained/, which `load` finds by name."""
    return sorted(p.name[: -len(SUFFIX)] for p in PRETRAINED_DIR.glob(f"*{SUFFIX}"))


def locate(model: str | os.PathLike) -> Path:
    """A bundle's path from a path or the name of a shipped model."""
    path = Path(model)
    if path.is_file():
        return path
    if path.is_dir() and (path / f"model{SUFFIX}").is_file():
        return path / f"model{SUFFIX}"
    shipped = PRETRAINED_DIR / f"{model}{SUFFIX}"
    if shipped.is_file():
        return shipped
    names = ", ".join(pretrained_names()) or "none"
    raise BundleError(f"{model} is neither a model file nor a shipped model (shipped: {names}).")


def save(path: str | os.PathLike, module: torch.nn.Module, meta: dict) -> Path:
    """Write `module`'s weights and `meta` (JSON-able) atomically to `path`."""
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={"gruve": json.dumps(meta)})
    return path


def read(model: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """The metadata and tensors of a bundle, without building a model."""
    path = locate(model)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = (f.metadata() or {}).get("gruve")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as error:
        raise BundleError(f"{path} is not a gruve model file ({error}).") from None
    if header is None:
        raise BundleError(f"{path} is a safetensors file but not a gruve model (no gruve metadata).")
    return upgrade(json.loads(header)), tensors


def upgrade(meta: dict) -> dict:
    """`meta` with its config's fields under their current names (see RENAMED)."""
    renamed = RENAMED.get(meta.get("task"), {})
    if renamed and isinstance(meta.get("config"), dict):
        meta["config"] = {renamed.get(key, key): value for key, value in meta["config"].items()}
    return meta


def model_class(task: str) -> type:
    """The model class of a task's bundles (imported on first use: each capability imports its own stack)."""
    module_name, class_name = TASKS[task].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def load(model: str | os.PathLike, task: str | None = None) -> torch.nn.Module:
    """Build the model a bundle describes and load its weights; ready for inference. With `task`, a bundle
    of another task is refused."""
    meta, tensors = read(model)
    found = meta.get("task")
    if found not in TASKS:
        raise BundleError(f"{model} holds a {found!r} model, which this version of gruve does not know.")
    if task is not None and found != task:
        raise BundleError(f"{model} is a {found} model, and this command needs a {task} model.")
    module = model_class(found).from_meta(meta)
    module.load_state_dict(tensors)
    module.meta = meta
    return module.eval()
