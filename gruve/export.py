"""ONNX export: every graph a model offers, with its labels and parameters in the file's metadata, each
checked against the torch model with onnxruntime before it is kept.

A model offers its graphs through `onnx_graphs()`, a list of `Graph`: a listen model gives the whole
classifier (waveform in, probabilities out) and its streaming step; a compose language model gives its
step (a token and the state in, logits and the state out); a piano-roll model gives its sampling step
(last frame, state and uniform noise in; next frame and state out).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gruve import files
from gruve.errors import GruveError

OPSET = 17
TOLERANCE = 1e-4  # the largest difference from torch that an export may have


@dataclass
class Graph:
    """One graph to export: `module(*inputs)` with named inputs and outputs; `check` are inputs of other
    shapes to compare onnxruntime with torch on (the dynamic axes at work)."""

    name: str  # "" for the main graph, else the suffix before .onnx
    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    metadata: dict[str, object] = field(default_factory=dict)
    check: list[tuple[torch.Tensor, ...]] = field(default_factory=list)


def export(model: nn.Module, path: str | os.PathLike) -> list[tuple[Path, float]]:
    """Write each of `model`'s graphs next to `path` (`out.onnx`, `out.stream.onnx`, ...); returns each file
    and the largest difference between onnxruntime's outputs and torch's."""
    import onnx

    path = Path(path)
    if path.suffix != ".onnx":
        raise GruveError(f"{path} should end in .onnx.")
    written = []
    for graph in model.eval().onnx_graphs():
        target = path.with_suffix(f".{graph.name}.onnx") if graph.name else path
        with files.atomic_path(target) as tmp:  # checked before it is renamed into place; else removed
            with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
                warnings.simplefilter("ignore")
                torch.onnx.export(graph.module.eval(), graph.inputs, tmp, input_names=graph.input_names,
                                  output_names=graph.output_names, dynamic_axes=graph.dynamic_axes,
                                  opset_version=OPSET, dynamo=False)
            proto = onnx.load(tmp)
            meta = {"gruve_task": model.task, "gruve_graph": graph.name or "model", **graph.metadata}
            for key, value in meta.items():
                proto.metadata_props.add(key=key, value=value if isinstance(value, str) else json.dumps(value))
            onnx.save(proto, tmp)
            difference = max(compare(tmp, graph.module, inputs) for inputs in [graph.inputs, *graph.check])
            if difference > TOLERANCE:
                raise GruveError(f"the exported {target.name} differs from the torch model by {difference:.2g}, "
                                 f"more than {TOLERANCE}; it was not kept.")
        written.append((target, difference))
    return written


def compare(path: Path, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> float:
    """The largest absolute difference between onnxruntime's and torch's outputs on `inputs`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})
    with torch.inference_mode():
        expected = module(*inputs)
    expected = expected if isinstance(expected, (tuple, list)) else [expected]
    return max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))
