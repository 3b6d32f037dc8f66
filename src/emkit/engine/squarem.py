"""SQUAREM acceleration of the EM loop (Varadhan & Roland 2008, scheme S3).

One cycle from ``theta0`` takes two EM maps, ``theta1 = F(theta0)`` and
``theta2 = F(theta1)``, forms ``r = theta1 - theta0`` and
``v = theta2 - 2 theta1 + theta0``, and jumps to

    theta' = theta0 + 2 a r + a**2 v,    a = ||r|| / ||v||   (scheme S3)

followed by one stabilizing EM step ``F(theta')``. The step length follows the
authors' SQUAREM package: ``a`` is clipped to ``[1, step_max]`` (``a = 1`` gives
``theta2``, the plain path); ``step_max`` starts at 1 and grows fourfold each time
the clip binds (a cycle that falls back counts as ``a = 1``), and a rejected
cycle whose ``a`` was the clip divides it by four again (never below 1).

The E-step gives a point's statistics and its log-likelihood at once, so a cycle
needs E-steps only where a log-likelihood or the next map is used: at ``theta1``
(the convergence test), at ``theta'`` (the rejection test; its statistics give the
stabilizing step) and at ``F(theta')``, which starts the next cycle. ``theta2`` is
an M-step from ``theta1``'s statistics; its E-step is made only when the cycle
falls back to it, or to test convergence when ``param_tol`` says it may have.

The cycle is monotone: it ends at a point whose log-likelihood is at least that of
``theta0``, where it started (the authors' ``objfn.inc = 0``), up to rounding: a
point lower by at most ``SCREEN_RTOL * max(|loglik|, 1)`` (about 450 units in the
last place, far inside the engine's own allowance ``MONOTONE_RTOL``) counts as a
tie, so that near the maximum, where the log-likelihood is flat to rounding, a
step is not refused for its last bits. In order:

1. ``F(theta')``, when ``theta'`` is feasible (``model.is_feasible``, an E-step
   that does not raise, a finite log-likelihood) and either ``theta'`` or
   ``F(theta')`` is not below ``theta0`` (when ``theta'`` is below, an M-step or
   E-step that raises on the way to ``F(theta')`` rejects it too);
2. otherwise one shorter try, ``a / 2`` (when still above 1), accepted on the same
   test; the cycle ends at that point itself, whose E-step gives the next cycle's
   statistics (its stabilizing step is the next cycle's ``theta1``), so a
   backtracked cycle costs one E-step more than an accepted one, not two;
3. otherwise ``theta2``, two plain EM steps from ``theta0``.
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
#: the shorter step tried after a rejected one, as a fraction of it
BACKTRACK = 0.5
#: a point this much (relative) below the cycle's start ties with it: rounding
SCREEN_RTOL = 1e-13


def _step_length(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray, step_max: float) -> float:
    r = x1 - x0
    v = x2 - 2.0 * x1 + x0
    sr2 = float(r @ r)
    sv2 = float(v @ v)
    if not (sv2 > 0.0 and math.isfinite(sr2) and math.isfinite(sv2)):
        return 1.0
    return float(np.clip(math.sqrt(sr2 / sv2), 1.0, step_max))


def _extrapolated(tdef: Any, alpha: float, x0: np.ndarray, x1: np.ndarray,
                  x2: np.ndarray) -> Any:
    """The S3 point ``theta0 + 2 a r + a**2 v`` as a parameter tree."""
    r = x1 - x0
    v = x2 - 2.0 * x1 + x0
    return tdef.unflatten(x0 + 2.0 * alpha * r + alpha * alpha * v)


def _try_extrapolate(run: Run, theta: Any, tdef: Any, alpha: float, x0: np.ndarray,
                     x1: np.ndarray, x2: np.ndarray) -> tuple[Any, float] | None:
    """E-step at the extrapolated point; ``None`` when it is infeasible."""
    candidate = _extrapolated(tdef, alpha, x0, x1, x2)
    is_feasible = getattr(run.model, "is_feasible", None)
    if is_feasible is not None and not is_feasible(candidate):
        return None
    try:
        with np.errstate(all="ignore"):
            stats, loglik = run.e_step(candidate)
    except Exception:  # any failure off the EM path rejects the point (see the docstring)
        return None
    if not math.isfinite(loglik):
        return None
    return stats, loglik


def _stabilize(run: Run, point: tuple[Any, float], iteration: int) -> tuple[Any, Any, float]:
    """One plain EM step from an extrapolated point: ``(params, stats, loglik)``."""
    stats, loglik = point
    params = run.model.m_step(stats)
    new_stats, new_loglik = run.e_step(params)
    run.accept(params, new_stats, new_loglik)
    run.check_monotone(loglik, new_loglik, iteration, run.slack(stats))
    return params, new_stats, new_loglik


def _jump(run: Run, params: Any, loglik: float, alpha: float, x: tuple[np.ndarray, ...],
          tdef: Any, iteration: int) -> tuple[Any, Any, float] | None:
    """The accepted end of an extrapolating cycle, or ``None`` to fall back to ``theta2``."""
    floor = loglik - SCREEN_RTOL * max(abs(loglik), 1.0)
    point = _try_extrapolate(run, params, tdef, alpha, *x)
    if point is not None:
        if point[1] >= floor:
            return _stabilize(run, point, iteration)
        # theta' itself is below the start; its EM step may not be, and costs one E-step
        try:
            end = _stabilize(run, point, iteration)
        except Exception:  # an M-step from a rejected point may leave the model's domain
            end = None
        if end is not None and end[2] >= floor:
            return end
    shorter = alpha * BACKTRACK
    if shorter > 1.0:
        point = _try_extrapolate(run, params, tdef, shorter, *x)
        if point is not None and point[1] >= floor:
            candidate = _extrapolated(tdef, shorter, *x)
            run.accept(candidate, *point)
            return candidate, point[0], point[1]
    return None


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
        if run.is_converged(gain1, change1, loglik1):
            run.record(Step(iteration, loglik1, gain1, change1, time.perf_counter() - start,
                            len(run.logliks), theta1))
            return True, "converged"

        theta2 = model.m_step(stats1)
        plain: tuple[Any, float] | None = None  # theta2's E-step, made only when needed
        change2 = tree_max_abs_diff(theta2, theta1)
        if run.param_tol is not None and change2 < run.param_tol:
            plain = _plain_e_step(run, theta2, stats1, loglik1, iteration)
            if run.is_converged(plain[1] - loglik1, change2, plain[1]):
                run.record(Step(iteration, plain[1], plain[1] - loglik, tree_max_abs_diff(
                    theta2, params), time.perf_counter() - start, len(run.logliks), theta2))
                return True, "converged"

        x0, tdef = tree_flatten(params)
        x1, _ = tree_flatten(theta1)
        x2, _ = tree_flatten(theta2)
        alpha = _step_length(x0, x1, x2, step_max)
        end = _jump(run, params, loglik, alpha, (x0, x1, x2), tdef, iteration) \
            if alpha > 1.0 else None
        if end is None:
            if alpha > 1.0 and alpha == step_max:
                step_max = max(STEP_MAX0, step_max / STEP_GROWTH)
            if plain is None:
                plain = _plain_e_step(run, theta2, stats1, loglik1, iteration)
            end = (theta2, plain[0], plain[1])
            used = 1.0
        else:
            used = alpha
        if used == step_max:
            step_max *= STEP_GROWTH

        new_params, new_stats, new_loglik = end
        step = Step(iteration, new_loglik, new_loglik - loglik,
                    tree_max_abs_diff(new_params, params), time.perf_counter() - start,
                    len(run.logliks), new_params, accelerated=used > 1.0)
        params, stats, loglik = new_params, new_stats, new_loglik
        if not run.record(step):
            return False, "callback"
    return False, "max_iter"


def _plain_e_step(run: Run, theta2: Any, stats1: Any, loglik1: float,
                  iteration: int) -> tuple[Any, float]:
    """E-step at ``theta2 = F(theta1)``, checked as a plain EM step."""
    stats2, loglik2 = run.e_step(theta2)
    run.accept(theta2, stats2, loglik2)
    run.check_monotone(loglik1, loglik2, iteration, run.slack(stats1))
    return stats2, loglik2
