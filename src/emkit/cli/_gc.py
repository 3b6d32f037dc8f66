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
import sys
from collections.abc import Iterator

__all__ = ["loading_libraries"]


@contextlib.contextmanager
def loading_libraries() -> Iterator[None]:
    """No garbage collection inside (for imports only); afterwards it runs as before.

    When modules were loaded inside, the objects alive on leaving are frozen: they
    stay, as modules do, and later collections skip them. When none were (the
    libraries were already there, as on a second command in one process), nothing
    is frozen.
    """
    was_enabled = gc.isenabled()
    n_modules = len(sys.modules)
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) > n_modules:
            gc.freeze()
        if was_enabled:
            gc.enable()
