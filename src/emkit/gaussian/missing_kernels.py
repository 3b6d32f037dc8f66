"""Compiled Gaussians of rows with missing entries: observed-block densities and moments.

The compiled twin of :mod:`emkit.gaussian.conditional` for C Gaussian
components (HMM states, or the (state, mixture component) pairs of a GMM-HMM)
and rows whose missing entries are given by a pattern. The rows come sorted by
pattern, in the packed layout of
:func:`emkit.gaussian.missing_patterns.find_patterns` (``values`` with missing
entries set to any finite number, ``bounds`` of each pattern's rows, ``masks``
True where missing). Per pattern and component there is one Cholesky factor of
the observed block ``S_oo``, the regression ``S_oo^-1 S_om`` and the
conditional covariance ``S_mm - S_mo S_oo^-1 S_om`` (:func:`_pattern_factors`,
shared with the missing-data mixture's kernels in
:mod:`emkit.models.mixture.gaussian_missing_kernels`); per row:

* :func:`pattern_log_densities`: ``log N(x_o; mu_o, S_oo)`` under every
  component, the exact marginal density of the observed entries;
* :func:`pattern_moments`: with row weights ``r`` (a state posterior, or a
  posterior times a within-state responsibility), the completed row
  ``x^ = (x_o, E[x_m | x_o])`` gives ``sum r``, ``sum r (x^ - mu)`` and
  ``sum r [(x^ - mu)(x^ - mu)^T + C]`` about each component's mean, ``C`` the
  conditional covariance in the missing block: the expected statistics EM's
  M-step needs.

Both run in parallel over components (each owns its outputs) when the work is
large (:mod:`emkit.numerics.parallel`). Their NumPy references, built on
:mod:`emkit.gaussian.conditional`, are :func:`pattern_log_densities_reference`
and :func:`pattern_moments_reference`; the tests check that they agree.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..numerics import parallel
from .conditional import completed_deviation, conditional_factors
from .reference import log_gaussian_density

__all__ = [
    "pattern_log_densities",
    "pattern_moments",
    "pattern_log_densities_reference",
    "pattern_moments_reference",
]

_LOG_2PI = math.log(2.0 * math.pi)


@njit(cache=True, nogil=True)
def _cholesky_lower(a: np.ndarray) -> tuple[np.ndarray, bool]:  # pragma: no cover
    """Lower Cholesky factor of a small SPD matrix; ``ok`` is False when not SPD."""
    n = a.shape[0]
    low = np.zeros((n, n))
    for j in range(n):
        s = a[j, j]
        for p in range(j):
            s -= low[j, p] * low[j, p]
        if not s > 0.0:
            return low, False
        low[j, j] = math.sqrt(s)
        for i in range(j + 1, n):
            t = a[i, j]
            for p in range(j):
                t -= low[i, p] * low[j, p]
            low[i, j] = t / low[j, j]
    return low, True


@njit(cache=True, nogil=True)
def _forward(low: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Solve ``low @ y = b`` for each column of ``b`` (shape (n, m))."""
    n, m = b.shape
    y = np.empty((n, m))
    for c in range(m):
        for i in range(n):
            s = b[i, c]
            for p in range(i):
                s -= low[i, p] * y[p, c]
            y[i, c] = s / low[i, i]
    return y


@njit(cache=True, nogil=True)
def _observed_factor(cov: np.ndarray, obs: np.ndarray):  # pragma: no cover
    """Lower Cholesky factor of ``cov[obs, obs]``, half its log-determinant, and ``ok``."""
    d_o = obs.size
    s_oo = np.empty((d_o, d_o))
    for a in range(d_o):
        for b in range(d_o):
            s_oo[a, b] = cov[obs[a], obs[b]]
    low, ok = _cholesky_lower(s_oo)
    log_det = 0.0
    if ok:
        for a in range(d_o):
            log_det += math.log(low[a, a])
    return low, log_det, ok


