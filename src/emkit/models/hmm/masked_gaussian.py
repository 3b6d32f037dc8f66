"""The M-step of Gaussian HMM states with some mean and covariance entries frozen.

One job: from the states' summed Gaussian statistics, their starting parameters
(``start``, the frozen values) and boolean masks (True = frozen), the means and
covariances maximizing the expected complete-data log-likelihood plus
hmmlearn's conjugate log-prior over the free entries, subject to the
``min_covar`` floor (the MAP step of :func:`~emkit.gaussian.map_step.map_m_step`,
constrained):

Means
    With ``m`` the unconstrained (MAP) mean and ``S`` the covariance, the mean's
    part of the objective is ``-(n + w)/2 (mu - m)^T S^-1 (mu - m)``. ``diag`` and
    ``spherical`` covariances do not couple entries: the free entries are ``m``'s.
    ``full`` and ``tied`` ones do: given ``S`` the free block is the Gaussian
    conditional ``mu_F = m_F - S_FO S_OO^-1 (m_O - mu_O)``
    (:func:`~emkit.gaussian.constrained_mean.conditional_mean`, Cholesky solves).
Covariances
    ``diag`` entries and ``spherical`` variances are separate maximizations given
    the means (prior and floor are per entry): the free ones are the MAP step's
    about the constrained means, the frozen ones are put back. A ``full``
    covariance freezes per state (a whole matrix: the states' covariance parts
    are separate), a ``tied`` one whole.
Both
    With a frozen covariance the conditional means are the answer. A free one is
    refitted about the means and the two exact conditional steps alternate until
    the means move less than ``1e-13`` relative (:data:`MEAN_MAX_ITER` at most):
    one step already meets it without priors or an active floor (the
    Sherman-Morrison identity), else it is the joint maximizer by block
    coordinate ascent.
"""

from __future__ import annotations

import numpy as np

from ...distributions.gaussian import Gaussian
from ...gaussian.constrained_mean import conditional_mean, stack_gaussian_stats
from ...gaussian.map_step import map_m_step
from .emission import DEAD_MASS

__all__ = ["masked_gaussian_states", "MEAN_MAX_ITER"]

#: Most alternations of partly frozen means and a free full/tied covariance.
MEAN_MAX_ITER = 500


def masked_gaussian_states(templates: list, stats: list[dict], start: list[dict],
                           update: str, fitted: list[dict],
                           mean_masks: list[np.ndarray] | None,
                           cov_masks: list[np.ndarray] | None) -> list[dict]:
    """The states' constrained means and covariances (see the module notes).

    Parameters
    ----------
    templates : list of K Gaussian
        The states' families (one covariance type), with hmmlearn's priors and floor.
    stats : list of K dict
        Each state's summed Gaussian statistics.
    start : list of K dict
        The starting ``mean`` (D,) and ``covariance`` of each state (the frozen values).
    update : str
        The ``params`` letters of this M-step: without ``m`` every mean is kept,
        without ``c`` every covariance.
    fitted : list of K dict
        The unconstrained step's parameters (an unreachable state keeps them, with
        its frozen entries put back).
    mean_masks, cov_masks : list of K ndarray of bool, optional
        Per state, a mask of the shape of its mean (D,) / covariance (True = frozen).

    Returns
    -------
    list of K dict
        ``mean`` and ``covariance`` per state.
    """
    kind = templates[0].covariance_type
    stacked = stack_gaussian_stats(stats)
    k, d = stacked["sum"].shape
    prior = Gaussian._conjugate_prior(templates, d)
    given = np.stack([np.atleast_1d(np.asarray(p["mean"], dtype=np.float64)) for p in start])
    given_cov = [np.asarray(p["covariance"], dtype=np.float64) for p in start]
    mask = (np.zeros((k, d), dtype=bool) if mean_masks is None
            else np.stack([np.atleast_1d(m) for m in mean_masks]))
    if "m" not in update:
        mask = np.ones((k, d), dtype=bool)
    cmask = (np.zeros((k, *given_cov[0].shape), dtype=bool) if cov_masks is None
             else np.stack([np.asarray(m, dtype=bool).reshape(given_cov[0].shape)
                            for m in cov_masks]))
    if "c" not in update:
        cmask[...] = True
    start_cov = given_cov[0] if kind == "tied" else np.stack(given_cov)
    # states whose covariance is frozen whole (full: per state; tied: all or none)
    whole = np.asarray(cmask.reshape(k, -1).all(axis=1), dtype=bool)

    def covariances(means: np.ndarray) -> np.ndarray:
        if kind == "tied":
            return start_cov if whole.all() else map_m_step(stacked, kind, prior, means,
                                                            None)[1]
        if whole.all():
            return start_cov
        cov = map_m_step(stacked, kind, prior, means, None)[1]
        if kind == "full":
            return np.where(whole[:, None, None], start_cov, cov)
        return np.where(cmask, start_cov, cov)

    free_means = map_m_step(stacked, kind, prior, None, start_cov)[0]
    means = np.where(mask, given, free_means)
    # full/tied: start from the covariance about the unconstrained means (with it the
    # conditional is already the joint maximizer without priors or an active floor)
    cov = covariances(free_means if kind in ("full", "tied") else means)
    if kind in ("full", "tied"):
        partial = [int(j) for j in np.flatnonzero(mask.any(axis=1) & ~mask.all(axis=1))]
        coupled = bool(partial) and not bool(whole.all() if kind == "tied"
                                             else whole[partial].all())
        scale = max(float(np.abs(free_means).max()), 1e-300)
        for _ in range(MEAN_MAX_ITER if coupled else 1):
            new = means.copy()
            for j in partial:
                new[j] = conditional_mean(free_means[j], given[j], mask[j],
                                          cov if kind == "tied" else cov[j])
            moved = float(np.abs(new - means).max()) if partial else 0.0
            means = new
            cov = covariances(means)
            if moved <= 1e-13 * scale:
                break
    dead = np.asarray(stacked["n"]) < DEAD_MASS
    out = []
    for j, p in enumerate(fitted):
        if bool(dead[j]):  # an unreachable state: the wrapped step's, frozen entries kept
            c = np.asarray(p["covariance"], dtype=np.float64)
            out.append({"mean": np.where(mask[j], given[j], np.atleast_1d(p["mean"])),
                        "covariance": np.where(cmask[j], given_cov[j], c)})
            continue
        c = cov if kind == "tied" else cov[j]
        out.append({"mean": means[j], "covariance": np.array(c, dtype=np.float64)})
    return out
