"""The Gaussian M-step with some parameter entries frozen (model-free).

One job: maximize the expected complete log-likelihood of K Gaussian components
over the *free* entries of ``weights``, ``means`` and ``covariances`` while the
frozen ones keep given values (``fixed``), from the additive statistics of
:mod:`emkit.gaussian.m_step`. ``masks`` are boolean arrays of the parameters'
shapes, True = frozen. The mixtures
(:mod:`emkit.models.mixture.constrained_m_step`) and the HMM states
(:mod:`emkit.models.hmm.masked_emission`) both use it.

Weights
    Frozen weights keep their values; the free ones share the remaining mass in
    proportion to their counts, ``w_F = (1 - sum w_C) n_F / sum n_F``.
Means
    A frozen entry keeps its value. With ``d = xbar - mu`` (``xbar`` the
    component's weighted mean) and the covariance ``S`` coupling the entries, the
    free part maximizing ``-1/2 n d^T S^-1 d`` given the frozen part is the
    conditional mean ``d_F = S_FC S_CC^-1 d_C`` (:func:`conditional_mean`). For a
    free covariance the joint maximizer over ``(mu_F, S)`` is the same formula
    with ``S`` replaced by the scatter about ``xbar`` (plus ``reg_covar``):
    ``S = S0 + d d^T`` and the Sherman-Morrison identity give
    ``S_FC S_CC^-1 d_C = S0_FC S0_CC^-1 d_C``. Diagonal and spherical
    covariances do not couple entries: ``mu_F = xbar_F``. A free tied covariance
    couples the components; its means and covariance are then found by
    alternating the two exact conditional steps to convergence.
Covariances
    A frozen covariance stays as given (no ``reg_covar`` added). A free one is the
    scatter about the constrained mean plus ``reg_covar``. ``full`` covariances
    are frozen whole per component, ``tied`` whole, ``diag`` per entry and
    ``spherical`` per component (their entries are separate maximizations).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

__all__ = ["conditional_mean", "constrained_gaussian_m_step", "constrained_weights",
           "gaussian_scatter", "solve_psd", "stack_gaussian_stats", "tied_constrained",
           "TIED_MAX_ITER"]

#: Most alternations of a tied covariance with partly frozen means (each raises
#: the objective; they stop when the means move less than ~1e-13 relative).
TIED_MAX_ITER = 500


def solve_psd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a^-1 b`` for a symmetric positive (semi)definite ``a``, through Cholesky
    (least squares where ``a`` is singular)."""
    try:
        return cho_solve(cho_factor(a, lower=True), b)
    except (LinAlgError, ValueError):
        return np.linalg.lstsq(a, b, rcond=None)[0]


def conditional_mean(xbar: np.ndarray, fixed: np.ndarray, frozen: np.ndarray,
                     cov: np.ndarray) -> np.ndarray:
    """The mean whose frozen entries are ``fixed`` and free ones maximize the
    Gaussian log-density of ``xbar`` under covariance ``cov``.

    Parameters
    ----------
    xbar : ndarray of shape (D,)
        The unconstrained maximizer (a weighted or MAP mean).
    fixed : ndarray of shape (D,)
        The frozen values (entries not frozen are ignored).
    frozen : ndarray of bool, shape (D,)
        True = frozen.
    cov : ndarray of shape (D, D)
        The covariance coupling the entries.

    Returns
    -------
    ndarray of shape (D,)
        ``fixed`` where frozen, ``xbar_F - S_FO S_OO^-1 (xbar_O - fixed_O)`` elsewhere.
    """
    mean = xbar.copy()
    if not frozen.any():
        return mean
    mean[frozen] = fixed[frozen]
    free = ~frozen
    if free.any():
        delta_c = xbar[frozen] - fixed[frozen]
        mean[free] = xbar[free] - cov[np.ix_(free, frozen)] @ solve_psd(
            cov[np.ix_(frozen, frozen)], delta_c)
    return mean


def stack_gaussian_stats(stats: list[dict]) -> dict:
    """The Gaussian statistics (``n``, ``sum``, ``centred_sum``, ``centred_outer``) of
    several components stacked along a first axis."""
    keys = ("n", "sum", "centred_sum", "centred_outer")
    return {key: np.stack([np.asarray(s[key], dtype=np.float64) for s in stats])
            for key in keys}


