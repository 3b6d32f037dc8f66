"""The ``reg_covar`` penalty of the missing-data Gaussian mixture, and what a step may cost.

:class:`~emkit.models.mixture.gaussian_missing.MissingGaussianMixtureModel`
with ``penalized=True`` tracks ``F = L - P``, the observed-data log-likelihood
minus

    ``P(theta) = (reg_covar / 2) N sum_k w_k tr(S_k^-1)``

(``N`` the total sample weight), the objective its ``reg_covar`` M-step
increases. This module computes ``P`` and the bound on how much one EM step may
lower ``F``.

Why ``F`` can fall at all, and by how much: EM's bound gives
``F(theta') - F(theta) >= [Q(theta') - P(theta')] - [Q(theta) - P(theta)]``.
The M-step's weights ``w' = n / N`` maximize ``Q``'s weight part, and
``S_k' = scatter_k / n_k + reg_covar I`` maximizes
``Q_k(S) - (reg_covar / 2) n_k tr(S^-1)`` exactly (set the gradient
``-(n_k / 2) [S^-1 - S^-1 (scatter_k / n_k + reg_covar I) S^-1]`` to zero; the
same for diag and spherical). As ``P(theta') = (reg_covar / 2) sum_k n_k
tr(S_k'^-1)``, that gives

    ``F(theta') - F(theta) >= -(reg_covar / 2) sum_k (n_k - N w_k) tr(S_k^-1)``

with ``n_k`` the E-step's counts and ``w_k``, ``S_k`` its parameters: the
:func:`penalty_shift`. It is linear in the counts, so it is a statistic,
additive over rows; it is 0 for one component and for tied covariances (one
trace against counts that sum to ``N``), and it vanishes at a fixed point
(``n_k = N w_k``).
"""

from __future__ import annotations

import numpy as np

from ...gaussian.reference import precision_cholesky

__all__ = ["precision_traces", "penalty", "penalty_shift"]


def precision_traces(params: dict, covariance_type: str) -> np.ndarray:
    """``tr(S_k^-1)`` of each component, shape (K,), from the precision Cholesky factors."""
    prec = precision_cholesky(np.asarray(params["covariances"], dtype=float), covariance_type)
    k, d = np.asarray(params["means"]).shape
    if covariance_type == "tied":
        return np.full(k, np.sum(prec**2))
    if covariance_type == "full":
        return np.sum(prec**2, axis=(1, 2))
    if covariance_type == "diag":
        return np.sum(prec**2, axis=1)
    return d * prec**2


def penalty(params: dict, covariance_type: str, reg_covar: float,
            total_weight: float) -> float:
    """``P(theta) = (reg_covar / 2) N sum_k w_k tr(S_k^-1)``, ``N = total_weight``."""
    if reg_covar == 0.0:
        return 0.0
    w = np.asarray(params["weights"], dtype=float)
    return 0.5 * reg_covar * float(total_weight) * float(w @ precision_traces(
        params, covariance_type))


def penalty_shift(params: dict, covariance_type: str, reg_covar: float,
                  n: np.ndarray) -> float:
    """``(reg_covar / 2) sum_k (n_k - N w_k) tr(S_k^-1)`` for the counts ``n`` (K,) of some
    rows at the E-step's ``params`` (``N = sum_k n_k``); see the module docstring."""
    if reg_covar == 0.0:
        return 0.0
    w = np.asarray(params["weights"], dtype=float)
    n = np.asarray(n, dtype=float)
    return 0.5 * reg_covar * float((n - n.sum() * w) @ precision_traces(params,
                                                                         covariance_type))
