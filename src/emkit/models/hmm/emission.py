"""How an HMM state emits its frames: the interface, and its implementation by any distribution.

:class:`Emission` is what :class:`~emkit.models.hmm.model.HMMModel` calls.
:class:`DistributionEmission` implements it with one
:mod:`emkit.distributions` instance per state through
:class:`~emkit.distributions.components.Components`, the same code that gives a
mixture its components: the log-density of every frame under every state, the
state-posterior-weighted sufficient statistics (additive over frames and
sequences), the M-step of each state's distribution, parameter counts and
priors. :class:`emkit.HMM` is the HMM with these emissions; the hmmlearn-named
classes use them where hmmlearn's updates are the distributions' own.

Parameters (the engine's tree): ``emissions``, a list of each state's
``parameters()`` tree. An unreachable state (expected visits below
:data:`DEAD_MASS`) has no data to estimate from: it keeps its starting
parameters, which changes no likelihood (it is never entered) and keeps every
parameter finite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...distributions._base import Distribution
from ...distributions.components import Components
from .recursions import frame_probabilities

__all__ = ["Emission", "DistributionEmission", "DEAD_MASS"]

#: Expected visits below which a state counts as unreachable.
DEAD_MASS = 1e-10


class Emission:
    """What :class:`~emkit.models.hmm.model.HMMModel` needs from the states' emissions.

    ``prepare(params)`` runs once per E-step; ``log_prob`` / ``frame`` give the
    per-row, per-state densities; ``stats`` folds the state posteriors into
    additive statistics; ``m_step`` turns summed statistics into parameters
    (those whose letter is in ``update``).
    """

    letters = ""
    #: Relative likelihood decrease tolerated per EM step (see emkit.engine).
    monotone_rtol = 1e-10

    def prepare(self, params: dict) -> Any:
        """Per-E-step precomputation (e.g. precision Cholesky factors)."""
        return params

    def log_prob(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, Any]:
        """Log-density of each row under each state, shape (n, K), and scratch for stats."""
        raise NotImplementedError

    def frame(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        """Emission probabilities as ``exp(log_prob - shift)``: (frame, shift, scratch)."""
        log_frame, extra = self.log_prob(X, prepared)
        frame, shift = frame_probabilities(log_frame)
        return frame, shift, extra

    def stats(self, X: np.ndarray, gamma: np.ndarray, prepared: Any, extra: Any) -> dict:
        """Additive statistics of the rows ``X`` weighted by posteriors ``gamma``."""
        raise NotImplementedError

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        """New emission parameters (those whose letter is in ``update``)."""
        raise NotImplementedError

    def log_prior(self, params: dict, update: str, live: np.ndarray) -> float:
        """Log prior (up to a constant) the MAP update maximizes with the likelihood.

        ``live`` (K,) marks the reachable states; the others are left out.
        """
        return 0.0

    def is_feasible(self, params: dict) -> bool:
        return True


class DistributionEmission(Emission):
    """Emissions from one :mod:`emkit.distributions` instance per state (letter ``e``).

    Parameters
    ----------
    templates : sequence of n_components Distribution
        Each state's family and settings.
    """

    letters = "e"

    def __init__(self, templates: Sequence[Distribution]):
        self.components = Components(templates)
        # a regularized M-step (reg_covar, a clipped Student-t dof) is not an exact
        # maximizer, so a converged run may drift down by rounding-sized amounts
        self.monotone_rtol = 1e-10 if self.components.exact_m_step else 1e-7

    def prepare(self, params: dict) -> list[Distribution]:
        return self.components.build(params["emissions"])

    def log_prob(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, Any]:
        return self.components.log_prob(X, prepared), None

    def stats(self, X: np.ndarray, gamma: np.ndarray, prepared: Any, extra: Any) -> dict:
        return {"post": gamma.sum(axis=0),
                "components": self.components.stats(X, gamma, prepared)}

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        if "e" not in update:
            return {}
        dead = np.asarray(stats["post"]) < DEAD_MASS
        start = fixed["emissions"]
        fitted = self.components.pack(self.components.fit(stats["components"]))
        return {"emissions": [start[k] if dead[k] else p for k, p in enumerate(fitted)]}

    def log_prior(self, params: dict, update: str, live: np.ndarray) -> float:
        if "e" not in update:
            return 0.0
        return self.components.log_prior(self.prepare(params), live)

    def is_feasible(self, params: dict) -> bool:
        return self.components.is_feasible(params["emissions"])

    def n_parameters(self, params: dict) -> int:
        """Free emission parameters of all states (shared ones counted once)."""
        return self.components.n_parameters(self.prepare(params))
