"""SQUAREM acceleration of the EM loop (Varadhan & Roland 2008, scheme S3).

One cycle from ``theta0`` takes two plain EM steps, ``theta1 = F(theta0)`` and
``theta2 = F(theta1)``, forms ``r = theta1 - theta0`` and
``v = theta2 - 2 theta1 + theta0``, and jumps to

    theta' = theta0 + 2 a r + a**2 v,    a = ||r|| / ||v||   (scheme S3)

followed by one stabilizing EM step ``F(theta')``. Safeguards, as in the authors'
SQUAREM package: ``a`` is clipped to ``[1, step_max]`` (``a = 1`` gives
``theta' = theta2``, the plain path); ``step_max`` starts at 1 and grows fourfold
each time the clip binds on an accepted step; a rejected step length ``a`` sets
``step_max`` to ``max(1, a / 4)``, so a run does not keep proposing jumps of a
length that just failed (the authors' package shrinks only a clipped step).

The extrapolated point is rejected, and the cycle continues on the plain EM path
with ``F(theta2)``, when it is infeasible (``model.is_feasible`` says so, or the
E-step raises), when its log-likelihood is not finite, or when it is below the
log-likelihood of ``theta2``. So an accelerated cycle never ends below where two
plain EM steps would have gone, and the run keeps EM's monotone guarantee.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .run import Run
from .stats import tree_flatten, tree_max_abs_diff
from .steps import Step

__all__ = ["squarem_loop"]

STEP_MAX0 = 1.0
STEP_GROWTH = 4.0


def _step_length(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray, step_max: float) -> float:
    r = x1 - x0
    v = x2 - 2.0 * x1 + x0
    sr2 = float(r @ r)
    sv2 = float(v @ v)
    if not (sv2 > 0.0 and math.isfinite(sr2) and math.isfinite(sv2)):
        return 1.0
    return float(np.clip(math.sqrt(sr2 / sv2), 1.0, step_max))


def _try_extrapolate(run: Run, theta: Any, tdef: Any, alpha: float, x0: np.ndarray,
                     x1: np.ndarray, x2: np.ndarray) -> tuple[Any, float] | None:
    """E-step at the extrapolated point; ``None`` when it is infeasible."""
    r = x1 - x0
    v = x2 - 2.0 * x1 + x0
    candidate = tdef.unflatten(x0 + 2.0 * alpha * r + alpha * alpha * v)
    is_feasible = getattr(run.model, "is_feasible", None)
    if is_feasible is not None and not is_feasible(candidate):
        return None
    try:
        with np.errstate(all="ignore"):
            stats, loglik = run.e_step(candidate)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None
    if not math.isfinite(loglik):
        return None
    return stats, loglik


def squarem_loop(run: Run, params: Any, stats: Any, loglik: float,
                 max_iter: int) -> tuple[bool, str]:
    """Run SQUAREM cycles from ``params`` (whose E-step gave ``stats, loglik``)."""

    step_max = STEP_MAX0
    for iteration in range(1, max_iter + 1):
        start = time.perf_counter()
        model = run.model

        theta1 = model.m_step(stats)
        stats1, loglik1 = run.e_step(theta1)
        run.accept(theta1, stats1, loglik1)
        run.check_monotone(loglik, loglik1, iteration, run.slack(stats))
        gain1 = loglik1 - loglik
        change1 = tree_max_abs_diff(theta1, params)
        if run.is_converged(gain1, change1):
            run.record(Step(iteration, loglik1, gain1, change1, time.perf_counter() - start,
                            len(run.logliks), theta1))
            return True, "converged"

        theta2 = model.m_step(stats1)
        stats2, loglik2 = run.e_step(theta2)
        run.accept(theta2, stats2, loglik2)
        run.check_monotone(loglik1, loglik2, iteration, run.slack(stats1))

        x0, tdef = tree_flatten(params)
        x1, _ = tree_flatten(theta1)
        x2, _ = tree_flatten(theta2)
        alpha = _step_length(x0, x1, x2, step_max)
        jumped = None
        if alpha > 1.0:
            jumped = _try_extrapolate(run, params, tdef, alpha, x0, x1, x2)
            if jumped is not None and jumped[1] < loglik2:
                jumped = None

        last_stats = jumped[0] if jumped is not None else stats2
        new_params = model.m_step(last_stats)
        if jumped is None and alpha > 1.0:
            step_max = max(STEP_MAX0, alpha / STEP_GROWTH)
        elif alpha == step_max:
            step_max *= STEP_GROWTH
        new_stats, new_loglik = run.e_step(new_params)
        run.accept(new_params, new_stats, new_loglik)
        run.check_monotone(jumped[1] if jumped is not None else loglik2, new_loglik, iteration,
                           run.slack(last_stats))

        step = Step(iteration, new_loglik, new_loglik - loglik,
                    tree_max_abs_diff(new_params, params), time.perf_counter() - start,
                    len(run.logliks), new_params, accelerated=jumped is not None)
        params, stats, loglik = new_params, new_stats, new_loglik
        if not run.record(step):
            return False, "callback"
    return False, "max_iter"
