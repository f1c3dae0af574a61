"""Progress on long work: a bar on a terminal for loops long enough to need one, nothing otherwise."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from rich.progress import Progress
from rich.progress import track as rich_track

T = TypeVar("T")
SHORT = 50  # fewer items than this finish before a bar would be read


def track(items: Sequence[T], description: str) -> Iterable[T]:
    """`items`, with a transient progress bar on stderr when there are many of them and a terminal to show it."""
    return rich_track(items, description=description, transient=True,
                      disable=len(items) < SHORT or not sys.stderr.isatty())


@contextmanager
def counting(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A bar as `track` shows one, for work counted in `total` units; advance it by calling what this yields."""
    with Progress(transient=True, disable=total < SHORT or not sys.stderr.isatty()) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)