@njit(cache=True, nogil=True)
def _conditional(cov: np.ndarray, low: np.ndarray, obs: np.ndarray,
                 mis: np.ndarray):  # pragma: no cover
    """``S_oo^-1 S_om`` (d_o, d_m) and ``S_mm - S_mo S_oo^-1 S_om`` (d_m, d_m)."""
    d_o, d_m = obs.size, mis.size
    s_om = np.empty((d_o, d_m))
    for a in range(d_o):
        for b in range(d_m):
            s_om[a, b] = cov[obs[a], mis[b]]
    half = _forward(low, s_om)  # L^-1 S_om
    # S_oo^-1 S_om = L^-T (L^-1 S_om): back substitution
    reg = np.empty((d_o, d_m))
    for c in range(d_m):
        for i in range(d_o - 1, -1, -1):
            s = half[i, c]
            for q in range(i + 1, d_o):
                s -= low[q, i] * reg[q, c]
            reg[i, c] = s / low[i, i]
    cond = np.empty((d_m, d_m))
    for a in range(d_m):
        for b in range(d_m):
            s = cov[mis[a], mis[b]]
            for q in range(d_o):
                s -= half[q, a] * half[q, b]
            cond[a, b] = s
    return reg, cond


@njit(cache=True)
def _pattern_factors(covariances: np.ndarray, obs: np.ndarray,
                     mis: np.ndarray):  # pragma: no cover
    """Per component: Cholesky of S_oo, its log-det, S_oo^-1 S_om and the conditional cov."""
    k_count = covariances.shape[0]
    d_o, d_m = obs.size, mis.size
    lows = np.empty((k_count, d_o, d_o))
    log_dets = np.empty(k_count)
    regression = np.empty((k_count, d_o, d_m))
    cond = np.empty((k_count, d_m, d_m))
    for k in range(k_count):
        low, log_det, ok = _observed_factor(covariances[k], obs)
        if not ok:
            return lows, log_dets, regression, cond, False
        lows[k] = low
        log_dets[k] = log_det
        regression[k], cond[k] = _conditional(covariances[k], low, obs, mis)
    return lows, log_dets, regression, cond, True


# ---------------------------------------------------------------------------
# log-densities of the observed entries

@njit(cache=True, nogil=True)
def _component_log_densities(values, bounds, masks, means, covariances, k,
                             out):  # pragma: no cover
    """Fill column ``k`` of ``out``; return -1, or the first pattern whose block is singular."""
    for p in range(len(bounds) - 1):
        obs = np.flatnonzero(~masks[p])
        d_o = obs.size
        low, log_det, ok = _observed_factor(covariances[k], obs)
        if not ok:
            return p
        const = -0.5 * d_o * _LOG_2PI - log_det
        z = np.empty(d_o)
        inv_diag = np.empty(d_o)  # multiplications in the row loop, not divisions
        for a in range(d_o):
            inv_diag[a] = 1.0 / low[a, a]
        for row in range(bounds[p], bounds[p + 1]):
            maha = 0.0
            for a in range(d_o):
                s = values[row, obs[a]] - means[k, obs[a]]
                for q in range(a):
                    s -= low[a, q] * z[q]
                z[a] = s * inv_diag[a]
                maha += z[a] * z[a]
            out[row, k] = const - 0.5 * maha
    return -1


@njit(cache=True, parallel=True)
def _log_densities_parallel(values, bounds, masks, means, covariances, out,
                            bad):  # pragma: no cover
    for k in prange(means.shape[0]):
        bad[k] = _component_log_densities(values, bounds, masks, means, covariances, k, out)


@njit(cache=True)
def _log_densities_serial(values, bounds, masks, means, covariances, out,
                          bad):  # pragma: no cover
    for k in range(means.shape[0]):
        bad[k] = _component_log_densities(values, bounds, masks, means, covariances, k, out)


