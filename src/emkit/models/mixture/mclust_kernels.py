"""Compiled E-step of a full-covariance Gaussian mixture (numba), for :class:`MclustModel`.

Two passes over the rows do what :func:`~emkit.models.mixture.mclust.log_joint`,
:func:`~emkit.numerics.logsumexp.log_normalize` and
:func:`~emkit.models.mixture.mclust.mixture_stats` do in NumPy: the Cholesky
factor of every covariance and its inverse, the log-density of each row under
each component (the centred row whitened by the inverse factor, as the NumPy
reference does, never the expanded quadratic form), the row's log-sum-exp and
responsibilities; then the additive statistics centred on the E-step's means.
Nothing is allocated per row, so small data (hundreds of rows) cost
microseconds per E-step rather than the NumPy path's hundreds (measured on a
loaded machine: 272 x 2, K = 3, 9 us against 240 us; 2,000 x 10, K = 5,
0.45 ms).

The NumPy path stays the reference (``tests/test_mclust_kernels.py`` compares
the two to 1e-12).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["full_mixture_estep", "covariance_check", "scatter_matrices"]

_LOG_2PI = math.log(2.0 * math.pi)


@njit(cache=True, nogil=True, error_model="numpy")
def _factor(cov, linv, logdet):  # pragma: no cover
    """Inverse lower Cholesky factors ``L^-1`` and log-determinants; -1-j if j is not PD."""
    k, d = cov.shape[0], cov.shape[1]
    chol = np.zeros((d, d))
    for j in range(k):
        acc = 0.0
        for c in range(d):
            s = cov[j, c, c]
            for m in range(c):
                s -= chol[c, m] * chol[c, m]
            if not s > 0.0:
                return -1 - j  # component j is not positive definite
            root = math.sqrt(s)
            chol[c, c] = root
            acc += math.log(root)
            for r in range(c + 1, d):
                t = cov[j, r, c]
                for m in range(c):
                    t -= chol[r, m] * chol[c, m]
                chol[r, c] = t / root
        logdet[j] = 2.0 * acc
        # L^-1 column by column: L x = e_c by forward substitution
        for c in range(d):
            for r in range(d):
                if r < c:
                    linv[j, r, c] = 0.0
                    continue
                t = 1.0 if r == c else 0.0
                for m in range(c, r):
                    t -= chol[r, m] * linv[j, m, c]
                linv[j, r, c] = t / chol[r, r]
    return 0


@njit(cache=True, nogil=True, error_model="numpy")
def _responsibilities(X, log_w, means, linv, logdet, evidence, sw, resp):  # pragma: no cover
    """Fill ``resp`` (N, K) with the posteriors; return the log-likelihood.

    ``evidence`` (N, K) is added to each row's log-joint when it has N rows;
    ``sw`` (N,), when it has N entries, multiplies each row's posteriors and
    log-likelihood (a row of weight 0 adds nothing).
    """
    n, d = X.shape
    k = means.shape[0]
    const = -0.5 * d * _LOG_2PI
    with_evidence = evidence.shape[0] == n
    with_weight = sw.shape[0] == n
    y = np.empty(d)
    total = 0.0
    for i in range(n):
        wi = sw[i] if with_weight else 1.0
        if wi == 0.0:
            resp[i, :] = 0.0
            continue
        top = -np.inf
        for j in range(k):
            for c in range(d):
                y[c] = X[i, c] - means[j, c]
            quad = 0.0
            for c in range(d):
                t = 0.0
                for m in range(c + 1):
                    t += linv[j, c, m] * y[m]
                quad += t * t
            v = log_w[j] + const - 0.5 * (logdet[j] + quad)
            if with_evidence:
                v += evidence[i, j]
            resp[i, j] = v
            if v > top:
                top = v
        if not math.isfinite(top):
            total += top if top == top else np.nan
            resp[i, :] = 0.0
            continue
        s = 0.0
        for j in range(k):
            e = math.exp(resp[i, j] - top)
            resp[i, j] = e
            s += e
        total += wi * (top + math.log(s))
        for j in range(k):
            resp[i, j] = resp[i, j] / s * wi
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def _moments(X, resp, means, out_n, out_sum, out_outer):  # pragma: no cover
    """Counts, sums and second moments about ``means`` (lower triangle, then mirrored)."""
    n, d = X.shape
    k = means.shape[0]
    out_n[:] = 0.0
    out_sum[:] = 0.0
    out_outer[:] = 0.0
    y = np.empty(d)
    for i in range(n):
        for j in range(k):
            r = resp[i, j]
            if r == 0.0:
                continue
            out_n[j] += r
            for a in range(d):
                out_sum[j, a] += r * X[i, a]
                y[a] = X[i, a] - means[j, a]
            for a in range(d):
                ra = r * y[a]
                for b in range(a + 1):
                    out_outer[j, a, b] += ra * y[b]
    for j in range(k):
        for a in range(d):
            for b in range(a):
                out_outer[j, b, a] = out_outer[j, a, b]


@njit(cache=True, nogil=True, error_model="numpy")
def _estep(X, weights, means, cov, evidence, sw):  # pragma: no cover
    """The whole E-step in one call: (flag, loglik, n, sum, centred sum, second moments)."""
    n, d = X.shape
    k = means.shape[0]
    linv = np.empty((k, d, d))
    logdet = np.empty(k)
    out_n = np.empty(k)
    out_sum = np.empty((k, d))
    centred = np.empty((k, d))
    outer = np.empty((k, d, d))
    flag = _factor(cov, linv, logdet)
    if flag < 0:
        return flag, 0.0, out_n, out_sum, centred, outer
    log_w = np.log(weights)
    resp = np.empty((n, k))
    loglik = _responsibilities(X, log_w, means, linv, logdet, evidence, sw, resp)
    _moments(X, resp, means, out_n, out_sum, outer)
    for j in range(k):
        for a in range(d):
            centred[j, a] = out_sum[j, a] - out_n[j] * means[j, a]
    return 0, loglik, out_n, out_sum, centred, outer


def full_mixture_estep(X: np.ndarray, weights: np.ndarray, means: np.ndarray,
                       covariances: np.ndarray,
                       evidence: np.ndarray | None = None,
                       sample_weight: np.ndarray | None = None) -> tuple[dict, float]:
    """Statistics and log-likelihood of one E-step.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D, D)
    evidence : ndarray of shape (N, K) or None
        Per-row log-evidence added to the log-joint (known labels, soft
        evidence: :func:`emkit.estimators._supervision.log_evidence`); the
        log-likelihood is then ``sum_i log sum_k e_ik pi_k N(x_i | mu_k, Sigma_k)``.
    sample_weight : ndarray of shape (N,) or None
        Non-negative row weights multiplying each row's responsibilities and
        log-likelihood term (rows of weight 0 are skipped).

    Returns
    -------
    stats : dict
        ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D) and ``centred_outer``
        (K, D, D), centred on ``means`` (as :func:`mixture_stats`).
    loglik : float
        ``sum_i log sum_k pi_k N(x_i | mu_k, Sigma_k)``.

    Raises
    ------
    ValueError
        When a covariance is not positive definite.
    """
    X = np.ascontiguousarray(X, dtype=float)
    means = np.ascontiguousarray(means, dtype=float)
    k = means.shape[0]
    ev = np.zeros((0, k)) if evidence is None else np.ascontiguousarray(evidence, dtype=float)
    sw = (np.zeros(0) if sample_weight is None
          else np.ascontiguousarray(sample_weight, dtype=float))
    flag, loglik, n, total_sum, centred, outer = _estep(
        X, np.ascontiguousarray(weights, dtype=float), means,
        np.ascontiguousarray(covariances, dtype=float), ev, sw)
    if flag < 0:
        raise ValueError(
            f"the covariance of component {-flag - 1} is singular or not positive "
            "definite (a component collapsed onto too few points); increase reg_covar or "
            "reduce the number of components")
    stats = {"n": n, "sum": total_sum, "centred_sum": centred, "centred_outer": outer}
    return stats, float(loglik)


@njit(cache=True, nogil=True, error_model="numpy")
def covariance_check(n, means, w, cov, rcond_min):  # pragma: no cover
    """Why an M-step's covariances cannot be used, as ``(code, component, feature, value)``.

    ``code`` 0: usable; 1: a covariance is not finite (the first such component,
    or the smallest one when all are); 2: component ``j``'s variance of feature
    ``f`` is below ``rcond_min`` times the data's variance of it (``value`` is
    that variance); 3: the reciprocal condition number of a component's
    correlation matrix is below ``rcond_min`` (the smallest one, ``value``).
    The same tests, in the same order, as
    :meth:`~emkit.models.mixture.mclust.MclustModel.m_step` made in NumPy with
    :func:`~emkit.models.mixture.mclust.correlation_rcond`.
    """
    k, d = means.shape
    first_bad = -1
    n_bad = 0
    for j in range(k):
        ok = True
        for a in range(d):
            for b in range(d):
                if not math.isfinite(cov[j, a, b]):
                    ok = False
        if not ok:
            n_bad += 1
            if first_bad < 0:
                first_bad = j
    if n_bad > 0:
        if n_bad == k:
            first_bad = int(np.argmin(n))
        return 1, first_bad, 0, 0.0
    total = n.sum()
    centre = np.zeros(d)
    for j in range(k):
        for a in range(d):
            centre[a] += n[j] / total * means[j, a]
    data_var = np.zeros(d)
    for a in range(d):
        s = 0.0
        for j in range(k):
            s += w[j, a, a]
        t = 0.0
        for j in range(k):
            t += n[j] / total * (means[j, a] - centre[a]) ** 2
        data_var[a] = s / total + t
    for j in range(k):
        for a in range(d):
            if cov[j, a, a] < rcond_min * data_var[a]:
                return 2, j, a, cov[j, a, a]
    worst, where = np.inf, 0
    corr = np.empty((d, d))
    for j in range(k):
        rc = 0.0
        if np.all(np.diag(cov[j]) > 0.0):
            for a in range(d):
                for b in range(d):
                    corr[a, b] = cov[j, a, b] / math.sqrt(cov[j, a, a]) / math.sqrt(cov[j, b, b])
            eig = np.linalg.eigvalsh(corr)
            rc = max(eig[0], 0.0) / eig[d - 1]
        if rc < worst:
            worst, where = rc, j
    if worst < rcond_min:
        return 3, where, 0, worst
    return 0, 0, 0, 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def scatter_matrices(counts, sums, centred_sum, centred_outer, eps, reg_covar):  # pragma: no cover
    """Counts ``n_k + eps`` (K,), means (K, D) and symmetric scatter matrices (K, D, D).

    ``W_k = outer_k - n_k s_k s_k^T`` with ``s_k`` the centred sum over ``n_k``
    (the second moments moved from the E-step's means to the new ones), then
    ``reg_covar * n_k`` on the diagonal: the arithmetic of
    :meth:`~emkit.models.mixture.mclust.MclustModel.scatter`, in one call.
    """
    k, d = sums.shape
    n = counts + eps
    means = np.empty((k, d))
    shift = np.empty(d)
    w = np.empty((k, d, d))
    for j in range(k):
        for a in range(d):
            means[j, a] = sums[j, a] / n[j]
            shift[a] = centred_sum[j, a] / n[j]
        for a in range(d):
            for b in range(d):
                w[j, a, b] = centred_outer[j, a, b] - n[j] * shift[a] * shift[b]
        for a in range(d):
            for b in range(a):
                v = 0.5 * (w[j, a, b] + w[j, b, a])
                w[j, a, b] = v
                w[j, b, a] = v
            w[j, a, a] = 0.5 * (w[j, a, a] + w[j, a, a]) + reg_covar * n[j]
    return n, means, w
