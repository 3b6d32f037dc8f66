"""Compiled one-pass E-step of a Gaussian mixture in quadratic-feature form (numba).

:mod:`emkit.gaussian.blocked` writes the log weighted density of every
component as one product of coefficients ``B`` (K, F) with per-row features
``f(x)``: ``[(x-c)_i (x-c)_j for i <= j, x - c, 1]`` for ``full`` and
``[(x-c)^2, x - c, 1]`` for ``diag`` and ``spherical``. The statistics are
then ``sum_i r_i f(x_i)^T`` (``c`` is each component's centring group's
centre, :mod:`emkit.gaussian.prepared`; with several groups each block's
features are built once per group). The kernels here do the same arithmetic in one
compiled pass over the rows, so that nothing is allocated per chunk and no
Python runs between chunks. Rows are taken in blocks of :data:`BLOCK_ROWS`. A
block's features are written transposed, (F, B), so that both products,
``B @ f`` and ``f @ r^T``, are BLAS calls on operands that stay in the L2
cache. Between them, the log-sum-exp over components runs on the (K, B) block,
with the vectorized :func:`emkit.numerics.fast_exp.exp_nonpositive`. Where
both products are tiny (one centring group, ``K * F <= SMALL_PRODUCT``, e.g.
K = 3 in 2 to 5 dimensions) they are loops instead (:func:`_small_product`,
:func:`_small_moments`), so such a pass makes no BLAS call at all.

Measured single-threaded at (N, D, K) = (1,000,000, 16, 16), full: features
0.04 s, each product 0.09 s, log-sum-exp 0.04 s (0.09 s with the C library's
``exp``); the NumPy chunk loop took 0.82 s, most of it building the features
column by column.

The kernels give the sums of :class:`emkit.gaussian.blocked.StatsAccumulator`
(``resp @ features``) and the total log-likelihood; the tests hold them to the
NumPy chunk kernels. The sums are float64 whatever the precision of the rows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..numerics.fast_exp import exp_nonpositive

__all__ = ["BLOCK_ROWS", "FULL", "DIAGONAL", "quadratic_pass", "quadratic_log_prob"]

#: Rows per block: (F, B) features and (K, B) log-probabilities then fit in L2,
#: where the products run near the machine's peak rate (measured: 256 rows ran
#: both (16, 153) products of a (1M, 16, 16) E-step in 0.19 s single-threaded,
#: 1,024 rows in 0.27 s).
BLOCK_ROWS = 256

#: Largest (components x features) of a group whose log-densities are computed by
#: :func:`_small_product` instead of a BLAS product (measured at 100,000 x 2, K = 3:
#: ~2.6 us per 256-row block by BLAS, most of it the call).
SMALL_PRODUCT = 64

#: Rows whose normalizers share one logarithm in an unweighted block (see
#: :func:`_normalize_block`); K**LOG_RUN must stay finite (K up to 10**9).
LOG_RUN = 32

#: Feature layouts: ``FULL`` builds ``[(x-c)_i (x-c)_j for i <= j, x-c, 1]``,
#: ``DIAGONAL`` builds ``[(x-c)^2, x-c, 1]``.
FULL = 0
DIAGONAL = 1


@njit(nogil=True, cache=True)
def _block_features(X, start, stop, centre, layout, feats_t):
    """Write the features of rows ``start:stop`` as the columns of ``feats_t`` (F, B)."""
    d = X.shape[1]
    n_feat = feats_t.shape[0]
    pairs = n_feat - d - 1
    m = stop - start
    # column by column: each output row is written contiguously (row by row, the
    # stores strode by B and the building took ~a quarter of a 100,000 x 2 pass)
    for j in range(d):
        dest = feats_t[pairs + j]
        c_j = centre[j]
        for r in range(m):
            dest[r] = X[start + r, j] - c_j
    ones = feats_t[n_feat - 1]
    for r in range(m):
        ones[r] = 1.0
    if layout == FULL:
        pos = 0
        for i in range(d):
            a = feats_t[pairs + i]
            for j in range(i, d):
                b = feats_t[pairs + j]
                out = feats_t[pos]
                for r in range(m):
                    out[r] = a[r] * b[r]
                pos += 1
    else:
        for j in range(d):
            a = feats_t[pairs + j]
            out = feats_t[j]
            for r in range(m):
                out[r] = a[r] * a[r]


@njit(nogil=True, cache=True, fastmath={"contract"})
def _normalize_block(log_prob, m, weights, start, top, total, resp_t):
    """Write the weighted responsibilities of the first ``m`` columns of
    ``log_prob`` (K, B) into the rows of ``resp_t`` (B, K), overwriting
    ``log_prob``; return the block's (weighted) log-likelihood. With an empty
    ``resp_t`` ``log_prob`` keeps the exponentials and ``total`` the rows' scales.
    Compiled with fused multiply-adds (``contract``, as
    :func:`~emkit.numerics.fast_exp.exp_nonpositive` is written for; no
    reassociation): the block's exponentials took ~18 % less time."""
    k = log_prob.shape[0]
    for r in range(m):
        top[r] = log_prob[0, r]
        total[r] = 0.0
    for c in range(1, k):
        row = log_prob[c]
        for r in range(m):
            if row[r] > top[r]:
                top[r] = row[r]
    for c in range(k):
        row = log_prob[c]
        for r in range(m):
            e = exp_nonpositive(row[r] - top[r])
            row[r] = e
            total[r] += e
    loglik = 0.0
    if weights.shape[0] > 0:
        for r in range(m):
            w = weights[start + r]
            loglik += (math.log(total[r]) + top[r]) * w
            total[r] = w / total[r]
    else:
        loglik = _unweighted_loglik(top, total, m)
        for r in range(m):
            total[r] = 1.0 / total[r]
    if resp_t.shape[0] == 0:  # the caller scales log_prob's columns by total itself
        return loglik
    for r in range(m):
        for c in range(k):
            resp_t[r, c] = log_prob[c, r] * total[r]
    return loglik


