"""Multivariate Student-t, fitted by EM over its latent scale (Peel & McLachlan 2000).

A t-distributed ``x`` is a Gaussian scale mixture: ``u ~ Gamma(dof/2, rate dof/2)``
and ``x | u ~ Normal(mean, covariance / u)``. Given ``x``, the expected scale is

    E[u | x] = (dof + D) / (dof + delta),   delta = (x - mean)^T covariance^-1 (x - mean)

and E[log u | x] = E[u | x]'s log plus ``digamma((dof+D)/2) - log((dof+D)/2)``. Outliers
(large ``delta``) get small weights, which is why the t is robust.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np
from scipy import optimize, special

from ..gaussian.m_step import regularization_slack
from ..gaussian.reference import precision_cholesky
from ._base import EPS_COUNT, Distribution, _as_array, as_rng, check_weights

__all__ = ["StudentT"]

_LOG_PI = float(np.log(np.pi))


class StudentT(Distribution):
    """Multivariate Student-t with full scale matrix.

    Parameters
    ----------
    mean : array-like of shape (n_features,) or None
        Location.
    covariance : array-like of shape (n_features, n_features) or None
        Scale matrix (the covariance is ``dof / (dof - 2)`` times it).
    dof : float or None
        Degrees of freedom; the start value when ``fix_dof`` is False
        (default start 10).
    fix_dof : bool, default False
        Keep ``dof`` fixed instead of estimating it.
    reg_covar : float, default 1e-6
        Added to the scale-matrix diagonal in every M-step.
    dof_bounds : tuple of float, default (0.5, 1000.0)
        Range searched by the 1-D root find for ``dof``; the estimate is
        clipped to it (a large ``dof`` means the data look Gaussian).

    Notes
    -----
    Statistics at the current parameters (``u`` the expected scale of a row,
    ``m`` the current mean): ``n = sum w``, ``sum_u = sum w u``,
    ``sum_ux = sum w u x``, ``centred_sum = sum w u (x - m)``,
    ``centred_outer = sum w u (x - m)(x - m)^T`` and
    ``sum_log_u_minus_u = sum w (E[log u] - u)``. The M-step:
    ``mean = sum_ux / sum_u``, ``covariance = scatter / n`` and ``dof`` the root of
    ``log(dof/2) - digamma(dof/2) + 1 + sum_log_u_minus_u / n = 0`` (Peel &
    McLachlan 2000, eq. 30 with ``n`` in place of a component's weight).
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("mean", "covariance", "dof")

    def __init__(self, mean: Any = None, covariance: Any = None, dof: float | None = None, *,
                 fix_dof: bool = False, reg_covar: float = 1e-6,
                 dof_bounds: tuple[float, float] = (0.5, 1000.0)):
        self.mean = _as_array(mean)
        self.covariance = _as_array(covariance)
        self.dof = dof if dof is None else float(dof)
        self.fix_dof = fix_dof
        self.reg_covar = reg_covar
        self.dof_bounds = dof_bounds

    exact_m_step: ClassVar[bool] = False  # reg_covar and the clipped/bracketed dof

    def is_feasible(self, params: dict[str, Any]) -> bool:
        if not all(np.all(np.isfinite(v)) for v in params.values()):
            return False
        # dof must stay inside dof_bounds, not just be positive: the M-step clips dof to
        # them, so a plain step from an extrapolated dof beyond a bound is not an EM step
        # (it moves dof back to the bound and may lower the likelihood).
        lo, hi = self.dof_bounds
        return bool(lo <= params["dof"] <= hi
                    and np.all(np.linalg.eigvalsh(params["covariance"]) > 0))

    def _mahalanobis(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        """Squared Mahalanobis distances and log det of the precision Cholesky factor."""
        u = precision_cholesky(np.asarray(self.covariance)[None], "full")[0]
        # reached from log_prob and stats, which check the fit first
        y = (X - np.atleast_1d(cast(np.ndarray, self.mean))) @ u
        delta = np.einsum("ij,ij->i", y, y)
        log_det = float(np.log(np.diag(u)).sum())
        return np.maximum(delta, 0.0), log_det

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        delta, log_det = self._mahalanobis(X)
        d = X.shape[1]
        nu = float(cast(float, self.dof))  # log_prob checked the fit
        const = (special.gammaln(0.5 * (nu + d)) - special.gammaln(0.5 * nu)
                 - 0.5 * d * (np.log(nu) + _LOG_PI) + log_det)
        return const - 0.5 * (nu + d) * np.log1p(delta / nu)

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        self._check_fitted()
        assert self.mean is not None and self.dof is not None
        w = check_weights(weights, X.shape[0])
        d = X.shape[1]
        nu = float(self.dof)
        delta, _ = self._mahalanobis(X)
        u = (nu + d) / (nu + delta)
        e_log_u = np.log(u) + special.digamma(0.5 * (nu + d)) - np.log(0.5 * (nu + d))
        wu = w * u
        xc = X - np.atleast_1d(self.mean)
        return {
            "n": np.asarray(w.sum()),
            "sum_u": np.asarray(wu.sum()),
            "sum_ux": wu @ X,
            "centred_sum": wu @ xc,
            "centred_outer": (xc * wu[:, None]).T @ xc,
            "sum_log_u_minus_u": np.asarray(w @ (e_log_u - u)),
        }

    def _solve_dof(self, c: float) -> float:
        lo, hi = self.dof_bounds

        def f(log_nu: float) -> float:
            half = 0.5 * np.exp(log_nu)
            return float(np.log(half) - special.digamma(half) + 1.0 + c)

        a, b = np.log(lo), np.log(hi)
        if f(b) >= 0:  # the data look Gaussian: dof at its upper bound
            return float(hi)
        if f(a) <= 0:
            return float(lo)
        return float(np.exp(optimize.brentq(f, a, b, xtol=1e-12, rtol=1e-12)))

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        n = float(stats["n"]) + EPS_COUNT
        su = float(stats["sum_u"]) + EPS_COUNT
        mean = stats["sum_ux"] / su
        shift = stats["centred_sum"] / su
        scatter = stats["centred_outer"] - su * np.outer(shift, shift)
        cov = scatter / n
        cov.flat[:: cov.shape[0] + 1] += self.reg_covar
        if self.fix_dof:
            if self.dof is None:
                raise ValueError("StudentT: fix_dof=True needs a dof value")
            dof = float(self.dof)
        else:
            dof = self._solve_dof(float(stats["sum_log_u_minus_u"]) / n)
        return {"mean": mean, "covariance": cov, "dof": np.asarray(dof)}

    def m_step_slack(self, stats: dict[str, np.ndarray]) -> float:
        """``reg_covar``'s exact cost; the rest of the M-step is exact to far below rounding.

        Given the expected scales ``u``, EM's expectation splits into a Gaussian
        part, ``-(n/2) log|S| - (1/2) tr(S^-1 scatter_u)``, maximized by the mean and
        ``scatter_u / n``, which ``reg_covar`` then moves: the cost
        :func:`~emkit.gaussian.m_step.regularization_slack` gives for that scatter
        (passed as statistics whose centred sum is scaled by ``sqrt(n / sum_u)``,
        so that they give the same covariance), and a ``dof`` part,
        ``n [nu/2 log(nu/2) - log Gamma(nu/2) + nu c / 2]``, concave in ``nu``.
        Clipping to ``dof_bounds`` is then the constrained maximizer, and the
        root find stops within about 1e-12 in ``log nu``; with the curvature
        ``(n/2) |1/nu - trigamma(nu/2)/2|`` that leaves ``|Q''| dnu**2 / 2 < 1e-22 n``
        for ``nu`` in 0.5..1000, below the engine's rounding allowance
        (1e-10 times ``max(|loglik|, 1)``) for fewer than 1e12 rows.
        """
        if self.reg_covar == 0:
            return 0.0
        n = float(stats["n"]) + EPS_COUNT
        su = float(stats["sum_u"]) + EPS_COUNT
        scaled = {"n": np.array([n]),
                  "centred_sum": np.sqrt(n / su) * np.asarray(stats["centred_sum"])[None],
                  "centred_outer": np.asarray(stats["centred_outer"])[None]}
        return regularization_slack(scaled, "full", self.reg_covar)

    def with_parameters(self, params: dict[str, Any]) -> StudentT:
        params = dict(params)
        if "dof" in params:
            params["dof"] = float(params["dof"])
        return super().with_parameters(params)

    def init_from_data(self, X: np.ndarray, weights: Any = None,
                       rng: Any = None) -> StudentT:
        """Weighted mean and covariance, ``dof`` from the constructor (or 10)."""
        w = check_weights(weights, X.shape[0])
        n = w.sum() + EPS_COUNT
        mean = (w @ X) / n
        xc = X - mean
        cov = (xc * w[:, None]).T @ xc / n
        cov.flat[:: cov.shape[0] + 1] += self.reg_covar
        dof = 10.0 if self.dof is None else float(self.dof)
        return self.with_parameters({"mean": mean, "covariance": cov, "dof": dof})

    @property
    def n_parameters(self) -> int:
        self._check_fitted()
        assert self.mean is not None
        d = int(np.size(self.mean))
        return d + d * (d + 1) // 2 + (0 if self.fix_dof else 1)

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        self._check_fitted()
        assert self.mean is not None and self.dof is not None
        rng = as_rng(rng)
        nu = float(self.dof)
        mean = np.atleast_1d(self.mean)
        z = rng.multivariate_normal(np.zeros(mean.size), np.asarray(self.covariance), size=n)
        g = rng.gamma(0.5 * nu, 2.0 / nu, size=n)
        return mean + z / np.sqrt(g)[:, None]
