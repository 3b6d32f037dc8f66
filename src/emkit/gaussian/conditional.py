"""Conditional Gaussians: the missing block of a normal given its observed block.

One job: for a split of the D coordinates into observed ``o`` and missing ``m``
and K normals ``N(mu_k, S_k)``, the quantities the missing-data E-step needs,

* the precision Cholesky factor ``U`` of the observed block ``S_oo``
  (``U U^T = S_oo^-1``, as :func:`emkit.gaussian.reference.precision_cholesky`),
  for the marginal density ``N(x_o; mu_o, S_oo)``;
* the regression ``S_oo^-1 S_om``, so ``E[x_m | x_o] = mu_m + (x_o - mu_o) S_oo^-1 S_om``;
* the conditional covariance ``S_mm - S_mo S_oo^-1 S_om``.

For ``diag`` and ``spherical`` covariances the blocks do not interact: there is
no regression and the conditional covariance is the missing variances. Used by
:class:`emkit.models.mixture.gaussian_missing.MissingGaussianMixtureModel`; its
compiled twin for rare patterns is
:mod:`emkit.models.mixture.gaussian_missing_kernels`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reference import precision_cholesky

__all__ = ["ConditionalFactors", "as_full_covariances", "conditional_factors",
           "completed_deviation"]


@dataclass(frozen=True)
class ConditionalFactors:
    """Per-component factors of one observed/missing split.

    Attributes
    ----------
    prec_chol : ndarray of shape (K, d_o, d_o), or (K, d_o) for diag-like types
        Precision Cholesky factors of the observed blocks ``S_oo``.
    regression : ndarray of shape (K, d_o, d_m), or None for diag-like types
        ``S_oo^-1 S_om``.
    cond_cov : ndarray of shape (K, d_m, d_m), or (K, d_m) for diag-like types
        The conditional covariances ``S_mm - S_mo S_oo^-1 S_om``.
    """

    prec_chol: np.ndarray
    regression: np.ndarray | None
    cond_cov: np.ndarray


def as_full_covariances(covariances: np.ndarray, covariance_type: str, k: int,
                        d: int) -> np.ndarray:
    """Covariances of every component as a (K, D, D) stack (a view for ``tied``).

    Parameters
    ----------
    covariances : ndarray
        In scikit-learn's shape for ``covariance_type``: (K, D, D), (D, D), (K, D)
        or (K,).
    covariance_type : {"full", "tied", "diag", "spherical"}
    k, d : int
        Number of components and of features.

    Returns
    -------
    ndarray of shape (K, D, D)
    """
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (k, d, d))
    if covariance_type == "diag":
        return covariances[:, :, None] * np.eye(d)
    return covariances[:, None, None] * np.eye(d)


def conditional_factors(covariances: np.ndarray, covariance_type: str, k: int,
                        observed: np.ndarray, missing: np.ndarray) -> ConditionalFactors:
    """Factors of the observed blocks and the conditionals of the missing ones.

    Parameters
    ----------
    covariances : ndarray
        K covariances in scikit-learn's shape for ``covariance_type``.
    covariance_type : {"full", "tied", "diag", "spherical"}
    k : int
        Number of components (``tied`` stores one covariance for all).
    observed, missing : ndarray of int, shapes (d_o,) and (d_m,)
        The split of the D columns (disjoint, together all of them).

    Returns
    -------
    ConditionalFactors
        ``tied`` is factored once and broadcast to K components.

    Raises
    ------
    ValueError
        When an observed block is not positive definite.
    """
    o, m = observed, missing
    cov = np.asarray(covariances, dtype=float)
    d = o.size + m.size
    if covariance_type in ("diag", "spherical"):
        var = cov if covariance_type == "diag" else np.repeat(cov[:, None], d, axis=1)
        return ConditionalFactors(precision_cholesky(var[:, o], "diag"), None, var[:, m])
    full = as_full_covariances(cov, covariance_type, k, d)
    if covariance_type == "tied":
        full = full[:1]  # one factorization serves every component
    s_oo = full[:, o][:, :, o]
    prec = precision_cholesky(s_oo, "full")  # U with U U^T = S_oo^-1
    if m.size:
        s_om = full[:, o][:, :, m]
        # S_oo^-1 S_om = U (U^T S_om)
        half = np.matmul(np.swapaxes(prec, 1, 2), s_om)
        regression = np.matmul(prec, half)
        cond = full[:, m][:, :, m] - np.matmul(np.swapaxes(half, 1, 2), half)
    else:
        regression = np.zeros((len(full), o.size, 0))
        cond = np.zeros((len(full), 0, 0))
    if covariance_type == "tied":
        prec = np.broadcast_to(prec, (k, *prec.shape[1:]))
        regression = np.broadcast_to(regression, (k, *regression.shape[1:]))
        cond = np.broadcast_to(cond, (k, *cond.shape[1:]))
    return ConditionalFactors(prec, regression, cond)


def completed_deviation(values: np.ndarray, mean: np.ndarray, observed: np.ndarray,
                        missing: np.ndarray, regression: np.ndarray | None) -> np.ndarray:
    """Rows completed by one component's conditional mean, minus that component's mean.

    Parameters
    ----------
    values : ndarray of shape (n, d_o)
        The observed entries of the rows.
    mean : ndarray of shape (D,)
        The component's mean.
    observed, missing : ndarray of int, shapes (d_o,) and (d_m,)
    regression : ndarray of shape (d_o, d_m) or None
        The component's ``S_oo^-1 S_om``; None (diag-like covariances) fills the
        missing entries with 0, i.e. with the mean.

    Returns
    -------
    ndarray of shape (n, D)
        ``x_o - mu_o`` in the observed columns and ``E[x_m | x_o] - mu_m`` in the
        missing ones.
    """
    z = np.empty((len(values), observed.size + missing.size))
    centred = values - mean[observed]
    z[:, observed] = centred
    if missing.size:
        z[:, missing] = 0.0 if regression is None else centred @ regression
    return z
