"""Binary flags, one success probability per column, with an optional Beta prior (MAP)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np
from scipy import stats

from ._base import EPS_COUNT, Distribution, _as_array, as_rng, check_weights

__all__ = ["Bernoulli"]

_TINY = np.finfo(float).tiny


class Bernoulli(Distribution):
    """Independent 0/1 flags: ``x_d ~ Bernoulli(probs_d)``.

    Parameters
    ----------
    probs : array-like of shape (n_features,) or None
        Probability of a 1 in each column; ``None`` until fitted.
    prior : tuple (a, b) or None, default None
        Beta(``a`` >= 1, ``b`` >= 1) prior on every probability; the M-step then
        returns the posterior mode ``(sum w x + a - 1) / (sum w + a + b - 2)``.

    Notes
    -----
    Statistics: ``n = sum w`` and ``sum = sum w x`` (shape (n_features,)).
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("probs",)

    def __init__(self, probs: Any = None, *, prior: tuple[float, float] | None = None):
        self.probs = _as_array(probs)
        self.prior = prior

    def _check_support(self, X: np.ndarray) -> None:
        if not np.all((X == 0) | (X == 1)):
            raise ValueError("Bernoulli: X must hold only 0 and 1")

    def is_feasible(self, params: dict[str, Any]) -> bool:
        p = params["probs"]
        return bool(np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1)))

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        p = np.stack([np.atleast_1d(c.probs) for c in components])  # (K, D)
        # probabilities of exactly 0 or 1 are the ML estimate for a constant column;
        # log(tiny) keeps 0 * log(0) finite
        log_p = np.log(np.maximum(p, _TINY))
        log_q = np.log(np.maximum(1.0 - p, _TINY))
        return X @ log_p.T + (1.0 - X) @ log_q.T

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob_components([self], X)[:, 0]

    def log_prior(self) -> float:
        if self.prior is None:
            return 0.0
        a, b = self.prior
        probs = cast(np.ndarray, self.probs)  # the prior is evaluated at fitted parameters
        return float(stats.beta.logpdf(np.clip(probs, _TINY, 1 - 1e-16), a, b).sum())

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        w = check_weights(weights, X.shape[0])
        return {"n": np.asarray(w.sum()), "sum": w @ X}

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        a, b = (1.0, 1.0) if self.prior is None else map(float, self.prior)
        if a < 1 or b < 1:
            raise ValueError(f"Bernoulli: prior needs a >= 1 and b >= 1, got {self.prior}")
        probs = (stats["sum"] + a - 1.0) / (stats["n"] + a + b - 2.0 + EPS_COUNT)
        return {"probs": np.clip(probs, 0.0, 1.0)}

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        self._check_fitted()
        assert self.probs is not None
        p = np.atleast_1d(self.probs)
        return (as_rng(rng).random((n, p.size)) < p).astype(float)
