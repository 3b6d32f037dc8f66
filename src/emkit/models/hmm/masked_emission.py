"""HMM emissions with some entries of one per-state parameter frozen.

One job: wrap an :class:`~emkit.models.hmm.emission.Emission` so that its M-step
keeps the frozen entries of one parameter (``"rate"``, ``"probs"``, ``"mean"``) at their
starting values (``fixed``, bit for bit) and gives the free entries the exact
constrained M-step:

``rate`` (Poisson states)
    Each entry of a rate is its own maximization (plain or hmmlearn's
    ``lambdas_prior``/``lambdas_weight`` rule alike): the free entries are the
    unconstrained step's, the frozen ones are put back.
``probs`` (Categorical and Multinomial states)
    The free entries of a row share the mass the frozen ones leave, in
    proportion to their (prior-adjusted) expected counts (the Lagrangian
    solution, :func:`~emkit.numerics.shared_mass.shared_mass`).
``mean`` (Gaussian states, hmmlearn's priors and ``min_covar`` included)
    With ``m`` the unconstrained (MAP) mean and ``S`` the covariance, the mean's
    part of the objective is ``-(n + w)/2 (mu - m)^T S^-1 (mu - m)``. ``diag`` and
    ``spherical`` covariances do not couple entries: the free entries are ``m``'s.
    ``full`` and ``tied`` ones do: given ``S`` the free block is the Gaussian
    conditional ``mu_F = m_F - S_FO S_OO^-1 (m_O - mu_O)`` (Cholesky solves). With
    the covariance frozen (``c`` not in ``params``) that is the answer; a free one
    is then refitted about the means (:func:`~emkit.gaussian.map_step.map_m_step`)
    and the two exact conditional steps alternate until the means move less than
    ``1e-13`` relative (:data:`MEAN_MAX_ITER` at most): one step already meets it
    without priors or an active floor (the Sherman-Morrison identity), else it is
    the joint maximizer by block coordinate ascent.

Everything but the M-step is the wrapped emission's. Since the frozen entries are
copied from ``fixed``, SQUAREM's extrapolation (a combination of points that agree
there) keeps them too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...distributions.categorical import Categorical
from ...distributions.gaussian import Gaussian
from ...gaussian.constrained_mean import conditional_mean, stack_gaussian_stats
from ...gaussian.map_step import map_m_step
from ...numerics.shared_mass import shared_mass
from .emission import DEAD_MASS, Emission

__all__ = ["MaskedEmission", "MASKABLE_PARAMETERS", "MEAN_MAX_ITER"]

#: the per-state parameters that take an entry mask
MASKABLE_PARAMETERS = ("rate", "probs", "mean")

#: Most alternations of partly frozen means and a free full/tied covariance.
MEAN_MAX_ITER = 500


class MaskedEmission(Emission):
    """``inner`` with the entries ``masks[k]`` of state ``k``'s ``name`` frozen.

    Parameters
    ----------
    inner : Emission
        A :class:`~emkit.models.hmm.emission.DistributionEmission` (or its
        hmmlearn Poisson variant) of Poisson, Categorical or Multinomial states.
    name : {"rate", "probs"}
        The per-state parameter the masks apply to.
    masks : list of K ndarray of bool
        State ``k``'s mask, of the shape of its ``name`` (True = frozen).
    """

    def __init__(self, inner: Emission, name: str, masks: list[np.ndarray]):
        if name not in MASKABLE_PARAMETERS:
            raise ValueError(f"name must be one of {MASKABLE_PARAMETERS}, got {name!r}")
        self.inner = inner
        self.name = name
        self.masks = [np.asarray(m, dtype=bool) for m in masks]
        self.letters = inner.letters
        self.monotone_rtol = inner.monotone_rtol

    def __getattr__(self, attr: str) -> Any:
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def prepare(self, params: dict) -> Any:
        return self.inner.prepare(params)

    def log_prob(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, Any]:
        return self.inner.log_prob(X, prepared)

    def frame(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        return self.inner.frame(X, prepared)

    def stats(self, X: np.ndarray, gamma: np.ndarray, prepared: Any, extra: Any) -> dict:
        return self.inner.stats(X, gamma, prepared, extra)

    def block_e_step(self, X: np.ndarray, offsets: np.ndarray, weights: np.ndarray | None,
                     prepared: Any, startprob: np.ndarray, transmat: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict] | None:
        return self.inner.block_e_step(X, offsets, weights, prepared, startprob, transmat)

    def log_prior(self, params: dict, update: str, live: np.ndarray) -> float:
        return self.inner.log_prior(params, update, live)

    def monotone_slack(self, stats: dict, fixed: dict, update: str) -> float:
        """The wrapped emission's: an upper bound, since each frozen entry's share of
        the shortfall (non-negative) is left out by the constrained step."""
        return self.inner.monotone_slack(stats, fixed, update)

    def is_feasible(self, params: dict) -> bool:
        return self.inner.is_feasible(params)

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        """The wrapped M-step, with each partly frozen state's ``name`` replaced by its
        constrained maximizer (see the module notes)."""
        out = self.inner.m_step(stats, fixed, update)
        if "emissions" not in out:
            return out
        if self.name == "mean":
            return {**out, "emissions": self._gaussian(stats, fixed, update, out["emissions"])}
        start = fixed["emissions"]
        emissions = list(out["emissions"])
        for k, mask in enumerate(self.masks):
            if not mask.any():
                continue
            given = np.asarray(start[k][self.name], dtype=np.float64)
            if self.name == "rate":
                fitted = np.asarray(emissions[k][self.name], dtype=np.float64)
                emissions[k] = {**emissions[k], "rate": np.where(mask, given, fitted)}
            else:
                template = self.inner.components.templates[k]  # type: ignore[attr-defined]
                counts = np.asarray(stats["components"][k]["counts"], dtype=np.float64)
                if isinstance(template, Categorical):  # its Dirichlet prior's pseudo-counts
                    a = template._concentration(counts.shape)
                    if a is not None:
                        counts = np.maximum(counts + (a - 1.0), 0.0)
                emissions[k] = {"probs": shared_mass(counts, given, mask)}
        return {**out, "emissions": emissions}

    def _gaussian(self, stats: dict, fixed: dict, update: str, fitted: list) -> list:
        """The Gaussian states' constrained means and the covariances about them."""
        templates = self.inner.components.templates  # type: ignore[attr-defined]
        kind = templates[0].covariance_type
        stacked = stack_gaussian_stats(stats["components"])
        prior = Gaussian._conjugate_prior(templates, stacked["sum"].shape[1])
        start = fixed["emissions"]
        covs_given = "c" not in update
        fixed_cov = None
        if covs_given:
            per_state = [np.asarray(p["covariance"], dtype=np.float64) for p in start]
            fixed_cov = per_state[0] if kind == "tied" else np.stack(per_state)
        mask = np.stack([np.atleast_1d(m) for m in self.masks])
        given = np.stack([np.atleast_1d(np.asarray(p["mean"], dtype=np.float64))
                          for p in start])
        free_means, cov = map_m_step(stacked, kind, prior, None, fixed_cov)
        means = np.where(mask, given, free_means)
        if kind in ("full", "tied"):
            partial = np.flatnonzero(mask.any(axis=1) & ~mask.all(axis=1))
            scale = max(float(np.abs(free_means).max()), 1e-300)
            for _ in range(MEAN_MAX_ITER):
                new = means.copy()
                for j in partial:
                    new[j] = conditional_mean(free_means[j], given[j], mask[j],
                                          cov if kind == "tied" else cov[j])
                moved = float(np.abs(new - means).max()) if partial.size else 0.0
                means = new
                if not covs_given:
                    cov = map_m_step(stacked, kind, prior, means, None)[1]
                if covs_given or moved <= 1e-13 * scale:
                    break
        elif not covs_given:
            cov = map_m_step(stacked, kind, prior, means, None)[1]
        dead = np.asarray(stacked["n"]) < DEAD_MASS
        out = []
        for k, p in enumerate(fitted):
            if dead[k]:  # an unreachable state: the wrapped step's, frozen entries kept
                out.append({**p, "mean": np.where(mask[k], given[k], np.atleast_1d(p["mean"]))})
                continue
            c = cov if kind == "tied" else cov[k]
            out.append({"mean": means[k], "covariance": np.array(c, dtype=np.float64)})
        return out
