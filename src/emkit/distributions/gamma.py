"""Gamma-distributed positive columns; the shape's M-step is a 1-D Newton solve."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import special

from ._base import EPS_COUNT, Distribution, _as_array, as_rng, check_weights

__all__ = ["Gamma", "solve_gamma_shape"]


def solve_gamma_shape(s: np.ndarray, *, rtol: float = 1e-14, max_iter: int = 100) -> np.ndarray:
    """Solve ``log(a) - digamma(a) = s`` for ``a > 0`` (``s > 0``), elementwise.

    Starts at Minka's (2002) closed-form approximation and runs his generalized
    Newton iteration on ``1/a``, which converges in a handful of steps.
    """
    s = np.maximum(np.asarray(s, dtype=float), 1e-12)
    a = (3.0 - s + np.sqrt((s - 3.0) ** 2 + 24.0 * s)) / (12.0 * s)
    for _ in range(max_iter):
        f = np.log(a) - special.digamma(a) - s
        fprime = 1.0 / a - special.polygamma(1, a)
        new = 1.0 / (1.0 / a + f / (a * a * fprime))
        new = np.where(np.isfinite(new) & (new > 0), new, a * 0.5)
        if np.all(np.abs(new - a) <= rtol * a):
            return new
        a = new
    return a


class Gamma(Distribution):
    """Independent Gamma columns: density ``rate^shape x^(shape-1) e^(-rate x) / Gamma(shape)``.

    Parameters
    ----------
    shape : array-like of shape (n_features,) or None
    rate : array-like of shape (n_features,) or None
        Both ``None`` until fitted.

    Notes
    -----
    Statistics: ``n = sum w``, ``sum = sum w x`` and ``sum_log = sum w log x``.
    The M-step solves ``log(shape) - digamma(shape) = log(mean) - mean_log``
    (:func:`solve_gamma_shape`) and sets ``rate = shape / mean``: the exact
    maximizer, so EM stays monotone.
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("shape", "rate")

    def __init__(self, shape: Any = None, rate: Any = None):
        self.shape = _as_array(shape)
        self.rate = _as_array(rate)

    def _check_support(self, X: np.ndarray) -> None:
        if np.any(X <= 0):
            raise ValueError("Gamma: X must be strictly positive")

    def is_feasible(self, params: dict[str, Any]) -> bool:
        return all(np.all(np.isfinite(v)) and np.all(v > 0) for v in params.values())

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        a = np.stack([np.atleast_1d(c.shape) for c in components])  # (K, D)
        b = np.stack([np.atleast_1d(c.rate) for c in components])
        const = (a * np.log(b) - special.gammaln(a)).sum(axis=1)
        return const + np.log(X) @ (a - 1.0).T - X @ b.T

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob_components([self], X)[:, 0]

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        w = check_weights(weights, X.shape[0])
        return {"n": np.asarray(w.sum()), "sum": w @ X, "sum_log": w @ np.log(X)}

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        n = stats["n"] + EPS_COUNT
        mean = stats["sum"] / n
        mean_log = stats["sum_log"] / n
        # log(mean) >= mean_log by Jensen; equality only for a constant column
        shape = solve_gamma_shape(np.log(mean) - mean_log)
        return {"shape": shape, "rate": shape / mean}

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        self._check_fitted()
        assert self.shape is not None and self.rate is not None
        a, b = np.atleast_1d(self.shape), np.atleast_1d(self.rate)
        return as_rng(rng).gamma(a, 1.0 / b, size=(n, a.size))

    def init_features(self, X: np.ndarray) -> np.ndarray:
        return np.log(X)
