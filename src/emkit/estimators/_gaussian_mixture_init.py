"""Initial parameters for :class:`emkit.GaussianMixture`, drawn as scikit-learn does.

The same ``random_state`` calls in the same order as scikit-learn 1.9, so that the
same seed gives the same initialization (except for ``init_params="kmeans"`` on
more than ``max_rows`` rows, where k-means runs on a random subsample and every
row is then labelled by its nearest centre). Initial responsibilities become
parameters through the model's own statistics and M-step (``reg_covar``
included), exactly like scikit-learn's ``_initialize``.

With missing values (NaN) the initialization sees the data with each NaN
replaced by its column's (weighted) mean; EM then handles the NaN properly.

With known labels or soft evidence (``evidence``, see
:mod:`emkit.estimators._supervision`) the start uses them: the unsupervised
start's clusters are renamed to agree with the evidence, each row's
responsibilities are multiplied by its evidence (labelled rows become one-hot)
and the start is the M-step from those responsibilities. Labels for every row
thus start at the supervised maximum-likelihood estimate.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular

from ..models.mixture.gaussian import GaussianMixtureModel
from ..numerics.kmeans import MAX_ITER, kmeans_plusplus, kmeans_tolerance, lloyd
from ._supervision import align_clusters, supervised_responsibilities

__all__ = ["initial_params", "precisions_to_covariances", "check_user_init"]


def _inverse_spd(precision: np.ndarray) -> np.ndarray:
    """``P^-1`` of a symmetric positive definite ``P`` through its Cholesky factor.

    With ``P = L L^T``, ``P^-1 = L^-T L^-1``: one triangular solve, and the result
    is symmetric by construction.
    """
    lower = np.linalg.cholesky(precision)
    inv_lower = solve_triangular(lower, np.eye(len(precision)), lower=True)
    return inv_lower.T @ inv_lower


def precisions_to_covariances(precisions: np.ndarray, covariance_type: str) -> np.ndarray:
    """Covariances from user precisions (shapes as ``precisions_``)."""
    if covariance_type == "full":
        return np.stack([_inverse_spd(p) for p in precisions])
    if covariance_type == "tied":
        return _inverse_spd(precisions)
    return 1.0 / precisions


def _as_array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, "
                         f"but got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The parameter '{name}' has non-finite values")
    return arr


def check_user_init(est: Any, n_features: int) -> tuple[Any, Any, Any]:
    """Validated ``weights_init``, ``means_init`` and ``precisions_init`` (None if unset).

    Raises
    ------
    ValueError
        For a wrong shape, weights off the simplex, or precisions that are not
        symmetric positive definite.
    """
    k, ct = est.n_components, est.covariance_type
    weights = means = precisions = None
    if est.weights_init is not None:
        given = np.asarray(est.weights_init)
        weights = _as_array(given, "weights", (k,))
        if np.any(weights < 0.0) or np.any(weights > 1.0):
            raise ValueError("The parameter 'weights' should be in the range [0, 1], but "
                             f"got max value {weights.max():.5f}, min value {weights.min():.5f}")
        # float32 weights sum to 1 only to float32 rounding (scikit-learn's tolerances)
        atol = 1e-6 if given.dtype == np.float32 else 1e-8
        if not abs(1.0 - weights.sum()) <= atol:
            raise ValueError("The parameter 'weights' should be normalized, but got "
                             f"sum(weights) = {weights.sum():.5f}")
        weights = weights / weights.sum()
    if est.means_init is not None:
        means = _as_array(est.means_init, "means", (k, n_features))
    if est.precisions_init is not None:
        shape = {"full": (k, n_features, n_features), "tied": (n_features, n_features),
                 "diag": (k, n_features), "spherical": (k,)}[ct]
        precisions = _as_array(est.precisions_init, f"{ct} precision", shape)
        if ct in ("full", "tied"):
            for p in precisions if ct == "full" else precisions[None]:
                if not (np.allclose(p, p.T) and np.all(np.linalg.eigvalsh(p) > 0.0)):
                    raise ValueError(f"'{ct} precision' should be symmetric, positive-definite")
        elif np.any(precisions <= 0.0):
            raise ValueError(f"'{ct} precision' should be positive")
    return weights, means, precisions


def _fill_nan(X: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    mask = np.isnan(X)
    if not mask.any():
        return X
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    observed = (~mask) * w[:, None]
    col_means = np.where(mask, 0.0, X).T @ w / np.maximum(observed.sum(axis=0), 1e-300)
    return np.where(mask, col_means, X)


def _nearest_centre(X: np.ndarray, centres: np.ndarray, chunk: int) -> np.ndarray:
    labels = np.empty(len(X), dtype=np.int64)
    c2 = np.einsum("kd,kd->k", centres, centres)
    for start in range(0, len(X), chunk):
        block = X[start:start + chunk]
        labels[start:start + len(block)] = (c2 - 2.0 * block @ centres.T).argmin(axis=1)
    return labels


#: Largest ``n_samples * n_features`` whose k-means runs on one thread.
KMEANS_ONE_THREAD_VALUES = 2**16


def _lloyd_like_kmeans(X: np.ndarray, k: int, sample_weight: np.ndarray | None,
                       random_state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Labels and centres of ``KMeans(k, n_init=1, random_state=random_state).fit(X)``.

    The same steps on the same arrays as scikit-learn's ``KMeans.fit`` (dense
    ``X``, Lloyd, one start): the tolerance from the data's variances, the data
    centred on their mean, k-means++ seeding, Lloyd's iterations, so the labels,
    the centres and the draws taken from ``random_state`` are those of ``KMeans``
    (:mod:`emkit.numerics.kmeans`, tested against ``KMeans`` on many seeds). Up
    to :data:`KMEANS_ONE_THREAD_VALUES` values the iterations are emkit's own
    compiled loop, as ``KMeans`` does them under
    ``threadpoolctl.threadpool_limits(1)``, and scikit-learn is not imported:
    ~0.5 -> ~0.1 ms at 1,000 x 2, K = 3 (scikit-learn's validation, namespace
    checks and a BLAS call per 256 rows were most of it). Larger data, and a
    cluster that empties (scikit-learn relocates a far row into it), run
    scikit-learn's own iterations from the same seeds, with its OpenMP threads
    for large data (which add the threads' partial sums in the order they
    finish, so their centres are not reproducible to the last bit anyway).
    """
    if len(X) < k:  # KMeans's own error
        raise ValueError(f"n_samples={len(X)} should be >= n_clusters={k}.")
    X = np.array(X, dtype=np.float64, order="C", copy=True)
    tol = kmeans_tolerance(X, 1e-4)
    if sample_weight is None:
        weights = np.ones(len(X))
    else:
        weights = np.ascontiguousarray(sample_weight, dtype=np.float64)
    x_mean = X.mean(axis=0)
    X -= x_mean
    seeds, _ = kmeans_plusplus(X, k, np.einsum("ij,ij->i", X, X), weights, random_state)
    done = lloyd(X, weights, seeds, tol) if X.size <= KMEANS_ONE_THREAD_VALUES else None
    if done is None:
        labels, centres = _sklearn_lloyd(X, weights, seeds, tol)
    else:
        labels, centres = done
    distinct = len(np.unique(labels))
    if distinct < k:
        from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

        warnings.warn(f"Number of distinct clusters ({distinct}) found smaller than "
                      f"n_clusters ({k}). Possibly due to duplicate points in X.",
                      SkConvergenceWarning, stacklevel=4)
    return labels, centres + x_mean


