"""mgdsl: describe microgrids and a distribution network once; compile to linopy models solved by HiGHS."""
from .diagnostics import InternalError, MgdError

__version__ = "0.1.0"
__all__ = ["InternalError", "MgdError", "load", "loads", "__version__"]


def load(path, **kwargs):
    """Read, check and return a compiled System from a .mgd file (see mgdsl.api.System)."""
    from .api import load as _load

    return _load(path, **kwargs)


def loads(text, path="<string>", **kwargs):
    """Like load, from a string."""
    from .api import loads as _loads

    return _loads(text, path=path, **kwargs)
