"""Counts of C outcomes over each row's trials: one multinomial probability vector."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np

from ..numerics.simplex import on_simplex
from ._base import Distribution, _as_array, as_rng, check_weights, column_sums
from .count_kernels import frame_leaving_out_rows, multinomial_log_prob
from .missing import MissingEntries

__all__ = ["Multinomial"]


class Multinomial(Distribution):
    """Multinomial counts: row ``x`` (C outcomes) ~ Multinomial(``sum(x)``, ``probs``).

    The log-mass includes the multinomial coefficient,
    ``log (N! / prod x_c!) + sum_c x_c log probs_c`` with ``N = sum_c x_c`` (as
    :func:`scipy.stats.multinomial.logpmf` and hmmlearn's ``MultinomialHMM``).

    Parameters
    ----------
    probs : array-like of shape (n_categories,) or None
        Outcome probabilities, summing to one; ``None`` until fitted.
    n_trials : int or None, default None
        Trials per row. When given, every row must sum to it; ``None`` lets
        each row's total be its own number of trials. :meth:`sample` needs it.

    Notes
    -----
    Statistics: ``n = sum w`` and ``counts = sum w x`` (shape (n_categories,));
    the M-step is ``probs = counts / sum(counts)``.
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("probs",)

    def __init__(self, probs: Any = None, *, n_trials: int | None = None):
        self.probs = _as_array(probs)
        self.n_trials = n_trials

    def _trials(self) -> int | None:
        if self.n_trials is None:
            return None
        t = self.n_trials
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise ValueError(f"Multinomial: n_trials must be a non-negative integer or None, "
                             f"got {t!r}")
        return int(t)

    def _check_support(self, X: np.ndarray) -> None:
        if np.any(X < 0) or np.any(X != np.round(X)):
            raise ValueError("Multinomial: X must hold non-negative integer counts")
        t = self._trials()
        if t is not None:
            totals = X.sum(axis=1)
            if np.any(totals != t):
                row = int(np.flatnonzero(totals != t)[0])
                raise ValueError(f"Multinomial: every row must sum to n_trials={t}; row {row} "
                                 f"sums to {totals[row]:g}")

    def is_feasible(self, params: dict[str, Any]) -> bool:
        return on_simplex(params["probs"])

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        # compiled (count_kernels); a count of an outcome of probability 0 gives -inf
        return multinomial_log_prob(X, cls._probs(components))[0]

    @classmethod
    def frame_components(cls, components: list[Distribution],
                         X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        return multinomial_log_prob(X, cls._probs(components), as_frame=True)

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
    def _probs(components: list[Distribution]) -> np.ndarray:
        return np.stack([np.asarray(cast(Multinomial, c).probs, dtype=float)
                         for c in components])  # (K, C)

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob_components([self], X)[:, 0]

    @classmethod
    def stats_components(cls, components: list[Distribution], X: np.ndarray,
                         resp: np.ndarray) -> list[dict[str, np.ndarray]]:
        n, counts = column_sums(resp), resp.T @ X
        return [{"n": np.asarray(n[k]), "counts": counts[k]} for k in range(len(components))]

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        w = check_weights(weights, X.shape[0])
        return {"n": np.asarray(w.sum()), "counts": w @ X}

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        counts = np.asarray(stats["counts"], dtype=float)
        total = counts.sum()
        if not total > 0:  # no weight (or no counts): uniform
            return {"probs": np.full(counts.shape, 1.0 / counts.shape[0])}
        return {"probs": counts / total}

    @property
    def n_parameters(self) -> int:
        self._check_fitted()
        return int(np.asarray(self.probs).size) - 1

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        """Draw ``n`` rows of ``n_trials`` trials each, shape (n, n_categories).

        Raises
        ------
        ValueError
            When ``n_trials`` is None.
        """
        self._check_fitted()
        t = self._trials()
        if t is None:
            raise ValueError("Multinomial: sampling needs n_trials (the trials per row)")
        return as_rng(rng).multinomial(t, np.asarray(self.probs), size=n).astype(float)

    def init_features(self, X: np.ndarray) -> np.ndarray:
        """Each row's outcome proportions, so that k-means sees the mix, not the total."""
        totals = X.sum(axis=1, keepdims=True)
        return X / np.where(totals > 0, totals, 1.0)
