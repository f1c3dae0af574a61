"""Model bundles: one `.safetensors` file, weights as tensors and everything else as JSON in its header.

Loading never unpickles, so a model file from a stranger cannot run code. Shipped
pretrained models live in `gruve/pretrained/` and are found by name.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import types
import typing
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from gruve.errors import GruveError
from gruve.files import atomic_path

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
SUFFIX = ".safetensors"
TASKS = {"listen": "gruve.listen.model:AudioClassifier", "transcribe": "gruve.listen.transcriber:Transcriber",
         "pianoroll": "gruve.compose.pianoroll.model:PianoRollModel",
         "compose": "gruve.compose.lm.model:MusicLM", "synth": "gruve.synth.model:WaveGRU",
         "recommend": "gruve.recommend.model:GRU4Rec"}


# Config fields renamed since a bundle was written, per task: {old name: new name}. Applied on reading, so
# models trained with an earlier gruve keep loading.
RENAMED: dict[str, dict[str, str]] = {
    "listen": {},
    "transcribe": {},
    "pianoroll": {"model": "architecture", "hidden": "hidden_size", "layers": "num_layers"},
    "compose": {"hidden": "hidden_size", "layers": "num_layers"},
    "synth": {"sample_rate": "sr", "hidden": "hidden_size"},
    "recommend": {},
}


# Bounds on the numbers in a model's config, checked before anything is built from it. The weights the
# config describes must match those the file holds (so they can be no larger than the file), but some
# sizes are not weights: the features' n_fft, a sample rate, a window's length. Every whole number is a
# count or a size, from 0 to MAX_COUNT, and every number finite; these names, wherever they appear
# (nested configs included), have bounds of their own: generous, but far from terabytes.
MAX_COUNT = 1 << 20
BOUNDS = {"sr": (1, 768_000), "n_fft": (1, 1 << 16), "hop_length": (1, 1 << 16), "n_mels": (1, 1024),
          "num_layers": (1, 64), "hidden_size": (1, 1 << 14), "lags": (1, 64), "bands": (1, 1024),
          "steps_per_quarter": (1, 960), "conv_time_pool": (1, 16), "conv_channels": (1, 4096),
          "window": (1e-3, 3600.0), "seconds": (1e-3, 3600.0), "dropout": (0.0, 1.0), "amin": (1e-30, 1.0)}
MAX_ITEMS = 64  # entries of a list of numbers (a size per layer)


class BundleError(GruveError):
    """A model name or file that cannot be loaded."""


class ConfigError(GruveError):
    """A config from a bundle's metadata that gruve cannot build a model from; `load` names the file."""


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
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    except (SafetensorError, OSError) as error:
        raise BundleError(f"{path} is not a gruve model file ({error}).") from None
    if header is None:
        raise BundleError(f"{path} is a safetensors file but not a gruve model (no gruve metadata).")
    try:
        meta = json.loads(header)
    except json.JSONDecodeError as error:
        raise BundleError(f"{path} has gruve metadata that is not valid JSON ({error}).") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise BundleError(f"{path} has gruve metadata without a model config (a JSON object under \"config\").")
    return upgrade(meta), tensors


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


def load(model: str | os.PathLike, task: str | tuple[str, ...] | None = None) -> torch.nn.Module:
    """Build the model a bundle describes and load its weights; ready for inference. With `task` (a task, or
    the tasks a command takes), a bundle of another task is refused. The config is checked (see `config`), and the model is first built on
    torch's meta device, which allocates nothing, so that weights of other shapes than the file holds are
    refused before any memory is spent on them."""
    path = locate(model)
    meta, tensors = read(path)
    found = meta.get("task")
    if found not in TASKS:
        raise BundleError(f"{model} holds a {found!r} model, which this version of gruve does not know.")
    tasks = (task,) if isinstance(task, str) else task
    if tasks is not None and found not in tasks:
        raise BundleError(f"{model} is a {found} model, and this command needs a {' or '.join(tasks)} model.")
    cls = model_class(found)
    try:
        made = config(cls.config_class, meta["config"])
        with torch.device("meta"):
            shapes = {name: tuple(t.shape) for name, t in cls(made).state_dict().items()}
    except ConfigError as error:
        raise BundleError(f"{path} has a config gruve cannot use: {error}") from None
    except (GruveError, TypeError, ValueError, KeyError, RuntimeError) as error:  # raised by the model's layers
        raise BundleError(f"{path} has a config gruve cannot build a model from ({error}).") from None
    check_weights(path, shapes, tensors)
    module = cls(made)
    module.load_state_dict(tensors)
    module.meta = meta
    return module.eval()


