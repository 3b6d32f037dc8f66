"""One bootstrap replicate of a fitted Gaussian mixture, and label matching.

What :func:`emkit.estimators.bootstrap.bootstrap` needs from an estimator:

* :func:`fitted_params` reads its weights, means and covariances;
* :func:`refit` fits it again to resampled rows or to reweighted rows, starting
  from the original parameters (a warm start: the first E-step gives the
  original posterior of the rows, which is where mclust's ``MclustBootstrap``
  starts each replicate);
* :func:`match_components` finds the permutation of a replicate's components
  closest to the original ones (Hungarian matching on the Bhattacharyya
  distance between the Gaussian components), so label switching does not
  inflate the standard errors.

:class:`~emkit.estimators.gaussian_mixture.GaussianMixture` and any estimator
like it (``warm_start``, fitted ``weights_``, ``means_``, ``covariances_``) is
refitted through its own ``fit`` (with ``sample_weight`` for weighted
replicates); :class:`~emkit.estimators.mclust_mixture.MclustMixture` through
its EM model, with the row weights folded into the responsibilities.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..engine import em
from ..exceptions import ConvergenceWarning
from ..models.mixture.mclust import MclustModel, log_joint, mixture_stats
from ..numerics.logsumexp import log_normalize

__all__ = ["fitted_params", "refit", "match_components", "full_covariances",
           "permute_params", "FIT_ERRORS", "WeightedMclustModel"]

#: Exceptions that mean "this replicate could not be fitted" (not a bug).
FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError)


def _is_mclust(est: Any) -> bool:
    from .mclust_mixture import MclustMixture

    return isinstance(est, MclustMixture)


def covariance_type(est: Any) -> str:
    """``"full"`` for mclust models (stored as full matrices), else ``est.covariance_type``."""
    return "full" if _is_mclust(est) else str(getattr(est, "covariance_type", "full"))


def fitted_params(est: Any) -> dict[str, np.ndarray]:
    """The fitted ``weights`` (K,), ``means`` (K, D) and ``covariances`` of ``est``.

    Raises
    ------
    ValueError
        When ``est`` is not a fitted Gaussian mixture (no ``weights_``, ``means_``,
        ``covariances_``).
    """
    missing = [a for a in ("weights_", "means_", "covariances_") if not hasattr(est, a)]
    if missing:
        raise ValueError(f"est must be a fitted Gaussian mixture (GaussianMixture, "
                         f"MclustMixture, ...): {type(est).__name__} has no "
                         f"{', '.join(missing)}; fit it first")
    return {"weights": np.array(est.weights_, dtype=float),
            "means": np.array(est.means_, dtype=float),
            "covariances": np.array(est.covariances_, dtype=float)}


def check_refittable(est: Any, weighted: bool) -> None:
    """Refuse estimators that cannot be warm-started, or weighted when they take no weights.

    Raises
    ------
    ValueError
        Naming what is missing.
    """
    fitted_params(est)
    if _is_mclust(est):
        return
    if "warm_start" not in getattr(est, "get_params", dict)():
        raise ValueError(f"est: {type(est).__name__} has no warm_start parameter, so its "
                         "replicates cannot start from the original fit")
    if weighted and "sample_weight" not in inspect.signature(est.fit).parameters:
        raise ValueError(f"kind='weighted' needs fit(X, sample_weight=...), which "
                         f"{type(est).__name__}.fit does not take; use kind='nonparametric'")


class WeightedMclustModel:
    """:class:`MclustModel` on data ``(X, w)``: each row's posterior times its weight.

    The weighted log-likelihood ``sum_i w_i log f(x_i)`` is what EM climbs (mclust's
    ``me.weighted``); the M-step is the model's own.
    """

    def __init__(self, model: MclustModel):
        self.model = model
        for name in ("monotone_rtol",):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def e_step(self, data: tuple[np.ndarray, np.ndarray], params: dict) -> tuple[dict, float]:
        X, w = data
        norm, resp = log_normalize(log_joint(X, params))
        stats = mixture_stats(X, resp * w[:, None], params["means"])
        return stats, float(w @ norm)

    def m_step(self, stats: dict) -> dict:
        return self.model.m_step(stats)

    def is_feasible(self, params: dict) -> bool:
        return self.model.is_feasible(params)


def refit(est: Any, X: np.ndarray, weights: np.ndarray | None) -> dict[str, Any]:
    """Fit ``est`` again on ``X`` (rows weighted by ``weights``) from its fitted parameters.

    Returns
    -------
    dict
        ``weights``, ``means``, ``covariances`` (shapes as ``est``'s), ``loglik``
        (the weighted total), ``n_iter``, ``converged``.
    """
    start = fitted_params(est)
    if _is_mclust(est):
        model = MclustModel(est.model, reg_covar=float(est.reg_covar))
        total = float(X.shape[0] if weights is None else weights.sum())
        em_model: Any = model if weights is None else WeightedMclustModel(model)
        data: Any = X if weights is None else (X, weights)
        with warnings.catch_warnings():  # a replicate at max_iter is kept, as in mclust
            warnings.simplefilter("ignore", ConvergenceWarning)
            tol, rel_tol = est._engine_tol(total)
            result = em(em_model, data, start, tol=tol, rel_tol=rel_tol,
                        max_iter=int(est.max_iter))
        return {"weights": np.asarray(result.params["weights"], dtype=float),
                "means": np.asarray(result.params["means"], dtype=float),
                "covariances": np.asarray(result.params["covariances"], dtype=float),
                "loglik": float(result.loglik), "n_iter": int(result.n_iter),
                "converged": bool(result.converged)}
    rep = copy.deepcopy(est)
    params: dict[str, Any] = {"warm_start": True}
    if "verbose" in rep.get_params():
        params["verbose"] = 0
    rep.set_params(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if weights is None:
            rep.fit(X)
        else:
            rep.fit(X, sample_weight=weights)
    out: dict[str, Any] = fitted_params(rep)
    total = float(X.shape[0] if weights is None else weights.sum())
    out["loglik"] = float(getattr(rep, "lower_bound_", np.nan)) * total
    out["n_iter"] = int(getattr(rep, "n_iter_", -1))
    out["converged"] = bool(getattr(rep, "converged_", False))
    return out


def full_covariances(cov: np.ndarray, kind: str, n_components: int,
                     n_features: int) -> np.ndarray:
    """Covariances in any of scikit-learn's layouts as (K, D, D) matrices."""
    if kind == "full":
        return cov
    if kind == "tied":
        return np.broadcast_to(cov, (n_components, n_features, n_features))
    eye = np.eye(n_features)
    if kind == "diag":
        return cov[:, :, None] * eye
    return cov[:, None, None] * eye  # spherical


def _bhattacharyya(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray,
                   s2: np.ndarray) -> float:
    """Bhattacharyya distance between N(mu1, s1) and N(mu2, s2), through Cholesky factors."""
    s = 0.5 * (s1 + s2)
    try:
        lower = np.linalg.cholesky(s)
        z = np.linalg.solve(lower, mu1 - mu2)
        logdet = 2.0 * np.log(np.diag(lower)).sum()
        ld1 = np.linalg.slogdet(s1)[1]
        ld2 = np.linalg.slogdet(s2)[1]
    except np.linalg.LinAlgError:
        return float(np.sum((mu1 - mu2) ** 2))
    return float(0.125 * z @ z + 0.5 * (logdet - 0.5 * (ld1 + ld2)))


def match_components(reference: dict, replicate: dict, kind: str) -> np.ndarray:
    """Permutation ``p`` such that replicate component ``p[k]`` matches reference ``k``.

    Parameters
    ----------
    reference, replicate : dict
        ``means`` (K, D) and ``covariances`` (layout ``kind``).
    kind : str
        ``"full"``, ``"tied"``, ``"diag"`` or ``"spherical"``.

    Returns
    -------
    ndarray of shape (K,)
        Minimizes the summed Bhattacharyya distances (Hungarian algorithm).
    """
    m1, m2 = reference["means"], replicate["means"]
    k, d = m1.shape
    c1 = full_covariances(reference["covariances"], kind, k, d)
    c2 = full_covariances(replicate["covariances"], kind, k, d)
    cost = np.array([[_bhattacharyya(m1[i], c1[i], m2[j], c2[j]) for j in range(k)]
                     for i in range(k)])
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(k, dtype=np.int64)
    perm[rows] = cols
    return perm


def permute_params(params: dict, perm: np.ndarray, kind: str) -> dict:
    """The replicate's weights, means and covariances in the reference's component order."""
    cov = params["covariances"] if kind == "tied" else params["covariances"][perm]
    return {"weights": params["weights"][perm], "means": params["means"][perm],
            "covariances": cov}
