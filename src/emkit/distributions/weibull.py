"""Weibull positive columns, fitted by a minorize-maximize (MM) step on the shape.

Density, per column: ``f(x) = (k / lam) (x / lam)^(k - 1) exp(-(x / lam)^k)`` for
``x > 0``, with shape ``k`` and scale ``lam``.

Why the statistics depend on the parameters
--------------------------------------------
The Weibull is not an exponential family in ``k``: the log-likelihood needs
``sum w x^k`` for every ``k``, so no fixed-size statistic gives the maximum
likelihood estimate in one M-step. As for the Student-t, the statistics are
computed at the current parameters ``(k0, lam0)``, which stay constant during an
E-step, so the statistics are still **additive over rows**. With
``z = log(x / lam0)`` and ``u = (x / lam0)^k0 = exp(k0 z)`` they are, per column:

``n = sum w``, ``sum_log = sum w log x``, ``sum_pow = sum w u``,
``sum_pow_log = sum w u z`` and, for each step length ``T_j = r_j k0`` of a short
ladder ``r_j``, ``sum_pow_log2_up[j] = sum w u z^2 phi(T_j max(z, 0))`` and
``sum_pow_log2_down[j] = sum w u z^2 phi(T_j max(-z, 0))``, where
``phi(v) = (e^v - 1 - v) / v^2`` (``phi(0) = 1/2``, increasing).

The point ``(k0, log lam0)`` is recorded too, as row sums of constants
(``rows = sum 1``, ``anchor_shape = sum k0``, ``anchor_log_scale = sum log lam0``),
so the M-step works from the statistics alone: a mixture calls it on a template
without parameters, and :meth:`Distribution.fit` on its starting point.

The M-step
----------
Since ``phi`` increases, ``e^(t z) <= 1 + t z + t^2 z^2 phi(T max(z, 0))`` for
``0 <= t <= T`` (and the mirror bound for ``-T <= t <= 0``). So
``sum w x^(k0 + t) <= lam0^(k0 + t) (sum_pow + sum_pow_log t + sum_pow_log2 t^2)``:
a bound equal in value and slope to the true sum at ``t = 0``. Putting it into
the expected log-likelihood gives a function of ``(k, lam)`` that lies below it
and touches it at ``(k0, lam0)``. The M-step maximizes that minorizer over
``lam`` in closed form and over ``k`` in each ladder interval (a 1-D root find),
and keeps the best. Each step therefore never lowers the expected log-likelihood
(a generalized EM step, so EM stays monotone), and its fixed points are the
roots of the profile equation

    sum w x^k log x / sum w x^k - 1 / k - sum w log x / sum w = 0,

the maximum likelihood estimate (the profile log-likelihood is concave in ``k``),
with ``lam = (sum w x^k / sum w)^(1/k)``. The shortest intervals make the bound
nearly exact, so close to the optimum a step is a Newton step on the profile
equation and :meth:`Distribution.fit` converges in a few iterations. The shape
moves at most by ``0.75 k0`` per step, and stays inside ``shape_bounds``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ._base import EPS_COUNT, Distribution, _as_array, as_rng, check_weights, positive_interval

__all__ = ["Weibull", "bracketed_root"]

#: Step lengths of the shape, relative to the current shape (0.75 k0 down to ~7e-4 k0).
LADDER = 0.75 * 4.0 ** -np.arange(6)
_EULER_GAMMA = 0.5772156649015329
_EPS = np.finfo(float).eps


def _log_phi(v: np.ndarray) -> np.ndarray:
    """``log((e^v - 1 - v) / v^2)`` for ``v >= 0`` (``log(1/2)`` at 0), without overflow."""
    v = np.asarray(v, dtype=float)
    out = np.empty_like(v)
    small = v < 1e-2
    vs = v[small]
    # the Taylor series 1/2 + v/6 + v^2/24 + ...: exact to rounding for v < 0.01
    out[small] = np.log(0.5 + vs * (1 / 6 + vs * (1 / 24 + vs * (1 / 120 + vs / 720))))
    mid = ~small & (v <= 30.0)
    vm = v[mid]
    out[mid] = np.log(np.expm1(vm) - vm) - 2.0 * np.log(vm)
    big = v > 30.0  # e^v (1 - (1 + v) e^-v) / v^2: the dropped factor is within 1e-11 of 1
    out[big] = v[big] - 2.0 * np.log(v[big])
    return out


def bracketed_root(f: Callable[[np.ndarray], np.ndarray],
                   df: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray, *,
                   xtol: np.ndarray | float, max_iter: int = 100) -> np.ndarray:
    """Roots of ``f`` between ``a`` (where ``f > 0``) and ``b`` (``f < 0``), elementwise.

    Safeguarded Newton: a Newton step that leaves the shrinking bracket is replaced
    by bisection. ``a`` may lie above or below ``b``. Elements whose ``f`` does not
    change sign get a meaningless value (callers mask them).

    Parameters
    ----------
    f, df : callable
        The function and its derivative, applied to arrays shaped like ``a``.
    a, b : numpy.ndarray
        The bracket ends.
    xtol : numpy.ndarray or float
        Absolute tolerance per element (broadcast against ``a``), on top of four
        units of rounding of ``x``.
    max_iter : int, default 100

    Returns
    -------
    numpy.ndarray shaped like ``a``
    """
    a, b = np.array(a, dtype=float), np.array(b, dtype=float)
    x = a.copy()  # the first step is Newton's from the end where f > 0
    for _ in range(max_iter):
        fx = f(x)
        above = fx > 0
        a, b = np.where(above, x, a), np.where(above, b, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - fx / df(x)
        ok = np.isfinite(newton) & ((newton - a) * (newton - b) <= 0)
        new = np.where(ok, newton, 0.5 * (a + b))
        close = np.abs(new - x) <= xtol + 4.0 * _EPS * np.abs(x)  # to rounding
        done = np.all(close | (fx == 0))
        x = new
        if done:
            break
    return x


class Weibull(Distribution):
    """Independent Weibull columns: density ``(k/lam) (x/lam)^(k-1) exp(-(x/lam)^k)``, ``x > 0``.

    Parameters
    ----------
    shape : array-like of shape (n_features,) or None
        The shapes ``k`` (``k < 1``: decreasing density, ``k = 1``: exponential).
    scale : array-like of shape (n_features,) or None
        The scales ``lam``. Both ``None`` until fitted.
    shape_bounds : tuple of float, default (1e-3, 1e3)
        Range of the fitted shape. A shape at the upper bound means the weighted
        data are (nearly) one value, where the likelihood grows without bound.

    Notes
    -----
    The statistics are computed at the current parameters and the M-step is a
    minorize-maximize step that never lowers the expected log-likelihood; its
    fixed point is the maximum likelihood estimate (see the module docstring).
    ``exact_m_step`` is False: one M-step does not maximize, EM iterates.
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("shape", "scale")
    exact_m_step: ClassVar[bool] = False  # an MM step towards the maximum, not the maximum

    def __init__(self, shape: Any = None, scale: Any = None, *,
                 shape_bounds: tuple[float, float] = (1e-3, 1e3)):
        self.shape = _as_array(shape)
        self.scale = _as_array(scale)
        self.shape_bounds = shape_bounds

    # ---------------------------------------------------------------- checks
    def _check_support(self, X: np.ndarray) -> None:
        if np.any(X <= 0):
            raise ValueError("Weibull: X must be strictly positive (the support is x > 0)")

    def _bounds(self) -> tuple[float, float]:
        return positive_interval(self.shape_bounds, "Weibull", "shape_bounds")

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Whether the shapes lie in ``shape_bounds`` and the scales are positive."""
        lo, hi = self._bounds()
        k, lam = np.asarray(params["shape"]), np.asarray(params["scale"])
        return bool(np.all(np.isfinite(k)) and np.all(np.isfinite(lam))
                    and np.all((k >= lo) & (k <= hi)) and np.all(lam > 0))

    # --------------------------------------------------------------- density
    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        k = np.stack([np.atleast_1d(c.shape) for c in components])  # (K, D)
        log_lam = np.log(np.stack([np.atleast_1d(c.scale) for c in components]))
        z = np.log(X)[:, None, :] - log_lam[None]  # (N, K, D)
        with np.errstate(over="ignore"):  # a far outlier has density 0: log -inf
            terms = np.log(k) - log_lam + (k - 1.0) * z - np.exp(k * z)
        return terms.sum(axis=2)

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob_components([self], X)[:, 0]

    # -------------------------------------------------------------------- EM
    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        """Weighted statistics at the current parameters (additive over rows).

        Keys, numpy arrays: ``n`` (scalar), ``rows`` (scalar), ``sum_log``,
        ``sum_pow``, ``sum_pow_log``, ``anchor_shape``, ``anchor_log_scale`` of
        shape (n_features,), and ``sum_pow_log2_up``, ``sum_pow_log2_down`` of
        shape (len(LADDER), n_features); see the module docstring.
        """
        self._check_fitted()
        assert self.shape is not None and self.scale is not None
        w = check_weights(weights, X.shape[0])
        k0 = np.atleast_1d(self.shape).astype(float)
        mu0 = np.log(np.atleast_1d(self.scale).astype(float))
        log_x = np.log(X)
        z = log_x - mu0
        z2 = z * z
        up, down = np.maximum(z, 0.0), np.maximum(-z, 0.0)
        with np.errstate(divide="ignore", over="ignore"):
            # log(w u): rows of weight 0 give exp(-inf) = 0, never 0 * inf
            log_wu = np.log(w)[:, None] + k0 * z
            wu = np.exp(log_wu)
            # a term that overflows makes that ladder step unusable (inf), not the fit
            pow_up = np.stack([(np.exp(log_wu + _log_phi(r * k0 * up)) * z2).sum(axis=0)
                               for r in LADDER])
            pow_down = np.stack([(np.exp(log_wu + _log_phi(r * k0 * down)) * z2).sum(axis=0)
                                 for r in LADDER])
            sum_pow, sum_pow_log = wu.sum(axis=0), (wu * z).sum(axis=0)
        rows = float(X.shape[0])
        return {
            "n": np.asarray(w.sum()),
            "rows": np.asarray(rows),
            "sum_log": w @ log_x,
            "sum_pow": sum_pow,
            "sum_pow_log": sum_pow_log,
            "sum_pow_log2_up": pow_up,
            "sum_pow_log2_down": pow_down,
            "anchor_shape": rows * k0,
            "anchor_log_scale": rows * mu0,
        }

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        rows = float(stats["rows"])
        if not rows > 0:
            raise ValueError("Weibull: the statistics hold no rows")
        k0 = np.asarray(stats["anchor_shape"], dtype=float) / rows
        mu0 = np.asarray(stats["anchor_log_scale"], dtype=float) / rows
        n = float(stats["n"])
        a0 = np.asarray(stats["sum_pow"], dtype=float)
        a1 = np.asarray(stats["sum_pow_log"], dtype=float)
        lz = np.asarray(stats["sum_log"], dtype=float) - n * mu0  # sum w z
        live = (n > EPS_COUNT) & np.isfinite(a0) & (a0 > 0) & np.isfinite(a1)
        if not np.any(live):  # no weight here: any parameters do, keep them
            return {"shape": k0, "scale": np.exp(mu0)}
        a0s = np.where(live, a0, 1.0)
        a1s = np.where(live, a1, 0.0)
        lzs = np.where(live, lz, 0.0)
        t, a2 = self._shape_step(k0, n, a0s, a1s, lzs, stats)
        t = np.where(live, t, 0.0)
        k1 = k0 + t
        bound = a0s + a1s * t + a2 * t * t  # >= sum w (x/lam0)^k1, equal at t = 0
        mu1 = np.where(live, mu0 + np.log(bound / max(n, EPS_COUNT)) / k1, mu0)
        return {"shape": k1, "scale": np.exp(mu1)}

    def _shape_step(self, k0: np.ndarray, n: float, a0: np.ndarray, a1: np.ndarray,
                    lz: np.ndarray, stats: dict[str, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The MM step ``t`` of the shape per column, and the ``t^2`` coefficient it used.

        For ladder step ``T_j`` the minorizer of the profile log-likelihood, up to
        a constant, is ``G_j(t) = n log(1 + t/k0) - n log(1 + (a1 t + a2_j t^2)/a0)
        + t lz`` on ``[0, T_j]`` or ``[-T_j, 0]``; its maximizer in the interval is
        found by :func:`bracketed_root` on ``G_j'``, and the best ``j`` is kept.
        """
        lo, hi = self._bounds()
        g0 = n / k0 - n * a1 / a0 + lz  # slope of the profile log-likelihood at k0
        s = np.where(g0 > 0, 1.0, -1.0)
        a2 = np.where(g0 > 0, stats["sum_pow_log2_up"], stats["sum_pow_log2_down"])  # (J, D)
        end = np.clip(k0 + s * LADDER[:, None] * k0, lo, hi) - k0  # signed, (J, D)
        usable = np.isfinite(a2) & (np.abs(end) > 0)
        a2 = np.where(usable, a2, 0.0)

        def slope(t: np.ndarray) -> np.ndarray:  # d G_j / d t
            q = a0 + a1 * t + a2 * t * t
            return n / (k0 + t) - n * (a1 + 2.0 * a2 * t) / q + lz

        def curvature(t: np.ndarray) -> np.ndarray:  # d^2 G_j / d t^2
            q, dq = a0 + a1 * t + a2 * t * t, a1 + 2.0 * a2 * t
            return -n / (k0 + t) ** 2 - n * (2.0 * a2 * q - dq * dq) / (q * q)

        def gain(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # G_j(t) - G_j(0), scale
            first = n * np.log1p(t / k0)
            second = n * np.log1p((a1 * t + a2 * t * t) / a0)
            return first - second + t * lz, np.abs(first) + np.abs(second) + np.abs(t * lz)

        # the slope is s * positive at t = 0; where it changes sign by the end, the
        # maximum is inside the interval, otherwise at its end
        inside = usable & (s * slope(end) < 0)
        root = bracketed_root(lambda t: s * slope(t), lambda t: s * curvature(t),
                              np.zeros_like(end), np.where(inside, end, 0.0),
                              xtol=1e-13 * k0)
        t = np.where(inside, root, end)
        g, size = gain(t)
        # a gain within rounding of 0 is accepted: the minorizer's maximum is >= 0
        g = np.where(usable & (g >= -64 * _EPS * size), g, -np.inf)
        best = np.argmax(g, axis=0)  # (D,)
        cols = np.arange(k0.size)
        moved = np.isfinite(g[best, cols]) & (g0 != 0)
        return np.where(moved, t[best, cols], 0.0), np.where(moved, a2[best, cols], 0.0)

    def init_from_data(self, X: np.ndarray, weights: Any = None,
                       rng: Any = None) -> Weibull:
        """A start from the weighted mean and variance of ``log x``.

        ``log x`` of a Weibull has mean ``log lam - gamma / k`` (Euler's gamma) and
        variance ``pi^2 / (6 k^2)``; solving these gives the start.

        Parameters
        ----------
        X : numpy.ndarray of shape (n_samples, n_features)
            Validated data.
        weights : array-like of shape (n_samples,) or None
        rng : ignored

        Returns
        -------
        Weibull
        """
        lo, hi = self._bounds()
        w = check_weights(weights, X.shape[0])
        total = w.sum() + EPS_COUNT
        log_x = np.log(X)
        mean = (w @ log_x) / total
        var = (w @ (log_x - mean) ** 2) / total
        with np.errstate(divide="ignore"):
            k = np.clip(np.pi / np.sqrt(6.0 * var), lo, hi)
        return self.with_parameters({"shape": k, "scale": np.exp(mean + _EULER_GAMMA / k)})

    # ------------------------------------------------------------------ rest
    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        self._check_fitted()
        assert self.shape is not None and self.scale is not None
        k, lam = np.atleast_1d(self.shape), np.atleast_1d(self.scale)
        return lam * as_rng(rng).weibull(k, size=(n, k.size))

    def init_features(self, X: np.ndarray) -> np.ndarray:
        """``log x``, on which a mixture's k-means start runs."""
        return np.log(X)
