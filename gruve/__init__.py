"""gruve: GRU models on sound.

    >>> import gruve
    >>> gruve.load("fsdd-digits").predict("clip.wav").label
"""

__version__ = "0.1.0"


def load(model):
    """A model from a bundle path or the name of a shipped pretrained model (see `gruve.pretrained()`)."""
    from gruve.bundle import load as load_bundle

    return load_bundle(model)


def pretrained() -> list[str]:
    """Names of the models shipped inside the package."""
    from gruve.bundle import pretrained_names

    return pretrained_names()
