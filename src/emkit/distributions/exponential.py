"""Exponential waiting times, one rate per column, with an optional Gamma prior (MAP)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np
from scipy import stats

from ._base import EPS_COUNT, Distribution, _as_array, as_rng, check_weights

__all__ = ["Exponential"]


class Exponential(Distribution):
    """Independent exponential columns: density ``rate * exp(-rate * x)``, ``x >= 0``.

    Parameters
    ----------
    rate : array-like of shape (n_features,) or None
        Inverse means; ``None`` until fitted.
    prior : tuple (alpha, beta) or None, default None
        Gamma(shape ``alpha`` >= 1, rate ``beta`` >= 0) prior on every rate; the
        M-step then returns ``(sum w + alpha - 1) / (sum w x + beta)``.

    Notes
    -----
    Statistics: ``n = sum w`` and ``sum = sum w x`` (shape (n_features,)).
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("rate",)

    def __init__(self, rate: Any = None, *, prior: tuple[float, float] | None = None):
        self.rate = _as_array(rate)
        self.prior = prior

    def _check_support(self, X: np.ndarray) -> None:
        if np.any(X < 0):
            raise ValueError("Exponential: X must be non-negative")

    def is_feasible(self, params: dict[str, Any]) -> bool:
        r = params["rate"]
        return bool(np.all(np.isfinite(r)) and np.all(r > 0))

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        rates = np.stack([np.atleast_1d(c.rate) for c in components])  # (K, D)
        return np.log(rates).sum(axis=1) - X @ rates.T

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob_components([self], X)[:, 0]

    def log_prior(self) -> float:
        if self.prior is None:
            return 0.0
        a, b = self.prior
        rate = cast(np.ndarray, self.rate)  # the prior is evaluated at fitted parameters
        if b == 0:
            return float(np.sum((a - 1.0) * np.log(rate)))
        return float(stats.gamma.logpdf(rate, a, scale=1.0 / b).sum())

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        w = check_weights(weights, X.shape[0])
        return {"n": np.asarray(w.sum()), "sum": w @ X}

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        a, b = (1.0, 0.0) if self.prior is None else map(float, self.prior)
        if a < 1 or b < 0:
            raise ValueError(
                f"Exponential: prior needs alpha >= 1 and beta >= 0, got {self.prior}"
            )
        total = stats["sum"] + b
        if np.any(total <= 0):
            raise ValueError("Exponential: the weighted data are all zero; the rate is infinite")
        return {"rate": (stats["n"] + a - 1.0 + EPS_COUNT) / total}

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        self._check_fitted()
        assert self.rate is not None
        r = np.atleast_1d(self.rate)
        return as_rng(rng).exponential(1.0 / r, size=(n, r.size))
