"""Observed information of a multivariate normal fitted to data with missing values.

Used for :attr:`emkit.EMImputer.standard_errors_`. It is the information of
the one-component
:class:`~emkit.models.mixture.gaussian_missing.MissingGaussianMixtureModel`, and
it reads the rows grouped by missing pattern as that model does
(:func:`~emkit.models.mixture.missing_patterns.find_patterns`). The observed-data
log-likelihood of one normal is a sum over missing patterns of the marginal
log-densities of the observed columns, so its Hessian is exact and cheap per
pattern; at the MLE it is what Louis's (1982) formula (complete information minus
missing information) and the SEM algorithm of Meng & Rubin (1991) compute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...gaussian.reference import precision_cholesky
from .missing_patterns import find_patterns

__all__ = ["normal_observed_information"]


def _duplication(d: int) -> np.ndarray:
    """Duplication matrix: ``vec(S) = D @ vech(S)`` for symmetric S (column-major vech)."""
    pairs = [(i, j) for j in range(d) for i in range(j, d)]
    dup = np.zeros((d * d, len(pairs)))
    for c, (i, j) in enumerate(pairs):
        dup[i * d + j, c] = 1.0
        dup[j * d + i, c] = 1.0
    return dup


def normal_observed_information(X: Any, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Observed information of one multivariate normal fitted to data with NaN.

    The negative Hessian of the observed-data log-likelihood
    ``sum_i log N(x_io; mu_o, S_oo)`` with respect to ``(mu, vech(S))``, exact
    and analytic, so at the MLE it equals what Louis's (1982) formula or the
    SEM algorithm of Meng & Rubin (1991) approximate: complete information minus
    missing information. Per pattern, with ``A = S_oo^-1`` embedded in D x D,
    ``s = sum(x_o - mu_o)`` and ``C = A (sum (x_o - mu_o)(x_o - mu_o)^T) A``::

        H_mu,mu = -n A
        H_mu,S  = -((A s)^T kron A) Dup
        H_S,S   = Dup^T [n/2 (A kron A) - 1/2 (C kron A + A kron C)] Dup
                = Dup^T [n/2 (A kron A) - C kron A] Dup

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or MissingPatterns
    mean : ndarray of shape (n_features,)
    covariance : ndarray of shape (n_features, n_features)

    Returns
    -------
    ndarray of shape (p, p), p = D + D (D + 1) / 2
        Ordered as ``mean`` then the lower triangle of ``covariance`` column by column.
    """
    data = find_patterns(X)
    d = data.n_features
    mean = np.asarray(mean, dtype=float)
    covariance = np.asarray(covariance, dtype=float)
    p_count = len(data.groups)
    a = np.zeros((p_count, d, d))  # S_oo^-1 embedded in D x D, one per pattern
    c = np.zeros((p_count, d, d))
    s = np.zeros((p_count, d))
    n = np.zeros(p_count)
    for i, group in enumerate(data.groups):
        o = group.observed
        prec = precision_cholesky(covariance[np.ix_(o, o)][None], "full")[0]
        a_oo = prec @ prec.T
        w = group.weights
        e = group.values - mean[o]
        a[i][np.ix_(o, o)] = a_oo
        c[i][np.ix_(o, o)] = a_oo @ ((e * w[:, None]).T @ e) @ a_oo
        s[i, o] = w @ e
        n[i] = w.sum()
    as_ = np.einsum("pij,pj->pi", a, s)
    h_mm = -np.einsum("p,pij->ij", n, a)
    # Sums over patterns of Kronecker products as matrix products (one GEMM each):
    # kron(x, y)[i*D + k, j*D + l] = x[i, j] y[k, l], so sum_p kron(x_p, y_p) is
    # X^T Y (X, Y: the patterns' matrices as rows of length D^2) with axes swapped.
    flat_a, flat_c = a.reshape(p_count, d * d), c.reshape(p_count, d * d)

    def kron_sum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x.T @ y).reshape(d, d, d, d).transpose(0, 2, 1, 3).reshape(d * d, d * d)

    h_ms = -(as_.T @ flat_a).reshape(d, d, d).transpose(1, 0, 2).reshape(d, d * d)
    # kron(c, a) and kron(a, c) differ by the commutation matrix, which the
    # duplication matrix absorbs, so their halves add up to one term
    h_ss = 0.5 * kron_sum(flat_a * n[:, None], flat_a) - kron_sum(flat_c, flat_a)
    dup = _duplication(d)
    p = d + dup.shape[1]
    hess = np.empty((p, p))
    hess[:d, :d] = h_mm
    hess[:d, d:] = h_ms @ dup
    hess[d:, :d] = hess[:d, d:].T
    hess[d:, d:] = dup.T @ h_ss @ dup
    return -hess
