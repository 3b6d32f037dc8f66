"""Garbage collection while a command loads its libraries.

Importing SciPy, pandas, scikit-learn and numba makes millions of objects, none of
them garbage, and the collector walks them again and again as they pile up.
:func:`loading_libraries` pauses it for the imports and then freezes what they
made (``gc.freeze``), so that the collections during the fit walk only the
command's own objects.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["loading_libraries"]


@contextlib.contextmanager
def loading_libraries() -> Iterator[None]:
    """No garbage collection inside (for imports only); afterwards it runs as before.

    The objects alive on leaving are frozen: they stay, as modules do, and later
    collections skip them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
