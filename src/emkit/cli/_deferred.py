"""Modules the ``emkit`` process loads only when something uses them.

scikit-learn's ``sklearn.utils.fixes`` imports ``scipy.stats`` when
``GaussianMixture`` (through ``sklearn.base``) is imported, and uses it only inside
functions a fit never calls; with SciPy 1.17 that import alone is ~0.5-1.1 s of an
``emkit fit`` on 272 rows (it formats hundreds of distribution docstrings).
:func:`defer_imports` puts a stand-in module in ``sys.modules`` for each name in
:data:`DEFERRED`, so that ``import scipy.stats`` costs nothing; the first
attribute read from it (``scipy.stats.norm``, ``from scipy.stats import norm``)
imports the real module, puts it in the stand-in's place (in ``sys.modules`` and
on the parent package) and answers from it. Code that uses the module sees the
real one; only the moment it is loaded changes. Importing one of its submodules
loads it too (the import reads the stand-in's ``__path__``, which it lacks).

Only the command-line process does this (:func:`emkit.cli.main` run as the
``emkit`` program); importing emkit as a library never touches ``sys.modules``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

__all__ = ["DEFERRED", "DeferredModule", "defer_imports"]

#: Modules imported on the way to scikit-learn's estimator base and not used by a fit.
DEFERRED: tuple[str, ...] = ("scipy.stats",)

_LOCK = threading.RLock()


class DeferredModule(types.ModuleType):
    """Stands in for a module until its first attribute is read (then loads it)."""

    def __getattr__(self, attr: str) -> Any:  # only for names the stand-in lacks
        return getattr(self._load(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def _load(self) -> types.ModuleType:
        name = self.__name__
        with _LOCK:
            if sys.modules.get(name) is self:
                del sys.modules[name]
            real = importlib.import_module(name)
            parent, _, child = name.rpartition(".")
            if parent in sys.modules and getattr(sys.modules[parent], child, None) is self:
                setattr(sys.modules[parent], child, real)
        return real


def defer_imports(names: tuple[str, ...] = DEFERRED) -> list[str]:
    """Put a :class:`DeferredModule` in ``sys.modules`` for each of ``names`` not loaded.

    Parameters
    ----------
    names : tuple of str
        Dotted module names; a name already imported, or one that cannot be found,
        is left as it is.

    Returns
    -------
    list of str
        The names now deferred.
    """
    done = []
    for name in names:
        if name in sys.modules:
            continue
        parent, _, child = name.rpartition(".")
        try:
            spec = importlib.util.find_spec(name)  # imports the parent package only
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        stand_in = DeferredModule(name)
        stand_in.__spec__ = spec
        stand_in.__file__ = spec.origin
        # No __path__: importing a submodule (``scipy.stats.contingency``) reads it
        # and so loads the real package first.
        sys.modules[name] = stand_in
        if parent:
            setattr(sys.modules[parent], child, stand_in)
        done.append(name)
    return done