@njit(nogil=True, cache=True, fastmath={"reassoc"})
def _unweighted_loglik(top, total, m):
    """``sum_r top_r + log(total_r)`` over the first ``m`` rows: the logs as logs of
    products of LOG_RUN totals (each in [1, K], so a product stays below
    K**LOG_RUN), one log per run of rows instead of one per row (a fifth of the
    pass at 100,000 x 2, K = 3). Sums and products may be reassociated (vectorized;
    a run's product is of the same totals in any order)."""
    loglik = 0.0
    for r in range(m):
        loglik += top[r]
    for first in range(0, m, LOG_RUN):
        prod = 1.0
        for r in range(first, min(first + LOG_RUN, m)):
            prod *= total[r]
        loglik += math.log(prod)
    return loglik


@njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _small_moments(feats_t, exps, scale, m, moments):
    """``moments[c, f] += sum_r feats_t[f, r] * (exps[c, r] * scale[r])`` by loops, for
    one group whose products are too small for BLAS (:data:`SMALL_PRODUCT`): the
    responsibilities are ``exps * scale`` as :func:`_normalize_block` writes them.
    The sums may be reassociated (vectorized); nothing here takes an exponential."""
    k = exps.shape[0]
    n_feat = feats_t.shape[0]
    for c in range(k):
        e = exps[c]
        for r in range(m):
            e[r] = e[r] * scale[r]
        for f in range(n_feat):
            src = feats_t[f]
            s = 0.0
            for r in range(m):
                s += src[r] * e[r]
            moments[c, f] += s


def _group_order(k, members, bounds):
    """``members`` and ``bounds`` as int64 arrays; None means one group of all k."""
    if members is None:
        return np.arange(k, dtype=np.int64), np.array([0, k], dtype=np.int64)
    return (np.ascontiguousarray(members, dtype=np.int64),
            np.ascontiguousarray(bounds, dtype=np.int64))


