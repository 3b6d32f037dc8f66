"""mclust's model-based hierarchical agglomeration: ``hc(x, "VVV", use="SVD")``.

This is the start of every multi-component fit in R's ``Mclust()`` (mclust 6,
default options ``hcModelName = "VVV"``, ``hcUse = "SVD"``), reproduced merge for
merge so that a table of fits started from it is mclust's table.

**The data transform** (``hcUse = "SVD"``): the columns are centred and scaled
to unit standard deviation (``scale(x)``; columns that are then not finite,
i.e. constant ones, are dropped), and with ``svd(scale(x)) = U diag(s) V^T`` the
agglomeration runs on ``Z = scale(x) V diag(1 / sqrt(s))``. (mclust divides by
the square root of the singular values, not by the values: the result is
between the standardized data and their sphered principal components.)

**The criterion** (Banfield & Raftery 1993; Fraley 1998; mclust's Fortran
``hcvvv``): a cluster of ``m`` points with scatter matrix ``W`` (``p``
columns) scores

.. math::

    t(W, m) = m \\log\\left(\\frac{\\beta(\\operatorname{tr} W + \\alpha)}{m}\\right)
    \\quad (m \\le p), \\qquad
    t(W, m) = m \\log\\left(\\det\\frac{W}{m} +
    \\frac{\\beta(\\operatorname{tr} W + \\alpha)}{m}\\right) \\quad (m > p),

with ``beta = 1`` and ``alpha = tr W_Z / (n p)`` (the total scatter of ``Z``
over ``n p``). Each step merges the pair of clusters ``a, b`` whose merge
changes the total least, ``t(W_ab, m_a + m_b) - t(W_a, m_a) - t(W_b, m_b)``,
with ``W_ab = W_a + W_b + (m_a m_b / m_ab) (xbar_a - xbar_b)(xbar_a - xbar_b)^T``.
Ties go as in the Fortran: the costs sit in a packed triangle over cluster
*slots*, the merged cluster takes the lower slot and the last slot moves into
the freed one, and the last minimum in packed order wins.

Cost: the packed triangle holds ``n (n - 1) / 2`` doubles (O(n^2) memory:
16 MB at n = 2,000, 100 MB at n = 5,000; :class:`emkit.MclustMixture` grows the
tree on at most ``hc_sample_size`` rows). Each merge recomputes the costs of the
new cluster with every other, ``O(n p^3)``, and keeps a minimum per column of
the triangle, so a whole tree takes ``O(n^2 p^3)`` time; 1,000 points in 2-D
take a few milliseconds once compiled.

References
----------
J. D. Banfield and A. E. Raftery (1993). Model-based Gaussian and non-Gaussian
clustering. *Biometrics* 49, 803-821.
C. Fraley (1998). Algorithms for model-based Gaussian hierarchical clustering.
*SIAM J. Sci. Comput.* 20(1), 270-281.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from numba import njit

__all__ = ["svd_transform", "hc_alpha", "hc_vvv_pairs", "hclass", "mclust_hc_partitions"]


def svd_transform(X: np.ndarray) -> np.ndarray:
    """mclust's ``hcUse = "SVD"`` transform of ``X`` (n, p), shape (n, q), q <= min(n, p).

    ``scale(X) V diag(1 / sqrt(s))`` with ``svd(scale(X)) = U diag(s) V^T`` and the
    column standard deviations taken with ``n - 1``. Constant columns are dropped
    (mclust drops the columns ``scale`` leaves non-finite), and so are directions
    whose singular value is zero to rounding (``s <= max(n, p) eps s_max``), where
    mclust would divide by zero. The signs of ``V``'s columns are LAPACK's; the
    agglomeration does not depend on them.
    """
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    if n < 2:
        return np.zeros((n, 0))
    centred = X - X.mean(axis=0)
    sd = np.sqrt((centred**2).sum(axis=0) / (n - 1))
    keep = sd > 0
    data = centred[:, keep] / sd[keep]
    if data.shape[1] == 0:
        return np.zeros((n, 0))
    _, s, vt = np.linalg.svd(data, full_matrices=False)
    rank = int(np.sum(s > max(data.shape) * np.finfo(float).eps * s[0]))
    return (data @ vt[:rank].T) / np.sqrt(s[:rank])


def hc_alpha(Z: np.ndarray) -> float:
    """mclust's ``alpha``: the trace of the scatter of ``Z`` (n, p) over ``n p``, at least eps."""
    n, p = Z.shape
    trace = float(((Z - Z.mean(axis=0)) ** 2).sum()) / (n * p) if n * p else 0.0
    return max(trace, float(np.finfo(float).eps))