def _first_bad(bad: np.ndarray) -> int:
    failed = bad[bad >= 0]
    return int(failed.min()) if failed.size else -1


def _contiguous(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(a, dtype=np.float64) for a in arrays]


def pattern_log_densities(values: np.ndarray, bounds: np.ndarray, masks: np.ndarray,
                          means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, int]:
    """Log-density of each row's observed entries under each component.

    Parameters
    ----------
    values : ndarray of shape (n_rows, D)
        Rows sorted by pattern; missing entries hold any finite value (ignored).
    bounds : ndarray of int of shape (P + 1,)
        Pattern ``p`` has rows ``bounds[p]:bounds[p + 1]``.
    masks : ndarray of bool of shape (P, D)
        True where pattern ``p`` is missing; every pattern observes one entry at least.
    means : ndarray of shape (C, D)
    covariances : ndarray of shape (C, D, D)
        Full matrices (:func:`emkit.gaussian.conditional.as_full_covariances`).

    Returns
    -------
    log_density : ndarray of shape (n_rows, C)
        ``log N(x_o; mu_co, S_c,oo)``.
    bad_pattern : int
        -1, or the first pattern whose observed block of some covariance is not
        positive definite (``log_density`` is then incomplete).
    """
    values, means, covariances = _contiguous(values, means, covariances)
    bounds = np.ascontiguousarray(bounds, dtype=np.int64)
    masks = np.ascontiguousarray(masks, dtype=np.bool_)
    c = means.shape[0]
    out = np.empty((values.shape[0], c))
    bad = np.full(c, -1, dtype=np.int64)
    run = (_log_densities_serial if parallel.n_groups(c, values.shape[0] * c) == 1
           else _log_densities_parallel)
    run(values, bounds, masks, means, covariances, out, bad)
    return out, _first_bad(bad)


# ---------------------------------------------------------------------------
# expected moments of the completed rows

@njit(cache=True, nogil=True)
def _component_moments(values, bounds, masks, resp, means, covariances, k, n, first,
                       outer):  # pragma: no cover
    """Accumulate component ``k``'s moments; return -1 or the first singular pattern."""
    d = means.shape[1]
    z = np.empty(d)
    for p in range(len(bounds) - 1):
        obs = np.flatnonzero(~masks[p])
        mis = np.flatnonzero(masks[p])
        d_o, d_m = obs.size, mis.size
        low, _, ok = _observed_factor(covariances[k], obs)
        if not ok:
            return p
        reg, cond = _conditional(covariances[k], low, obs, mis)
        n_pattern = 0.0
        for row in range(bounds[p], bounds[p + 1]):
            r = resp[row, k]
            if r == 0.0:
                continue
            for a in range(d_o):
                z[obs[a]] = values[row, obs[a]] - means[k, obs[a]]
            for b in range(d_m):
                s = 0.0
                for a in range(d_o):
                    s += z[obs[a]] * reg[a, b]
                z[mis[b]] = s
            n_pattern += r
            for a in range(d):  # the whole square: a contiguous row vectorizes
                rz = r * z[a]
                first[k, a] += rz
                row_k = outer[k, a]
                for b in range(d):
                    row_k[b] += rz * z[b]
        n[k] += n_pattern
        if n_pattern != 0.0:
            for a in range(d_m):
                for b in range(d_m):
                    outer[k, mis[a], mis[b]] += n_pattern * cond[a, b]
    return -1


@njit(cache=True, parallel=True)
def _moments_parallel(values, bounds, masks, resp, means, covariances, n, first, outer,
                      bad):  # pragma: no cover
    for k in prange(means.shape[0]):
        bad[k] = _component_moments(values, bounds, masks, resp, means, covariances, k, n,
                                    first, outer)


@njit(cache=True)
def _moments_serial(values, bounds, masks, resp, means, covariances, n, first, outer,
                    bad):  # pragma: no cover
    for k in range(means.shape[0]):
        bad[k] = _component_moments(values, bounds, masks, resp, means, covariances, k, n,
                                    first, outer)


