"""Input validation of :class:`~emkit.estimators.gaussian_mixture.GaussianMixture`.

This module's one job is to refuse what ``GaussianMixture`` cannot fit or score,
with an error that says what is wrong: the ``dtype`` parameter, the data matrix
(empty, infinite, rows with no observed value), ``sample_weight`` and the data's
size against ``n_components`` and ``reg_covar``. The checks are methods of a
mixin because the estimator, its Dask path and ``partial_fit`` all call them on
the estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import _check_sample_weight, validate_data

__all__ = ["GaussianMixtureChecks"]


class GaussianMixtureChecks:
    """Validation methods of ``GaussianMixture`` (reads its parameters, sets nothing)."""

    n_components: int
    reg_covar: float
    dtype: Any

    def _dtype(self) -> np.dtype:
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be float64 or float32, got {self.dtype!r}")
        return dtype

    def _validate_X(self, X: Any, reset: bool) -> np.ndarray:
        X = validate_data(
            self, X, reset=reset, dtype=self._dtype(), ensure_all_finite="allow-nan",
            ensure_min_samples=2 if reset else 1, order="C",
        )
        if X.shape[0] == 0:
            raise ValueError("X is empty: at least one row is needed")
        if np.isnan(X).all(axis=1).any():
            raise ValueError(
                "X has rows with no observed value (all NaN); drop them before fitting"
            )
        return X

    def _check_weights(self, X: np.ndarray, sample_weight: Any) -> np.ndarray | None:
        if sample_weight is None:
            return None
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64, copy=True,
                                       ensure_non_negative=True)
        if not weights.sum() > 0.0:
            raise ValueError("sample_weight sums to zero: at least one row needs weight")
        return weights

    def _check_sizes(self, X: np.ndarray, weights: np.ndarray | None) -> None:
        rows = X if weights is None else X[weights > 0]
        if len(rows) < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {len(rows)}"
            )
        if self.reg_covar == 0.0:
            spread = np.nanmax(rows, axis=0) - np.nanmin(rows, axis=0)
            constant = np.flatnonzero(~(spread > 0.0))
            if constant.size:
                raise ValueError(
                    f"column(s) {constant.tolist()} of X are constant, so every covariance "
                    "would be singular with reg_covar=0; drop them or set reg_covar > 0"
                )
        if not np.isnan(rows).any() and len(rows) <= 100_000:
            distinct = len(np.unique(rows, axis=0))
            if distinct < self.n_components:
                raise ValueError(
                    f"X has only {distinct} distinct rows, fewer than n_components="
                    f"{self.n_components}: the extra components would have no data; "
                    "reduce n_components"
                )
