"""The base class for mistakes a user can fix, and the one way options are checked.

The CLI prints these as one sentence, not a traceback. An `OptionError` names the option it is about
with a `{field}` placeholder, so the same check reads right from Python (`top_p`) and from the command
line (`--top-p`).
"""

from __future__ import annotations

import math
from typing import Callable


class GruveError(Exception):
    """A user-facing error whose message is one clear sentence."""


class Interrupted(GruveError):
    """Work stopped by Ctrl-C; the message says what was kept and how to go on. Exit code 130, as for SIGINT."""

    exit_code = 130


class OptionError(GruveError, ValueError):
    """A bad option value. `message` names options as `{field}` placeholders, e.g.
    `OptionError("top_p", "{top_p} must be above 0 and at most 1 (got 1.5).")`."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(self.render(str))

    def render(self, name: Callable[[str], str]) -> str:
        """The message with each `{field}` replaced by `name(field)`: a flag on the command line."""
        return self.message.format_map(_Names(name))


class _Names(dict):
    def __init__(self, name: Callable[[str], str]):
        super().__init__()
        self.name = name

    def __missing__(self, field: str) -> str:
        return self.name(field)


def check(ok: bool, field: str, message: str) -> None:
    """Raise `OptionError(field, message)` unless `ok`: the one-line form of an option check."""
    if not ok:
        raise OptionError(field, message)


def check_positive(value: float | None, field: str, optional: bool = False) -> None:
    """Refuse `value` unless it is a finite number above 0 (or None, where `optional`): temperatures,
    lengths, tempi. NaN and infinity are refused too, since every comparison with NaN is False."""
    if value is None and optional:
        return
    check(value is not None and math.isfinite(value) and value > 0, field, f"{{{field}}} must be above 0 (got {value}).")


def check_at_least(value: int | None, field: str, minimum: int, optional: bool = False) -> None:
    """Refuse `value` below `minimum` (a count, a size, a number of steps), or None unless `optional`."""
    if value is None and optional:
        return
    check(value is not None and value >= minimum, field, f"{{{field}}} must be at least {minimum} (got {value}).")
