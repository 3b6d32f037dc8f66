"""Poisson counts, one rate per column, with an optional Gamma prior (MAP)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np
from scipy import stats

from ._base import EPS_COUNT, Distribution, _as_array, as_rng, check_weights, column_sums
from .count_kernels import frame_leaving_out_rows, poisson_log_prob
from .missing import MissingEntries

__all__ = ["Poisson"]

_TINY = np.finfo(float).tiny


class Poisson(Distribution):
    """Independent Poisson counts: ``x_d ~ Poisson(rate_d)``.

    Parameters
    ----------
    rate : array-like of shape (n_features,) or None
        Expected counts; ``None`` until fitted.
    prior : tuple (alpha, beta) or None, default None
        Gamma(shape ``alpha`` >= 1, rate ``beta`` >= 0) prior on every rate; the
        M-step then returns the posterior mode ``(sum w x + alpha - 1) / (sum w + beta)``.

    Notes
    -----
    Statistics: ``n = sum w`` and ``sum = sum w x`` (shape (n_features,)).
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("rate",)

    def __init__(self, rate: Any = None, *, prior: tuple[float, float] | None = None):
        self.rate = _as_array(rate)
        self.prior = prior

    def _check_support(self, X: np.ndarray) -> None:
        if np.any(X < 0) or np.any(X != np.round(X)):
            raise ValueError("Poisson: X must hold non-negative integer counts")

    def is_feasible(self, params: dict[str, Any]) -> bool:
        return bool(np.all(np.isfinite(params["rate"])) and np.all(params["rate"] >= 0))

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        # compiled (count_kernels); a zero rate gives log(tiny) ~ -708 per count
        # instead of 0 * -inf = nan
        return poisson_log_prob(X, cls._rates(components))[0]

    @classmethod
    def frame_components(cls, components: list[Distribution],
                         X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        return poisson_log_prob(X, cls._rates(components), as_frame=True)

    @classmethod
    def frame_components_missing(cls, components: list[Distribution], X: np.ndarray,
                                 missing: MissingEntries
                                 ) -> tuple[np.ndarray, np.ndarray] | None:
        """Frames with wholly missing rows left out (probability 1), in one compiled pass;
        a partly observed row is refused, as :meth:`log_prob_components_missing` does."""
        missing.refuse_partial(cls.__name__)
        return frame_leaving_out_rows(cls.frame_components(components, missing.zero_filled()),
                                      missing.empty)

    @staticmethod
    def _rates(components: list[Distribution]) -> np.ndarray:
        return np.stack([np.atleast_1d(np.asarray(cast(Poisson, c).rate, dtype=float))
                         for c in components])  # (K, D)

    @classmethod
    def stats_components(cls, components: list[Distribution], X: np.ndarray,
                         resp: np.ndarray) -> list[dict[str, np.ndarray]]:
        n, sums = column_sums(resp), resp.T @ X
        return [{"n": np.asarray(n[k]), "sum": sums[k]} for k in range(len(components))]

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob_components([self], X)[:, 0]

    def log_prior(self) -> float:
        if self.prior is None:
            return 0.0
        a, b = self.prior
        rate = cast(np.ndarray, self.rate)  # the prior is evaluated at fitted parameters
        if b == 0:
            return float(np.sum((a - 1.0) * np.log(np.maximum(rate, _TINY))))
        return float(stats.gamma.logpdf(rate, a, scale=1.0 / b).sum())

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        w = check_weights(weights, X.shape[0])
        return {"n": np.asarray(w.sum()), "sum": w @ X}

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        a, b = (1.0, 0.0) if self.prior is None else map(float, self.prior)
        if a < 1 or b < 0:
            raise ValueError(f"Poisson: prior needs alpha >= 1 and beta >= 0, got {self.prior}")
        return {"rate": (stats["sum"] + a - 1.0) / (stats["n"] + b + EPS_COUNT)}

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        self._check_fitted()
        assert self.rate is not None
        return as_rng(rng).poisson(self.rate, size=(n, np.size(self.rate))).astype(float)