def _sklearn_lloyd(X: np.ndarray, weights: np.ndarray, seeds: np.ndarray,
                   tol: float) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's own Lloyd iterations from ``seeds`` (centred ``X``), on one
    thread up to :data:`KMEANS_ONE_THREAD_VALUES` values."""
    from sklearn.cluster._kmeans import _kmeans_single_lloyd
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    threads = 1 if X.size <= KMEANS_ONE_THREAD_VALUES else _openmp_effective_n_threads()
    labels, _, centres, _ = _kmeans_single_lloyd(X, weights, seeds, max_iter=MAX_ITER,
                                                 tol=tol, n_threads=threads)
    return labels, centres


def _kmeans_labels(X: np.ndarray, k: int, sample_weight: np.ndarray | None,
                   random_state: np.random.RandomState, max_rows: int) -> np.ndarray:
    if len(X) <= max_rows:
        return _lloyd_like_kmeans(X, k, sample_weight, random_state)[0]
    rows = np.sort(random_state.choice(len(X), size=max_rows, replace=False))
    sub_w = None if sample_weight is None else sample_weight[rows]
    _, centres = _lloyd_like_kmeans(X[rows], k, sub_w, random_state)
    return _nearest_centre(X, centres.astype(X.dtype), 8192)


def _tied_like_sklearn(X: np.ndarray, sample_weight: np.ndarray | None, rows: np.ndarray,
                       means: np.ndarray, reg_covar: float) -> np.ndarray:
    """The tied covariance scikit-learn starts from after picking single rows.

    Its tied estimator takes ``X^T X`` over *all* rows, assuming every row's
    responsibilities sum to one; with one-hot rows for k-means++ and
    random_from_data that yields a broad covariance, ``(X^T X - sum_k n_k mu_k
    mu_k^T) / sum_k n_k + reg_covar I``. Reproduced so that the same seed gives
    the same start (and it is a better start than ``reg_covar * I``).
    """
    if sample_weight is None:
        n_k = np.full(len(rows), 1.0 + 10 * np.finfo(float).eps)
        second = X.T @ X
    else:
        n_k = sample_weight[rows] + 10 * np.finfo(float).eps
        second = (X * sample_weight[:, None]).T @ X
    cov = (second - (n_k[:, None] * means).T @ means) / n_k.sum()
    cov.flat[:: X.shape[1] + 1] += reg_covar
    return cov


def _one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(labels), k))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def initial_params(est: Any, X: np.ndarray, sample_weight: np.ndarray | None,
                   random_state: np.random.RandomState, max_rows: int,
                   evidence: np.ndarray | None = None) -> dict:
    """Initial ``weights``, ``means`` and ``covariances`` for one EM start.

    Parameters
    ----------
    est : GaussianMixture
        Supplies ``n_components``, ``covariance_type``, ``reg_covar``,
        ``init_params`` and the user initial values.
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    random_state : numpy.random.RandomState
        Shared across starts, as in scikit-learn.
    max_rows : int
        Largest number of rows k-means is run on.
    evidence : ndarray of shape (n_samples, n_components) or None
        Per-row log-evidence (known labels, priors) the start should agree with.
    """
    n, d = X.shape
    k = est.n_components
    w_init, m_init, p_init = check_user_init(est, d)
    params: dict = {}
    if w_init is None or m_init is None or p_init is None:
        model = GaussianMixtureModel(est.covariance_type, est.reg_covar,
                                     getattr(est, "chunk_size", None), np.float64)
        Xf = _fill_nan(np.asarray(X, dtype=np.float64), sample_weight)
        sw = sample_weight
        if est.init_params == "kmeans":
            resp: np.ndarray = _kmeans_labels(Xf, k, sample_weight, random_state, max_rows)
        elif est.init_params == "random":
            resp = random_state.uniform(size=(n, k))
            resp /= resp.sum(axis=1)[:, None]
        else:
            if est.init_params == "random_from_data":
                if sample_weight is None:
                    rows = random_state.choice(n, size=k, replace=False)
                else:
                    rows = random_state.choice(n, size=k, replace=False,
                                               p=sample_weight / sample_weight.sum())
            else:  # k-means++
                if n < k:  # scikit-learn's kmeans_plusplus error
                    raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
                pp_weights = np.ones(n) if sample_weight is None else np.asarray(
                    sample_weight, dtype=np.float64)
                _, rows = kmeans_plusplus(Xf, k, np.einsum("ij,ij->i", Xf, Xf), pp_weights,
                                          random_state)
            if evidence is None:
                params = model.m_step(model.stats_from_resp(
                    Xf[rows], np.arange(k), k, None if sw is None else sw[rows]))
                if est.covariance_type == "tied":
                    params["covariances"] = _tied_like_sklearn(Xf, sw, rows, params["means"],
                                                               est.reg_covar)
            else:  # every row to its nearest picked row, then as k-means
                resp = _nearest_centre(Xf, Xf[rows], 8192)
        if evidence is not None and not params:
            if resp.ndim == 1:
                resp = _one_hot(align_clusters(resp, evidence, k), k)
            resp = supervised_responsibilities(resp, evidence)
        if not params:
            params = model.m_step(model.stats_from_resp(Xf, resp, k, sw))
    return {
        "weights": w_init if w_init is not None else params["weights"],
        "means": m_init if m_init is not None else params["means"],
        "covariances": (precisions_to_covariances(p_init, est.covariance_type)
                        if p_init is not None else params["covariances"]),
    }
