"""Negative-binomial counts, fitted by a minorize-maximize (MM) step on ``n``.

Parametrization as :data:`scipy.stats.nbinom`: ``x`` counts the failures before
the ``n``-th success of trials with success probability ``p``,

    P(x) = Gamma(x + n) / (Gamma(n) x!) p^n (1 - p)^x,   x = 0, 1, 2, ...

with real ``n > 0`` and ``0 < p <= 1`` (mean ``n (1 - p) / p``, variance
``mean / p``).

Why the statistics depend on the parameters
--------------------------------------------
For a fixed ``n`` the maximum over ``p`` is closed-form,
``p = n sum w / (n sum w + sum w x)``, but ``n`` enters the log-likelihood through
``sum w h(n)`` with ``h(m) = log Gamma(x + m) - log Gamma(m) = sum_{j<x} log(m + j)``,
which no fixed-size statistic summarizes. As for the Student-t, the statistics
are computed at the current ``n0`` (constant during an E-step, so they stay
**additive over rows**), per column:

* ``n = sum w`` (the weight total, not the parameter) and ``sum = sum w x``;
* ``sum_ratio = sum w sum_{j<x} j / (n0 + j)``, which gives the slope
  ``sum w h'(n0) = (sum - sum_ratio) / n0`` without cancellation at large ``n0``;
* ``sum_trigamma = sum w (trigamma(n0) - trigamma(x + n0))``, the curvature ``-h''(n0)``;
* ``sum_h3_down[j]``, ``sum_h3_up[j]``: the third derivative ``sum w h'''`` at
  ``n0 (1 - r_j)`` and ``n0 (1 + r_j)`` for a short ladder ``r_j``;
* ``sum_j2 = sum w sum_{j<x} j^2``, a parameter-free curvature bound in ``1/n``;
* ``rows = sum 1`` and ``anchor_n = sum n0``: the point ``n0`` itself, recorded
  as row sums of constants so that the M-step works from the statistics alone
  (a mixture calls it on a template without parameters).

The M-step
----------
``h'''`` is positive and decreasing, so on ``[n0 (1 - r_j), n0]`` the cubic
Taylor polynomial of ``sum w h`` at ``n0`` with ``sum_h3_down[j]`` as third
derivative lies below it, and likewise on ``[n0, n0 (1 + r_j)]`` with
``sum_h3_up[j]``; on ``[n0, inf)`` so does the quadratic (the third-order term
is positive). In ``u = 1/n``, ``sum w h = (sum w x) log n + sum w sum_j log(1 + j u)``,
and the last part has curvature at most ``sum_j2`` in ``u``, so it lies above a
quadratic in ``u`` everywhere: this minorizer makes the long steps when the
data are nearly Poisson (``n`` large). Each of these minorizers touches ``sum w h`` at ``n0``;
added to the exact maximum over ``p`` it gives a minorizer of the profile
log-likelihood in ``n``. The M-step maximizes each on its interval (a 1-D root
find) and keeps the best. A step therefore never lowers the expected
log-likelihood (a generalized EM step), and its fixed points solve the profile
equation

    sum w (digamma(x + n) - digamma(n)) + sum w log(p) = 0,

the maximum likelihood estimate. The polynomial minorizers agree with the
profile to second order at ``n0``, so close to the optimum the steps are nearly
Newton steps and :meth:`Distribution.fit` converges in a few iterations. ``n``
stays inside ``n_bounds``; data whose variance is at most their mean (no
overdispersion) push it to the upper bound, where the distribution is nearly
Poisson.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import special

from ._base import EPS_COUNT, Distribution, _as_array, as_rng, check_weights, positive_interval
from .weibull import bracketed_root

__all__ = ["NegativeBinomial", "ratio_sum"]

#: Steps of ``n`` around the current value, relative to it (0.75 n0 down to ~7e-4 n0).
LADDER = 0.75 * 4.0 ** -np.arange(6)
_EPS = np.finfo(float).eps


#: Coefficients ``b_k`` of digamma's expansion ``log z - 1/(2z) - sum_k b_k z^(-2k)``.
_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132)


def ratio_sum(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``sum_{j < x} j / (a + j) = x - a (digamma(a + x) - digamma(a))``, elementwise.

    For ``a >= 20`` it comes from digamma's asymptotic expansion, written so that
    nothing cancels: the direct formula loses all digits when ``a`` is much
    larger than ``x`` (the sum is then about ``x (x - 1) / (2 a)``).

    Parameters
    ----------
    x : numpy.ndarray of shape (n_samples, n_features)
        Non-negative integer counts.
    a : numpy.ndarray of shape (n_features,)
        Positive values.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_features)
    """
    x = np.asarray(x, dtype=float)
    a = np.broadcast_to(np.asarray(a, dtype=float), x.shape)
    out = x - a * (special.digamma(a + x) - special.digamma(a))
    big = a >= 20.0
    ab, xb = a[big], x[big]
    y = xb / ab
    log1p_y = np.log1p(y)
    # y - log1p(y) without cancellation: its series for small y, else directly
    small = y < 0.25
    ys = y[small]
    series = np.zeros_like(ys)
    for m in range(30, 1, -1):  # y^2/2 - y^3/3 + ..., 0.25^30 is below rounding
        series = ys * (((-1) ** m) / m + series)
    y_minus = np.where(small, 0.0, y - log1p_y)
    y_minus[small] = ys * series
    value = ab * y_minus - xb / (2.0 * (ab + xb))
    for k, b in enumerate(_DIGAMMA_SERIES, start=1):
        value += b * ab ** (1 - 2 * k) * np.expm1(-2 * k * log1p_y)
    out[big] = value
    return np.where(x <= 1.0, 0.0, out)  # exactly 0 for x = 0 and 1 (j = 0 only)