# --------------------------------------------------------------------------- compiled core


@njit(nogil=True, cache=True)
def _pair(i, j):
    """Position of slot pair (i, j), i < j, in the packed triangle (column j, row i)."""
    return j * (j - 1) // 2 + i


@njit(nogil=True, cache=True)
def _merge_stats(na, ma, wa, ta, nb, mb, wb, tb, mean, w):
    """Count and trace of the union of two clusters; its mean and scatter into ``mean``, ``w``."""
    p = ma.shape[0]
    nab = na + nb
    c = na * nb / nab
    trace = ta + tb
    for r in range(p):
        mean[r] = (na * ma[r] + nb * mb[r]) / nab
        trace += c * (ma[r] - mb[r]) * (ma[r] - mb[r])
    for r in range(p):
        dr = ma[r] - mb[r]
        for s in range(p):
            w[r, s] = wa[r, s] + wb[r, s] + c * dr * (ma[s] - mb[s])
    return nab, trace


@njit(nogil=True, cache=True)
def _term(m, w, trace, alpha, beta, chol):
    """The criterion ``t(W, m)`` of one cluster (see the module docstring)."""
    p = w.shape[0]
    base = beta * (trace + alpha) / m
    if m <= p or trace == 0.0:
        return m * math.log(base)
    # log det(W / m) from a Cholesky factor; a factor that breaks down means W is
    # singular to rounding, where mclust's determinant is 0 as well
    logdet = 0.0
    for r in range(p):
        for s in range(r + 1):
            acc = w[r, s] / m
            for t in range(s):
                acc -= chol[r, t] * chol[s, t]
            if r == s:
                if acc <= 0.0:
                    return m * math.log(base)
                chol[r, r] = math.sqrt(acc)
                logdet += math.log(acc)
            else:
                chol[r, s] = acc / chol[s, s]
    lb = math.log(base)
    hi = max(logdet, lb)
    return m * (hi + math.log(math.exp(logdet - hi) + math.exp(lb - hi)))


@njit(nogil=True, cache=True)
def _stored(g, count, out):
    """The scatter mclust's Fortran reads back for a cluster it stored, into ``out``.

    ``hcvvv`` keeps each cluster's scatter as a triangular factor ``R``
    (``R^T R = W``) in rows of its work array, but writes the factor's *first*
    row into every one of those rows (mclust 6.0 to 6.1.3, the loop after label
    200 copies ``r(1,1)`` each time); reading row ``k`` back from column ``k``
    then gives ``(r_1k, ..., r_1p)``. The scatter it uses for such a cluster is
    the sum of those rows' outer products, which this returns.
    """
    p = g.shape[0]
    for r in range(p):
        for s in range(p):
            out[r, s] = 0.0
    rows = min(int(count) - 1, p)
    if rows < 1 or g[0, 0] <= 0.0:
        return
    root = math.sqrt(g[0, 0])
    for k in range(rows):
        for r in range(k, p):
            for s in range(k, p):
                out[r, s] += (g[0, r] / root) * (g[0, s] / root)


@njit(nogil=True, cache=True)
def _union(a, b, fresh, count, mean, scat, stored, trace, as_mclust, tmp_mean, tmp_w):
    """Count and trace of the union of slots ``a`` and ``b``; mean, scatter into tmp_mean, tmp_w.

    Exactly ``W_a + W_b + c d d^T``; with ``as_mclust``, the scatter mclust's
    Fortran forms: the cluster it merged last (``fresh``) enters with the factor
    it holds in memory, any other with what it stored (``stored``, kept per slot
    by :func:`_stored` when the slot's cluster forms).
    """
    if as_mclust:
        wa = scat[a] if a == fresh else stored[a]
        wb = scat[b] if b == fresh else stored[b]
        return _merge_stats(count[a], mean[a], wa, trace[a], count[b], mean[b], wb,
                            trace[b], tmp_mean, tmp_w)
    return _merge_stats(count[a], mean[a], scat[a], trace[a], count[b], mean[b], scat[b],
                        trace[b], tmp_mean, tmp_w)


