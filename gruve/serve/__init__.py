"""serve: every loaded model over HTTP and in a web page; the Python face of `gruve serve`.

::

    from gruve import serve

    serve.serve(serve.ServeOptions(models=["fsdd-digits", "bach-chorales"], port=8000))
    app = serve.build(serve.ServeOptions())      # the ASGI app, for uvicorn or a test client

The app is a thin layer over the capabilities' Python API (see `gruve.serve.app`); the page is one file,
`page.html`, with no build step and nothing fetched from elsewhere.
"""

from __future__ import annotations

from gruve.lazy import exports

_EXPORTS = {
    "ServeOptions": "gruve.serve.server",
    "serve": "gruve.serve.server",
    "build": "gruve.serve.server",
    "Limits": "gruve.serve.limits",
    "create_app": "gruve.serve.app",
    "load_models": "gruve.serve.app",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
