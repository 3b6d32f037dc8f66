"""The engine: the one EM loop every model in emkit runs on.

What lives here
---------------
``loop.py``
    :func:`em` (one run) and :func:`best_of` (restarts).
``run.py``
    The state of a run: counting E-steps, keeping the best point, the monotone
    check, convergence, reporting.
``squarem.py``
    SQUAREM acceleration of the same run.
``steps.py``
    :class:`Step`, :class:`EMResult`, the :class:`EMModel` protocol and
    :func:`observe`.
``stats.py``
    Additive statistics and parameter trees: add, scale, flatten.
``rows.py``
    Row-sliceable data: count, slice and batch the rows of a data tree.
``wrapped.py``
    The base of a model built around another (constrained or frozen M-steps,
    pieces of the data): the E-step and unknown attributes forwarded to it.
``online.py``
    Stepwise (online) EM over mini-batches; it reports through the same
    observers as :func:`em`.

What it may import
------------------
NumPy, :mod:`emkit.exceptions` and itself: nothing of the models, distributions,
backends or estimators above it. A model reaches the engine only through the
:class:`EMModel` protocol.
"""

from .loop import ACCELERATORS, best_of, em
from .online import StepwiseEM
from .rows import iter_batches
from .run import MONOTONE_RTOL
from .steps import EMModel, EMResult, Step, observe

__all__ = ["em", "best_of", "observe", "EMModel", "EMResult", "Step", "StepwiseEM",
           "iter_batches", "MONOTONE_RTOL", "ACCELERATORS"]
