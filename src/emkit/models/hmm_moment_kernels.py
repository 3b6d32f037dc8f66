"""Compiled posterior-weighted moments of diagonal-Gaussian HMM states (numba).

The M-step of a diag or spherical :class:`~emkit.GaussianHMM` needs, for every
state ``k``, ``sum_t g_tk (x_t - mu_k)`` and ``sum_t g_tk (x_t - mu_k)^2`` about
the state's own E-step mean (so that a state's spread stays resolved however far
it lies from the others). In NumPy that is one pass over all frames per state,
each with (T, D) temporaries; measured at 100,000 frames, 16 states and 8
features: 37 ms per E-step, 60 % of a whole Baum-Welch iteration. Here it is one
pass over the frames for all states, in parallel over row ranges, each with its
own accumulators.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .hmm_kernels import n_groups

__all__ = ["centred_diag_moments", "centred_diag_moments_reference"]


@njit(cache=True, nogil=True)
def _moment_rows(X, gamma, means, lo, hi, first, second):  # pragma: no cover
    k, d = means.shape
    for t in range(lo, hi):
        for j in range(k):
            g = gamma[t, j]
            if g == 0.0:
                continue
            for f in range(d):
                z = X[t, f] - means[j, f]
                gz = g * z
                first[j, f] += gz
                second[j, f] += gz * z


@njit(cache=True, parallel=True)
def _moments_parallel(X, gamma, means, chunks, first, second):  # pragma: no cover
    n = X.shape[0]
    for c in prange(chunks):
        _moment_rows(X, gamma, means, (n * c) // chunks, (n * (c + 1)) // chunks,
                     first[c], second[c])


def centred_diag_moments(X: np.ndarray, gamma: np.ndarray,
                         means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum_t g_tk (x_t - mu_k)`` and ``sum_t g_tk (x_t - mu_k)^2``, each (K, D).

    Parameters
    ----------
    X : ndarray of shape (T, D)
    gamma : ndarray of shape (T, K)
        State posteriors (or any non-negative weights).
    means : ndarray of shape (K, D)
        The point each state's moments are taken about.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    gamma = np.ascontiguousarray(gamma, dtype=np.float64)
    means = np.ascontiguousarray(means, dtype=np.float64)
    chunks = n_groups(len(X), len(X))
    first = np.zeros((chunks, *means.shape))
    second = np.zeros((chunks, *means.shape))
    if chunks == 1:
        _moment_rows(X, gamma, means, 0, len(X), first[0], second[0])
    else:
        _moments_parallel(X, gamma, means, chunks, first, second)
    return first.sum(axis=0), second.sum(axis=0)


def centred_diag_moments_reference(X: np.ndarray, gamma: np.ndarray,
                                   means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain-NumPy :func:`centred_diag_moments`, one state at a time."""
    first = np.empty(means.shape)
    second = np.empty(means.shape)
    for k in range(means.shape[0]):
        z = X - means[k]
        first[k] = gamma[:, k] @ z
        second[k] = gamma[:, k] @ (z * z)
    return first, second
