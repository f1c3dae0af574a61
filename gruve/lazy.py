"""Lazy exports for packages (PEP 562): a package names what it offers, and each name is imported on first use.

Training needs Lightning, which takes seconds to import; `gruve listen predict` and `import gruve` must not
wait for it. So each package's `__init__.py` lists its public names and where they live, and nothing more.
"""

from __future__ import annotations

import importlib
from typing import Callable


def exports(package: str, where: dict[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """The `__getattr__` and `__dir__` of `package`, whose public names `where` maps to the module that
    defines each (`"training"` for `package.training`, or a full module name). A name, once imported, is kept
    in `namespace` (the package's globals), so later look-ups are plain attribute reads."""

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = where[name] if where[name].startswith("gruve.") else f"{package}.{where[name]}"
        namespace[name] = value = getattr(importlib.import_module(module), name)
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
