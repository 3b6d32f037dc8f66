"""How far hmmlearn's GMM-HMM update falls short of EM's exact M-step, from the statistics.

EM's step from ``theta`` to ``theta'`` raises the log-likelihood by at least
``Q(theta') - Q(theta)``, ``Q`` the expected complete-data log-likelihood. The
exact M-step maximizes ``Q`` over the parameters it updates, so that bound is
never negative. :class:`~emkit.models.hmm.gmm_emission.GMMEmission` follows
hmmlearn's ``GMMHMM`` update instead, which differs from that maximizer in
three ways:

* its covariance is the scatter about the E-step's means, not the new ones
  (``S* + d d^T`` for the move ``d`` of the mean);
* its priors (``weights_prior``, ``means_prior``/``means_weight``,
  ``covars_prior``/``covars_weight``) pull the parameters, while the objective
  EM tracks is the likelihood (the priors are not in it, as in hmmlearn's
  monitor), and the spherical defaults differ from maximum likelihood;
* ``min_covar`` floors every variance (eigenvalue).

So one step may lower the likelihood by up to the shortfall
``Q(theta_best) - Q(theta')``, where ``theta_best`` maximizes ``Q`` over the
updated parameters under the floor (for the covariances, clipping the
eigenvalues of the unconstrained maximizer is the constrained maximizer: see
:mod:`emkit.gaussian.map_step`). :func:`gmm_shortfall` computes it exactly
from the statistics and the updated parameters; the engine's guard allows it
on top of rounding.

Per state ``k`` and mixture component ``j`` with posterior mass ``n``, mean of
its rows ``xbar`` and scatter ``A`` about ``xbar``, ``Q``'s Gaussian part at a
mean ``mu`` and covariance ``S`` is
``G(mu, S) = -1/2 [n log|S| + tr(S^-1 (A + n (xbar - mu)(xbar - mu)^T))]``
(tied: one ``S`` per state, the sum over its components), and the weights'
part is ``sum_j n_j log w_j``.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from ...gaussian.map_step import floor_covariance

__all__ = ["gmm_shortfall"]


class _Unbounded(Exception):
    """A singular covariance: nothing bounds ``Q`` (or the likelihood is -inf)."""


def _g(n: float, cov: np.ndarray, scatter: np.ndarray, kind: str, d: int) -> float:
    """``G`` above at the covariance ``cov`` for the scatter ``M`` about the mean (diag: per
    feature; spherical: ``cov`` one variance and ``M`` the scatter's trace)."""
    if kind in ("full", "tied"):
        try:
            chol = linalg.cholesky(cov, lower=True)
        except linalg.LinAlgError:
            raise _Unbounded from None
        logdet = 2.0 * float(np.log(np.diag(chol)).sum())
        trace = float(np.trace(linalg.cho_solve((chol, True), scatter)))
        return -0.5 * (n * logdet + trace)
    cov = np.asarray(cov, dtype=float)
    if np.any(cov <= 0):
        raise _Unbounded
    if kind == "diag":
        return -0.5 * float(n * np.log(cov).sum() + (scatter / cov).sum())
    return -0.5 * (n * d * float(np.log(cov)) + float(scatter) / float(cov))


def _own_scatter(c_n: np.ndarray, dev: np.ndarray, n: float, kind: str) -> np.ndarray:
    """The scatter about the rows' mean, from the one about the E-step's mean (``c_n``)
    and the rows' summed deviation from that mean (``dev``)."""
    if kind in ("full", "tied"):
        return c_n - np.outer(dev, dev) / n
    if kind == "diag":
        return c_n - dev**2 / n
    return np.asarray(c_n - float(dev @ dev) / n)


def _about(scatter: np.ndarray, n: float, delta: np.ndarray, kind: str) -> np.ndarray:
    """The scatter about a point ``delta`` away from the rows' mean."""
    if kind in ("full", "tied"):
        return scatter + n * np.outer(delta, delta)
    if kind == "diag":
        return scatter + n * delta**2
    return scatter + n * float(delta @ delta)


def _best_cov(scatter: np.ndarray, n: float, kind: str, d: int,
              min_covar: float) -> np.ndarray:
    """The covariance maximizing ``G`` for this scatter, every variance >= ``min_covar``."""
    if kind == "spherical":
        return np.asarray(max(float(scatter) / (n * d), min_covar))
    cov = scatter / n
    if min_covar <= 0:
        return cov
    return floor_covariance(cov, "full" if kind == "tied" else kind, min_covar)


def gmm_shortfall(stats: dict, weights: np.ndarray, means: np.ndarray, covars: np.ndarray,
                  covariance_type: str, update: str, min_covar: float,
                  dead_mass: float) -> float:
    """``Q(theta_best) - Q(theta')`` for the GMM emissions (see the module docstring).

    Parameters
    ----------
    stats : dict
        :class:`~emkit.models.hmm.gmm_emission.GMMEmission`'s statistics:
        ``post`` (K,), ``post_mix`` (K, M), ``obs`` (K, M, D) (rows minus the
        centre), ``dev`` (K, M, D) (rows minus the E-step's means) and ``c_n``
        (the scatter about the E-step's means, summed over M for tied).
    weights, means, covars
        The updated parameters ``theta'``, means minus the same centre as ``obs``.
    covariance_type : {"full", "tied", "diag", "spherical"}
    update : str
        The letters updated (``w``, ``m``, ``c``); the others are held, so
        ``theta_best`` keeps them.
    min_covar : float
        The floor on the variances.
    dead_mass : float
        States and components with less posterior mass change no likelihood
        and are left out.

    Returns
    -------
    float
        Non-negative up to rounding; ``inf`` when nothing bounds ``Q`` (a
        singular scatter without a floor).
    """
    try:
        return _shortfall(stats, weights, means, covars, covariance_type, update, min_covar,
                          dead_mass)
    except _Unbounded:
        return np.inf


def _shortfall(stats: dict, weights: np.ndarray, means: np.ndarray, covars: np.ndarray,
               kind: str, update: str, min_covar: float, dead_mass: float) -> float:
    post_mix, obs, dev, c_n = stats["post_mix"], stats["obs"], stats["dev"], stats["c_n"]
    d = obs.shape[2]
    total = 0.0
    for k in np.flatnonzero(np.asarray(stats["post"]) >= dead_mass):
        n = post_mix[k]
        live = np.flatnonzero(n >= dead_mass)
        if "w" in update:
            with np.errstate(divide="ignore"):
                total += float(n[live] @ (np.log(n[live] / n.sum()) - np.log(weights[k][live])))
        xbar = {j: obs[k, j] / n[j] for j in live}
        best_mean = {j: xbar[j] if "m" in update else means[k, j] for j in live}
        if kind == "tied":  # one covariance per state: the sums over its components
            pooled = c_n[k] - sum(np.outer(dev[k, j], dev[k, j]) / n[j] for j in live)
            best = pooled + sum(n[j] * np.outer(xbar[j] - best_mean[j], xbar[j] - best_mean[j])
                                for j in live)
            got = pooled + sum(n[j] * np.outer(xbar[j] - means[k, j], xbar[j] - means[k, j])
                               for j in live)
            n_k = float(n[live].sum())
            cov = _best_cov(best, n_k, kind, d, min_covar) if "c" in update else covars[k]
            total += _g(n_k, cov, best, kind, d) - _g(n_k, covars[k], got, kind, d)
            continue
        for j in live:
            scatter = _own_scatter(c_n[k, j], dev[k, j], n[j], kind)
            best = _about(scatter, n[j], xbar[j] - best_mean[j], kind)
            got = _about(scatter, n[j], xbar[j] - means[k, j], kind)
            cov = _best_cov(best, n[j], kind, d, min_covar) if "c" in update else covars[k, j]
            total += _g(n[j], cov, best, kind, d) - _g(n[j], covars[k, j], got, kind, d)
    return float(total)