@njit(nogil=True, cache=True)
def _cost(a, b, fresh, count, mean, scat, stored, trace, term, alpha, beta, as_mclust, work,
          chol):
    """Change of the criterion if slots ``a`` and ``b`` merge."""
    if count[a] == 1.0 and count[b] == 1.0:
        # mclust's Fortran scores two singletons from the trace alone, whatever p
        t2 = 0.0
        for r in range(mean.shape[1]):
            t2 += 0.5 * (mean[a, r] - mean[b, r]) ** 2
        return 2.0 * math.log(beta * (t2 + alpha) / 2.0) - term[a] - term[b]
    nab, tr = _union(a, b, fresh, count, mean, scat, stored, trace, as_mclust, work[0, 0],
                     work[1])
    return _term(nab, work[1], tr, alpha, beta, chol) - term[a] - term[b]


@njit(nogil=True, cache=True)
def _rescan(d, col, colmin, colarg):
    """Minimum of column ``col`` of the triangle (the last row on ties)."""
    best = np.inf
    arg = -1
    base = col * (col - 1) // 2
    for r in range(col):
        if d[base + r] <= best:
            best = d[base + r]
            arg = r
    colmin[col] = best
    colarg[col] = arg


@njit(nogil=True, cache=True)
def _changed(d, col, row, colmin, colarg, stale):
    """Entry (row, col) changed: keep the column minimum or mark it for a rescan."""
    value = d[_pair(row, col)]
    if value < colmin[col] or (value == colmin[col] and row >= colarg[col]):
        colmin[col] = value
        colarg[col] = row
    elif row == colarg[col]:
        stale[col] = True


