"""A user's start for an mclust-model fit: a partition, responsibilities or parameters.

What another program's fit can be reproduced from (mclust's ``me(z = ...)``
takes a partition or responsibilities; its ``em(parameters = ...)`` takes
parameters):

* labels, an integer array of shape (n_samples,) with values ``0 .. K-1``;
* responsibilities, a non-negative array of shape (n_samples, K) whose rows are
  normalized to sum to one;
* parameters, a dict with ``weights`` (K,), ``means`` (K, D) and
  ``covariances`` (K, D, D) (symmetric positive definite).

:func:`check_start` reads one and returns it in one of two forms: ``("resp",
array)`` (a labels vector becomes one-hot responsibilities) or ``("params",
dict)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["check_start", "start_components"]


def start_components(init: Any, what: str = "init") -> int:
    """How many components a start has (labels: the largest label + 1).

    Raises
    ------
    ValueError
        When ``init`` is none of the three kinds.
    """
    if isinstance(init, Mapping):
        if "weights" not in init:
            raise ValueError(f"{what} as parameters needs 'weights', 'means' and "
                             f"'covariances'; got keys {sorted(init)}")
        return int(np.size(init["weights"]))
    arr = np.asarray(init)
    if arr.ndim == 1 and arr.size and arr.dtype.kind in "iuf":
        return int(np.nanmax(arr)) + 1
    if arr.ndim == 2:
        return int(arr.shape[1])
    raise ValueError(f"{what} must be labels (n_samples,), responsibilities (n_samples, K) or "
                     f"a dict of parameters, got an array of shape {arr.shape}")


def _labels(arr: np.ndarray, n_samples: int, k: int, what: str) -> np.ndarray:
    if arr.shape != (n_samples,):
        raise ValueError(f"{what} as labels must have shape ({n_samples},), got {arr.shape}")
    if arr.dtype.kind not in "iuf" or arr.dtype.kind == "b":
        raise ValueError(f"{what} as labels must hold integers 0..{k - 1}, got dtype "
                         f"{arr.dtype}")
    if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
        raise ValueError(f"{what} as labels must hold integers 0..{k - 1}")
    labels = arr.astype(np.int64)
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"{what} as labels must hold integers 0..{k - 1} (one per row), got "
                         f"values {labels.min()}..{labels.max()}")
    resp = np.zeros((n_samples, k))
    resp[np.arange(n_samples), labels] = 1.0
    return resp


def _responsibilities(arr: np.ndarray, n_samples: int, k: int, what: str) -> np.ndarray:
    if arr.shape != (n_samples, k):
        raise ValueError(f"{what} as responsibilities must have shape ({n_samples}, {k}), got "
                         f"{arr.shape}")
    resp = np.asarray(arr, dtype=float)
    if not np.all(np.isfinite(resp)) or np.any(resp < 0):
        raise ValueError(f"{what} as responsibilities must be finite and non-negative")
    total = resp.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError(f"{what} as responsibilities has a row of zeros (row "
                         f"{int(np.flatnonzero(total[:, 0] <= 0)[0])})")
    return resp / total


def _parameters(init: Mapping, n_features: int, k: int, what: str) -> dict:
    missing = {"weights", "means", "covariances"} - set(init)
    if missing:
        raise ValueError(f"{what} as parameters needs 'weights', 'means' and 'covariances'; "
                         f"missing {sorted(missing)}")
    weights = np.asarray(init["weights"], dtype=float)
    means = np.asarray(init["means"], dtype=float)
    cov = np.asarray(init["covariances"], dtype=float)
    if weights.shape != (k,) or means.shape != (k, n_features) or \
            cov.shape != (k, n_features, n_features):
        raise ValueError(f"{what} parameters must have shapes ({k},), ({k}, {n_features}) and "
                         f"({k}, {n_features}, {n_features}); got {weights.shape}, "
                         f"{means.shape} and {cov.shape}")
    if not (np.all(np.isfinite(weights)) and np.all(weights >= 0) and weights.sum() > 0):
        raise ValueError(f"{what}['weights'] must be non-negative, finite and not all zero")
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(cov))):
        raise ValueError(f"{what}['means'] and {what}['covariances'] must be finite")
    if not np.allclose(cov, np.swapaxes(cov, 1, 2), rtol=1e-10, atol=0.0):
        raise ValueError(f"{what}['covariances'] must be symmetric")
    if np.any(np.linalg.eigvalsh(cov)[:, 0] <= 0):
        raise ValueError(f"{what}['covariances'] must be positive definite")
    return {"weights": weights / weights.sum(), "means": means.copy(), "covariances": cov.copy()}


def check_start(init: Any, n_samples: int, n_features: int, n_components: int,
                what: str = "init") -> tuple[str, Any]:
    """A user's start, checked: ``("resp", (n_samples, K) array)`` or ``("params", dict)``.

    Raises
    ------
    ValueError
        Naming ``what``, for a start of the wrong kind, shape or number of
        components, labels out of range, negative or all-zero responsibility
        rows, or parameters that are not a valid mixture.
    """
    k = int(n_components)
    if isinstance(init, Mapping):
        return "params", _parameters(init, n_features, k, what)
    arr = np.asarray(init)
    if arr.ndim == 1:
        return "resp", _labels(arr, n_samples, k, what)
    if arr.ndim == 2:
        return "resp", _responsibilities(arr, n_samples, k, what)
    raise ValueError(f"{what} must be labels (n_samples,), responsibilities (n_samples, K) or "
                     f"a dict of parameters, got an array of shape {arr.shape}")
