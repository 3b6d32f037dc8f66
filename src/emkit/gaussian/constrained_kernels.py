"""Compiled inner iterations of mclust's iterative M-steps (numba).

The same conditional maximizations as the NumPy code they replace in
:mod:`emkit.gaussian.constrained` (which documents them), without the
per-pass array allocations that dominate on small problems (K <= 10, D <= 10):

* :func:`volume_shape_loop`: ``VEI`` (on the scatter diagonals) and ``VEV``
  (on the scatter eigenvalues) alternate the volumes and the common shape;
* :func:`vee_loop`: ``VEE`` alternates the volumes and the common
  shape-and-orientation matrix;
* :func:`common_orientation_loop`: ``EVE`` and ``VVE`` alternate volumes and
  shapes with one sweep of exact plane rotations of the common orientation.

Each stops when the objective's relative change is at most ``tol`` (or the
objective is no longer finite).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["volume_shape_loop", "vee_loop", "common_orientation_loop"]


@njit(cache=True, nogil=True, error_model="numpy")
def _done(old, new, tol):  # pragma: no cover
    if not math.isfinite(new):
        return True
    return abs(new - old) <= tol * max(abs(new), 1.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _geo_mean(values):  # pragma: no cover
    d = values.shape[0]
    acc = 0.0
    for a in range(d):
        acc += np.log(values[a])
    return np.exp(acc / d)


@njit(cache=True, nogil=True, error_model="numpy")
def volume_shape_loop(values, n, tol, max_iter):  # pragma: no cover
    """Volumes (K,) and common shape (d,) from per-component axis values (K, d)."""
    k, d = values.shape
    shape = np.ones(d)
    lam = np.empty(k)
    total = np.empty(d)
    old = -np.inf
    for _ in range(max_iter):
        for j in range(k):
            s = 0.0
            for a in range(d):
                s += values[j, a] / shape[a]
            lam[j] = s / (d * n[j])
        for a in range(d):
            s = 0.0
            for j in range(k):
                s += values[j, a] / lam[j]
            total[a] = s
        g = _geo_mean(total)
        for a in range(d):
            shape[a] = total[a] / g
        new = 0.0
        for j in range(k):
            new -= n[j] * d * np.log(lam[j])
        if _done(old, new, tol):
            break
        old = new
    for j in range(k):
        s = 0.0
        for a in range(d):
            s += values[j, a] / shape[a]
        lam[j] = s / (d * n[j])
    return lam, shape


@njit(cache=True, nogil=True, error_model="numpy")
def _trace_solve(shape, w, lam, n):  # pragma: no cover
    k, d = w.shape[0], w.shape[1]
    for j in range(k):
        sol = np.linalg.solve(shape, np.ascontiguousarray(w[j]))
        t = 0.0
        for a in range(d):
            t += sol[a, a]
        lam[j] = t / (d * n[j])


@njit(cache=True, nogil=True, error_model="numpy")
def vee_loop(w, n, tol, max_iter):  # pragma: no cover
    """Volumes (K,) and the common unit-determinant matrix (d, d) of ``VEE``."""
    k, d = w.shape[0], w.shape[1]
    shape = np.eye(d)
    lam = np.empty(k)
    old = -np.inf
    for _ in range(max_iter):
        _trace_solve(shape, w, lam, n)
        total = np.zeros((d, d))
        for j in range(k):
            total += w[j] / lam[j]
        _, logdet = np.linalg.slogdet(total)
        shape = total / np.exp(logdet / d)
        new = 0.0
        for j in range(k):
            new -= n[j] * d * np.log(lam[j])
        if _done(old, new, tol):
            break
        old = new
    _trace_solve(shape, w, lam, n)
    return lam, shape


@njit(cache=True, nogil=True, error_model="numpy")
def _volumes_shapes(orient, w, n, equal_volume, lam, shape):  # pragma: no cover
    k, d = w.shape[0], w.shape[1]
    gsum = 0.0
    for j in range(k):
        for i in range(d):
            s = 0.0
            for a in range(d):
                oa = orient[a, i]
                for b in range(d):
                    s += oa * w[j, a, b] * orient[b, i]
            shape[j, i] = s
        g = _geo_mean(shape[j])
        for i in range(d):
            shape[j, i] /= g
        lam[j] = g
        gsum += g
    if equal_volume:
        lam[:] = gsum / n.sum()
    else:
        for j in range(k):
            lam[j] = lam[j] / n[j]


@njit(cache=True, nogil=True, error_model="numpy")
def _objective(lam, shape, orient, w, n):  # pragma: no cover
    k, d = w.shape[0], w.shape[1]
    logs = 0.0
    trace = 0.0
    for j in range(k):
        logs += n[j] * d * np.log(lam[j])
        for i in range(d):
            s = 0.0
            for a in range(d):
                for b in range(d):
                    s += orient[a, i] * w[j, a, b] * orient[b, i]
            trace += s / (lam[j] * shape[j, i])
    return -0.5 * (logs + trace)


@njit(cache=True, nogil=True, error_model="numpy")
def _jacobi_sweep(orient, w, m):  # pragma: no cover
    k, d = w.shape[0], w.shape[1]
    for i in range(d - 1):
        for jj in range(i + 1, d):
            alpha = 0.0
            beta = 0.0
            for c in range(k):
                p = 0.0
                q = 0.0
                r = 0.0
                for a in range(d):
                    wi = 0.0
                    wj = 0.0
                    for b in range(d):
                        wi += w[c, a, b] * orient[b, i]
                        wj += w[c, a, b] * orient[b, jj]
                    p += wi * orient[a, i]
                    q += wj * orient[a, jj]
                    r += wi * orient[a, jj]
                dm = m[c, i] - m[c, jj]
                alpha += dm * (p - q)
                beta += dm * r
            alpha *= 0.5
            if alpha * alpha + beta * beta == 0.0:
                continue
            half = 0.5 * math.atan2(-beta, -alpha)
            cs, sn = math.cos(half), math.sin(half)
            for a in range(d):
                di, dj = orient[a, i], orient[a, jj]
                orient[a, i] = cs * di + sn * dj
                orient[a, jj] = -sn * di + cs * dj


@njit(cache=True, nogil=True, error_model="numpy")
def common_orientation_loop(w, n, orient, equal_volume, tol, max_iter):  # pragma: no cover
    """Volumes (K,), shapes (K, d) and the common orientation (d, d) of EVE / VVE.

    ``orient`` (d, d) is the start and is updated in place.
    """
    k, d = w.shape[0], w.shape[1]
    lam = np.empty(k)
    shape = np.empty((k, d))
    m = np.empty((k, d))
    _volumes_shapes(orient, w, n, equal_volume, lam, shape)
    old = _objective(lam, shape, orient, w, n)
    for _ in range(max_iter):
        for j in range(k):
            for i in range(d):
                m[j, i] = 1.0 / (lam[j] * shape[j, i])
        _jacobi_sweep(orient, w, m)
        _volumes_shapes(orient, w, n, equal_volume, lam, shape)
        new = _objective(lam, shape, orient, w, n)
        if _done(old, new, tol):
            break
        old = new
    return lam, shape, orient


#: Codes of the closed-form models :func:`closed_form_covariances` computes.
CLOSED_FORM_CODES = {"EII": 0, "VII": 1, "EEI": 2, "VVI": 3, "EEE": 4, "VVV": 5, "EVI": 6}


@njit(cache=True, nogil=True, error_model="numpy")
def closed_form_covariances(code, n, w):  # pragma: no cover
    """Covariances (K, d, d) of a closed-form model (:data:`CLOSED_FORM_CODES`).

    The same formulas as :mod:`emkit.gaussian.constrained`'s ``_eii`` ...
    ``_evi``, then symmetrized; NaN everywhere when a count is not positive or
    a scatter entry is not finite.
    """
    k, d = w.shape[0], w.shape[1]
    cov = np.zeros((k, d, d))
    for j in range(k):
        if not n[j] > 0.0:
            cov[:] = np.nan
            return cov
        for a in range(d):
            for b in range(d):
                if not math.isfinite(w[j, a, b]):
                    cov[:] = np.nan
                    return cov
    total_n = n.sum()
    if code == 0 or code == 2 or code == 4:  # pooled scatter
        pooled = np.zeros((d, d))
        for j in range(k):
            pooled += w[j]
        if code == 0:
            lam = np.trace(pooled) / (total_n * d)
            for j in range(k):
                for a in range(d):
                    cov[j, a, a] = lam
        else:
            for j in range(k):
                for a in range(d):
                    if code == 2:
                        cov[j, a, a] = pooled[a, a] / total_n
                    else:
                        for b in range(d):
                            cov[j, a, b] = pooled[a, b] / total_n
    elif code == 1:
        for j in range(k):
            lam = np.trace(w[j]) / (n[j] * d)
            for a in range(d):
                cov[j, a, a] = lam
    elif code == 3:
        for j in range(k):
            for a in range(d):
                cov[j, a, a] = w[j, a, a] / n[j]
    elif code == 5:
        for j in range(k):
            for a in range(d):
                for b in range(d):
                    cov[j, a, b] = w[j, a, b] / n[j]
    else:  # EVI
        g = np.empty(k)
        for j in range(k):
            g[j] = _geo_mean(np.diag(w[j]).copy())
        lam = g.sum() / total_n
        for j in range(k):
            for a in range(d):
                cov[j, a, a] = lam * (w[j, a, a] / g[j])
    for j in range(k):
        for a in range(d):
            for b in range(a):
                v = 0.5 * (cov[j, a, b] + cov[j, b, a])
                cov[j, a, b] = v
                cov[j, b, a] = v
    return cov