@njit(nogil=True, cache=True, fastmath={"contract"})
def _small_product(coef, lo, hi, feats_t, m, log_prob):
    """``log_prob[lo:hi, :m] = coef[lo:hi] @ feats_t[:, :m]`` by loops over the rows
    (vectorized), for products too small for a BLAS call to pay for itself."""
    n_feat = feats_t.shape[0]
    for c in range(lo, hi):
        out = log_prob[c]
        first = coef[c, 0]
        src = feats_t[0]
        for r in range(m):
            out[r] = first * src[r]
        for f in range(1, n_feat):
            a = coef[c, f]
            src = feats_t[f]
            for r in range(m):
                out[r] += a * src[r]


@njit(nogil=True, cache=True)
def _group_log_prob(X, start, stop, centres, bounds, coef_g, layout, feats, log_prob):
    """Features of rows ``start:stop`` about each group's centre into ``feats[g]``,
    and the log weighted densities, in group order, into ``log_prob`` (K, m)."""
    for g in range(centres.shape[0]):
        lo, hi = bounds[g], bounds[g + 1]
        _block_features(X, start, stop, centres[g], layout, feats[g])
        if (hi - lo) * feats.shape[1] <= SMALL_PRODUCT:
            _small_product(coef_g, lo, hi, feats[g], stop - start, log_prob)
        else:
            np.dot(coef_g[lo:hi], feats[g], log_prob[lo:hi])


@njit(nogil=True, cache=True)
def _pass_by_blocks(X, weights, centres, members, bounds, coef, layout, block, moments):
    n = X.shape[0]
    k, n_feat = coef.shape
    n_groups = centres.shape[0]
    dt = X.dtype
    coef_g = coef[members]  # rows in group order
    feats = np.empty((n_groups, n_feat, block), dtype=dt)
    log_prob = np.empty((k, block), dtype=dt)
    resp_t = np.empty((block, k), dtype=dt)  # row-major, so f @ r^T is a plain product
    resp_g = np.empty(block * k, dtype=dt)  # one group's columns of resp_t, contiguous
    part = np.empty(n_feat * k, dtype=dt)
    top = np.empty(block, dtype=dt)
    total = np.empty(block, dtype=dt)
    loglik = 0.0
    for start in range(0, n, block):
        stop = min(start + block, n)
        m = stop - start
        if m < block:  # the last, short block gets arrays of its own length
            feats = np.empty((n_groups, n_feat, m), dtype=dt)
            log_prob = np.empty((k, m), dtype=dt)
            resp_t = np.empty((m, k), dtype=dt)
        _group_log_prob(X, start, stop, centres, bounds, coef_g, layout, feats, log_prob)
        if n_groups == 1 and k * n_feat <= SMALL_PRODUCT:
            loglik += _normalize_block(log_prob, m, weights, start, top, total, resp_t[:0])
            _small_moments(feats[0], log_prob, total, m, moments)
            continue
        loglik += _normalize_block(log_prob, m, weights, start, top, total, resp_t)
        for g in range(n_groups):
            lo, hi = bounds[g], bounds[g + 1]
            width = hi - lo
            if n_groups == 1:
                r = resp_t
            else:
                r = resp_g[:m * width].reshape((m, width))
                for row in range(m):
                    for c in range(width):
                        r[row, c] = resp_t[row, lo + c]
            p = part[:n_feat * width].reshape((n_feat, width))
            np.dot(feats[g], r, p)
            for c in range(width):
                dest = moments[c] if n_groups == 1 else moments[members[lo + c]]
                for f in range(n_feat):
                    dest[f] += p[f, c]
    return loglik


