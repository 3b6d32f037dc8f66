"""The EM loop: one implementation for every model in emkit.

``em(model, data, init)`` alternates the model's E-step and M-step until one plain
EM step changes the log-likelihood by less than ``tol``. Everything model-specific
lives in the model; this module only knows that statistics add up and that
parameters form a tree of arrays (see :mod:`emkit.engine.stats`).

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

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .run import Run
from .squarem import squarem_loop
from .stats import tree_max_abs_diff
from .steps import EMModel, EMResult, Step

__all__ = ["em", "best_of", "ACCELERATORS"]

ACCELERATORS = (None, "squarem")


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


def _plain_loop(run: Run, params: Any, stats: Any, loglik: float,
                max_iter: int) -> tuple[bool, str]:
    if not run.record_steps:
        return _quiet_loop(run, params, stats, loglik, max_iter)
    for iteration in range(1, max_iter + 1):
        start = time.perf_counter()
        new_params = run.model.m_step(stats)
        new_stats, new_loglik = run.e_step(new_params)
        run.accept(new_params, new_stats, new_loglik)
        run.check_monotone(loglik, new_loglik, iteration, run.slack(stats))
        gain = new_loglik - loglik
        change = tree_max_abs_diff(new_params, params)
        step = Step(iteration, new_loglik, gain, change, time.perf_counter() - start,
                    len(run.logliks), new_params)
        params, stats, loglik = new_params, new_stats, new_loglik
        if run.is_converged(gain, change, loglik):
            run.record(step)
            return True, "converged"
        if not run.record(step):
            return False, "callback"
    return False, "max_iter"


def _quiet_loop(run: Run, params: Any, stats: Any, loglik: float,
                max_iter: int) -> tuple[bool, str]:
    """The plain loop when nobody reads the steps: the same path, no records.

    No parameter change (``param_tol`` is None here), no timing and no
    :class:`Step`; the run still counts its iterations and keeps the last gain.
    """
    slack = getattr(run.model, "monotone_slack", None)
    for iteration in range(1, max_iter + 1):
        new_params = run.model.m_step(stats)
        new_stats, new_loglik = run.e_step(new_params)
        run.accept(new_params, new_stats, new_loglik)
        run.check_monotone(loglik, new_loglik, iteration,
                           0.0 if slack is None else float(slack(stats)))
        gain = new_loglik - loglik
        stats, loglik = new_stats, new_loglik
        run.n_iter, run.last_gain = iteration, gain
        if run.is_converged(gain, 0.0, loglik):
            return True, "converged"
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
    rel_tol: float = 0.0,
    record: bool = True,
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
    rel_tol : float, default 0.0
        Adds a relative part to the log-likelihood rule: converged when
        ``|gain| < tol + rel_tol * (1 + |loglik|)`` (mclust's rule is ``tol=0,
        rel_tol=1e-5``).
    record : bool, default True
        ``False`` keeps no :class:`Step` records (``EMResult.steps`` is empty)
        when nothing reads them (no callback, no :func:`observe` block, no
        ``param_tol``): the same iterates and result, less per-iteration work
        for small data.

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
    if not isinstance(rel_tol, (int, float, np.floating, np.integer)) or not rel_tol >= 0:
        raise ValueError(f"rel_tol must be a non-negative number, got {rel_tol!r}")
    run = Run(model, data, tol, param_tol, callback, float(rel_tol),
              record or accelerate is not None)
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