def gaussian_scatter(stats: dict, covariance_type: str
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts (with scikit-learn's 10 eps), weighted means and scatter about them, per
    component: (K, D, D) for full and tied, the diagonal (K, D) otherwise."""
    n = np.asarray(stats["n"], dtype=np.float64) + 10 * np.finfo(float).eps
    xbar = stats["sum"] / n[:, None]
    shift = stats["centred_sum"] / n[:, None]
    outer = stats["centred_outer"]
    if covariance_type in ("full", "tied"):
        s0 = outer / n[:, None, None] - shift[:, :, None] * shift[:, None, :]
    else:
        s0 = outer / n[:, None] - shift**2
    return n, xbar, s0


def constrained_weights(n: np.ndarray, fixed: np.ndarray, frozen: np.ndarray | None
                        ) -> np.ndarray:
    """Mixing weights: frozen ones kept, the free ones sharing the rest in proportion
    to their counts ``n``."""
    if frozen is None or not frozen.any():
        return n / n.sum()
    out = np.array(fixed, dtype=np.float64, copy=True)
    free = ~frozen
    if free.any():
        out[free] = (1.0 - fixed[frozen].sum()) * n[free] / n[free].sum()
    return out


def constrained_gaussian_m_step(stats: dict, covariance_type: str, reg_covar: float,
                                fixed: dict, masks: dict) -> dict:
    """Weights, means and covariances maximizing the expected complete log-likelihood
    over the free entries (see the module notes).

    Parameters
    ----------
    stats : dict
        ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D), ``centred_outer``
        ((K, D, D) or (K, D)), as :func:`emkit.gaussian.m_step.gaussian_mixture_m_step`.
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Added to the diagonals of the free covariances.
    fixed : dict
        ``weights`` (K,), ``means`` (K, D), ``covariances``: the frozen values
        (entries not frozen are ignored).
    masks : dict
        Optional ``weights``, ``means``, ``covariances``: boolean arrays of the
        parameters' shapes, True = frozen.

    Returns
    -------
    dict
        ``weights``, ``means``, ``covariances``.
    """
    n, xbar, s0 = gaussian_scatter(stats, covariance_type)
    k, d = xbar.shape
    eye = np.eye(d)
    mean_mask = masks.get("means")
    mean_mask = np.zeros((k, d), dtype=bool) if mean_mask is None else mean_mask
    cov_mask = masks.get("covariances")
    fixed_means = np.asarray(fixed["means"], dtype=np.float64)
    fixed_cov = np.asarray(fixed["covariances"], dtype=np.float64)
    weights = constrained_weights(n, np.asarray(fixed["weights"], dtype=np.float64),
                                  masks.get("weights"))
    if covariance_type == "full":
        frozen_cov = (np.zeros(k, dtype=bool) if cov_mask is None
                      else cov_mask.reshape(k, -1).all(axis=1))
        means = np.empty((k, d))
        cov = np.empty((k, d, d))
        for j in range(k):
            coupling = fixed_cov[j] if frozen_cov[j] else s0[j] + reg_covar * eye
            means[j] = conditional_mean(xbar[j], fixed_means[j], mean_mask[j], coupling)
            delta = xbar[j] - means[j]
            cov[j] = fixed_cov[j] if frozen_cov[j] else coupling + np.outer(delta, delta)
    elif covariance_type == "tied":
        means, cov = tied_constrained(
            n, xbar, s0, reg_covar, fixed_means, mean_mask,
            fixed_cov if cov_mask is not None and cov_mask.all() else None)
    else:
        means = np.where(mean_mask, fixed_means, xbar)
        var = s0 + (xbar - means) ** 2 + reg_covar
        if covariance_type == "spherical":
            var = var.mean(axis=1)
        cov = var if cov_mask is None else np.where(cov_mask, fixed_cov, var)
    return {"weights": weights, "means": means, "covariances": cov}


def tied_constrained(n: np.ndarray, xbar: np.ndarray, s0: np.ndarray, reg_covar: float,
                     fixed_means: np.ndarray, mean_mask: np.ndarray,
                     fixed_cov: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Means (K, D) and the shared covariance (D, D): closed form when the covariance is
    frozen (``fixed_cov``) or no component has a partly frozen mean, else alternating
    exact conditional steps (:data:`TIED_MAX_ITER` at most)."""
    d = xbar.shape[1]
    pooled = np.einsum("k,kij->ij", n, s0) / n.sum()
    means = np.where(mean_mask, fixed_means, xbar)

    def covariance(m: np.ndarray) -> np.ndarray:
        delta = xbar - m
        out = pooled + np.einsum("k,ki,kj->ij", n, delta, delta) / n.sum()
        out.flat[:: d + 1] += reg_covar
        return out

    if fixed_cov is not None:
        return np.stack([conditional_mean(xbar[j], fixed_means[j], mean_mask[j], fixed_cov)
                         for j in range(len(xbar))]), fixed_cov.copy()
    partial = mean_mask.any(axis=1) & ~mean_mask.all(axis=1)
    cov = covariance(means)
    if not partial.any():
        return means, cov
    scale = max(float(np.abs(xbar).max()), float(np.sqrt(np.diag(cov)).max()), 1e-300)
    for _ in range(TIED_MAX_ITER):
        new = means.copy()
        for j in np.flatnonzero(partial):
            new[j] = conditional_mean(xbar[j], fixed_means[j], mean_mask[j], cov)
        moved = float(np.abs(new - means).max())
        means = new
        cov = covariance(means)
        if moved <= 1e-13 * scale:
            break
    return means, cov
