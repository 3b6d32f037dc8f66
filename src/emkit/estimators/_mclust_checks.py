"""Input checks and failure reasons shared by ``MclustMixture`` and ``select_model``.

One job: refuse data no mclust model can be fitted to (:func:`check_data`,
:func:`check_spread`), and name a failed fit's reason in a few words (:func:`failure_reason`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from ..validation import check_magnitude

__all__ = ["check_data", "check_spread", "failure_reason", "StartsFailed"]


def check_data(X: Any, what: str = "X") -> np.ndarray:
    """``X`` as a finite 2-D float array (a 1-D array becomes one column).

    Raises
    ------
    ValueError
        When ``X`` is not 2-D, is empty, has NaN or infinite entries, or has values
        so large that their squares overflow (see :func:`emkit.validation.check_magnitude`).
    """
    if sparse.issparse(X):
        raise ValueError(f"Sparse data was passed as {what}, but dense data is required: "
                         "convert it with .toarray()")
    X = np.asarray(X)
    if np.iscomplexobj(X):
        raise ValueError(f"Complex data not supported: {what} must hold real numbers")
    X = X.astype(float, copy=False)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D (n_samples, n_features), got {X.ndim}-D")
    if X.shape[0] == 0 or X.shape[1] == 0:
        part = "sample" if X.shape[0] == 0 else "feature"
        raise ValueError(f"{what} is empty: 0 {part}(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{what} contains NaN or infinite values; this model needs complete data")
    check_magnitude(X, what)
    return X


def failure_reason(exc: BaseException) -> str:
    """A fit's failure in a few words: the exception's ``reason``, else its first clause."""
    reason = getattr(exc, "reason", None)
    if reason:
        return str(reason)
    text = " ".join(str(exc).split())
    return text.split("; ")[0] or type(exc).__name__


class StartsFailed(ValueError):
    """Both starts of a fit failed; ``reason`` names each start's failure briefly."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def check_spread(X: np.ndarray, reg_covar: float, what: str = "X") -> None:
    """Refuse identical rows when nothing regularizes the covariances.

    With every row of ``X`` equal, each covariance estimate is the zero matrix
    whatever the model, so EM cannot start (mclust fails on such data as well).

    Raises
    ------
    ValueError
        When ``reg_covar`` is 0 and all rows of ``X`` (n_samples, n_features) are equal.
    """
    if reg_covar > 0 or np.any(X != X[0]):
        return
    n = X.shape[0]
    rows = (f"{what} has a single row (1 sample)" if n == 1
            else f"all {n} rows of {what} are identical")
    raise ValueError(f"{rows}: every column is constant (zero variance), so no covariance "
                     "can be estimated; give data with distinct rows or set reg_covar > 0")

