"""Covariates of :class:`~emkit.estimators.hmm_input_driven.InputDrivenHMM`: checks and scaling."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..numerics.design_scaling import Design

__all__ = ["check_covariates", "covariate_design", "covariate_rows", "n_rows", "numeric_covariates",
           "stationary"]


def check_covariates(covariates: Any, n_rows: int, n_covariates: int | None) -> np.ndarray:
    """Covariates as a finite float array (n_rows, n_covariates).

    ``None`` means no covariates (allowed only when ``n_covariates`` is 0 or not
    yet known); a 1-D array is one covariate.

    Raises
    ------
    ValueError
        Naming ``covariates``: missing when the model needs them, another number of
        rows than ``X`` or of columns than the fit, NaN or infinite entries, text.
    """
    if covariates is None:
        if n_covariates:
            raise ValueError(f"covariates is required: the model was fitted with "
                             f"{n_covariates} covariate column(s); pass covariates=U with "
                             "one row per row of X")
        return np.zeros((n_rows, 0))
    U = covariate_rows(numeric_covariates(covariates), n_rows)
    if n_covariates is not None and U.shape[1] != n_covariates:
        raise ValueError(f"covariates has {U.shape[1]} columns, but the model was fitted "
                         f"with {n_covariates}")
    bad = ~np.isfinite(U)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"covariates must be finite: entry ({r}, {c}) is {U[r, c]} "
                         f"({int(bad.sum())} non-finite entries); impute or drop those rows")
    return U


def numeric_covariates(covariates: Any) -> np.ndarray:
    """A table or array-like of covariates as a float array (a clear error if not numeric)."""
    if hasattr(covariates, "to_numpy"):
        covariates = covariates.to_numpy()
    try:
        return np.asarray(covariates, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("covariates must be numeric") from None


def covariate_rows(U: Any, n_rows: int) -> Any:
    """``U`` (NumPy or Dask) as (n_rows, n_covariates): one column if 1-D, else an error
    naming the shape, or the row count when it differs from X's."""
    if U.ndim == 1:
        U = U[:, None]
    if U.ndim != 2:
        raise ValueError(f"covariates must be 2-D (n_samples, n_covariates), got shape "
                         f"{U.shape}")
    if U.shape[0] != n_rows:
        raise ValueError(f"covariates has {U.shape[0]} rows but X has {n_rows}: give one "
                         "covariate row per row of X")
    return U


def n_rows(covariates: Any) -> int:
    shape = np.shape(covariates)
    if len(shape) == 0:
        raise ValueError("covariates must be an array of shape (n, n_covariates)")
    return int(shape[0])


def covariate_design(U: np.ndarray) -> Design:
    """The covariates' scaling into [-1, 1] over the training rows ``U`` (n, q).

    Raises
    ------
    ValueError
        When a column of ``covariates`` is constant (collinear with the intercept).
    """
    if U.shape[1] == 0:
        return Design.identity(0)
    low, high = U.min(axis=0), U.max(axis=0)
    flat = np.flatnonzero(high <= low)
    if flat.size:
        raise ValueError(f"covariates column(s) {flat.tolist()} are constant over the "
                         "training rows: the intercept already plays their part; drop "
                         "them")
    return Design.from_range(low, high)


def stationary(P: np.ndarray) -> np.ndarray:
    """Stationary distributions (n, K) of the transition matrices ``P`` (n, K, K):
    ``pi (P - I) = 0`` with one equation replaced by ``sum(pi) = 1``."""
    k = P.shape[1]
    A = np.transpose(P, (0, 2, 1)) - np.eye(k)
    A[:, -1, :] = 1.0
    b = np.zeros((len(P), k, 1))
    b[:, -1] = 1.0
    return np.linalg.solve(A, b)[..., 0]
