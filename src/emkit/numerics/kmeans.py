"""scikit-learn's ``KMeans(n_init=1)`` on dense float64 rows, without scikit-learn.

One job: the labels and centres that ``KMeans(n_clusters, n_init=1,
random_state=rs).fit(X, sample_weight=w)`` gives on one thread, drawing the
same numbers from ``rs``, at a fraction of the cost on small data (measured at
1,000 x 2, K = 3: ~0.5 ms through scikit-learn's private functions, most of it
their validation and namespace checks and a BLAS call per 256 rows).

The steps are scikit-learn 1.9's, in its order:

* the tolerance ``mean(var(X, axis=0)) * 1e-4`` on the data as given, then the
  data centred on their mean;
* k-means++ (:func:`kmeans_plusplus`): the first centre by
  ``rs.choice(n, p=w / w.sum())``, then for each further centre
  ``2 + int(log(k))`` candidates at ``searchsorted(cumsum(w * D), rs.uniform(size)
  * potential)``, the one whose new potential is least kept. These are the same
  NumPy calls on the same arrays as scikit-learn's ``_kmeans_plusplus``, so the
  seeds are the same bit for bit;
* Lloyd's iterations (:func:`_lloyd`, compiled): each row to the centre of least
  ``|c|^2 - 2 x.c`` (first on ties), the centres as the weighted sums of their
  rows (in row order) times ``1 / weight``; stop when no label changed, or when
  the squared centre shifts sum to at most the tolerance (then a last
  relabelling), at most 300 iterations.

scikit-learn computes ``x.c`` by a BLAS product; here it is a loop, so the two
can differ in the last bit of a distance, and a row exactly between two centres
(to ~1e-16) could be labelled differently (the tests compare labels and centres
with scikit-learn on many seeds and shapes). When a cluster empties, scikit-learn
moves a far row into it; :func:`lloyd` then returns None and the caller runs
scikit-learn's own iterations from the same seeds (which draw nothing at random).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["kmeans_plusplus", "lloyd", "kmeans_tolerance", "MAX_ITER"]

#: scikit-learn's ``KMeans`` default ``max_iter``.
MAX_ITER = 300


def kmeans_tolerance(X: np.ndarray, tol: float = 1e-4) -> float:
    """scikit-learn's ``_tolerance``: the mean column variance of ``X`` times ``tol``."""
    if tol == 0:
        return 0.0
    return float(np.mean(np.var(X, axis=0)) * tol)


def _sq_distances(centres: np.ndarray, X: np.ndarray, x_norms: np.ndarray) -> np.ndarray:
    """scikit-learn's ``_euclidean_distances(centres, X, Y_norm_squared=x_norms,
    squared=True)`` for float64: the same operations in the same order."""
    out = -2 * (centres @ X.T)
    out += np.einsum("ij,ij->i", centres, centres)[:, None]
    out += x_norms[None, :]
    np.maximum(out, 0.0, out=out)
    return out