def check_weights(path: Path, shapes: dict[str, tuple], tensors: dict[str, torch.Tensor]) -> None:
    """Refuse a bundle whose tensors are not the weights its config describes (`shapes`: name to shape)."""
    missing, extra = sorted(shapes.keys() - tensors.keys()), sorted(tensors.keys() - shapes.keys())
    if missing or extra:
        parts = [f"{what} {', '.join(names[:3])}{'…' if len(names) > 3 else ''}"
                 for what, names in (("lacks", missing), ("has unexpected", extra)) if names]
        raise BundleError(f"{path} does not hold the weights its config describes (it {' and '.join(parts)}).")
    for name, shape in shapes.items():
        if tuple(tensors[name].shape) != shape:
            raise BundleError(f"{path} does not hold the weights its config describes ({name} is "
                              f"{_shape(tensors[name].shape)}, and the config makes it {_shape(shape)}).")


def _shape(shape: tuple) -> str:
    return "x".join(map(str, shape)) or "a scalar"


def config(cls: type, data: dict):
    """The config dataclass `cls` built from a bundle's JSON `data` (with `cls.from_dict` where it has
    one), once its fields are known, of their types and within their bounds (see BOUNDS); a `ConfigError`
    says what is wrong. `load` builds each model's `config_class` through this."""
    try:
        made = cls.from_dict(data) if hasattr(cls, "from_dict") else cls(**data)
    except TypeError as error:  # an unknown or missing field, or a value a __post_init__ cannot convert
        raise ConfigError(_fields_problem(cls, data) or f"{error}.") from None
    except KeyError as error:  # a field an older form of the config needs with another (see `from_dict`)
        raise ConfigError(f"it lacks the field {error.args[0]}.") from None
    except (GruveError, ValueError) as error:
        raise ConfigError(f"{str(error).rstrip('.')}.") from None
    _check_values(made, "")
    return made


def _fields_problem(cls: type, data: dict, where: str = "") -> str | None:
    """What is wrong with the keys of `data` as the fields of dataclass `cls` (or its nested dataclasses)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        return f"it has unknown fields {', '.join(where + key for key in unknown)}."
    required = [name for name, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        return f"it lacks the fields {', '.join(where + name for name in missing)}."
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if dataclasses.is_dataclass(hints[name]) and isinstance(value, dict):
            problem = _fields_problem(hints[name], value, f"{where}{name}.")
            if problem:
                return problem
    return None


def _check_values(made, where: str) -> None:
    """Raise `ConfigError` unless every field of dataclass instance `made` is of its annotated type and
    every number in it is within bounds."""
    for name, hint in typing.get_type_hints(type(made)).items():
        value, label = getattr(made, name), where + name
        if not conforms(value, hint):
            raise ConfigError(f"{label} must be {describe_type(hint)} (got {json.dumps(value, default=repr)}).")
        if dataclasses.is_dataclass(value):
            _check_values(value, label + ".")
        else:
            _check_numbers(name, value, label)


def _check_numbers(name: str, value, label: str, nested: bool = False) -> None:
    """Bounds on the numbers in a field's `value`. Within an object (a FeatureConfig's fields, MidiTok's
    own parameters) only the numbers named in BOUNDS are checked: the rest is not gruve's to bound."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_numbers(key, item, f"{label}.{key}", nested=True)
    elif isinstance(value, (list, tuple)):
        if not nested and len(value) > MAX_ITEMS and all(isinstance(v, (int, float)) for v in value):
            raise ConfigError(f"{label} has {len(value):,} entries, more than the {MAX_ITEMS} gruve allows.")
        for item in value:
            _check_numbers(name, item, label, nested)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and (name in BOUNDS or not nested):
        low, high = BOUNDS.get(name, (0, MAX_COUNT if isinstance(value, int) else math.inf))
        if not (math.isfinite(value) and low <= value <= high):
            raise ConfigError(f"{label} must be from {low:g} to {high:g} (got {value}).")


def conforms(value, hint) -> bool:
    """Whether `value` (from JSON, or as a config's __post_init__ converted it) is of type `hint`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, origin) and all(conforms(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(conforms(k, args[0]) and conforms(v, args[1])
                                               for k, v in value.items())
    return isinstance(value, hint)


def describe_type(hint, plural: bool = False) -> str:
    """A type annotation in words (`plural`: as the items of a list)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(arg, plural) for arg in args)
    if origin in (list, tuple):
        return f"{'lists' if plural else 'a list'} of {describe_type(args[0], True)}"
    if origin is dict:
        return f"{'objects' if plural else 'an object'} of {describe_type(args[1], True)}"
    words = {type(None): ("null", "nulls"), bool: ("true or false", "true or false"), int: ("a whole number",
             "whole numbers"), float: ("a number", "numbers"), str: ("a string", "strings"),
             dict: ("an object", "objects"), list: ("a list", "lists")}
    name = getattr(hint, "__name__", str(hint))
    return words.get(hint, (f"a {name}", f"{name}s"))[plural]
