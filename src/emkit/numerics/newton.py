"""The safeguarded Newton step of generalized EM, from additive statistics alone.

A model's part of EM's ``Q`` is a concave function ``f`` of its coefficients.
The E-step gives, at the current coefficients, its gradient ``g`` and minus its
Hessian ``H`` (both sums over rows, so they add up over chunks and partitions),
but not ``f`` itself at any other point: the rows are not at hand in the M-step.
The step is therefore chosen on a *lower bound* of the gain that the statistics
determine. Along the Newton direction ``d = H^-1 g`` with ``G = g'd``,

    f(beta + s d) - f(beta) >= s G - int_0^s (s - t) min(c(t) G, d'Bd) dt

(Taylor's theorem with the integral remainder) where ``c(t) = exp(growth * t * rho(d))``
bounds how much the curvature can grow between ``beta`` and ``beta + t d``:
``rho(d)`` bounds ``|x_i' d|`` over all rows
(from the columns' ranges), and the curvature of the Poisson and binomial
log-densities grows at most by ``exp(|delta eta|)`` (``exp(2 rho)`` for the
multinomial logit's). The binomial and multinomial logit also have a global bound
``B >= H`` (Böhning & Lindsay 1988), the second term of the ``min``. The integral
is closed form (:func:`curvature_integral`); it is several times smaller than the
cruder ``(s^2 / 2) min(c(s) G, d'Bd)``, which charges the whole step the curvature
of its far end, so fewer steps are halved.

Step-halving takes the largest ``s`` in ``1, 1/2, 1/4, ...`` whose bound is
positive. So ``Q`` rises at every M-step (generalized EM: the observed-data
log-likelihood never falls), and near the maximum, where ``rho(d) -> 0``, the full
Newton step is taken and convergence is quadratic within each M-step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

__all__ = ["newton_direction", "safeguarded_step", "curvature_integral", "MAX_HALVINGS"]

#: Step-halvings tried before the step is abandoned (the coefficients then stay).
MAX_HALVINGS = 60


def newton_direction(grad: np.ndarray, hess: np.ndarray, what: str) -> np.ndarray:
    """``H^-1 g`` by a Cholesky factorization of minus the Hessian ``H``.

    Raises
    ------
    ValueError
        When ``H`` is not positive definite (collinear columns among the rows the
        component holds, or a component left with almost no rows), naming ``what``.
    """
    if not (np.all(np.isfinite(hess)) and np.all(np.isfinite(grad))):
        raise ValueError(f"{what}: the Newton statistics are not finite")
    try:
        factor = cho_factor(hess, lower=True, check_finite=False)
    except LinAlgError:
        raise ValueError(
            f"{what}: the weighted design is singular (its columns are collinear among "
            "the rows this component holds, or it holds almost no rows); use fewer "
            "components, other starts (n_init) or drop collinear columns"
        ) from None
    diag = np.abs(np.diag(factor[0]))
    if diag.min() <= 1e-10 * diag.max():
        raise ValueError(
            f"{what}: the weighted design is numerically singular (condition beyond "
            "1e20); use fewer components, other starts (n_init) or drop collinear columns"
        )
    return np.asarray(cho_solve(factor, grad, check_finite=False))


def safeguarded_step(grad: np.ndarray, hess: np.ndarray, rho: Callable[[np.ndarray], float],
                     *, growth: float, bound: np.ndarray | None = None,
                     what: str = "component") -> np.ndarray:
    """The step ``s d`` (same shape as ``grad``) chosen by step-halving on the gain bound.

    Parameters
    ----------
    grad : ndarray of shape (p,)
        Gradient of the concave objective at the current point.
    hess : ndarray of shape (p, p)
        Minus its Hessian there (positive definite).
    rho : callable
        ``rho(d)``: an upper bound of ``|change of any row's linear predictor|`` for
        the step ``d``.
    growth : float
        The curvature at ``beta + t`` is at most ``exp(growth * rho(t))`` times that
        at ``beta`` (1 for Poisson and binomial, 2 for the multinomial logit).
    bound : ndarray of shape (p, p), optional
        A global curvature bound ``B >= H`` (Böhning's), when the family has one.
    what : str
        Names the component in errors.

    Returns
    -------
    ndarray of shape (p,)
        Zeros when no ascent is possible (the gradient vanishes to rounding).
    """
    d = newton_direction(grad, hess, what)
    gain = float(grad @ d)
    if not gain > 0.0:
        return np.zeros_like(d)
    rate = growth * float(rho(d))
    global_quad = None if bound is None else float(d @ bound @ d)
    s = 1.0
    for _ in range(MAX_HALVINGS):
        if s * gain - curvature_integral(s, rate, gain, global_quad) > 0.0:
            return s * d
        s *= 0.5
    return np.zeros_like(d)


def _phi(x: float) -> float:
    """``(e^x - 1 - x) / x^2`` for ``x >= 0`` (1/2 at 0), without cancellation."""
    if x < 1e-4:
        return 0.5 + x / 6.0 + x * x / 24.0
    if x > 700.0:
        return math.inf
    return (math.expm1(x) - x) / (x * x)


def _psi(x: float) -> float:
    """``(e^x - 1) / x`` for ``x >= 0`` (1 at 0)."""
    if x < 1e-8:
        return 1.0 + 0.5 * x
    if x > 700.0:
        return math.inf
    return math.expm1(x) / x


def curvature_integral(s: float, rate: float, gain: float, global_quad: float | None) -> float:
    """``int_0^s (s - t) min(gain e^(rate t), global_quad) dt``: what curvature can cost.

    Along ``beta + t d`` the objective's second derivative is at least
    ``-min(G e^(rate t), d'Bd)`` (``G = d'Hd``, the curvature at ``t = 0``, growing
    at most by ``e^(rate t)``, ``rate = growth * rho(d)``; ``d'Bd`` the global
    bound, or none), so by Taylor's theorem with the integral remainder
    ``f(beta + s d) - f(beta) >= s G - curvature_integral(s, ...)``.
    """
    if global_quad is None or global_quad >= math.inf:
        breakpoint_t = math.inf
    elif rate <= 0.0:
        breakpoint_t = math.inf if global_quad > gain else 0.0
    else:
        # where the growing bound meets the global one (d'Bd >= d'Hd = G, so t* >= 0)
        breakpoint_t = max(math.log(global_quad / gain), 0.0) / rate
    if s <= breakpoint_t:
        return gain * s * s * _phi(rate * s)
    assert global_quad is not None
    t = breakpoint_t
    # int_0^t (s - u) e^(rate u) du = (s - t) t psi(rate t) + t^2 phi(rate t)
    grown = gain * ((s - t) * t * _psi(rate * t) + t * t * _phi(rate * t)) if t > 0.0 else 0.0
    return grown + global_quad * (s - t) ** 2 / 2.0