def quadratic_pass(X: np.ndarray, weights: np.ndarray | None, centres: np.ndarray,
                   coef: np.ndarray, layout: int, moments: np.ndarray,
                   members: np.ndarray | None = None, bounds: np.ndarray | None = None
                   ) -> float:
    """Add ``sum_i w_i r_i f(x_i)^T`` to ``moments`` and return ``sum_i w_i log p(x_i)``.

    Parameters
    ----------
    X : ndarray of shape (N, D), C-contiguous float64 or float32
    weights : ndarray of shape (N,) or None
        Row weights (float64); None weighs every row 1.
    centres : ndarray of shape (G, D) or (D,)
        The point each centring group's features are centred on (one group when
        1-D); ``x - c`` is taken in float64 and rounded once to ``X.dtype``.
    coef : ndarray of shape (K, F), in ``X.dtype``
        Log-density coefficients (:func:`emkit.gaussian.prepared.prepare_gaussians`),
        each component's about its group's centre.
    layout : {FULL, DIAGONAL}
    moments : ndarray of shape (K, F), float64
        Running sums, updated in place (row k from the features about k's centre).
    members, bounds : ndarray of shapes (K,) and (G + 1,), optional
        Group g is the components ``members[bounds[g]:bounds[g+1]]``
        (:class:`~emkit.gaussian.prepared.PreparedGaussians`); None is one group.

    Returns
    -------
    float
        The (weighted) log-likelihood of the rows.
    """
    w = np.empty(0) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    centres = np.ascontiguousarray(np.atleast_2d(centres), dtype=np.float64)
    members, bounds = _group_order(len(coef), members, bounds)
    return float(_pass_by_blocks(X, w, centres, members, bounds, coef, layout, BLOCK_ROWS,
                                 moments))


@njit(nogil=True, cache=True)
def _log_prob_blocks(X, centres, members, bounds, coef, layout, block, out):
    n = X.shape[0]
    k, n_feat = coef.shape
    dt = X.dtype
    coef_g = coef[members]
    feats = np.empty((centres.shape[0], n_feat, block), dtype=dt)
    log_prob = np.empty((k, block), dtype=dt)
    for start in range(0, n, block):
        stop = min(start + block, n)
        m = stop - start
        if m < block:
            feats = np.empty((centres.shape[0], n_feat, m), dtype=dt)
            log_prob = np.empty((k, m), dtype=dt)
        _group_log_prob(X, start, stop, centres, bounds, coef_g, layout, feats, log_prob)
        for r in range(m):
            for c in range(k):
                out[start + r, members[c]] = log_prob[c, r]


def quadratic_log_prob(X: np.ndarray, centres: np.ndarray, coef: np.ndarray, layout: int,
                       out: np.ndarray, members: np.ndarray | None = None,
                       bounds: np.ndarray | None = None) -> None:
    """Write ``log w_k + log N(x_i; mu_k, S_k)`` into ``out`` (N, K), row by row.

    Same parameters as :func:`quadratic_pass`; ``out`` is C-contiguous in ``X.dtype``.
    """
    centres = np.ascontiguousarray(np.atleast_2d(centres), dtype=np.float64)
    if len(centres) == 1:  # the loop of many groups ran 3-6 % slower (diag, 8 x 8)
        _log_prob_one_group(X, centres[0], coef, layout, BLOCK_ROWS, out)
        return
    members, bounds = _group_order(len(coef), members, bounds)
    _log_prob_blocks(X, centres, members, bounds, coef, layout, BLOCK_ROWS, out)


@njit(nogil=True, cache=True)
def _log_prob_one_group(X, centre, coef, layout, block, out):
    """:func:`_log_prob_blocks` with one centre and components in their own order."""
    n = X.shape[0]
    k, n_feat = coef.shape
    dt = X.dtype
    feats_t = np.empty((n_feat, block), dtype=dt)
    log_prob = np.empty((k, block), dtype=dt)
    for start in range(0, n, block):
        stop = min(start + block, n)
        m = stop - start
        if m < block:
            feats_t = np.empty((n_feat, m), dtype=dt)
            log_prob = np.empty((k, m), dtype=dt)
        _block_features(X, start, stop, centre, layout, feats_t)
        if k * n_feat <= SMALL_PRODUCT:
            _small_product(coef, 0, k, feats_t, m, log_prob)
        else:
            np.dot(coef, feats_t, log_prob)
        for r in range(m):
            for c in range(k):
                out[start + r, c] = log_prob[c, r]
