"""Compiled E-step for rows whose missing pattern is rare.

With many missing patterns and few rows each (a table of 2,000 rows and 10
columns with 30 % holes has hundreds), the per-pattern matrix products of
:class:`~emkit.models.mixture.gaussian_missing.MissingGaussianMixtureModel` are
dominated by call overhead. :func:`small_patterns_e_step` does the same work
(per pattern and component one Cholesky factor of ``S_oo``, the regression
``S_oo^-1 S_om`` and the conditional covariance; per row the whitened
distance, the responsibilities and the completed row's moments) in one
compiled loop. It must match the BLAS path; the tests check that it does.
The per-pattern factors (:func:`_pattern_factors`, with its Cholesky helpers)
are those of :mod:`emkit.gaussian.missing_kernels`, shared with the HMM
states' missing-data path.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# the helpers stay reachable here, where the kernels' Python twins are tested
from ...gaussian.missing_kernels import _cholesky_lower, _forward, _pattern_factors  # noqa: F401

__all__ = [
    "small_patterns_e_step",
    "small_patterns_conditional_mean",
    "small_patterns_log_prob",
]

_LOG_2PI = math.log(2.0 * math.pi)


@njit(cache=True)
def _row_log_probs(values: np.ndarray, row: int, obs: np.ndarray, log_weights: np.ndarray,
                   means: np.ndarray, lows: np.ndarray, log_dets: np.ndarray,
                   centred: np.ndarray, log_prob: np.ndarray) -> float:
    """Fill ``log_prob`` (K,) and ``centred`` (K, d_o) for one row; return its log-likelihood."""
    k_count = means.shape[0]
    d_o = obs.size
    z = np.empty(d_o)
    for k in range(k_count):
        low = lows[k]
        maha = 0.0
        for a in range(d_o):
            e = values[row, obs[a]] - means[k, obs[a]]
            centred[k, a] = e
            s = e
            for q in range(a):
                s -= low[a, q] * z[q]
            z[a] = s / low[a, a]
            maha += z[a] * z[a]
        log_prob[k] = log_weights[k] - 0.5 * (d_o * _LOG_2PI + maha) - log_dets[k]
    top = log_prob.max()
    if not np.isfinite(top):
        top = 0.0
    acc = 0.0
    for k in range(k_count):
        acc += math.exp(log_prob[k] - top)
    return math.log(acc) + top


@njit(cache=True)
def small_patterns_e_step(values: np.ndarray, weights: np.ndarray, bounds: np.ndarray,
                          masks: np.ndarray, log_weights: np.ndarray, means: np.ndarray,
                          covariances: np.ndarray):
    """Missing-data E-step statistics over rows grouped by pattern.

    Parameters
    ----------
    values : ndarray of shape (n_rows, D)
        Rows sorted by pattern; missing entries hold any finite value (ignored).
    weights : ndarray of shape (n_rows,)
        Sample weights.
    bounds : ndarray of shape (P + 1,)
        Pattern ``p`` has rows ``bounds[p]:bounds[p + 1]``.
    masks : ndarray of shape (P, D), bool
        True where pattern ``p`` is missing.
    log_weights : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D, D)

    Returns
    -------
    n, total, centred_sum, centred_outer, loglik, bad_pattern
        The statistics of :mod:`emkit.models.mixture.gaussian` with full
        (K, D, D) second moments, the log-likelihood, and -1 or the index of a
        pattern whose observed covariance block is not positive definite.
    """
    k_count, d = means.shape
    n = np.zeros(k_count)
    total = np.zeros((k_count, d))
    centred_sum = np.zeros((k_count, d))
    outer = np.zeros((k_count, d, d))
    loglik = 0.0
    log_prob = np.empty(k_count)
    z = np.empty(d)
    for p in range(len(bounds) - 1):
        obs = np.flatnonzero(~masks[p])
        mis = np.flatnonzero(masks[p])
        d_o, d_m = obs.size, mis.size
        lows, log_dets, regression, cond, ok = _pattern_factors(covariances, obs, mis)
        if not ok:
            return n, total, centred_sum, outer, loglik, p
        n_pattern = np.zeros(k_count)
        centred = np.empty((k_count, d_o))
        for row in range(bounds[p], bounds[p + 1]):
            log_norm = _row_log_probs(values, row, obs, log_weights, means, lows, log_dets,
                                      centred, log_prob)
            w = weights[row]
            loglik += w * log_norm
            for k in range(k_count):
                r = w * math.exp(log_prob[k] - log_norm)
                if r == 0.0:
                    continue
                for a in range(d_o):
                    z[obs[a]] = centred[k, a]
                for b in range(d_m):
                    s = 0.0
                    for a in range(d_o):
                        s += centred[k, a] * regression[k, a, b]
                    z[mis[b]] = s
                n[k] += r
                n_pattern[k] += r
                for a in range(d):
                    rz = r * z[a]
                    centred_sum[k, a] += rz
                    total[k, a] += rz + r * means[k, a]
                    for b in range(a + 1):
                        outer[k, a, b] += rz * z[b]
        for k in range(k_count):
            for a in range(d_m):
                for b in range(d_m):
                    if mis[b] <= mis[a]:
                        outer[k, mis[a], mis[b]] += n_pattern[k] * cond[k, a, b]
    for k in range(k_count):  # mirror the lower triangle
        for a in range(d):
            for b in range(a):
                outer[k, b, a] = outer[k, a, b]
    return n, total, centred_sum, outer, loglik, -1


@njit(cache=True)
def small_patterns_conditional_mean(values: np.ndarray, bounds: np.ndarray,
                                    masks: np.ndarray, log_weights: np.ndarray,
                                    means: np.ndarray, covariances: np.ndarray):
    """``sum_k p(k | x_o) E[x_m | x_o, k]`` for each row (the same layout as above).

    Returns the (n_rows, D) completed rows (observed entries copied from
    ``values``) and -1 or the index of a pattern with a singular covariance block.
    """
    k_count = means.shape[0]
    out = values.copy()
    log_prob = np.empty(k_count)
    for p in range(len(bounds) - 1):
        obs = np.flatnonzero(~masks[p])
        mis = np.flatnonzero(masks[p])
        d_o, d_m = obs.size, mis.size
        if d_m == 0:
            continue
        lows, log_dets, regression, _, ok = _pattern_factors(covariances, obs, mis)
        if not ok:
            return out, p
        centred = np.empty((k_count, d_o))
        for row in range(bounds[p], bounds[p + 1]):
            log_norm = _row_log_probs(values, row, obs, log_weights, means, lows, log_dets,
                                      centred, log_prob)
            for b in range(d_m):
                out[row, mis[b]] = 0.0
            for k in range(k_count):
                r = math.exp(log_prob[k] - log_norm)
                for b in range(d_m):
                    s = means[k, mis[b]]
                    for a in range(d_o):
                        s += centred[k, a] * regression[k, a, b]
                    out[row, mis[b]] += r * s
    return out, -1


@njit(cache=True)
def small_patterns_log_prob(values: np.ndarray, bounds: np.ndarray, masks: np.ndarray,
                            log_weights: np.ndarray, means: np.ndarray,
                            covariances: np.ndarray):
    """``log w_k + log N(x_o; mu_ko, S_k,oo)`` for each row, shape (n_rows, K).

    Returns the array and -1 or the index of a pattern with a singular block.
    """
    k_count = means.shape[0]
    out = np.empty((values.shape[0], k_count))
    for p in range(len(bounds) - 1):
        obs = np.flatnonzero(~masks[p])
        mis = np.flatnonzero(masks[p])
        lows, log_dets, _, _, ok = _pattern_factors(covariances, obs, mis)
        if not ok:
            return out, p
        centred = np.empty((k_count, obs.size))
        log_prob = np.empty(k_count)
        for row in range(bounds[p], bounds[p + 1]):
            _row_log_probs(values, row, obs, log_weights, means, lows, log_dets, centred,
                           log_prob)
            out[row] = log_prob
    return out, -1
