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

from ..validation import check_observed_columns

__all__ = ["GaussianMixtureChecks", "COLLAPSE_MESSAGE"]

#: scikit-learn's words for a component whose covariance is singular, kept so that
#: code matching scikit-learn's error keeps working.
COLLAPSE_MESSAGE = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data."
)


class GaussianMixtureChecks:
    """Validation methods of ``GaussianMixture`` (reads its parameters, sets nothing)."""

    n_components: int
    reg_covar: float
    dtype: Any
    _fit_dtype: np.dtype

    def _dtype(self, X: Any = None) -> np.dtype:
        """Precision of the arithmetic and of the fitted attributes.

        ``dtype=None`` follows the data, as scikit-learn does: float32 ``X``
        (a float32 array, or a DataFrame whose columns are all float32) is fitted
        in float32, anything else in float64. Without ``X``, the precision of
        the current fit.
        """
        if self.dtype is None:
            if X is not None:
                dtypes = getattr(X, "dtypes", None)  # a pandas DataFrame
                found = ([np.dtype(getattr(X, "dtype", np.float64))] if dtypes is None
                         else [np.dtype(t) if isinstance(t, np.dtype) else None
                               for t in np.atleast_1d(dtypes)])
                f32 = len(found) > 0 and all(t == np.float32 for t in found)
                return np.dtype(np.float32 if f32 else np.float64)
            if hasattr(self, "_fit_dtype"):
                return np.dtype(self._fit_dtype)
            means = getattr(self, "means_", None)
            return np.dtype(np.float64) if means is None else np.dtype(means.dtype)
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be None, float64 or float32, got {self.dtype!r}")
        return dtype

    def _validate_X(self, X: Any, reset: bool) -> np.ndarray:
        dtype = self._dtype(X if reset else None)
        X = validate_data(
            self, X, reset=reset, dtype=dtype, ensure_all_finite="allow-nan",
            ensure_min_samples=2 if reset else 1, order="C",
        )
        if reset:
            self._fit_dtype = dtype
            check_observed_columns(X)
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
        if self.reg_covar == 0.0 and not np.isnan(rows).any() and len(rows) <= 100_000:
            distinct = len(np.unique(rows, axis=0))
            if distinct < self.n_components:
                raise ValueError(
                    f"{COLLAPSE_MESSAGE} (X has only {distinct} distinct rows, fewer than "
                    f"n_components={self.n_components}, so with reg_covar=0 some component's "
                    "covariance is singular)"
                )