def kmeans_plusplus(X: np.ndarray, n_clusters: int, x_norms: np.ndarray,
                    sample_weight: np.ndarray, random_state: np.random.RandomState
                    ) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``_kmeans_plusplus`` on dense float64 ``X`` (same draws, same seeds).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_clusters : int
    x_norms : ndarray of shape (n_samples,)
        ``einsum("ij,ij->i", X, X)`` (scikit-learn's ``row_norms(X, squared=True)``).
    sample_weight : ndarray of shape (n_samples,)
    random_state : numpy.random.RandomState

    Returns
    -------
    centres : ndarray of shape (n_clusters, n_features)
    indices : ndarray of shape (n_clusters,)
        The rows picked: ``X[indices] == centres``.
    """
    n, d = X.shape
    centres = np.empty((n_clusters, d), dtype=X.dtype)
    n_local_trials = 2 + int(np.log(n_clusters))
    centre_id = random_state.choice(n, p=sample_weight / sample_weight.sum())
    indices = np.full(n_clusters, -1, dtype=int)
    centres[0] = X[centre_id]
    indices[0] = centre_id
    closest = _sq_distances(centres[0, np.newaxis], X, x_norms)
    potential = closest @ sample_weight
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * potential
        candidates = np.searchsorted(np.cumsum(sample_weight * closest), rand_vals)
        np.clip(candidates, None, closest.size - 1, out=candidates)
        dist = _sq_distances(X[candidates], X, x_norms)
        np.minimum(closest, dist, out=dist)
        pots = dist @ sample_weight.reshape(-1, 1)
        best = np.argmin(pots)
        potential = pots[best]
        closest = dist[best]
        best = candidates[best]
        centres[c] = X[best]
        indices[c] = best
    return centres, indices


@njit(nogil=True, cache=True)
def _assign(X, w, centres, labels, new_centres, weight, update):
    n, d = X.shape
    k = centres.shape[0]
    norms = np.empty(k)
    for j in range(k):
        s = 0.0
        for f in range(d):
            s += centres[j, f] * centres[j, f]
        norms[j] = s
    if update:
        new_centres[:] = 0.0
        weight[:] = 0.0
    for i in range(n):
        best = 0
        low = 0.0
        for j in range(k):
            dot = 0.0
            for f in range(d):
                dot += X[i, f] * centres[j, f]
            dist = norms[j] + -2.0 * dot
            if j == 0 or dist < low:
                low = dist
                best = j
        labels[i] = best
        if update:
            weight[best] += w[i]
            for f in range(d):
                new_centres[best, f] += X[i, f] * w[i]

@njit(nogil=True, cache=True)
def _lloyd(X, w, seeds, tol, max_iter, labels):
    """Lloyd's iterations; returns (centres, status): status 1 when a cluster
    emptied (the caller hands over to scikit-learn)."""
    n, d = X.shape
    k = seeds.shape[0]
    centres = seeds.copy()
    new = np.empty_like(seeds)
    weight = np.empty(k)
    old_labels = np.full(n, -1, dtype=np.int32)
    strict = False
    for _ in range(max_iter):
        _assign(X, w, centres, labels, new, weight, True)
        for j in range(k):
            if not weight[j] > 0.0:
                return centres, 1
        shift_total = 0.0
        for j in range(k):
            alpha = 1.0 / weight[j]
            for f in range(d):
                new[j, f] *= alpha
            s = 0.0
            for f in range(d):
                s += (new[j, f] - centres[j, f]) * (new[j, f] - centres[j, f])
            shift = math.sqrt(s)
            shift_total += shift**2
        centres, new = new, centres
        same = True
        for i in range(n):
            if labels[i] != old_labels[i]:
                same = False
                break
        if same:
            strict = True
            break
        if shift_total <= tol:
            break
        old_labels[:] = labels
    if not strict:
        _assign(X, w, centres, labels, new, weight, False)
    return centres, 0




def lloyd(X: np.ndarray, sample_weight: np.ndarray, seeds: np.ndarray, tol: float,
          max_iter: int = MAX_ITER) -> tuple[np.ndarray, np.ndarray] | None:
    """scikit-learn's ``_kmeans_single_lloyd`` on one thread, or None (a cluster emptied).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        C-contiguous float64 rows (scikit-learn runs on the centred data).
    sample_weight : ndarray of shape (n_samples,)
    seeds : ndarray of shape (n_clusters, n_features)
        The starting centres (:func:`kmeans_plusplus`).
    tol : float
        On the sum of the squared centre shifts (:func:`kmeans_tolerance`).
    max_iter : int

    Returns
    -------
    (labels, centres) or None
        ``labels`` of shape (n_samples,) int32, ``centres`` of shape
        (n_clusters, n_features); None where a cluster lost all its rows, which
        scikit-learn repairs by a relocation this function does not reproduce.
    """
    labels = np.empty(len(X), dtype=np.int32)
    centres, status = _lloyd(np.ascontiguousarray(X, dtype=np.float64),
                                 np.ascontiguousarray(sample_weight, dtype=np.float64),
                                 np.ascontiguousarray(seeds, dtype=np.float64), float(tol),
                                 int(max_iter), labels)
    if status != 0:
        return None
    return labels, centres