def _profile(m: np.ndarray, total: float, s: np.ndarray) -> np.ndarray:
    """``max_p total m log p + s log(1 - p)`` at ``n = m`` (0 where ``s = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = -total * m * np.log1p(s / (total * m)) - s * np.log1p(total * m / s)
    return np.where(s > 0, value, 0.0)


def _profile_slope(m: np.ndarray, total: float, s: np.ndarray) -> np.ndarray:
    """Derivative of :func:`_profile` in ``m``: ``total log p`` at the best ``p``."""
    return -total * np.log1p(s / (total * m))


class NegativeBinomial(Distribution):
    """Independent negative-binomial counts, scipy's ``nbinom(n, p)`` per column.

    Parameters
    ----------
    n : array-like of shape (n_features,) or None
        Number of successes (real, > 0); the start value when ``fit_n`` is False.
    p : array-like of shape (n_features,) or None
        Success probabilities in (0, 1]. Both ``None`` until fitted.
    fit_n : bool, default True
        Estimate ``n``; with False ``n`` stays as given (it must be) and the
        M-step for ``p`` is exact and closed-form.
    n_bounds : tuple of float, default (1e-6, 1e6)
        Range of the fitted ``n``.

    Notes
    -----
    With ``fit_n`` the statistics are computed at the current ``n`` and the
    M-step is a minorize-maximize step that never lowers the expected
    log-likelihood; its fixed point is the maximum likelihood estimate (see the
    module docstring), so EM iterates (``exact_m_step`` is False).
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("n", "p")

    def __init__(self, n: Any = None, p: Any = None, *, fit_n: bool = True,
                 n_bounds: tuple[float, float] = (1e-6, 1e6)):
        self.n = _as_array(n)
        self.p = _as_array(p)
        self.fit_n = fit_n
        self.n_bounds = n_bounds

    @property
    def exact_m_step(self) -> bool:  # type: ignore[override]
        """True only for a fixed ``n`` (then the M-step for ``p`` is exact)."""
        return not self.fit_n

    # ---------------------------------------------------------------- checks
    def _check_support(self, X: np.ndarray) -> None:
        if np.any(X < 0) or np.any(X != np.round(X)):
            raise ValueError("NegativeBinomial: X must hold non-negative integer counts")

    def _bounds(self) -> tuple[float, float]:
        return positive_interval(self.n_bounds, "NegativeBinomial", "n_bounds")

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Whether ``n`` lies in ``n_bounds`` (or is positive when fixed) and ``0 < p <= 1``."""
        lo, hi = self._bounds() if self.fit_n else (0.0, np.inf)
        n, p = np.asarray(params["n"]), np.asarray(params["p"])
        return bool(np.all(np.isfinite(n)) and np.all(np.isfinite(p))
                    and np.all((n >= lo) & (n <= hi) & (n > 0))
                    and np.all((p > 0) & (p <= 1)))

    # --------------------------------------------------------------- density
    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        n = np.stack([np.atleast_1d(c.n) for c in components])  # (K, D)
        p = np.stack([np.atleast_1d(c.p) for c in components])
        x = X[:, None, :]  # (N, 1, D)
        with np.errstate(divide="ignore"):  # p = 1: log-mass -inf for every x > 0
            terms = (special.gammaln(x + n) - special.gammaln(n) - special.gammaln(x + 1.0)
                     + n * np.log(p) + special.xlog1py(x, -p))
        return terms.sum(axis=2)

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob_components([self], X)[:, 0]

    # -------------------------------------------------------------------- EM
    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        """Weighted statistics at the current ``n`` (additive over rows).

        Keys, numpy arrays: ``n`` and ``rows`` (scalars), ``sum`` and ``anchor_n``
        of shape (n_features,) and, when ``n`` is fitted, ``sum_ratio``,
        ``sum_trigamma``, ``sum_j2`` of shape (n_features,) and ``sum_h3_down``,
        ``sum_h3_up`` of shape (len(LADDER), n_features); see the module
        docstring.
        """
        self._check_fitted()
        assert self.n is not None
        w = check_weights(weights, X.shape[0])
        n0 = np.atleast_1d(self.n).astype(float)
        rows = float(X.shape[0])
        out = {"n": np.asarray(w.sum()), "rows": np.asarray(rows), "sum": w @ X,
               "anchor_n": rows * n0}
        if not self.fit_n:
            return out
        out["sum_ratio"] = w @ ratio_sum(X, n0)
        out["sum_trigamma"] = w @ (special.zeta(2.0, n0) - special.zeta(2.0, X + n0))
        # the third derivative of h: sum w (digamma2(x + m) - digamma2(m)) >= 0, with
        # digamma2(m) = -2 zeta(3, m) the second derivative of digamma
        for key, rungs in (("sum_h3_down", 1.0 - LADDER), ("sum_h3_up", 1.0 + LADDER)):
            out[key] = np.stack([w @ (2.0 * special.zeta(3.0, m) - 2.0 * special.zeta(3.0, X + m))
                                 for m in n0 * rungs[:, None]])
        out["sum_j2"] = w @ (X * (X - 1.0) * (2.0 * X - 1.0) / 6.0)
        return out

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        rows = float(stats["rows"])
        if not rows > 0:
            raise ValueError("NegativeBinomial: the statistics hold no rows")
        n0 = np.asarray(stats["anchor_n"], dtype=float) / rows
        total = float(stats["n"])
        s = np.asarray(stats["sum"], dtype=float)
        n1 = self._n_step(n0, total, s, stats) if self.fit_n and total > EPS_COUNT else n0
        count = total + EPS_COUNT
        return {"n": n1, "p": n1 * count / (n1 * count + s)}

    def _n_step(self, n0: np.ndarray, total: float, s: np.ndarray,
                stats: dict[str, np.ndarray]) -> np.ndarray:
        """The MM update of ``n`` per column (see the module docstring).

        Candidates, one per row of the arrays below: 0, the quadratic in ``n``
        (upwards, unbounded); then the ladder's cubics downwards and upwards;
        last, the quadratic in ``u = 1/n`` (either way). Each
        minorizer plus the exact profile over ``p`` is maximized on its interval
        by :func:`~emkit.distributions.weibull.bracketed_root` on its slope in
        ``log n``, and the candidate with the best certified gain is kept.
        """
        lo, hi = self._bounds()
        ratio = np.asarray(stats["sum_ratio"], dtype=float)
        h1 = (s - ratio) / n0  # sum w (digamma(x + n0) - digamma(n0)), the slope of h
        c0 = np.asarray(stats["sum_trigamma"], dtype=float)
        j2 = np.asarray(stats["sum_j2"], dtype=float)
        slope0 = h1 + _profile_slope(n0, total, s)  # slope of the profile at n0
        up = slope0 > 0
        rungs, one = LADDER.size, np.ones_like(n0)[None]
        n_rows = 2 * rungs + 2
        ends = np.vstack([hi * one, n0 * (1.0 - LADDER[:, None]), n0 * (1.0 + LADDER[:, None]),
                          np.where(up, hi, lo)[None]])
        ends = np.clip(ends, lo, hi)
        # curvature and third-derivative coefficients of the polynomial rows; the
        # last row is the quadratic in u = 1/n, with the curvature bound j2
        c2 = np.vstack([np.broadcast_to(c0, (n_rows - 1, n0.size)), j2[None]])
        c3 = np.vstack([0.0 * one, np.asarray(stats["sum_h3_down"], dtype=float),
                        np.asarray(stats["sum_h3_up"], dtype=float), 0.0 * one])
        in_u = np.zeros((n_rows, 1), dtype=bool)
        in_u[-1] = True
        usable = np.vstack([up[None], np.broadcast_to(~up, (rungs, n0.size)),
                            np.broadcast_to(up, (rungs, n0.size)), one > 0])
        usable &= (ends != n0) & np.isfinite(c2) & np.isfinite(c3) & (slope0 != 0)
        ends = np.where(usable, ends, n0 * 1.5)  # a harmless placeholder interval
        c2, c3 = np.where(usable, c2, 0.0), np.where(usable, c3, 0.0)
        sign = np.where(ends > n0, 1.0, -1.0)
        u0 = 1.0 / n0
        b1 = n0 * ratio  # slope of sum w sum_j log(1 + j u) in u at u0

        def parts(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """The minorizer of sum w h(m) minus its value at n0: value, slope, curvature."""
            t = m - n0
            poly = (t * (h1 + t * (-0.5 * c2 + t * c3 / 6.0)),
                    h1 + t * (-c2 + 0.5 * c3 * t), -c2 + c3 * t)
            du = 1.0 / m - u0
            inner = b1 - c2 * du  # slope in u of the quadratic in u
            value = s * np.log(m / n0) + b1 * du - 0.5 * c2 * du * du
            first = s / m - inner / (m * m)
            second = -s / (m * m) + 2.0 * inner / m**3 - c2 / m**4
            return tuple(np.where(in_u, a, b) for a, b in zip((value, first, second), poly,
                                                               strict=True))

        def slope(v: np.ndarray) -> np.ndarray:  # d Phi / d log m, times the direction
            m = np.exp(v)
            return sign * m * (parts(m)[1] + _profile_slope(m, total, s))

        def curvature(v: np.ndarray) -> np.ndarray:  # d slope / d log m
            m = np.exp(v)
            second = parts(m)[2] + total * s / (m * (total * m + s))
            return slope(v) + sign * m * m * second

        # the slope is positive at n0 in the chosen direction; where it changes sign
        # by the end, the maximum is inside the interval, otherwise at its end
        log0, log_end = np.log(n0) + 0.0 * ends, np.log(ends)
        inside = usable & (slope(log_end) < 0)
        root = bracketed_root(slope, curvature, log0, np.where(inside, log_end, log0),
                              xtol=1e-12)
        m = np.where(inside, np.exp(root), ends)
        h_gain = parts(m)[0]
        p_new, p_old = _profile(m, total, s), _profile(n0, total, s)
        gain = h_gain + p_new - p_old
        size = np.abs(h_gain) + np.abs(p_new) + np.abs(p_old)
        # a gain within rounding of 0 is accepted: the minorizer's maximum is >= 0
        gain = np.where(usable & (gain >= -64 * _EPS * size), gain, -np.inf)
        best = np.argmax(gain, axis=0)
        cols = np.arange(n0.size)
        moved = np.isfinite(gain[best, cols])
        return np.where(moved, m[best, cols], n0)

    def init_from_data(self, X: np.ndarray, weights: Any = None,
                       rng: Any = None) -> NegativeBinomial:
        """A start by the method of moments (``n`` as given when ``fit_n`` is False).

        ``n = mean^2 / (variance - mean)``, capped at 1e4 (and ``n_bounds``) when
        the data show little or no overdispersion, and ``p`` its best value.

        Parameters
        ----------
        X : numpy.ndarray of shape (n_samples, n_features)
            Validated counts.
        weights : array-like of shape (n_samples,) or None
        rng : ignored

        Returns
        -------
        NegativeBinomial
        """
        w = check_weights(weights, X.shape[0])
        total = w.sum() + EPS_COUNT
        mean = (w @ X) / total
        if self.fit_n:
            lo, hi = self._bounds()
            var = (w @ (X - mean) ** 2) / total
            excess = np.maximum(var - mean, 1e-4 * mean * mean)
            with np.errstate(divide="ignore", invalid="ignore"):
                n = np.where(mean > 0, mean * mean / excess, 1.0)
            n = np.clip(n, lo, hi)
        elif self.n is None:
            raise ValueError("NegativeBinomial: fit_n=False needs a value for n")
        else:
            n = np.broadcast_to(np.atleast_1d(self.n).astype(float), mean.shape).copy()
        return self.with_parameters({"n": n, "p": n / (n + mean)})

    # ------------------------------------------------------------------ rest
    @property
    def n_parameters(self) -> int:
        """Free parameters: ``n`` and ``p`` per column (only ``p`` with ``fit_n=False``)."""
        self._check_fitted()
        assert self.p is not None
        return int((2 if self.fit_n else 1) * np.size(self.p))

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        self._check_fitted()
        assert self.n is not None and self.p is not None
        size, prob = np.atleast_1d(self.n), np.atleast_1d(self.p)
        return as_rng(rng).negative_binomial(size, prob, size=(n, prob.size)).astype(float)

    def init_features(self, X: np.ndarray) -> np.ndarray:
        """``log(1 + x)``, on which a mixture's k-means start runs."""
        return np.log1p(X)
