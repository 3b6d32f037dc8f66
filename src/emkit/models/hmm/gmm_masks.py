"""GMMHMM's update with some entries of ``weights``, ``means`` and ``covars`` frozen.

One job: hmmlearn's ``GMMHMM`` update
(:meth:`~emkit.models.hmm.gmm_emission.GMMEmission.hmmlearn_update`) constrained
to keep the frozen entries (boolean masks of the parameters' shapes, True =
frozen) at their starting values, bit for bit:

``weights`` (K, M)
    The free weights of a state share the mass its frozen ones leave, in
    proportion to hmmlearn's (prior-adjusted) counts ``n_kj + weights_prior - 1``
    (the maximizer of hmmlearn's weight objective on the constrained simplex,
    :func:`~emkit.numerics.shared_mass.shared_mass`).
``means`` (K, M, D)
    hmmlearn's mean ``m`` (the MAP mean under ``means_prior``/``means_weight``)
    maximizes ``-(n + w)/2 (mu - m)^T S^-1 (mu - m)`` for any covariance ``S``:
    with ``diag`` or ``spherical`` covariances the free entries are ``m``'s; with
    ``full`` or ``tied`` ones the free block is the Gaussian conditional given the
    frozen block under the covariance the step returns,
    ``mu_F = m_F - S_FO S_OO^-1 (m_O - mu_O)``. hmmlearn's covariance depends on the
    means only through ``means_weight`` (zero by default: one pass); otherwise the
    two are alternated to their common fixed point (:data:`GMM_MAX_ITER` at most).
``covars``
    hmmlearn's covariance (about the constrained means), with the frozen entries
    put back: ``diag`` entries and ``spherical`` variances one by one, ``full``
    matrices per (state, component) and ``tied`` matrices per state whole.

hmmlearn's update is not EM's exact M-step; the guard's allowance,
:func:`~emkit.models.hmm.gmm_shortfall.gmm_shortfall` from the unconstrained
maximizer, stays an upper bound on what the constrained update may cost.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...gaussian.constrained_mean import conditional_mean
from ...numerics.shared_mass import shared_mass

__all__ = ["masked_gmm_update", "GMM_MAX_ITER"]

#: Most alternations of partly frozen means and hmmlearn's covariance (means_weight > 0).
GMM_MAX_ITER = 500


def masked_gmm_update(out: dict, fixed: dict, update: str, masks: dict, kind: str,
                      weight_counts: np.ndarray, free_means: np.ndarray,
                      covariances: Callable[[np.ndarray], np.ndarray],
                      means_weight: np.ndarray) -> dict:
    """``out`` (hmmlearn's unconstrained update) with the frozen entries kept.

    Parameters
    ----------
    out : dict
        hmmlearn's update of the letters in ``update``.
    fixed : dict
        The start's ``weights``, ``means``, ``covars`` (the frozen values).
    update : str
        The ``params`` letters of this M-step.
    masks : dict
        Optional ``weights`` (K, M), ``means`` (K, M, D), ``covars`` masks.
    kind : {"full", "tied", "diag", "spherical"}
    weight_counts : ndarray of shape (K, M)
        hmmlearn's prior-adjusted weight counts.
    free_means : ndarray of shape (K, M, D)
        hmmlearn's means (the unconstrained ones).
    covariances : callable
        hmmlearn's covariances about given means (K, M, D) (floored).
    means_weight : ndarray of shape (K, M)
        ``means_weight`` (the covariance depends on the means only where it is not 0).
    """
    out = dict(out)
    if "w" in update and "weights" in masks:
        wmask = masks["weights"]
        rows = wmask.any(axis=1)
        fixed_w = np.asarray(fixed["weights"], dtype=np.float64)
        shared = shared_mass(weight_counts, fixed_w, wmask)
        out["weights"] = np.where(rows[:, None], shared, out["weights"])
    if "m" not in update and "c" not in update:
        return out
    fixed_means = np.asarray(fixed["means"], dtype=np.float64)
    fixed_cov = np.asarray(fixed["covars"], dtype=np.float64)
    mmask = masks.get("means") if "m" in update else None
    cmask = masks.get("covars") if "c" in update else None

    def covars(means: np.ndarray) -> np.ndarray:
        if "c" not in update:
            return fixed_cov
        cov = covariances(means)
        return cov if cmask is None else np.where(cmask, fixed_cov, cov)

    if mmask is None:
        if cmask is not None:
            out["covars"] = covars(np.asarray(out.get("means", fixed_means), dtype=np.float64))
        return out
    means = np.where(mmask, fixed_means, free_means)
    cov = covars(means)
    if kind in ("full", "tied"):
        partial = np.argwhere(mmask.any(axis=2) & ~mmask.all(axis=2))
        coupled = "c" in update and bool(np.any(means_weight != 0))
        scale = max(float(np.abs(free_means).max()), 1e-300)
        for _ in range(GMM_MAX_ITER if coupled else 1):
            new = means.copy()
            for k, j in partial:
                s = cov[k] if kind == "tied" else cov[k, j]
                new[k, j] = conditional_mean(free_means[k, j], fixed_means[k, j],
                                             mmask[k, j], s)
            moved = float(np.abs(new - means).max()) if len(partial) else 0.0
            means = new
            if coupled:
                cov = covars(means)
            if moved <= 1e-13 * scale:
                break
        cov = covars(means)
    out["means"] = means
    if "c" in update:
        out["covars"] = cov
    return out
