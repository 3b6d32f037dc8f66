"""One sequence's Gaussian frame probabilities and full moments, state by state over its frames.

The row kernels of :mod:`emkit.gaussian.component_kernels` loop over the K
states innermost: a loop of K = 16 iterations, set up afresh (trip count,
remainder, overlap checks) for every frame and every feature or pair of
features, and at 16 states that set-up costs more than the arithmetic. Here
one sequence's rows are first transposed to ``xt`` (D, n) and every kernel
loops over the sequence's frames innermost (up to :data:`BLOCK` of them at a
time, so the block's columns stay in the level-1 cache): long, contiguous,
vectorized loops, and the same products as the row kernels, summed over the
features in the same order.

- :func:`diag_frame` / :func:`full_frame`: ``exp(log N(x_t | mu_k, S_k) - m_t)``
  (with ``m_t`` the row maximum) for the rows of one sequence, the full ones by
  the whitened residual ``|(x_t - mu_k) U_k|^2`` with ``U_k`` the upper
  precision Cholesky factor (never the expanded quadratic form);
- :func:`diag_moments` / :func:`full_moments`: ``sum_t g_tk (x_t - mu_k)`` and
  ``sum_t g_tk (x_t - mu_k)^2`` entry by entry, or the upper triangle of
  ``sum_t g_tk (x_t - mu_k)(x_t - mu_k)^T``, about each state's own mean.

Measured on one thread at 100 sequences x 1,000 frames, 16 states, 8
features (CPU time per E-step's worth of rows, against the row kernels):
see :mod:`emkit.models.hmm.gaussian_fused`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...numerics.fast_exp import exp_nonpositive
from ...numerics.parallel import FASTMATH as _FAST

__all__ = ["BLOCK", "transpose_rows", "diag_frame", "full_frame", "diag_moments",
           "full_moments"]

#: Frames per block: (D + 2) columns of this many doubles stay in the level-1 cache.
BLOCK = 256


@njit(cache=True, nogil=True)
def transpose_rows(X, lo, hi, xt):  # pragma: no cover - compiled
    """``xt[a, t] = X[lo + t, a]`` for the rows lo..hi-1 (``xt`` (D, >= hi - lo)), a NaN
    entry written as 0 (its row's frame probabilities are replaced and its weight in
    the moments is 0, and 0 times a NaN would still be NaN)."""
    d = X.shape[1]
    for t in range(hi - lo):
        for a in range(d):
            x = X[lo + t, a]
            xt[a, t] = x if x == x else 0.0


@njit(cache=True, nogil=True, fastmath={"contract"})
def _finish(q, lo, hi, log_norm, frame, shift, top):  # pragma: no cover - compiled
    """Frames lo..hi-1 from their quadratic forms ``q`` (K, >= hi - lo):
    ``v = log_norm - q / 2``, ``shift[t]`` the row maximum (0 when the row is all
    -inf) and ``frame[t] = exp(v - shift[t])``. No reassociation here: the
    exponential rounds by adding and subtracting a constant
    (:func:`emkit.numerics.fast_exp.exp_nonpositive`)."""
    k = log_norm.shape[0]
    n = hi - lo
    for t in range(n):
        top[t] = -np.inf
    for j in range(k):
        c = log_norm[j]
        qj = q[j]
        for t in range(n):
            top[t] = max(top[t], c - 0.5 * qj[t])
    out = shift[lo:hi]
    for t in range(n):
        if top[t] == -np.inf:
            top[t] = 0.0
        out[t] = top[t]
    for j in range(k):
        c = log_norm[j]
        qj = q[j]
        for t in range(n):
            qj[t] = exp_nonpositive((c - 0.5 * qj[t]) - top[t])
    rows = frame[lo:hi]
    for t in range(n):
        for j in range(k):
            rows[t, j] = q[j, t]


@njit(cache=True, nogil=True, fastmath=_FAST)
def _diag_quadratic(xt, lo, hi, means, prec, q):  # pragma: no cover - compiled
    """``q[k, t] = sum_a (x_ta - mu_ka)^2 prec_ka`` for the frames lo..hi-1 of ``xt``."""
    k, d = means.shape
    n = hi - lo
    for j in range(k):
        qj = q[j]
        m = means[j, 0]
        p = prec[j, 0]
        x = xt[0, lo:hi]
        for t in range(n):
            e = x[t] - m
            qj[t] = e * e * p
        for a in range(1, d):
            m = means[j, a]
            p = prec[j, a]
            x = xt[a, lo:hi]
            for t in range(n):
                e = x[t] - m
                qj[t] += e * e * p


@njit(cache=True, nogil=True)
def diag_frame(xt, n, means, prec, log_norm, frame, shift, q, top):  # pragma: no cover
    """Diagonal-Gaussian frame probabilities of one sequence's ``n`` frames.

    ``xt`` (D, >= n) holds the frames as columns; ``means``, ``prec`` (K, D) the
    states' means and precisions (1 / variance); ``log_norm`` (K,) their log
    normalizers. Fills ``frame`` (>= n, K) and ``shift`` (>= n,); ``q`` (K, BLOCK)
    and ``top`` (BLOCK,) are scratch.
    """
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        _diag_quadratic(xt, lo, hi, means, prec, q)
        _finish(q, lo, hi, log_norm, frame, shift, top)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _full_quadratic(xt, lo, hi, means, chol, z, y, q):  # pragma: no cover - compiled
    """``q[k, t] = |(x_t - mu_k) U_k|^2`` for the frames lo..hi-1 of ``xt``;
    ``y_b = sum_{a <= b} z_a U_k[a, b]``, summed over ``a`` in order."""
    k, d = means.shape
    n = hi - lo
    for j in range(k):
        qj = q[j]
        for a in range(d):
            m = means[j, a]
            x = xt[a, lo:hi]
            za = z[a]
            for t in range(n):
                za[t] = x[t] - m
        for b in range(d):
            u = chol[j, 0, b]
            za = z[0]
            for t in range(n):
                y[t] = za[t] * u
            for a in range(1, b + 1):
                u = chol[j, a, b]
                za = z[a]
                for t in range(n):
                    y[t] += za[t] * u
            if b == 0:
                for t in range(n):
                    qj[t] = y[t] * y[t]
            else:
                for t in range(n):
                    qj[t] += y[t] * y[t]


@njit(cache=True, nogil=True)
def full_frame(xt, n, means, chol, log_norm, frame, shift, z, y, q,
               top):  # pragma: no cover - compiled
    """Full-covariance frame probabilities of one sequence's ``n`` frames.

    As :func:`diag_frame`, with ``chol`` (K, D, D) the upper precision Cholesky
    factors (entries below the diagonal not read); ``z`` (D, BLOCK) and ``y``
    (BLOCK,) are scratch too.
    """
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        _full_quadratic(xt, lo, hi, means, chol, z, y, q)
        _finish(q, lo, hi, log_norm, frame, shift, top)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _diag_moment_block(xt, lo, hi, gt, means, first, second):  # pragma: no cover
    k, d = means.shape
    n = hi - lo
    for j in range(k):
        gj = gt[j, lo:hi]
        for a in range(d):
            m = means[j, a]
            x = xt[a, lo:hi]
            s1 = 0.0
            s2 = 0.0
            for t in range(n):
                z = x[t] - m
                g = gj[t] * z
                s1 += g
                s2 += g * z
            first[a, j] += s1
            second[a, j] += s2


@njit(cache=True, nogil=True)
def diag_moments(xt, n, gt, means, first, second):  # pragma: no cover - compiled
    """Add one sequence's diagonal moments about each state's mean: ``first`` (D, K)
    gets ``sum_t g_tk (x_t - mu_k)``, ``second`` (D, K) ``sum_t g_tk (x_t - mu_k)^2``
    (entry by entry); ``gt`` as in :func:`full_moments`."""
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        _diag_moment_block(xt, lo, hi, gt, means, first, second)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _full_moment_block(xt, lo, hi, gt, means, z, w, first, outer):  # pragma: no cover
    k, d = means.shape
    n = hi - lo
    for j in range(k):
        gj = gt[j, lo:hi]
        for a in range(d):
            m = means[j, a]
            x = xt[a, lo:hi]
            za = z[a]
            wa = w[a]
            s = 0.0
            for t in range(n):
                e = x[t] - m
                za[t] = e
                g = gj[t] * e
                wa[t] = g
                s += g
            first[a, j] += s
        for a in range(d):
            wa = w[a]
            b = a
            while b + 1 < d:  # two columns of z per pass over w[a]
                z0 = z[b]
                z1 = z[b + 1]
                s0 = 0.0
                s1 = 0.0
                for t in range(n):
                    s0 += wa[t] * z0[t]
                    s1 += wa[t] * z1[t]
                outer[a, b, j] += s0
                outer[a, b + 1, j] += s1
                b += 2
            if b < d:
                z0 = z[b]
                s0 = 0.0
                for t in range(n):
                    s0 += wa[t] * z0[t]
                outer[a, b, j] += s0


@njit(cache=True, nogil=True)
def full_moments(xt, n, gt, means, first, outer, z, w):  # pragma: no cover - compiled
    """Add one sequence's full moments about each state's mean.

    ``gt`` (K, >= n) holds the frames' weights (posteriors) as rows; a frame
    of weight 0 adds nothing. ``first`` (D, K) gets ``sum_t g_tk (x_t - mu_k)``,
    ``outer`` (D, D, K) the upper triangle ``a <= b`` of the second moments;
    ``z``, ``w`` (D, BLOCK) are scratch.
    """
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        _full_moment_block(xt, lo, hi, gt, means, z, w, first, outer)
