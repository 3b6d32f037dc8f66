"""Log-normal positive columns: ``log x`` is Gaussian."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np

from ..gaussian.m_step import regularization_slack
from ._base import EPS_COUNT, Distribution, _as_array, as_rng, check_weights

__all__ = ["LogNormal"]

_LOG_2PI = float(np.log(2.0 * np.pi))


class LogNormal(Distribution):
    """Independent log-normal columns: ``log x_d ~ Normal(mu_d, sigma_d**2)``.

    Parameters
    ----------
    mu : array-like of shape (n_features,) or None
        Mean of ``log x``.
    sigma : array-like of shape (n_features,) or None
        Standard deviation of ``log x``.
    reg_var : float, default 1e-6
        Added to every variance of ``log x`` in the M-step so that a mixture
        component shrinking onto one value keeps a positive variance (as
        scikit-learn's ``reg_covar``).

    Notes
    -----
    Statistics, with ``y = log x`` centred on the current ``mu`` (0 before
    fitting) so that they stay accurate and additive: ``n = sum w``,
    ``sum = sum w y``, ``centred_sum = sum w (y - mu)``,
    ``centred_sq = sum w (y - mu)**2``.
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("mu", "sigma")

    def __init__(self, mu: Any = None, sigma: Any = None, *, reg_var: float = 1e-6):
        self.mu = _as_array(mu)
        self.sigma = _as_array(sigma)
        self.reg_var = reg_var

    @property
    def exact_m_step(self) -> bool:  # type: ignore[override]
        return self.reg_var == 0

    def _check_support(self, X: np.ndarray) -> None:
        if np.any(X <= 0):
            raise ValueError("LogNormal: X must be strictly positive")

    def is_feasible(self, params: dict[str, Any]) -> bool:
        return bool(np.all(np.isfinite(params["mu"])) and np.all(params["sigma"] > 0))

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        y = np.log(X)
        # log_prob checked the fit; _log_prob is only reached with fitted parameters
        mu = np.atleast_1d(cast(np.ndarray, self.mu))
        sigma = np.atleast_1d(cast(np.ndarray, self.sigma))
        z = (y - mu) / sigma
        return (-y - np.log(sigma) - 0.5 * _LOG_2PI - 0.5 * z * z).sum(axis=1)

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        w = check_weights(weights, X.shape[0])
        y = np.log(X)
        centre = np.zeros(X.shape[1]) if self.mu is None else np.atleast_1d(self.mu)
        yc = y - centre
        return {"n": np.asarray(w.sum()), "sum": w @ y, "centred_sum": w @ yc,
                "centred_sq": w @ (yc * yc)}

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        n = stats["n"] + EPS_COUNT
        shift = stats["centred_sum"] / n
        var = np.maximum(stats["centred_sq"] / n - shift**2, 0.0) + self.reg_var
        if np.any(var <= 0):
            raise ValueError("LogNormal: a column of log x is constant; set reg_var > 0")
        return {"mu": stats["sum"] / n, "sigma": np.sqrt(var)}

    def m_step_slack(self, stats: dict[str, np.ndarray]) -> float:
        """``reg_var``'s exact cost: a diagonal Gaussian's ``reg_covar`` on ``log x`` (the
        Jacobian ``-sum log x`` does not depend on the parameters)."""
        one = {"n": np.asarray(stats["n"])[None], "centred_sum": np.asarray(
            stats["centred_sum"])[None], "centred_outer": np.asarray(stats["centred_sq"])[None]}
        return regularization_slack(one, "diag", float(self.reg_var))

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        self._check_fitted()
        assert self.mu is not None and self.sigma is not None
        mu, sigma = np.atleast_1d(self.mu), np.atleast_1d(self.sigma)
        return np.exp(as_rng(rng).normal(mu, sigma, size=(n, mu.size)))

    def init_features(self, X: np.ndarray) -> np.ndarray:
        return np.log(X)
