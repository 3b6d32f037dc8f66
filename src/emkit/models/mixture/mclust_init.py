"""Starting partitions for mclust-style mixtures: model-based agglomeration and k-means.

Model-based hierarchical agglomeration (Banfield & Raftery 1993; Fraley 1998)
starts from singletons and repeatedly merges the pair of clusters that lowers the
*classification* likelihood of a Gaussian model least. ``"VVV"`` (the default)
is mclust's own ``hc(x, modelName = "VVV", use = "SVD")``, merge for merge (see
:mod:`emkit.models.mixture.mclust_hc`: the data transform, the criterion and
the tie rule), so that its cuts are mclust's ``hclass`` partitions. ``"EII"``
(spherical, equal volume) is Ward's method (:func:`scipy.cluster.hierarchy.ward`)
on the same transformed data, which is mclust's ``hcEII`` up to ties.

Like mclust, a tree on no more rows than columns is grown with ``"EII"``
whatever is asked, and when there are more rows than ``sample_size`` the tree is
grown on a random subsample whose partition starts EM through one M-step on
that subsample (mclust's ``subset``, 2000 rows by default).
"""

from __future__ import annotations

import numpy as np

from .mclust_hc import hc_vvv_pairs, hclass, svd_transform

__all__ = ["hc_merges", "cut_tree", "hc_partitions", "kmeans_partition", "HC_MODELS"]

HC_MODELS = ("VVV", "EII")


def _transformed(X: np.ndarray) -> np.ndarray:
    """mclust's ``hcUse = "SVD"`` data; one zero column when nothing varies."""
    Z = svd_transform(X)
    return Z if Z.shape[1] else np.zeros((X.shape[0], 1))


def _as_linkage(pairs: np.ndarray, n_samples: int) -> np.ndarray:
    """mclust-style merges (labels ``a < b``, ``b`` joins ``a``) as scipy node pairs."""
    node = np.arange(n_samples)
    merges = np.empty_like(pairs)
    for step, (a, b) in enumerate(pairs):
        merges[step] = node[a], node[b]
        node[a] = n_samples + step
    return merges


def hc_merges(X: np.ndarray, model: str = "VVV") -> np.ndarray:
    """Merge sequence of model-based agglomerative clustering of the rows of ``X``.

    Parameters
    ----------
    X : ndarray of shape (M, D)
        Data (transformed here as mclust's ``hcUse = "SVD"`` does).
    model : {"VVV", "EII"}
        The Gaussian model whose classification likelihood drives the merges.

    Returns
    -------
    ndarray of shape (M - 1, 2)
        Merge ``s`` joins tree nodes ``merges[s]``; nodes ``0..M-1`` are the rows,
        node ``M + s`` the cluster made by merge ``s`` (scipy's convention).
    """
    if model not in HC_MODELS:
        raise ValueError(f"hc model must be one of {HC_MODELS}, got {model!r}")
    X = np.asarray(X, dtype=float)
    if X.shape[0] < 2:
        return np.empty((0, 2), dtype=np.int64)
    Z = _transformed(X)
    if model == "EII" or X.shape[0] <= X.shape[1]:
        from scipy.cluster.hierarchy import ward

        return ward(Z)[:, :2].astype(np.int64)
    return _as_linkage(hc_vvv_pairs(Z), X.shape[0])


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
                  sample_size: int | None = 2000,
                  random_state=None) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Partitions of (a subsample of) ``X`` into each requested number of clusters.

    One tree, cut at every ``K``. With ``model="VVV"`` on all rows, the labels
    are mclust's ``hclass(hc(X), K)`` minus one.

    Returns
    -------
    rows : ndarray of int
        Row indices of ``X`` the tree was grown on (all rows, or a subsample).
    partitions : dict
        ``K -> labels`` (array over ``rows``) for each ``K`` in ``n_components``.
    """
    if model not in HC_MODELS:
        raise ValueError(f"hc model must be one of {HC_MODELS}, got {model!r}")
    n = X.shape[0]
    rng = np.random.default_rng(random_state)
    if sample_size is not None and n > sample_size:
        rows = np.sort(rng.choice(n, size=sample_size, replace=False))
    else:
        rows = np.arange(n)
    ks = [k for k in n_components if k <= rows.size]
    sub = np.asarray(X[rows], dtype=float)
    if model == "VVV" and rows.size > X.shape[1] and rows.size >= 2:
        return rows, hclass(hc_vvv_pairs(_transformed(sub)), rows.size, ks)
    merges = hc_merges(sub, model="EII")
    return rows, {k: cut_tree(merges, rows.size, k) for k in ks}


def kmeans_partition(X: np.ndarray, n_clusters: int, random_state=None) -> np.ndarray:
    """Labels from scikit-learn's k-means (one k-means++ start), as an EM start."""
    from sklearn.cluster import KMeans

    seed = np.random.default_rng(random_state).integers(2**31 - 1) if not isinstance(
        random_state, (int, np.integer)) else int(random_state)
    return KMeans(n_clusters=n_clusters, n_init=1, random_state=seed).fit(X).labels_
