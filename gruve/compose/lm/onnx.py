"""The music language model as ONNX: one step, a token and the state in, the next token's logits and the
state out, with the tokenizer and how to drive the step in the file's metadata."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from gruve.compose.lm.model import MusicLM


def step_graph(model: MusicLM):
    """The `gruve.export.Graph` of one step (a token and the state in, and the piece's label rows and the
    token's lookback when the model takes them; logits and the state out)."""
    from gruve.export import Graph

    config = model.config
    names = ["token", "hidden"]
    example = [torch.tensor([1, 5]), torch.zeros(config.num_layers, 2, config.hidden_size)]
    check = [torch.tensor([7]), torch.randn(config.num_layers, 1, config.hidden_size)]
    usage = ("Start with the BOS token and a zero state; sample the next token from softmax(logits), feed it "
             "back with hidden_out. Decode the tokens with MidiTok and the tokenizer configuration in this metadata.")
    if model.conditions is not None:
        rows = torch.tensor([[0] * len(config.conditions), config.condition_index(
            {label: values[-1] for label, values in config.conditions.items()})])
        names, example, check = [*names, "condition"], [*example, rows], [*check, rows[1:]]
        usage += (" condition (batch, labels): for each label of config.conditions in order, the index of its "
                  "value plus the count of the values of the labels before it.")
    if model.lookback is not None:
        names, example, check = [*names, "lookback"], [*example, torch.tensor([0, 9])], [*check, torch.tensor([12])]
        usage += (" lookback (batch,): with each token, the token that followed the same point of the bar before "
                  "(PAD where there is none), as gruve.compose.lm.tokens.Lookback tracks it.")
    return Graph("", Step(model), tuple(example), names, ["logits", "hidden_out"],
                 {"token": {0: "batch"}, "condition": {0: "batch"}, "lookback": {0: "batch"}, "hidden": {1: "batch"},
                  "hidden_out": {1: "batch"}, "logits": {0: "batch"}},
                 {"config": {k: v for k, v in asdict(config).items() if k != "tokenizer_params"},
                  "tokenizer": config.tokenizer_params, "usage": usage}, check=[tuple(check)])


class Step(nn.Module):
    """`MusicLM.step` with the optional inputs positional, as an exported graph takes them."""

    def __init__(self, model: MusicLM):
        super().__init__()
        self.model = model

    def forward(self, token: torch.Tensor, hidden: torch.Tensor, *rows_and_lookback: torch.Tensor):
        condition = rows_and_lookback[0] if self.model.conditions is not None else None
        lookback = rows_and_lookback[-1] if self.model.lookback is not None else None
        return self.model.step(token, hidden, condition, lookback)
