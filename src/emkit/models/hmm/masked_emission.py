"""HMM emissions with some entries of their per-state parameters frozen.

One job: wrap an :class:`~emkit.models.hmm.emission.Emission` so that its M-step
keeps the frozen entries (``masks``: per parameter name, one boolean mask per
state, True = frozen) at their starting values (``fixed``, bit for bit) and gives
the free entries the exact constrained M-step:

``rate`` (Poisson states)
    Each entry of a rate is its own maximization (plain or hmmlearn's
    ``lambdas_prior``/``lambdas_weight`` rule alike): the free entries are the
    unconstrained step's, the frozen ones are put back.
``probs`` (Categorical and Multinomial states)
    The free entries of a row share the mass the frozen ones leave, in
    proportion to their (prior-adjusted) expected counts (the Lagrangian
    solution, :func:`~emkit.numerics.shared_mass.shared_mass`).
``mean``, ``covariance`` (Gaussian states, hmmlearn's priors and ``min_covar`` included)
    :func:`~emkit.models.hmm.masked_gaussian.masked_gaussian_states`: free mean
    entries by the Gaussian conditional given the frozen ones (``full``,
    ``tied``) or entry by entry (``diag``, ``spherical``), free covariance entries
    about the constrained means (``diag`` per entry, ``spherical`` per state,
    ``full`` whole matrices per state), alternated to the joint maximum.
``state`` (any states: a mask of shape () per state)
    A frozen state keeps all its parameters; the others get the unconstrained
    step, which is theirs alone (states that share parameters, e.g. a tied
    Gaussian covariance, are refused unless frozen together).

Everything but the M-step is the wrapped emission's. Since the frozen entries are
copied from ``fixed``, SQUAREM's extrapolation (a combination of points that agree
there) keeps them too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...distributions.categorical import Categorical
from ...numerics.shared_mass import shared_mass
from .emission import Emission
from .masked_gaussian import masked_gaussian_states

__all__ = ["MaskedEmission", "MASKABLE_PARAMETERS"]

#: the per-state parameters that take an entry mask
MASKABLE_PARAMETERS = ("rate", "probs", "mean", "covariance", "state")


class MaskedEmission(Emission):
    """``inner`` with the entries ``masks[name][k]`` of state ``k``'s ``name`` frozen.

    Parameters
    ----------
    inner : Emission
        A :class:`~emkit.models.hmm.emission.DistributionEmission` (or its
        hmmlearn Poisson variant).
    masks : dict of str to list of K ndarray of bool
        Per parameter name (one of :data:`MASKABLE_PARAMETERS`), state ``k``'s
        mask of the shape of its parameter (True = frozen); ``"state"`` masks
        are of shape () and freeze whole states.
    """

    def __init__(self, inner: Emission, masks: dict[str, list[np.ndarray]]):
        unknown = sorted(set(masks) - set(MASKABLE_PARAMETERS))
        if unknown:
            raise ValueError(f"masks must be keyed by {MASKABLE_PARAMETERS}, got {unknown}")
        self.inner = inner
        self.masks = {name: [np.asarray(m, dtype=bool) for m in per_state]
                      for name, per_state in masks.items()}
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
        """The wrapped emission's: an upper bound, since the constrained step's
        shortfall from its own maximizer is at most the unconstrained one's."""
        return self.inner.monotone_slack(stats, fixed, update)

    def is_feasible(self, params: dict) -> bool:
        return self.inner.is_feasible(params)

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        """The wrapped M-step, with each partly frozen state's parameters replaced by
        their constrained maximizer (see the module notes)."""
        out = self.inner.m_step(stats, fixed, update)
        if "emissions" not in out:
            return out
        start = fixed["emissions"]
        emissions = list(out["emissions"])
        if "mean" in self.masks or "covariance" in self.masks:
            emissions = masked_gaussian_states(
                self.inner.components.templates,  # type: ignore[attr-defined]
                stats["components"], start, update, emissions,
                self.masks.get("mean"), self.masks.get("covariance"))
        for k, mask in enumerate(self.masks.get("rate", ())):
            if mask.any():
                given = np.asarray(start[k]["rate"], dtype=np.float64)
                fitted = np.asarray(emissions[k]["rate"], dtype=np.float64)
                emissions[k] = {**emissions[k], "rate": np.where(mask, given, fitted)}
        for k, mask in enumerate(self.masks.get("probs", ())):
            if mask.any():
                emissions[k] = {"probs": self._probs(stats["components"][k], start[k], mask,
                                                     k)}
        for k, mask in enumerate(self.masks.get("state", ())):
            if mask.all():
                emissions[k] = start[k]
        return {**out, "emissions": emissions}

    def _probs(self, stats: dict, start: dict, mask: np.ndarray, k: int) -> np.ndarray:
        template = self.inner.components.templates[k]  # type: ignore[attr-defined]
        counts = np.asarray(stats["counts"], dtype=np.float64)
        if isinstance(template, Categorical):  # its Dirichlet prior's pseudo-counts
            a = template._concentration(counts.shape)
            if a is not None:
                counts = np.maximum(counts + (a - 1.0), 0.0)
        return shared_mass(counts, np.asarray(start["probs"], dtype=np.float64), mask)
