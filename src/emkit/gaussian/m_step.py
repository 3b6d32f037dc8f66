"""The M-step of Gaussian components from their additive statistics.

One job: turn the summed statistics of K Gaussian components into weights,
means and covariances. Every Gaussian model in emkit that fits whole
covariances from weighted moments calls it: the complete-data and the
missing-data Gaussian mixtures (:mod:`emkit.models.mixture`), the
:class:`emkit.distributions.Gaussian` component, and the imputer.

The statistics (a dict, additive over rows; ``r`` is a row's responsibility
times its sample weight, ``mu`` the means the E-step was run at):

``n`` (K,)
    ``sum r``;
``sum`` (K, D)
    ``sum r x``;
``centred_sum`` (K, D)
    ``sum r (x - mu)``;
``centred_outer``
    ``sum r (x - mu)(x - mu)^T``, shape (K, D, D) for ``full`` and ``tied``, or
    only its diagonal, shape (K, D), for ``diag`` and ``spherical``.

Centring on the E-step's means keeps the second moments accurate for data far
from the origin; the covariance is then ``centred_outer / n - shift shift^T``
with ``shift = centred_sum / n`` the move of the mean.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_mixture_m_step", "regularization_slack", "COUNT_EPS"]

#: scikit-learn's 10 machine epsilons added to each count (see the M-step)
COUNT_EPS = _COUNT_EPS = 10 * float(np.finfo(float).eps)


def gaussian_mixture_m_step(stats: dict, covariance_type: str, reg_covar: float) -> dict:
    """Weights, means and covariances maximizing the expected complete log-likelihood.

    ``reg_covar`` is added to every covariance diagonal, as scikit-learn does, so
    that a component shrinking onto few points keeps a positive-definite covariance.

    Parameters
    ----------
    stats : dict
        ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D) and ``centred_outer``
        ((K, D, D) or (K, D), see the module notes).
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Non-negative, added to the covariance diagonals.

    Returns
    -------
    dict
        ``weights`` (K,), ``means`` (K, D) and ``covariances`` in scikit-learn's
        shape for ``covariance_type``: (K, D, D), (D, D), (K, D) or (K,).

    Raises
    ------
    ValueError
        For an unknown ``covariance_type``.
    """
    # scikit-learn adds 10 machine epsilons to each count so that an empty
    # component gives finite (if meaningless) means instead of 0/0.
    n = stats["n"] + _COUNT_EPS
    means = stats["sum"] / n[:, None]
    shift = stats["centred_sum"] / n[:, None]  # new mean minus the E-step's mean
    outer = stats["centred_outer"]
    d = means.shape[1]
    if covariance_type == "full":
        cov = outer / n[:, None, None] - shift[:, :, None] * shift[:, None, :]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "tied":
        scatter = outer.sum(axis=0) - np.einsum("k,ki,kj->ij", n, shift, shift)
        cov = scatter / n.sum()
        cov.flat[:: d + 1] += reg_covar
    elif covariance_type == "diag":
        cov = outer / n[:, None] - shift**2 + reg_covar
    elif covariance_type == "spherical":
        cov = (outer / n[:, None] - shift**2 + reg_covar).mean(axis=1)
    else:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    return {"weights": n / n.sum(), "means": means, "covariances": cov}


def _loss(t: np.ndarray) -> np.ndarray:
    """``log(1 + t) - t / (1 + t)`` (>= 0), infinite where ``t`` is infinite or negative."""
    out = np.log1p(t) - t / (1.0 + t)
    return np.where((t >= 0.0) & np.isfinite(t), out, np.inf)


def regularization_slack(stats: dict, covariance_type: str, reg_covar: float) -> float:
    """How far below exact EM's guarantee the ``reg_covar`` M-step may leave the likelihood.

    EM's step from ``theta`` to ``theta'`` raises the log-likelihood by at least
    ``Q(theta') - Q(theta)``. The exact M-step maximizes ``Q``; adding ``reg_covar``
    to the covariance ``S`` it finds costs, per component of weight ``n``,
    ``n / 2 * sum_j [log(1 + e / l_j) - e / (l_j + e)]`` over the eigenvalues
    ``l_j`` of ``S`` (its variances for diag, their mean D times for spherical,
    the pooled ``S`` once for tied). So one step may lower the log-likelihood by
    at most this sum; it is infinite when some ``S`` is singular (nothing then
    bounds a regularized step) and 0 without regularization.

    Parameters
    ----------
    stats, covariance_type
        As :func:`gaussian_mixture_m_step`.
    reg_covar : float

    Returns
    -------
    float
    """
    if reg_covar == 0.0:
        return 0.0
    if covariance_type == "full":  # compiled, from the statistics; numba loads on first use
        from .slack_kernels import full_slack_from_stats

        return full_slack_from_stats(stats["n"], stats["centred_sum"], stats["centred_outer"],
                                     reg_covar, _COUNT_EPS)
    with np.errstate(divide="ignore", invalid="ignore"):  # a variance of 0: no bound
        return _slack(stats, covariance_type, reg_covar)


def _slack(stats: dict, covariance_type: str, reg_covar: float) -> float:
    n = stats["n"] + _COUNT_EPS
    shift = stats["centred_sum"] / n[:, None]
    outer = stats["centred_outer"]
    if covariance_type in ("full", "tied"):
        if covariance_type == "tied":
            cov = (outer.sum(axis=0) - np.einsum("k,ki,kj->ij", n, shift, shift)) / n.sum()
        else:
            cov = outer / n[:, None, None] - shift[:, :, None] * shift[:, None, :]
        if not np.all(np.isfinite(cov)):
            return np.inf
        per = _loss(reg_covar / np.linalg.eigvalsh(cov)).sum(axis=-1)
        if covariance_type == "tied":
            return float(0.5 * n.sum() * per)
    elif covariance_type == "diag":
        per = _loss(reg_covar / (outer / n[:, None] - shift**2)).sum(axis=1)
    else:
        d = shift.shape[1]
        per = d * _loss(reg_covar / (outer / n[:, None] - shift**2).mean(axis=1))
    return float(0.5 * n @ per)
