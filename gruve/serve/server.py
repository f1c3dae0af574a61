"""`gruve serve`: the options, the models loaded once, and uvicorn running the app on them."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field

from gruve.errors import GruveError, check, check_at_least
from gruve.serve.limits import Limits

OPTIONS_VARIABLE = "GRUVE_SERVE_OPTIONS"  # how each of several worker processes learns the options


@dataclass(kw_only=True)
class ServeOptions:
    """Which models to serve, where, to whom, and within which limits."""

    models: list[str] = field(default_factory=list)  # shipped names, bundle files or run folders; none: all shipped
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # server processes, each with every model loaded
    token: str | None = None  # needed on every request; required to bind beyond this machine
    threads: int = 1  # torch threads per model call (two calls run at once: one listening, one generating)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self):
        if isinstance(self.limits, dict):
            self.limits = Limits(**self.limits)
        check(1 <= self.port <= 65535, "port", "{port} must be from 1 to 65535.")
        check_at_least(self.workers, "workers", 1)
        check_at_least(self.threads, "threads", 1)
        check(self.token is not None or _loopback(self.host), "token",
              f"binding to {self.host} lets other machines in: give {{token}} (or set GRUVE_TOKEN), which every "
              "request must then carry.")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_free(host: str, port: int) -> None:
    """Refuse, in one sentence, an address another program already listens on (uvicorn would log it after
    every model had loaded)."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise GruveError(f"cannot listen on {host}:{port} ({reason}): another server may hold "
                         "it; choose another with --port.") from None


def build(options: ServeOptions):
    """The ASGI app serving `options.models` (loaded here, once) within `options.limits`."""
    import torch

    from gruve.serve.app import create_app, load_models

    torch.set_num_threads(options.threads)
    return create_app(load_models(options.models), options.limits, options.token)


def from_environment():
    """The app of the options a `gruve serve --workers N` parent left in the environment (uvicorn's factory)."""
    return build(ServeOptions(**json.loads(os.environ[OPTIONS_VARIABLE])))


def serve(options: ServeOptions) -> None:
    """Load the models and answer requests until interrupted; a port that is taken is said before any model
    is loaded."""
    import uvicorn

    _check_free(options.host, options.port)
    common = dict(host=options.host, port=options.port, log_level="info", timeout_keep_alive=30)
    if options.workers == 1:
        return uvicorn.run(build(options), **common)
    os.environ[OPTIONS_VARIABLE] = json.dumps(asdict(options))
    uvicorn.run("gruve.serve.server:from_environment", factory=True, workers=options.workers, **common)
