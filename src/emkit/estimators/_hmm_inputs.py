"""Input checks and starting values shared by the hmmlearn-named HMM estimators.

NaN in ``X`` marks an entry missing at random for the Gaussian HMMs and
:class:`emkit.HMM` (:func:`gaussian_X`); their starts are computed from
:func:`start_rows`. The count HMMs keep refusing NaN (:func:`float_X`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.utils import check_array

from ..distributions.missing import has_missing
from ..gaussian.reference import COVARIANCE_TYPES

__all__ = ["float_X", "gaussian_X", "check_observed_columns", "start_rows", "kmeans_fit",
           "kmeans_centers", "data_covariance", "check_covariance_type", "check_covariances"]


def float_X(X: Any, allow_missing: bool = False) -> np.ndarray:
    """``X`` as a 2-D float array (a 1-D one is one feature); NaN only with
    ``allow_missing`` (missing at random), infinite values never."""
    X = check_array(X, dtype=np.float64, ensure_2d=False,
                    ensure_all_finite="allow-nan" if allow_missing else True)
    if X.ndim == 1:
        X = X[:, None]
    return X


def gaussian_X(X: Any) -> np.ndarray:
    """Float X, NaN marking missing entries, whose centred squares, summed over all
    rows, stay finite."""
    X = float_X(X, allow_missing=True)
    if X.size == 0:
        return X
    missing = has_missing(X)
    with np.errstate(over="ignore", invalid="ignore"):
        if missing:
            with warnings.catch_warnings():  # a column of NaN only: refused at the start
                warnings.simplefilter("ignore", RuntimeWarning)
                spread = np.nanmax(np.abs(X - np.nanmean(X, axis=0)), initial=0.0)
        else:
            spread = np.abs(X - X.mean(axis=0)).max()
        fits = bool(spread * spread * len(X) < 1e307)  # False for inf/NaN as well
    if not fits:
        raise ValueError(f"X has values too large in magnitude (spread {spread:.3g}): the "
                         "sums of their squares overflow; rescale the data")
    return X


def check_observed_columns(X: np.ndarray) -> None:
    """Raise ``ValueError`` when a column of ``X`` has no observed (non-NaN) value."""
    if not has_missing(X):
        return
    empty = np.flatnonzero(np.isnan(X).all(axis=0))
    if empty.size:
        raise ValueError(
            f"X has no observed value in column(s) {empty[:10].tolist()}: every entry is "
            "NaN (missing), so nothing can be learnt about them; drop those columns"
        )


def start_rows(X: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """The rows a fit's start is computed from: ``X`` itself without NaN, else ``X`` with
    each missing entry replaced by an observed value of its column drawn at random
    (values inside every family's support, each column's spread kept).

    Raises
    ------
    ValueError
        When a column has no observed value (:func:`check_observed_columns`).
    """
    if not has_missing(X):
        return X
    check_observed_columns(X)
    out = np.array(X, dtype=float)
    mask = np.isnan(out)
    for j in np.flatnonzero(mask.any(axis=0)):
        seen = out[~mask[:, j], j]
        out[mask[:, j], j] = seen[rng.randint(seen.size, size=int(mask[:, j].sum()))]
    return out


def kmeans_fit(X: np.ndarray, k: int, rng: np.random.RandomState,
               sample_weight: np.ndarray | None = None) -> Any:
    """k-means of the rows of ``X`` that does not depend on their order.

    The rows are clustered in sorted order, so permuting them (e.g. listing the
    sequences in another order) gives the same centres; ``labels_`` are in the
    order of ``X``. ``sample_weight`` (n_samples,): each row's weight (scikit-learn's).
    """
    from sklearn.cluster import KMeans  # heavy import, only when initializing means

    seed = int(rng.randint(np.iinfo(np.int32).max))
    order = np.lexsort(X.T[::-1])
    km = KMeans(n_clusters=k, random_state=seed, n_init=3).fit(
        X[order], sample_weight=None if sample_weight is None else sample_weight[order])
    labels = np.empty_like(km.labels_)
    labels[order] = km.labels_
    km.labels_ = labels
    return km


def kmeans_centers(X: np.ndarray, k: int, rng: np.random.RandomState,
                   sample_weight: np.ndarray | None = None) -> np.ndarray:
    return kmeans_fit(X, k, rng, sample_weight).cluster_centers_


def data_covariance(X: np.ndarray, min_covar: float,
                    sample_weight: np.ndarray | None = None) -> np.ndarray:
    """``np.cov`` of the rows plus ``min_covar`` on the diagonal; with ``sample_weight``
    (n_samples,), row ``i`` counts ``sample_weight[i]`` times (``np.cov``'s ``fweights``,
    for any non-negative weights)."""
    d = X.shape[1]
    if sample_weight is not None:
        total = float(sample_weight.sum())
        if total <= 1:
            return min_covar * np.eye(d)
        dev = X - (sample_weight @ X) / total
        return (dev * sample_weight[:, None]).T @ dev / (total - 1) + min_covar * np.eye(d)
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
