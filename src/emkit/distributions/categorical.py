"""Categories coded 0..C-1, one probability table per column, optional Dirichlet prior."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import special

from ..numerics.counts import weighted_code_counts
from ..numerics.simplex import on_simplex
from ._base import Distribution, _as_array, as_rng, check_weights

__all__ = ["Categorical"]


class Categorical(Distribution):
    """Independent categorical columns: ``P(x_d = c) = probs[d, c]``.

    Parameters
    ----------
    probs : array-like of shape (n_features, n_categories) or None
        Each row sums to one; ``None`` until fitted.
    n_categories : int or None, default None
        Number of categories (codes ``0 .. n_categories - 1``); ``None`` takes
        ``max(X) + 1`` from the data the distribution is first fitted on.
    prior : float, array-like of shape (n_features, n_categories), or None
        Dirichlet concentrations ``alpha > 0`` of each row of ``probs`` (a
        number is a symmetric prior); the M-step then returns the posterior
        mode on the simplex, ``max(counts + alpha - 1, 0)`` normalized per row:
        ``(counts + alpha - 1) / (sum w + C (alpha - 1))`` when every
        ``alpha >= 1`` (``alpha = 2`` is Laplace's add-one smoothing); entries
        with ``alpha < 1`` and too few counts stay at 0, as hmmlearn's update
        does.

    Notes
    -----
    Statistics: ``n = sum w`` and ``counts`` of shape (n_features, n_categories),
    the weighted number of rows with each category in each column.
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("probs",)

    def __init__(self, probs: Any = None, *, n_categories: int | None = None,
                 prior: Any = None):
        self.probs = _as_array(probs)
        self.n_categories = n_categories
        self.prior = prior

    def _n_cat(self) -> int | None:
        if self.probs is not None:
            return int(np.asarray(self.probs).shape[-1])
        return None if self.n_categories is None else int(self.n_categories)

    def prepare(self, X: np.ndarray) -> Categorical:
        """This distribution with ``n_categories`` taken from ``X`` when it is unset."""
        if self._n_cat() is not None:
            return self
        params = self.get_params(deep=False)
        params["n_categories"] = int(X.max()) + 1
        return type(self)(**params)

    def _check_support(self, X: np.ndarray) -> None:
        if np.any(X < 0) or np.any(X != np.round(X)):
            raise ValueError("Categorical: X must hold integer category codes 0, 1, 2, ...")
        c = self._n_cat()
        if c is not None and np.any(X >= c):
            raise ValueError(
                f"Categorical: X has the code {int(X.max())} but there are only {c} "
                f"categories (codes 0..{c - 1})"
            )

    def is_feasible(self, params: dict[str, Any]) -> bool:
        return on_simplex(params["probs"])

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        if len({np.shape(c.probs) for c in components}) != 1:
            return super().log_prob_components(components, X)
        probs = np.stack([np.asarray(c.probs) for c in components])  # (K, D, C)
        with np.errstate(divide="ignore"):
            log_p = np.log(probs)  # log(0) = -inf: that category is impossible
        codes = X.astype(np.intp)
        out = np.zeros((X.shape[0], len(components)))
        for d in range(X.shape[1]):
            out += log_p[:, d, codes[:, d]].T
        return out

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob_components([self], X)[:, 0]

    def _concentration(self, shape: tuple[int, ...]) -> np.ndarray | None:
        """The Dirichlet concentrations broadcast to ``shape`` (None without a prior)."""
        if self.prior is None:
            return None
        a = np.broadcast_to(np.asarray(self.prior, dtype=float), shape)
        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ValueError("Categorical: prior (Dirichlet concentrations) must be positive, "
                             f"got {self.prior!r}")
        return a

    def log_prior(self) -> float:
        p = np.asarray(self.probs)
        a = self._concentration(p.shape)
        if a is None or np.all(a == 1):
            return 0.0
        norm = special.gammaln(a.sum(axis=-1)) - special.gammaln(a).sum(axis=-1)
        use = (p > 0) & (a != 1)  # a zero probability where alpha < 1 is the boundary mode
        return float(np.sum((a[use] - 1.0) * np.log(p[use])) + norm.sum())

    @classmethod
    def stats_components(cls, components: list[Distribution], X: np.ndarray,
                         resp: np.ndarray) -> list[dict[str, np.ndarray]]:
        n_cats = {c._n_cat() for c in components}
        c = n_cats.pop() if len(n_cats) == 1 else None
        if c is None:
            return super().stats_components(components, X, resp)
        codes = X.astype(np.int64)
        counts = np.stack([weighted_code_counts(codes[:, j], resp, c)
                           for j in range(X.shape[1])], axis=1)  # (K, D, C)
        n = counts[:, 0, :].sum(axis=1)  # every row has one code per column
        return [{"n": np.asarray(n[k]), "counts": counts[k]} for k in range(len(components))]

    @classmethod
    def frame_components(cls, components: list[Distribution],
                         X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if X.shape[1] != 1 or len({np.shape(c.probs) for c in components}) != 1:
            return None
        table = np.stack([np.asarray(c.probs)[0] for c in components], axis=1)  # (C, K)
        return table[X[:, 0].astype(np.intp)], np.zeros(X.shape[0])

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        w = check_weights(weights, X.shape[0])
        c = self._n_cat()
        if c is None:
            c = int(X.max()) + 1
        d = X.shape[1]
        codes = X.astype(np.intp) + c * np.arange(d)  # flat index column * C + code
        counts = np.bincount(codes.ravel(), weights=np.repeat(w, d), minlength=d * c)
        return {"n": np.asarray(w.sum()), "counts": counts.reshape(d, c)}

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        counts = np.asarray(stats["counts"], dtype=float)
        a = self._concentration(counts.shape)
        p = counts if a is None else np.maximum(counts + (a - 1.0), 0.0)
        total = p.sum(axis=1, keepdims=True)
        probs = p / np.where(total > 0, total, 1.0)
        probs[total[:, 0] <= 0] = 1.0 / counts.shape[1]  # a component with no weight: uniform
        return {"probs": probs}

    @property
    def n_features(self) -> int | None:
        return None if self.probs is None else int(np.asarray(self.probs).shape[0])

    @property
    def n_parameters(self) -> int:
        self._check_fitted()
        d, c = np.asarray(self.probs).shape
        return int(d * (c - 1))

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        self._check_fitted()
        rng = as_rng(rng)
        probs = np.asarray(self.probs)
        cum = np.cumsum(probs, axis=1)
        u = rng.random((n, probs.shape[0]))
        codes = (u[:, :, None] > cum[None, :, :]).sum(axis=2)
        return np.minimum(codes, probs.shape[1] - 1).astype(float)

    def init_features(self, X: np.ndarray) -> np.ndarray:
        """One-hot codes, so that k-means sees categories, not their numbers."""
        c = self._n_cat() or int(X.max()) + 1
        return np.concatenate([(X[:, [j]] == np.arange(c)).astype(float)
                               for j in range(X.shape[1])], axis=1)