def pattern_moments(values: np.ndarray, bounds: np.ndarray, masks: np.ndarray,
                    resp: np.ndarray, means: np.ndarray,
                    covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Expected weighted moments of the completed rows about each component's mean.

    Parameters
    ----------
    values, bounds, masks, means, covariances
        As :func:`pattern_log_densities`.
    resp : ndarray of shape (n_rows, C)
        Non-negative weight of each row for each component.

    Returns
    -------
    n : ndarray of shape (C,)
        ``sum_t r_tc``.
    first : ndarray of shape (C, D)
        ``sum_t r_tc (x^_tc - mu_c)``, ``x^_tc`` the row completed by
        ``E[x_m | x_o, c] = mu_cm + (x_o - mu_co) S_c,oo^-1 S_c,om``.
    outer : ndarray of shape (C, D, D)
        ``sum_t r_tc [(x^_tc - mu_c)(x^_tc - mu_c)^T + C_tc]``, ``C_tc`` the
        conditional covariance of the missing block (zero elsewhere).
    bad_pattern : int
        -1, or the first pattern with a singular observed block.
    """
    values, resp, means, covariances = _contiguous(values, resp, means, covariances)
    bounds = np.ascontiguousarray(bounds, dtype=np.int64)
    masks = np.ascontiguousarray(masks, dtype=np.bool_)
    c, d = means.shape
    n = np.zeros(c)
    first = np.zeros((c, d))
    outer = np.zeros((c, d, d))
    bad = np.full(c, -1, dtype=np.int64)
    run = (_moments_serial if parallel.n_groups(c, values.shape[0] * c) == 1
           else _moments_parallel)
    run(values, bounds, masks, resp, means, covariances, n, first, outer, bad)
    return n, first, 0.5 * (outer + outer.transpose(0, 2, 1)), _first_bad(bad)


# ---------------------------------------------------------------------------
# NumPy references (one pattern at a time, through emkit.gaussian.conditional)

def _pattern_split(masks: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    return np.flatnonzero(~masks[p]), np.flatnonzero(masks[p])


def pattern_log_densities_reference(values: np.ndarray, bounds: np.ndarray,
                                    masks: np.ndarray, means: np.ndarray,
                                    covariances: np.ndarray) -> np.ndarray:
    """NumPy :func:`pattern_log_densities` (raises ``ValueError`` on a singular block)."""
    c = len(means)
    out = np.empty((len(values), c))
    for p in range(len(bounds) - 1):
        obs, mis = _pattern_split(masks, p)
        f = conditional_factors(covariances, "full", c, obs, mis)
        rows = slice(bounds[p], bounds[p + 1])
        out[rows] = log_gaussian_density(values[rows][:, obs], means[:, obs], f.prec_chol,
                                         "full")
    return out


def pattern_moments_reference(values: np.ndarray, bounds: np.ndarray, masks: np.ndarray,
                              resp: np.ndarray, means: np.ndarray,
                              covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """NumPy :func:`pattern_moments` (raises ``ValueError`` on a singular block)."""
    c, d = means.shape
    n = np.zeros(c)
    first = np.zeros((c, d))
    outer = np.zeros((c, d, d))
    for p in range(len(bounds) - 1):
        obs, mis = _pattern_split(masks, p)
        f = conditional_factors(covariances, "full", c, obs, mis)
        assert f.regression is not None  # full covariances have a regression
        rows = slice(bounds[p], bounds[p + 1])
        block = values[rows][:, obs]
        for j in range(c):
            z = completed_deviation(block, means[j], obs, mis, f.regression[j])
            r = resp[rows, j]
            n[j] += r.sum()
            first[j] += r @ z
            outer[j] += (z * r[:, None]).T @ z
            outer[j][np.ix_(mis, mis)] += r.sum() * f.cond_cov[j]
    return n, first, outer
