"""The checks both compose trainers' options share: sizes of the network, dropout, the optimiser, augmentation."""

from __future__ import annotations

from gruve.errors import check, check_at_least, check_positive


def check_training(options) -> None:
    """Refuse sizes below 1, dropout outside [0, 1), a learning rate not above 0, and negative weight decay or
    transposition, naming the field."""
    for field in ("hidden_size", "num_layers", "batch_size"):
        value = getattr(options, field)
        check_at_least(value, field, 1)
    check(0 <= options.dropout < 1, "dropout", f"{{dropout}} must be at least 0 and below 1 (got {options.dropout}).")
    check_positive(options.lr, "lr")
    for field in ("weight_decay", "transpose"):
        value = getattr(options, field)
        check_at_least(value, field, 0)
