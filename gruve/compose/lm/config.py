"""The music language model's dimensions, as a bundle records them, and how its condition labels index
the condition embedding."""

from __future__ import annotations

from dataclasses import dataclass, field

# A condition the model learns from its own augmentation rather than from the corpus's labels: how many
# semitones a training window was transposed by. Generation asks for 0 unless told otherwise, so a model
# trained on transposed pieces still writes in the keys of its corpus.
TRANSPOSITION, UNSHIFTED = "transposition", "0"


@dataclass
class LMConfig:
    """What a MusicLM is: its tokenizer, sizes, condition labels and inputs (everything a bundle needs to
    rebuild it)."""

    tokenizer: str  # REMI, TSD, MIDILike or Structured
    tokenizer_params: dict  # MidiTok's own JSON of the tokenizer, so the bundle decodes what it generates
    vocab_size: int
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.3
    conditions: dict[str, list[str]] = field(default_factory=dict)  # each label conditioned on: its values
    drums: bool = False
    lookback: bool = False  # each input also carries what the bar before played at that point

    @classmethod
    def from_dict(cls, config: dict) -> LMConfig:
        """A config from a bundle's JSON, including bundles from before several labels (one `condition`)."""
        config = dict(config)
        if "condition" in config:  # a bundle from before several labels: one label and its values
            label, values = config.pop("condition"), config.pop("condition_values")
            config["conditions"] = {label: values} if label else {}
        return cls(**config)

    def condition_index(self, chosen: dict[str, str]) -> list[int]:
        """The rows of the condition embedding for one value of every label in `chosen` (the labels' values
        stacked in order); a label left out of `chosen` adds nothing (a piece read without it)."""
        rows, offset = [], 0
        for label, values in self.conditions.items():
            if label in chosen:
                rows.append(offset + values.index(chosen[label]))
            offset += len(values)
        return rows
