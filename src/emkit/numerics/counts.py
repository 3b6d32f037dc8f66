"""Weighted counts of integer codes: one compiled pass for many weight columns."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["weighted_code_counts"]


@njit(cache=True)
def _counts(codes, weights, n_codes):  # pragma: no cover - compiled
    n, k = weights.shape
    out = np.zeros((n_codes, k))
    for t in range(n):
        row = out[codes[t]]
        for j in range(k):
            row[j] += weights[t, j]
    return out.T.copy()


def weighted_code_counts(codes: np.ndarray, weights: np.ndarray, n_codes: int) -> np.ndarray:
    """``counts[k, c] = sum of weights[t, k] over rows t with codes[t] == c``.

    Parameters
    ----------
    codes : ndarray of int of shape (n_samples,)
        Values in ``0 .. n_codes - 1``.
    weights : ndarray of shape (n_samples, K)
    n_codes : int

    Returns
    -------
    ndarray of shape (K, n_codes)
    """
    return _counts(np.ascontiguousarray(codes, dtype=np.int64),
                   np.ascontiguousarray(weights, dtype=np.float64), int(n_codes))
