"""A product of distributions over groups of columns, for rows of mixed types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from ._base import Distribution, as_rng, check_weights
from .missing import MissingEntries

__all__ = ["Independent"]


class Independent(Distribution):
    """Independent parts, each modelling its own columns: ``p(x) = prod_j p_j(x[cols_j])``.

    Parameters
    ----------
    distributions : list of Distribution
        One distribution per column group (fitted or templates).
    columns : list of (int or list of int) or None, default None
        The columns of ``X`` each part models; ``None`` gives part ``j`` the
        single column ``j``.

    Notes
    -----
    Statistics are ``{"parts": [stats_0, stats_1, ...]}`` and the M-step fits
    each part on its own. A ``"tied"`` Gaussian part is not pooled across the
    components of a mixture (it behaves as ``"full"``); put tied Gaussians
    directly in the mixture for that.

    Examples
    --------
    A count in column 0, a flag in column 1 and two real values in columns 2-3:

    >>> from emkit.distributions import Bernoulli, Gaussian, Independent, Poisson
    >>> row = Independent([Poisson(), Bernoulli(), Gaussian(covariance_type="diag")],
    ...                   columns=[0, 1, [2, 3]])
    """

    def __init__(self, distributions: Sequence[Distribution],
                 columns: Sequence[int | Sequence[int]] | None = None):
        self.distributions = distributions
        self.columns = columns

    # ---------------------------------------------------------------- structure
    def _groups(self) -> list[np.ndarray]:
        parts = list(self.distributions)
        if not parts or not all(isinstance(p, Distribution) for p in parts):
            raise ValueError("Independent: distributions must be a non-empty list of "
                             "emkit distributions")
        if self.columns is None:
            return [np.array([j]) for j in range(len(parts))]
        if len(self.columns) != len(parts):
            raise ValueError(
                f"Independent: {len(parts)} distributions but {len(self.columns)} column groups"
            )
        groups = [np.atleast_1d(np.asarray(c, dtype=np.intp)) for c in self.columns]
        flat = np.concatenate(groups)
        if np.any(flat < 0) or len(set(flat.tolist())) != flat.size:
            raise ValueError("Independent: columns must be non-negative and not repeated")
        return groups

    def _with_parts(self, parts: list[Distribution]) -> Independent:
        return type(self)(parts, columns=self.columns)

    @property
    def _parts(self) -> list[Distribution]:
        return list(self.distributions)

    @property
    def is_fitted(self) -> bool:
        return all(p.is_fitted for p in self._parts)

    @property
    def exact_m_step(self) -> bool:  # type: ignore[override]
        return all(p.exact_m_step for p in self._parts)

    @property
    def n_features(self) -> int | None:
        return int(max(int(g.max()) for g in self._groups())) + 1

    def parameters(self) -> dict[str, Any]:
        self._check_fitted()
        return {"parts": [p.parameters() for p in self._parts]}

    def _check_fitted(self) -> None:
        for p in self._parts:
            p._check_fitted()

    def with_parameters(self, params: dict[str, Any]) -> Independent:
        parts = [p.with_parameters(q) for p, q in zip(self._parts, params["parts"], strict=True)]
        return self._with_parts(parts)

    def is_feasible(self, params: dict[str, Any]) -> bool:
        return all(p.is_feasible(q) for p, q in zip(self._parts, params["parts"], strict=True))

    # ---------------------------------------------------------------- validation
    def validate(self, X: Any, *, allow_missing: bool = False) -> np.ndarray:
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("Independent: X must be numeric (code categories as 0, 1, ...)")\
                from None
        if X.ndim == 1:
            X = X[:, None]
        groups = self._groups()
        width = max(int(g.max()) for g in groups) + 1
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != width:
            raise ValueError(
                f"Independent: X must be a non-empty 2-D array with {width} columns, "
                f"got shape {X.shape}"
            )
        for p, g in zip(self._parts, groups, strict=True):
            p.validate(X[:, g], allow_missing=allow_missing)
        return X

    def prepare(self, X: np.ndarray) -> Independent:
        """Resolve data-dependent settings of the parts (e.g. a category count)."""
        parts = [p.prepare(X[:, g]) for p, g in zip(self._parts, self._groups(), strict=True)]
        return self._with_parts(parts)

    # ------------------------------------------------------------------------ EM
    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        terms = (p._log_prob(X[:, g]) for p, g in zip(self._parts, self._groups(), strict=True))
        # an array, not sum's start 0: _groups() rejects an empty list of parts
        return cast(np.ndarray, sum(terms))

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        first = components[0]
        groups = first._groups()
        total = np.zeros((X.shape[0], len(components)))
        for j, g in enumerate(groups):
            total += _parts_log_prob([c._parts[j] for c in components], X[:, g])
        return total

    @classmethod
    def log_prob_components_missing(cls, components: list[Distribution], X: np.ndarray,
                                    missing: MissingEntries) -> np.ndarray:
        """The sum of the parts' log-densities of their observed entries: a part whose
        columns are all missing in a row leaves the other parts' factors."""
        groups = components[0]._groups()
        total = np.zeros((X.shape[0], len(components)))
        for j, g in enumerate(groups):
            parts = [c._parts[j] for c in components]
            sub = missing.columns(g)
            if sub is None:
                total += _parts_log_prob(parts, X[:, g])
            elif len({type(p) for p in parts}) == 1:
                total += type(parts[0]).log_prob_components_missing(parts, X[:, g], sub)
            else:
                total += np.column_stack([type(p).log_prob_components_missing([p], X[:, g], sub)
                                          for p in parts])
        return total

    @classmethod
    def stats_components_missing(cls, components: list[Distribution], X: np.ndarray,
                                 resp: np.ndarray,
                                 missing: MissingEntries) -> list[dict[str, Any]]:
        """Each part's (expected) statistics of its observed entries (see
        :meth:`log_prob_components_missing`)."""
        groups = components[0]._groups()
        per_part = []
        for j, g in enumerate(groups):
            parts = [c._parts[j] for c in components]
            sub = missing.columns(g)
            if sub is None:  # as stats(): each part's own statistics
                per_part.append([p.stats(X[:, g], resp[:, k]) for k, p in enumerate(parts)])
            elif len({type(p) for p in parts}) == 1:
                per_part.append(type(parts[0]).stats_components_missing(parts, X[:, g], resp,
                                                                        sub))
            else:
                per_part.append([type(p).stats_components_missing([p], X[:, g], resp[:, [k]],
                                                                  sub)[0]
                                 for k, p in enumerate(parts)])
        return [{"parts": [s[k] for s in per_part]} for k in range(len(components))]

    def log_prior(self) -> float:
        return float(sum(p.log_prior() for p in self._parts))

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, Any]:
        w = check_weights(weights, X.shape[0])
        return {"parts": [p.stats(X[:, g], w) for p, g in zip(self._parts, self._groups(),
                                                              strict=True)]}

    def from_stats(self, stats: dict[str, Any]) -> Independent:
        return self._with_parts([p.from_stats(s) for p, s in zip(self._parts, stats["parts"],
                                                                 strict=True)])

    def init_from_data(self, X: np.ndarray, weights: Any = None,
                       rng: Any = None) -> Independent:
        return self._with_parts([p.init_from_data(X[:, g], weights, rng)
                                 for p, g in zip(self._parts, self._groups(), strict=True)])

    def init_features(self, X: np.ndarray) -> np.ndarray:
        """Each part's features, standardized so that no column group dominates k-means."""
        feats = []
        for p, g in zip(self._parts, self._groups(), strict=True):
            f = p.init_features(X[:, g])
            sd = f.std(axis=0)
            feats.append((f - f.mean(axis=0)) / np.where(sd > 0, sd, 1.0))
        return np.concatenate(feats, axis=1)

    @property
    def n_parameters(self) -> int:
        return int(sum(p.n_parameters for p in self._parts))

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        rng = as_rng(rng)
        out = np.empty((n, self.n_features or 0))
        for p, g in zip(self._parts, self._groups(), strict=True):
            out[:, g] = p.sample(n, rng)
        return out


def _parts_log_prob(parts: list[Distribution], X: np.ndarray) -> np.ndarray:
    """Log-densities (n, K) of one part of K products: vectorized when one family."""
    if len({type(p) for p in parts}) == 1:
        return type(parts[0]).log_prob_components(parts, X)
    return np.column_stack([p._log_prob(X) for p in parts])
