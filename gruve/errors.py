"""The one base class for mistakes a user can fix; the CLI prints these as a sentence, not a traceback."""


class GruveError(Exception):
    """A user-facing error whose message is one clear sentence."""
