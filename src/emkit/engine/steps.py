"""What a run reports: :class:`Step` records, the :class:`EMResult`, the model protocol,
and :func:`observe`, which lets tools watch every run inside a block.

Nothing here runs EM; :mod:`emkit.engine.loop` does.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["EMModel", "EMResult", "Step", "observe", "current_observers"]

_OBSERVERS: contextvars.ContextVar[tuple[Callable[[Step], Any], ...]] = contextvars.ContextVar(
    "emkit_observers", default=()
)


@contextlib.contextmanager
def observe(fn: Callable[[Step], Any]) -> Iterator[Callable[[Step], Any]]:
    """Call ``fn`` with every :class:`Step` of every :func:`em` run inside the block.

    This is how tools watch estimators that run the engine internally (the
    ``emkit`` command's ``--trace`` and progress bar, :mod:`emkit.trace`). Each run
    first reports its starting point as a ``Step`` with ``iteration=0`` (``gain``
    and ``param_change`` NaN, ``params`` the initial parameters), then every
    iteration, as ``callback`` sees them. ``fn``'s return value is ignored; a
    ``KeyboardInterrupt`` it raises stops the run like Ctrl-C.
    """
    token = _OBSERVERS.set((*_OBSERVERS.get(), fn))
    try:
        yield fn
    finally:
        _OBSERVERS.reset(token)


@runtime_checkable
class EMModel(Protocol):
    """What the engine needs from a model.

    Methods
    -------
    e_step(data, params) -> (stats, loglik)
        Expected sufficient statistics of the complete data given ``data`` at
        ``params``, **additive over rows** of ``data`` (a number, an array, or a
        dict/tuple/list of them), and the observed-data log-likelihood of ``data``
        at ``params`` (a float).
    m_step(stats) -> params
        The parameters maximizing the expected complete-data log-likelihood.

    Optional members
    ----------------
    is_feasible(params) -> bool
        ``False`` for parameters outside the model's domain (weights off the
        simplex, a non-positive variance). SQUAREM's extrapolated points are
        checked with it; without it only a finite log-likelihood is required.
    monotone_rtol : float
        Relative decrease of the log-likelihood a plain EM step may show before a
        :class:`~emkit.MonotonicityWarning` (default ``1e-10``).
    monotone_slack(stats) -> float
        A further absolute decrease the M-step from ``stats`` may cause because it
        is not the exact maximizer of ``Q`` (a regularized step); default 0.
    """

    def e_step(self, data: Any, params: Any) -> tuple[Any, float]: ...

    def m_step(self, stats: Any) -> Any: ...


@dataclass(frozen=True)
class Step:
    """One engine iteration, as passed to ``callback`` and kept in ``EMResult.steps``.

    Attributes
    ----------
    iteration : int
        1 for the first iteration.
    loglik : float
        Log-likelihood at ``params`` (the parameters this iteration produced).
    gain : float
        ``loglik`` minus the log-likelihood before the iteration.
    param_change : float
        Largest absolute change of any parameter entry in this iteration.
    seconds : float
        Wall time of the iteration.
    n_estep : int
        E-steps made so far in the run (cumulative).
    params : object
        The parameters after the iteration (same structure as ``init``).
    accelerated : bool
        True when a SQUAREM extrapolation was accepted in this iteration.
    """

    iteration: int
    loglik: float
    gain: float
    param_change: float
    seconds: float
    n_estep: int
    params: Any = field(repr=False)
    accelerated: bool = False


@dataclass
class EMResult:
    """The outcome of :func:`em`.

    Attributes
    ----------
    params : object
        Fitted parameters, same structure as ``init``: the best reached.
    loglik : float
        Observed-data log-likelihood at ``params``.
    n_iter : int
        Iterations done; with SQUAREM one extrapolation cycle counts as one.
    n_estep : int
        E-step evaluations made, the honest cost measure.
    converged : bool
        True only when the tolerance was met (never when ``max_iter`` was hit).
    logliks : numpy.ndarray of shape (n_estep,)
        Log-likelihood of every E-step made, in order.
    steps : list of Step
        One record per iteration.
    stop_reason : str
        ``"converged"``, ``"max_iter"``, ``"callback"`` or ``"interrupted"``.
    stats : object
        Sufficient statistics at ``params`` (the E-step that gave ``loglik``).
    """

    params: Any
    loglik: float
    n_iter: int
    n_estep: int
    converged: bool
    logliks: np.ndarray
    steps: list[Step]
    stop_reason: str
    stats: Any = field(default=None, repr=False)


def current_observers() -> tuple[Callable[[Step], Any], ...]:
    """The functions :func:`observe` registered for the current context, outermost first."""
    return _OBSERVERS.get()
