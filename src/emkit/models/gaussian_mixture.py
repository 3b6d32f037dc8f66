"""The Gaussian-mixture EM model: parameters, additive statistics and the M-step.

Parameters (a dict):
    ``weights`` (K,), ``means`` (K, D), ``covariances`` in scikit-learn's shape for
    ``covariance_type`` (see :mod:`emkit.models.gaussian_math`).

Statistics (a dict, additive over rows; ``r`` is a row's responsibility times its
sample weight, ``mu`` the means the E-step was run at):
    ``n`` (K,) = sum r;  ``sum`` (K, D) = sum r x;
    ``centred_sum`` (K, D) = sum r (x - mu);
    ``centred_outer`` = sum r (x - mu)(x - mu)^T, shape (K, D, D) for full and tied,
    or only its diagonal, shape (K, D), for diag and spherical.

Centring on the current means (constant during an E-step, so still additive)
keeps the second moments accurate for data far from the origin. With missing
values the E-step substitutes conditional expectations of ``x`` and of the outer
product; the statistics, and so the M-step, are the same.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_mixture_m_step"]


def gaussian_mixture_m_step(stats: dict, covariance_type: str, reg_covar: float) -> dict:
    """Weights, means and covariances maximizing the expected complete log-likelihood.

    ``reg_covar`` is added to every covariance diagonal, as scikit-learn does, so
    that a component shrinking onto few points keeps a positive-definite covariance.
    """
    # scikit-learn adds 10 machine epsilons to each count so that an empty
    # component gives finite (if meaningless) means instead of 0/0.
    n = stats["n"] + 10 * np.finfo(float).eps
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
