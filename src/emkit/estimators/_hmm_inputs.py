"""Input checks and starting values shared by the hmmlearn-named HMM estimators."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_array

from ..gaussian.reference import COVARIANCE_TYPES

__all__ = ["float_X", "gaussian_X", "kmeans_fit", "kmeans_centers", "data_covariance",
           "check_covariance_type", "check_covariances"]


def float_X(X: Any) -> np.ndarray:
    X = check_array(X, dtype=np.float64, ensure_2d=False)
    if X.ndim == 1:
        X = X[:, None]
    return X


def gaussian_X(X: Any) -> np.ndarray:
    """Float X whose centred squares, summed over all rows, stay finite."""
    X = float_X(X)
    if X.size == 0:
        return X
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.abs(X - X.mean(axis=0)).max()
        fits = bool(spread * spread * len(X) < 1e307)  # False for inf/NaN as well
    if not fits:
        raise ValueError(f"X has values too large in magnitude (spread {spread:.3g}): the "
                         "sums of their squares overflow; rescale the data")
    return X


def kmeans_fit(X: np.ndarray, k: int, rng: np.random.RandomState) -> Any:
    """k-means of the rows of ``X`` that does not depend on their order.

    The rows are clustered in sorted order, so permuting them (e.g. listing the
    sequences in another order) gives the same centres; ``labels_`` are in the
    order of ``X``.
    """
    from sklearn.cluster import KMeans  # heavy import, only when initializing means

    seed = int(rng.randint(np.iinfo(np.int32).max))
    order = np.lexsort(X.T[::-1])
    km = KMeans(n_clusters=k, random_state=seed, n_init=3).fit(X[order])
    labels = np.empty_like(km.labels_)
    labels[order] = km.labels_
    km.labels_ = labels
    return km


def kmeans_centers(X: np.ndarray, k: int, rng: np.random.RandomState) -> np.ndarray:
    return kmeans_fit(X, k, rng).cluster_centers_


def data_covariance(X: np.ndarray, min_covar: float) -> np.ndarray:
    d = X.shape[1]
    cv = np.cov(X.T).reshape(d, d) if len(X) > 1 else np.zeros((d, d))
    return cv + min_covar * np.eye(d)


def check_covariance_type(covariance_type: str) -> None:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, "
                         f"got {covariance_type!r}")


def check_covariances(covars: np.ndarray, covariance_type: str, name: str) -> None:
    """Raise ``ValueError`` unless ``covars`` are finite, positive variances ("spherical",
    "diag") or symmetric positive-definite matrices ("full", "tied": the last two axes)."""
    covars = np.asarray(covars, dtype=float)
    if not np.all(np.isfinite(covars)):
        raise ValueError(f"{name} must be finite")
    if covariance_type in ("spherical", "diag"):
        if np.any(covars <= 0):
            raise ValueError(f"{covariance_type!r} {name} must be positive")
        return
    matrices = covars.reshape(-1, *covars.shape[-2:])
    if not np.allclose(matrices, np.swapaxes(matrices, -1, -2)):
        raise ValueError(f"{covariance_type!r} {name} must be symmetric")
    try:
        np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        raise ValueError(f"{covariance_type!r} {name} must be positive-definite") from None