@njit(nogil=True, cache=True)
def _hc_vvv_slots(Z, alpha, beta, as_mclust):
    """The merges of ``hcvvv`` from singletons, as (slot i, slot j) with i < j, shape (n-1, 2)."""
    n, p = Z.shape
    count = np.ones(n)
    mean = Z.copy()
    scat = np.zeros((n, p, p))
    stored = np.zeros((n, p, p))  # what mclust reads back: zero for a singleton
    trace = np.zeros(n)
    term = np.full(n, math.log(beta * alpha))
    d = np.empty(n * (n - 1) // 2)
    colmin = np.full(n, np.inf)
    colarg = np.full(n, -1, dtype=np.int64)
    stale = np.zeros(n, dtype=np.bool_)
    work = np.empty((4, p, p))
    chol = np.empty((p, p))
    merges = np.empty((max(n - 1, 0), 2), dtype=np.int64)
    fresh = -1  # the slot of the cluster merged last
    for j in range(1, n):
        for i in range(j):
            d[_pair(i, j)] = _cost(i, j, fresh, count, mean, scat, stored, trace, term, alpha,
                                   beta, as_mclust, work, chol)
        _rescan(d, j, colmin, colarg)
    lg = n
    for step in range(n - 1):
        # the last minimum in packed order: the last column holding it, its last row
        best = np.inf
        j = -1
        for col in range(1, lg):
            if colmin[col] <= best:
                best = colmin[col]
                j = col
        i = colarg[j]
        merges[step, 0] = i
        merges[step, 1] = j
        nij, tr = _union(i, j, fresh, count, mean, scat, stored, trace, as_mclust, work[0, 0],
                         work[1])
        term[i] = best + term[i] + term[j]
        count[i] = nij
        trace[i] = tr
        mean[i] = work[0, 0]
        scat[i] = work[1]
        if as_mclust:
            _stored(scat[i], count[i], stored[i])
        fresh = i
        last = lg - 1
        if j != last:  # the last slot moves into the freed one
            count[j] = count[last]
            mean[j] = mean[last]
            scat[j] = scat[last]
            stored[j] = stored[last]
            trace[j] = trace[last]
            term[j] = term[last]
            for k in range(j):
                d[_pair(k, j)] = d[_pair(k, last)]
            for m in range(j + 1, last):
                d[_pair(j, m)] = d[_pair(m, last)]
                _changed(d, m, j, colmin, colarg, stale)
            stale[j] = True
        lg -= 1
        for k in range(lg):
            if k == i:
                continue
            a, b = (k, i) if k < i else (i, k)
            d[_pair(a, b)] = _cost(a, b, fresh, count, mean, scat, stored, trace, term, alpha,
                                   beta, as_mclust, work, chol)
            if k > i:
                _changed(d, k, i, colmin, colarg, stale)
        stale[i] = True
        for col in range(1, lg):
            if stale[col]:
                _rescan(d, col, colmin, colarg)
                stale[col] = False
    return merges


def hc_vvv_pairs(Z: np.ndarray, alpha: float | None = None, beta: float = 1.0, *,
                 as_mclust: bool = True) -> np.ndarray:
    """The merges of mclust's ``hcVVV(Z)``, in ``hc()``'s labelling, shape (n - 1, 2).

    Parameters
    ----------
    Z : ndarray of shape (n, p)
        The data to agglomerate (already transformed: see :func:`svd_transform`).
    alpha : float or None
        The criterion's ``alpha``; ``None`` takes mclust's, :func:`hc_alpha` of ``Z``.
    beta : float, default 1.0
    as_mclust : bool, default True
        Score clusters as mclust's Fortran does (see :func:`_stored`): the
        scatter of a cluster formed before the last merge is what the Fortran
        reads back, not the true one. The two agree while clusters are small
        and their determinants negligible next to ``tr W + alpha``; on mclust's
        ``wreath`` data they part at the last three merges. ``False`` uses the
        true scatter matrices throughout.

    Returns
    -------
    ndarray of int64, shape (n - 1, 2)
        Row ``s`` merges clusters ``a < b`` (0-based): every point labelled ``b``
        becomes ``a``; the points start labelled ``0 .. n-1`` in row order. This
        is mclust's ``hcPairs`` transposed, minus one.
    """
    Z = np.ascontiguousarray(Z, dtype=float)
    n = Z.shape[0]
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    a = hc_alpha(Z) if alpha is None else max(float(alpha), float(np.finfo(float).eps))
    slots = _hc_vvv_slots(Z, a, float(beta), bool(as_mclust))
    # slots -> cluster labels (the Fortran's last loop): a merge keeps the smaller
    # label in the lower slot, and the label of the slot that moved follows it
    label = np.arange(n)
    pairs = np.empty_like(slots)
    for step, (i, j) in enumerate(slots):
        li, lj = label[i], label[j]
        pairs[step] = (min(li, lj), max(li, lj))
        label[i] = min(li, lj)
        label[j] = label[n - 1 - step]
    return pairs


def hclass(pairs: np.ndarray, n_samples: int, n_clusters: Iterable[int]) -> dict[int, np.ndarray]:
    """mclust's ``hclass``: the partition into each number of clusters, labels 0..G-1.

    Parameters
    ----------
    pairs : ndarray of shape (n_samples - 1, 2)
        Merges in :func:`hc_vvv_pairs`' labelling.
    n_samples : int
    n_clusters : iterable of int
        Each in ``1 .. n_samples``.

    Returns
    -------
    dict
        ``G -> labels`` of shape (n_samples,), numbered by first appearance in row
        order (mclust's ``partconv``; mclust's labels are these plus one).
    """
    wanted = sorted(set(int(g) for g in n_clusters), reverse=True)
    for g in wanted:
        if not 1 <= g <= n_samples:
            raise ValueError(f"cannot cut {n_samples} points into {g} clusters")
    label = np.arange(n_samples)
    out: dict[int, np.ndarray] = {}
    done = 0
    for g in wanted:
        for a, b in pairs[done : n_samples - g]:
            label[label == b] = a
        done = n_samples - g
        _, first, inverse = np.unique(label, return_index=True, return_inverse=True)
        rank = np.empty(first.size, dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        out[g] = rank[inverse.ravel()]
    return out


def mclust_hc_partitions(X: np.ndarray, n_clusters: Iterable[int]) -> dict[int, np.ndarray]:
    """``hclass(hc(X, "VVV", use = "SVD"), G)`` for each ``G``: mclust's starting partitions.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    n_clusters : iterable of int
        Numbers of clusters, each at most ``n``.

    Returns
    -------
    dict
        ``G -> labels`` of shape (n,) (see :func:`hclass`).
    """
    Z = svd_transform(X)
    return hclass(hc_vvv_pairs(Z), Z.shape[0], n_clusters)
