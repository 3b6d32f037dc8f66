"""The EM loop: one implementation for every model in emkit.

``em(model, data, init)`` alternates the model's E-step and M-step until one plain
EM step changes the log-likelihood by less than ``tol``. Everything model-specific
lives in the model; this module only knows that statistics add up and that
parameters form a tree of arrays (see :mod:`emkit.stats`).

Convergence, stated once
------------------------
Let ``ell(theta)`` be the observed-data log-likelihood summed over all of ``data``
(the value the model's E-step returns). The run has converged after a *plain EM
step* ``theta -> theta'`` when

* ``|ell(theta') - ell(theta)| < tol`` (an **absolute** change of the **total**
  log-likelihood, so it does not depend on how the data are chunked or where the
  E-step runs), and
* when ``param_tol`` is given, ``max |theta' - theta| < param_tol`` over all
  parameter entries.

Estimators whose tolerance is per row (like scikit-learn's) pass
``tol * n_rows``. ``tol=0`` never converges early, so exactly ``max_iter``
iterations run.

Several starts
--------------
``em`` is single-start on purpose. Estimators with ``n_init > 1`` call it once per
initialization and keep the result with the highest ``loglik`` (see
:func:`best_of`); a start that raises is recorded and skipped unless all fail.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from . import exceptions
from .exceptions import MonotonicityWarning, NumericalError
from .stats import tree_max_abs_diff

__all__ = ["EMModel", "EMResult", "Step", "em", "best_of", "observe"]

#: A plain EM step may lower the log-likelihood by this much (relative) before
#: the engine calls it a bug rather than rounding. Models may override it with a
#: ``monotone_rtol`` attribute.
MONOTONE_RTOL = 1e-10

ACCELERATORS = (None, "squarem")

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


def _validate(tol: float, param_tol: float | None, max_iter: int, accelerate: Any,
              callback: Any) -> None:
    if not isinstance(tol, (int, float, np.floating, np.integer)) or not tol >= 0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    if param_tol is not None and (
        not isinstance(param_tol, (int, float, np.floating, np.integer)) or not param_tol >= 0
    ):
        raise ValueError(f"param_tol must be None or a non-negative number, got {param_tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if accelerate not in ACCELERATORS:
        raise ValueError(f"accelerate must be None or 'squarem', got {accelerate!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None, got {type(callback).__name__}")


class _Run:
    """State shared by the plain and SQUAREM loops: counting, tracking the best."""

    def __init__(self, model: EMModel, data: Any, tol: float, param_tol: float | None,
                 callback: Callable[[Step], Any] | None):
        self.model = model
        self.data = data
        self.tol = float(tol)
        self.param_tol = param_tol
        self.callback = callback
        self.rtol = float(getattr(model, "monotone_rtol", MONOTONE_RTOL))
        self.logliks: list[float] = []
        self.steps: list[Step] = []
        self.best: tuple[float, Any, Any] | None = None
        self.observers = _OBSERVERS.get()

    def e_step(self, params: Any) -> tuple[Any, float]:
        stats, loglik = self.model.e_step(self.data, params)
        loglik = float(loglik)
        self.logliks.append(loglik)
        return stats, loglik

    def accept(self, params: Any, stats: Any, loglik: float) -> None:
        """Record a point on the path; keep it if it is the best so far."""
        if not math.isfinite(loglik):
            raise NumericalError(
                f"the log-likelihood became {loglik} after {len(self.steps)} iterations; "
                "the model's parameters left its domain (check the data's scale, or "
                "add regularization)"
            )
        # A later point whose log-likelihood is lower only by rounding is kept: the
        # run's last parameters are what tol=0 / max_iter promise, and a backend
        # that sums in another order must not return an earlier iterate.
        if self.best is None or loglik >= self.best[0] - self.rtol * max(abs(self.best[0]), 1.0):
            self.best = (loglik, params, stats)

    def check_monotone(self, before: float, after: float, iteration: int) -> None:
        if after < before - self.rtol * max(abs(before), 1.0):
            warnings.warn(
                f"EM step {iteration} lowered the log-likelihood from {before!r} to "
                f"{after!r}; exact EM never does, so the model's E-step or M-step is "
                "inconsistent",
                MonotonicityWarning,
                stacklevel=4,
            )

    def is_converged(self, gain: float, change: float) -> bool:
        if not abs(gain) < self.tol:
            return False
        return self.param_tol is None or change < self.param_tol

    def record(self, step: Step) -> bool:
        """Store a step and run the callback; False means the callback asked to stop."""
        self.steps.append(step)
        for fn in self.observers:
            fn(step)
        if self.callback is not None and self.callback(step) is False:
            return False
        return True

    def result(self, converged: bool, reason: str) -> EMResult:
        assert self.best is not None
        loglik, params, stats = self.best
        if reason == "max_iter":
            warnings.warn(
                f"EM did not converge in {len(self.steps)} iterations (last gain "
                f"{self.steps[-1].gain:.3g}, tol {self.tol:.3g}); raise max_iter, loosen tol "
                "or try accelerate='squarem'",
                exceptions.ConvergenceWarning,
                stacklevel=3,
            )
        return EMResult(
            params=params,
            loglik=loglik,
            n_iter=len(self.steps),
            n_estep=len(self.logliks),
            converged=converged,
            logliks=np.asarray(self.logliks, dtype=float),
            steps=self.steps,
            stop_reason=reason,
            stats=stats,
        )


def _plain_loop(run: _Run, params: Any, stats: Any, loglik: float,
                max_iter: int) -> tuple[bool, str]:
    for iteration in range(1, max_iter + 1):
        start = time.perf_counter()
        new_params = run.model.m_step(stats)
        new_stats, new_loglik = run.e_step(new_params)
        run.accept(new_params, new_stats, new_loglik)
        run.check_monotone(loglik, new_loglik, iteration)
        gain = new_loglik - loglik
        change = tree_max_abs_diff(new_params, params)
        step = Step(iteration, new_loglik, gain, change, time.perf_counter() - start,
                    len(run.logliks), new_params)
        params, stats, loglik = new_params, new_stats, new_loglik
        if run.is_converged(gain, change):
            run.record(step)
            return True, "converged"
        if not run.record(step):
            return False, "callback"
    return False, "max_iter"


def em(
    model: EMModel,
    data: Any,
    init: Any,
    *,
    tol: float = 1e-8,
    param_tol: float | None = None,
    max_iter: int = 1000,
    accelerate: str | None = None,
    callback: Callable[[Step], Any] | None = None,
) -> EMResult:
    """Fit ``model`` to ``data`` by expectation-maximization, starting at ``init``.

    Parameters
    ----------
    model : EMModel
        Any object with ``e_step(data, params) -> (stats, loglik)`` and
        ``m_step(stats) -> params``.
    data : object
        Passed unchanged to ``model.e_step``.
    init : object
        Initial parameters: a number, an array, or a dict/tuple/list of them.
    tol : float, default 1e-8
        Absolute tolerance on the change of the total log-likelihood made by one
        plain EM step (see the module docstring). ``0`` runs ``max_iter`` iterations.
    param_tol : float or None, default None
        If given, convergence also needs the largest absolute parameter change
        of that step to be below it.
    max_iter : int, default 1000
        Most iterations (SQUAREM cycles when accelerated). ``max_iter=1`` makes
        one E-step and one M-step, then evaluates the log-likelihood there.
    accelerate : {None, "squarem"}, default None
        ``"squarem"`` extrapolates along the EM path (Varadhan & Roland 2008,
        scheme S3), falling back to the plain EM step whenever the extrapolated
        point is infeasible or lowers the log-likelihood.
    callback : callable or None
        Called with each :class:`Step`; returning ``False`` stops the run
        (``converged=False``, best parameters so far).

    Returns
    -------
    EMResult

    Raises
    ------
    ValueError
        For a bad argument, naming it, or when the initial parameters give a
        non-finite log-likelihood.
    NumericalError
        When the log-likelihood becomes non-finite during the run.

    Warns
    -----
    ConvergenceWarning
        When ``max_iter`` is reached before the tolerance.
    MonotonicityWarning
        When a plain EM step lowers the log-likelihood beyond rounding.

    Notes
    -----
    Ctrl-C (``KeyboardInterrupt``) during a run stops it and returns the best
    parameters so far with ``stop_reason="interrupted"`` and ``converged=False``.
    """
    _validate(tol, param_tol, max_iter, accelerate, callback)
    run = _Run(model, data, tol, param_tol, callback)
    try:
        stats, loglik = run.e_step(init)
    except (ArithmeticError, np.linalg.LinAlgError) as exc:
        raise ValueError(f"the initial parameters are invalid for this model: {exc}") from exc
    if not math.isfinite(loglik):
        raise ValueError(
            f"the initial parameters give a log-likelihood of {loglik}; "
            "choose initial parameters inside the model's domain"
        )
    run.accept(init, stats, loglik)
    try:
        for fn in run.observers:
            fn(Step(0, loglik, math.nan, math.nan, 0.0, 1, init))
        if accelerate == "squarem":
            from .squarem import squarem_loop

            converged, reason = squarem_loop(run, init, stats, loglik, max_iter)
        else:
            converged, reason = _plain_loop(run, init, stats, loglik, max_iter)
    except KeyboardInterrupt:
        if run.best is None:
            raise
        converged, reason = False, "interrupted"
    return run.result(converged, reason)


def best_of(
    starts: Sequence[Any],
    fit_one: Callable[[Any], EMResult],
) -> tuple[EMResult, list[EMResult | Exception]]:
    """Run ``fit_one`` from each start and keep the result with the highest loglik.

    Parameters
    ----------
    starts : sequence
        Initial parameters (or anything ``fit_one`` understands), one per start.
    fit_one : callable
        Runs one fit, usually ``lambda init: em(model, data, init, ...)``.

    Returns
    -------
    best : EMResult
        The run with the highest final log-likelihood; ties keep the earliest.
    outcomes : list
        Each start's ``EMResult`` or the exception it raised.

    Raises
    ------
    ValueError
        When every start failed: with one start its own error, otherwise a
        ``ValueError`` leading with the first failure's message (chained).
    """
    outcomes: list[EMResult | Exception] = []
    best: EMResult | None = None
    for init in starts:
        try:
            result = fit_one(init)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            outcomes.append(exc)
            continue
        outcomes.append(result)
        if best is None or result.loglik > best.loglik:
            best = result
    if best is None:
        first = next((o for o in outcomes if isinstance(o, Exception)), None)
        if len(outcomes) == 1 and isinstance(first, ValueError):
            raise first  # one start: its own error, unchanged
        # the first failure's message leads, so a user reads the cause first
        raise ValueError(f"{first} (all {len(outcomes)} starts failed)") from first
    return best, outcomes
