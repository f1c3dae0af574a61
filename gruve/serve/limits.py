"""What a server refuses before any model runs: requests without the token, bodies over the size limit (413,
before the body is read in full), and requests beyond the number in flight (503 with Retry-After).

A plain ASGI wrapper around the FastAPI app, outermost, so a refused request costs no parsing and no memory.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from gruve.errors import GruveError, check, check_at_least, check_positive

MB = 1 << 20


@dataclass(kw_only=True)
class Limits:
    """`gruve serve`'s limits, each an option: what one request may ask for, and how many may run at once."""

    upload_mb: float = 20.0  # the largest request body
    audio_seconds: float = 600.0  # the longest recording /listen labels
    pieces: int = 4  # the most pieces or sounds one generation makes
    bars: int = 32  # the most bars of a generated piece (token models)
    tokens: int = 4096  # the most tokens of a generated piece (token models)
    steps: int = 512  # the most time steps of a generated piece (piano-roll models)
    sound_seconds: float = 4.0  # the longest generated sound (synth)
    in_flight: int = 64  # requests at once; more get 503 with Retry-After
    timeout: float = 120.0  # seconds a request may take before it gets 504
    keep_files: float = 3600.0  # seconds generated files stay downloadable

    def __post_init__(self):
        for name in ("upload_mb", "audio_seconds", "sound_seconds", "timeout", "keep_files"):
            check_positive(getattr(self, name), name)
        for name in ("pieces", "bars", "tokens", "steps", "in_flight"):
            check_at_least(getattr(self, name), name, 1)

    @property
    def upload_bytes(self) -> int:
        return int(self.upload_mb * MB)


class Refused(GruveError):
    """A request the server will not run, in one sentence; `status` is its HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class BodyTooLarge(Refused):
    """Raised from `receive` when a body sent without a Content-Length grows past the limit; the app answers
    it as every `Refused`."""

    def __init__(self, message: str):
        super().__init__(message, 413)


class Guard:
    """The ASGI app that checks the token, the body size and the requests in flight, then calls `app`."""

    def __init__(self, app, limits: Limits, token: str | None):
        check(token is None or len(token) >= 8, "token", "{token} must be at least 8 characters long.")
        self.app, self.limits, self.token = app, limits, token
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if self.token is not None and not self._authorised(scope):
            if scope["type"] == "websocket":
                await receive()  # the connect message
                return await send({"type": "websocket.close", "code": 1008, "reason": "wrong or missing token"})
            return await _refuse(send, 401, "this server needs its token: send the header 'Authorization: "
                                            "Bearer TOKEN' or add ?token=TOKEN to the address.")
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limits.upload_bytes):
            return await _refuse(send, 413, self._too_large(length))
        if self.in_flight >= self.limits.in_flight:
            return await _refuse(send, 503, f"the server is busy ({self.in_flight} requests in flight); "
                                            "try again in a second.", [(b"retry-after", b"1")])
        self.in_flight += 1
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limits.upload_bytes:
                raise BodyTooLarge(self._too_large(None))
            return message

        try:
            await self.app(scope, counted_receive, send)
        finally:
            self.in_flight -= 1

    def _authorised(self, scope) -> bool:
        given = _header(scope, b"authorization") or ""
        given = given[len("Bearer "):] if given.startswith("Bearer ") else _query(scope, "token")
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def _too_large(self, length: str | None) -> str:
        size = f" of {int(length) / MB:,.1f} MB" if length and length.isdigit() else ""
        return (f"the request body{size} is larger than this server's limit of {self.limits.upload_mb:g} MB "
                "(--upload-mb).")


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _query(scope, name: str) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


async def _refuse(send, status: int, sentence: str, headers: list | None = None) -> None:
    """Answer with `status` and the JSON error body every gruve error has, and close the connection."""
    body = json.dumps({"error": sentence}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
