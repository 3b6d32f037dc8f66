"""The prior and the initial parameters of :class:`emkit.BayesianGaussianMixture`.

One job: what scikit-learn's ``BayesianGaussianMixture`` computes before its first
E-step. :func:`resolve_prior` checks the prior arguments and fills the defaults
from the data (``_check_parameters``, with scikit-learn's messages);
:func:`initial_stats` draws the initial responsibilities with the same
``random_state`` calls in the same order as scikit-learn 1.9
(``_initialize_parameters``) and turns them into the model's additive
statistics, which one M-step makes the initial parameters (``_initialize``).
:func:`freeze_masks` reads and checks ``freeze``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn import cluster
from sklearn.cluster import kmeans_plusplus

from ..models.mixture.bayesian_gaussian import VariationalPrior, resp_entropy
from ..models.mixture.gaussian import GaussianMixtureModel
from ._supervision import check_freeze, freeze_mask

__all__ = ["data_moments", "resolve_prior", "initial_stats", "stats_from_resp", "freeze_masks"]

_FREEZE_ALIASES = {"precisions_": "covariances_", "precisions_cholesky_": "covariances_"}


def _vector(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, "
                         f"but got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The parameter '{name}' has non-finite values")
    return arr


def data_moments(X: np.ndarray, covariance_type: str) -> tuple[np.ndarray, np.ndarray]:
    """What the default prior takes from ``X``: the column means (D,) and the
    covariance (D, D) for "full"/"tied", else the column variances (D,) (ddof=1)."""
    if covariance_type in ("full", "tied"):
        return X.mean(axis=0), np.atleast_2d(np.cov(X.T))
    return X.mean(axis=0), np.var(X, axis=0, ddof=1)


def resolve_prior(est: Any, X: np.ndarray,
                  moments: tuple[np.ndarray, np.ndarray] | None = None) -> VariationalPrior:
    """The prior's hyperparameters for ``X``, defaults as in scikit-learn.

    Parameters
    ----------
    est : BayesianGaussianMixture
    X : ndarray of shape (n_samples, n_features)
        Only its shape is read when ``moments`` is given.
    moments : tuple of ndarray, optional
        :func:`data_moments` of the data, computed elsewhere (e.g. on Dask).

    Raises
    ------
    ValueError
        For ``degrees_of_freedom_prior <= n_features - 1``, a ``mean_prior`` or
        ``covariance_prior`` of the wrong shape, or a ``covariance_prior`` that is
        not positive (definite).
    """
    d = X.shape[1]
    kind = est.covariance_type
    data_mean, data_cov = data_moments(X, kind) if moments is None else moments
    weight = (1.0 / est.n_components if est.weight_concentration_prior is None
              else float(est.weight_concentration_prior))
    mean_precision = 1.0 if est.mean_precision_prior is None else float(est.mean_precision_prior)
    mean = data_mean if est.mean_prior is None else _vector(est.mean_prior, (d,), "means")
    if est.degrees_of_freedom_prior is None:
        dof = float(d)
    elif est.degrees_of_freedom_prior > d - 1.0:
        dof = float(est.degrees_of_freedom_prior)
    else:
        raise ValueError("The parameter 'degrees_of_freedom_prior' should be greater than "
                         f"{d - 1}, but got {est.degrees_of_freedom_prior:.3f}.")
    if est.covariance_prior is None:
        cov = data_cov if kind in ("full", "tied", "diag") else np.asarray(data_cov.mean())
    elif kind in ("full", "tied"):
        cov = _vector(est.covariance_prior, (d, d), f"{kind} covariance_prior")
        if not (np.allclose(cov, cov.T) and np.all(np.linalg.eigvalsh(cov) > 0.0)):
            raise ValueError(f"'{kind} covariance_prior' should be symmetric, positive-definite")
    elif kind == "diag":
        cov = _vector(est.covariance_prior, (d,), "diag covariance_prior")
        if np.any(cov <= 0.0):
            raise ValueError("'diag covariance_prior' should be positive")
    else:
        cov = np.asarray(float(est.covariance_prior))
    return VariationalPrior(weight, mean_precision, np.asarray(mean, dtype=np.float64), dof,
                            np.asarray(cov, dtype=np.float64))


def stats_from_resp(covariance_type: str, X: np.ndarray, resp: np.ndarray,
                    n_components: int) -> dict:
    """The model's statistics of given responsibilities, ``entropy`` included.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    X : ndarray of shape (n_samples, n_features)
    resp : ndarray of shape (n_samples, n_components), or labels of shape (n_samples,)
    n_components : int
    """
    gaussian = GaussianMixtureModel(covariance_type, 0.0)
    stats = gaussian.stats_from_resp(X, resp, n_components)
    stats["entropy"] = np.asarray(0.0 if resp.ndim == 1 else resp_entropy(resp))
    return stats


def _one_row_each(est: Any, X: np.ndarray, rows: np.ndarray) -> dict:
    """Statistics of one row per component (k-means++, random_from_data).

    scikit-learn's tied estimate takes ``X^T X`` over all rows whatever the
    responsibilities (it assumes each row's sum to one), so with one row per
    component it starts from a broad covariance; the tied statistics get the
    other rows' second moments added to reproduce that start.
    """
    k = est.n_components
    stats = stats_from_resp(est.covariance_type, X[rows], np.arange(k), k)
    if est.covariance_type == "tied":
        picked = X[rows]
        stats["centred_outer"] = stats["centred_outer"].copy()
        stats["centred_outer"][0] += X.T @ X - picked.T @ picked
    return stats


def initial_stats(est: Any, X: np.ndarray, random_state: np.random.RandomState) -> dict:
    """Statistics of the initial responsibilities of one start (``init_params``).

    Parameters
    ----------
    est : BayesianGaussianMixture
    X : ndarray of shape (n_samples, n_features)
    random_state : numpy.random.RandomState
        Shared across starts, as in scikit-learn.
    """
    n = len(X)
    k = est.n_components
    if est.init_params == "kmeans":
        labels = cluster.KMeans(n_clusters=k, n_init=1, random_state=random_state).fit(X).labels_
        return stats_from_resp(est.covariance_type, X, labels, k)
    if est.init_params == "random":
        resp = random_state.uniform(size=(n, k))
        resp /= resp.sum(axis=1)[:, None]
        return stats_from_resp(est.covariance_type, X, resp, k)
    if est.init_params == "random_from_data":
        rows = random_state.choice(n, size=k, replace=False)
    else:  # k-means++
        _, rows = kmeans_plusplus(X, k, random_state=random_state)
    return _one_row_each(est, X, np.asarray(rows))


def freeze_masks(est: Any, n_features: int) -> dict[str, np.ndarray]:
    """``est.freeze`` as the model's masks: ``weights`` (K,), ``means`` (K, D),
    ``covariances`` (K,), True = frozen; only the ones with a frozen entry.

    ``weights_`` takes True or a (K,) mask; ``means_`` True, a (K,) mask (whole
    components) or a (K, D) mask (entries); ``covariances_`` (or ``precisions_``)
    True or a (K,) mask (whole Wishart factors).

    Raises
    ------
    ValueError
        For an unknown key, a mask of the wrong shape or dtype, a freeze with
        ``covariance_type="tied"``, or one that leaves nothing to fit.
    """
    if est.freeze is None:
        return {}
    k, d = int(est.n_components), int(n_features)
    given: Any = est.freeze
    cov = None
    if isinstance(given, Mapping):
        given = dict(given)
        for alias, target in _FREEZE_ALIASES.items():
            if alias in given:
                if target in given:
                    raise ValueError(f"freeze names both {alias!r} and {target!r}; give one")
                given[target] = given.pop(alias)
        cov = given.pop("covariances_", None)
        means = given.get("means_")
        if means is not None and np.ndim(means) == 1:
            given["means_"] = np.repeat(freeze_mask(means, (k,), "freeze['means_']",
                                                    "one entry per component, or (K, D)")
                                        [:, None], d, axis=1)
    masks = check_freeze(given, {"weights_": (k,), "means_": (k, d)})
    if cov is not None:
        cov_mask = freeze_mask(cov, (k,), "freeze['covariances_']",
                               "one entry per component: whole Wishart factors")
        if cov_mask.any():
            masks["covariances_"] = cov_mask
    if masks and est.covariance_type == "tied":
        raise ValueError("freeze is not supported for covariance_type='tied' (scikit-learn's "
                         "tied variational updates are not the coordinate ascent of a bound); "
                         "use 'full', 'diag' or 'spherical'")
    if (masks and all(name in masks and masks[name].all()
                      for name in ("weights_", "means_", "covariances_"))):
        raise ValueError("freeze leaves nothing to fit: every parameter (weights_, means_, "
                         "covariances_) is frozen; free some of them")
    return {name.rstrip("_"): mask for name, mask in masks.items()}
