"""Starting partitions for mclust-style mixtures: model-based agglomeration and k-means.

Model-based hierarchical agglomeration (Banfield & Raftery 1993; Fraley 1998)
starts from singletons and repeatedly merges the pair of clusters that lowers the
*classification* log-likelihood of a Gaussian model least. For the
unconstrained model (``"VVV"``) the criterion of a partition is

.. math::

    C = \\sum_k n_k \\log\\det\\left(\\frac{W_k + \\alpha s^2 I}{n_k}\\right),

where :math:`W_k` is cluster :math:`k`'s scatter matrix and :math:`\\alpha s^2 I`
(``s^2`` the mean variance of the data) keeps the determinant of small clusters
positive, as mclust's ``hcVVV`` does with its ``alpha`` term. Merging ``i`` and
``j`` costs :math:`C(i \\cup j) - C(i) - C(j)`, with
:math:`W_{i \\cup j} = W_i + W_j + \\frac{n_i n_j}{n_i + n_j}
(\\bar x_i - \\bar x_j)(\\bar x_i - \\bar x_j)^\\top`.
For ``"EII"`` (spherical, equal volume) the criterion is the total within
scatter, i.e. Ward's method (computed by :func:`scipy.cluster.hierarchy.ward`).

Like mclust, the data are standardized column-wise first, and when there are
more rows than ``sample_size`` the tree is grown on a random subsample whose
partition starts EM through one M-step on that subsample.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hc_merges", "cut_tree", "hc_partitions", "kmeans_partition", "HC_MODELS"]

HC_MODELS = ("VVV", "EII")


def _standardize(X: np.ndarray) -> np.ndarray:
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    return (X - X.mean(axis=0)) / scale


def _logdet(m: np.ndarray) -> np.ndarray:
    """``log det`` of a stack of positive-definite matrices; closed forms for d <= 3."""
    d = m.shape[-1]
    if d == 1:
        det = m[..., 0, 0]
    elif d == 2:
        det = m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]
    elif d == 3:
        det = (m[..., 0, 0] * (m[..., 1, 1] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 1])
               - m[..., 0, 1] * (m[..., 1, 0] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 0])
               + m[..., 0, 2] * (m[..., 1, 0] * m[..., 2, 1] - m[..., 1, 1] * m[..., 2, 0]))
    else:
        return np.linalg.slogdet(m)[1]
    return np.log(det)


def _vvv_cost(n, mean, scatter, own, i, js, reg):
    """Merge cost of cluster ``i`` with each cluster in ``js`` (``own``: each C(c))."""
    ni, nj = n[i], n[js]
    nm = ni + nj
    delta = mean[js] - mean[i]
    w = scatter[js] + scatter[i] + (ni * nj / nm)[:, None, None] * (
        delta[:, :, None] * delta[:, None, :])
    return nm * _logdet((w + reg) / nm[:, None, None]) - own[i] - own[js]


def _hc_vvv(X: np.ndarray, alpha: float) -> np.ndarray:
    m, d = X.shape
    spread = float(np.mean(X.var(axis=0)))
    # identical rows (every column constant) leave nothing to scale by: any unit
    # regularizer keeps the determinants positive and every merge costs the same
    reg = alpha * (spread if spread > 0 else 1.0) * np.eye(d)
    n = np.ones(m)
    mean = X.copy()
    scatter = np.zeros((m, d, d))
    active = np.ones(m, dtype=bool)
    own = np.full(m, _logdet(reg[None])[0])  # C(c) = n_c log det((W_c + reg) / n_c)
    cost = np.full((m, m), np.inf)
    for i in range(m - 1):
        js = np.arange(i + 1, m)
        cost[i, js] = _vvv_cost(n, mean, scatter, own, i, js, reg)
        cost[js, i] = cost[i, js]
    best = cost.min(axis=1)
    arg = cost.argmin(axis=1)
    node = np.arange(m)  # tree node id held by each active slot
    merges = np.empty((m - 1, 2), dtype=np.int64)
    for step in range(m - 1):
        i = int(np.argmin(best))
        j = int(arg[i])
        i, j = min(i, j), max(i, j)
        merges[step] = node[i], node[j]
        ni, nj = n[i], n[j]
        delta = mean[j] - mean[i]
        scatter[i] = scatter[i] + scatter[j] + (ni * nj / (ni + nj)) * np.outer(delta, delta)
        mean[i] = (ni * mean[i] + nj * mean[j]) / (ni + nj)
        n[i] = ni + nj
        own[i] = n[i] * _logdet(((scatter[i] + reg) / n[i])[None])[0]
        node[i] = m + step
        active[j] = False
        cost[j, :] = np.inf
        cost[:, j] = np.inf
        best[j] = np.inf
        others = np.flatnonzero(active)
        others = others[others != i]
        if others.size == 0:
            break
        row = _vvv_cost(n, mean, scatter, own, i, others, reg)
        cost[i, others] = row
        cost[others, i] = row
        best[i] = cost[i].min()
        arg[i] = int(cost[i].argmin())
        stale = others[(arg[others] == i) | (arg[others] == j)]
        for r in stale:
            best[r] = cost[r].min()
            arg[r] = int(cost[r].argmin())
        better = others[cost[others, i] < best[others]]
        best[better] = cost[better, i]
        arg[better] = i
    return merges


def hc_merges(X: np.ndarray, model: str = "VVV", alpha: float = 1.0) -> np.ndarray:
    """Merge sequence of model-based agglomerative clustering of the rows of ``X``.

    Parameters
    ----------
    X : ndarray of shape (M, D)
        Data (standardized here, column-wise).
    model : {"VVV", "EII"}
        The Gaussian model whose classification likelihood drives the merges.
    alpha : float, default 1.0
        Size of the ``VVV`` regularizer, in units of the mean column variance.

    Returns
    -------
    ndarray of shape (M - 1, 2)
        Merge ``s`` joins tree nodes ``merges[s]``; nodes ``0..M-1`` are the rows,
        node ``M + s`` the cluster made by merge ``s`` (scipy's convention).
    """
    if model not in HC_MODELS:
        raise ValueError(f"hc model must be one of {HC_MODELS}, got {model!r}")
    X = _standardize(np.asarray(X, dtype=float))
    if X.shape[0] < 2:
        return np.empty((0, 2), dtype=np.int64)
    if model == "EII":
        from scipy.cluster.hierarchy import ward

        return ward(X)[:, :2].astype(np.int64)
    return _hc_vvv(X, alpha)


def cut_tree(merges: np.ndarray, n_samples: int, n_clusters: int) -> np.ndarray:
    """Labels ``0..n_clusters-1`` of the partition after ``n_samples - n_clusters`` merges."""
    if not 1 <= n_clusters <= n_samples:
        raise ValueError(f"cannot cut {n_samples} points into {n_clusters} clusters")
    parent = np.arange(2 * n_samples - 1)
    for step in range(n_samples - n_clusters):
        a, b = merges[step]
        parent[a] = parent[b] = n_samples + step
    # parents always have larger ids than their children: resolve top-down
    root = parent.copy()
    for node in range(2 * n_samples - 2, -1, -1):
        root[node] = root[parent[node]]
    _, labels = np.unique(root[:n_samples], return_inverse=True)
    return labels


def hc_partitions(X: np.ndarray, n_components: list[int], *, model: str = "VVV",
                  sample_size: int | None = 2000, random_state=None,
                  alpha: float = 1.0) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Partitions of (a subsample of) ``X`` into each requested number of clusters.

    Returns
    -------
    rows : ndarray of int
        Row indices of ``X`` the tree was grown on (all rows, or a subsample).
    partitions : dict
        ``K -> labels`` (array over ``rows``) for each ``K`` in ``n_components``.
    """
    n = X.shape[0]
    rng = np.random.default_rng(random_state)
    if sample_size is not None and n > sample_size:
        rows = np.sort(rng.choice(n, size=sample_size, replace=False))
    else:
        rows = np.arange(n)
    merges = hc_merges(X[rows], model=model, alpha=alpha)
    return rows, {k: cut_tree(merges, rows.size, k) for k in n_components if k <= rows.size}


def kmeans_partition(X: np.ndarray, n_clusters: int, random_state=None) -> np.ndarray:
    """Labels from scikit-learn's k-means (one k-means++ start), as an EM start."""
    from sklearn.cluster import KMeans

    seed = np.random.default_rng(random_state).integers(2**31 - 1) if not isinstance(
        random_state, (int, np.integer)) else int(random_state)
    return KMeans(n_clusters=n_clusters, n_init=1, random_state=seed).fit(X).labels_
