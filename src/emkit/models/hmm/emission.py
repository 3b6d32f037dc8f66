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
:data:`DEAD_MASS`) has no data to estimate from: it gets what its family fits
from no data when that is a valid parameter (a Gaussian with a prior gets the
pooled data's mean and covariance), else it keeps its starting parameters.
Either changes no likelihood (the state is never entered) and keeps every
parameter finite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...distributions._base import Distribution, column_sums
from ...distributions.components import Components
from ...distributions.gaussian import Gaussian
from ...distributions.missing import MissingEntries
from .gaussian_fused import gaussian_e_step
from .recursions import frame_probabilities

__all__ = ["Emission", "DistributionEmission", "HmmlearnPoissonEmission", "DEAD_MASS"]

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
    #: Relative likelihood decrease tolerated per EM step for rounding (see
    #: emkit.engine); what an inexact M-step may cost is :meth:`monotone_slack`.
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

    def block_e_step(self, X: np.ndarray, offsets: np.ndarray, weights: np.ndarray | None,
                     prepared: Any, startprob: np.ndarray, transmat: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict] | None:
        """The whole E-step of one block of sequences in one compiled pass, or ``None``.

        ``None`` (the default) means: use :meth:`frame`, the forward-backward
        kernel and :meth:`stats`. A family with a fused kernel returns
        ``(logliks (n_sequences,), start (K,), visits (K,), trans (K, K), stats)``,
        the sums those three steps give (weighted by ``weights``, as there).
        """
        return None

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        """New emission parameters (those whose letter is in ``update``)."""
        raise NotImplementedError

    def log_prior(self, params: dict, update: str, live: np.ndarray) -> float:
        """Log prior (up to a constant) the MAP update maximizes with the likelihood.

        ``live`` (K,) marks the reachable states; the others are left out.
        """
        return 0.0

    def monotone_slack(self, stats: dict, fixed: dict, update: str) -> float:
        """How much :meth:`m_step` from ``stats`` may fall short of maximizing the
        emissions' part of EM's expected objective (0: an exact M-step)."""
        return 0.0

    def is_feasible(self, params: dict) -> bool:
        return True


class DistributionEmission(Emission):
    """Emissions from one :mod:`emkit.distributions` instance per state.

    Parameters
    ----------
    templates : sequence of n_components Distribution
        Each state's family and settings.
    letter : str, default "e"
        The ``params`` letter that updates the emissions (hmmlearn's
        ``PoissonHMM`` calls it ``"l"``).
    parameter_letters : mapping of str to tuple of str, optional
        One letter per group of distribution parameters, updated separately
        (``GaussianHMM``: ``{"m": ("mean",), "c": ("covariance",)}``); the
        parameters of a letter missing from ``params`` keep their starting
        values (the M-step of the others is the exact one given them).
    """

    def __init__(self, templates: Sequence[Distribution], letter: str = "e",
                 parameter_letters: Mapping[str, tuple[str, ...]] | None = None):
        self.parameter_letters = parameter_letters or {}
        self.letters = "".join(self.parameter_letters) or letter
        self.components = Components(templates)
        # the guard stays at rounding level: what a regularized M-step (reg_covar)
        # costs is monotone_slack, from the distributions' m_step_slack
        self._prior_memo: tuple[Any, tuple[str, bytes], float] | None = None

    def _updates(self, update: str) -> bool:
        return any(letter in update for letter in self.letters)

    def prepare(self, params: dict) -> list[Distribution]:
        return self.components.build(params["emissions"])

    def log_prob(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, Any]:
        missing = MissingEntries.of(X)
        if missing is not None:  # NaN entries: the observed entries' densities
            return self.components.log_prob_missing(X, prepared, missing), missing
        return self.components.log_prob(X, prepared), None

    def frame(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        missing = MissingEntries.of(X)
        if missing is not None:
            fast = self.components.frame_missing(X, prepared, missing)
            if fast is not None:
                return fast[0], fast[1], missing
            frame, shift = frame_probabilities(
                self.components.log_prob_missing(X, prepared, missing))
            return frame, shift, missing
        families = self.components.families
        if len(families) == 1:  # the family's own probabilities, when it has them
            fast = next(iter(families)).frame_components(prepared, X)
            if fast is not None:
                return fast[0], fast[1], None
        return super().frame(X, prepared)

    def block_e_step(self, X: np.ndarray, offsets: np.ndarray, weights: np.ndarray | None,
                     prepared: Any, startprob: np.ndarray, transmat: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict] | None:
        """Gaussian states (rows with NaN included): one pass per sequence
        (:func:`~emkit.models.hmm.gaussian_fused.gaussian_e_step`); ``None`` otherwise."""
        if set(self.components.families) != {Gaussian}:
            return None
        fused = gaussian_e_step(X, offsets, weights, prepared, startprob, transmat,
                                MissingEntries.of(X))
        if fused is None:
            return None
        logliks, start, visits, trans, per_state = fused
        post = np.array([float(s["n"]) for s in per_state])
        return logliks, start, visits, trans, {"post": post, "components": per_state}

    def stats(self, X: np.ndarray, gamma: np.ndarray, prepared: Any, extra: Any) -> dict:
        missing = extra if isinstance(extra, MissingEntries) else MissingEntries.of(X)
        if missing is not None:  # the missing entries' conditional expectations
            per_state = self.components.stats_missing(X, gamma, prepared, missing)
        else:
            per_state = self.components.stats(X, gamma, prepared)
        # the expected visits: the families' own weight sums ("n") when they all have one
        post = (np.array([float(s["n"]) for s in per_state]) if all("n" in s for s in per_state)
                else column_sums(gamma))
        return {"post": post, "components": per_state}

    def _frozen(self, fixed: dict, update: str) -> list[dict] | None:
        """Per state, the parameters whose letter is not in ``update`` (kept as given)."""
        kept = [name for letter, names in self.parameter_letters.items()
                if letter not in update for name in names]
        return [{name: p[name] for name in kept} for p in fixed["emissions"]] if kept else None

    def monotone_slack(self, stats: dict, fixed: dict, update: str) -> float:
        """The reachable states' :meth:`~emkit.distributions.components.Components.m_step_slack`
        (an unreachable state's parameters change no likelihood)."""
        if not self._updates(update):
            return 0.0
        live = np.asarray(stats["post"]) >= DEAD_MASS
        return self.components.m_step_slack(stats["components"], self._frozen(fixed, update),
                                            live)

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        if not self._updates(update):
            return {}
        start = fixed["emissions"]
        frozen = self._frozen(fixed, update)
        dead = np.asarray(stats["post"]) < DEAD_MASS
        templates = self.components.templates
        try:
            fitted = self.components.pack(self.components.fit(stats["components"], frozen))
        except (ValueError, ArithmeticError):
            if not np.any(dead):
                raise
            fitted = self._fit_live(stats["components"], frozen, ~dead, start)
        # an unreachable state keeps what its family fits from no data (e.g. the
        # pooled data's Gaussian) when that is valid, else its starting parameters
        return {"emissions": [start[k] if dead[k] and not templates[k].is_feasible(p) else p
                              for k, p in enumerate(fitted)]}

    def _fit_live(self, stats: list, frozen: list | None, live: np.ndarray,
                  start: list) -> list[dict]:
        """The M-step of the reachable states only (a family refused to fit one from no
        data, e.g. an Exponential rate); the others keep their starting parameters."""
        idx = np.flatnonzero(live)
        subset = Components([self.components.templates[k] for k in idx])
        fitted = subset.pack(subset.fit([stats[k] for k in idx],
                                        None if frozen is None else [frozen[k] for k in idx]))
        out = list(start)
        for k, p in zip(idx, fitted, strict=True):
            out[k] = p
        return out

    def log_prior(self, params: dict, update: str, live: np.ndarray) -> float:
        if not self._updates(update):
            return 0.0
        # a fit asks for the prior of each iteration's parameters three times (its
        # E-step, the monitor, the final history): the last value is kept, keyed by
        # the parameter list itself (held, so its id is not reused)
        emissions = params["emissions"]
        key = (update, np.asarray(live, dtype=bool).tobytes())
        memo = self._prior_memo
        if memo is not None and memo[0] is emissions and memo[1] == key:
            return memo[2]
        value = self.components.log_prior(self.prepare(params), live)
        self._prior_memo = (emissions, key, value)
        return value

    def is_feasible(self, params: dict) -> bool:
        return self.components.is_feasible(params["emissions"])


class HmmlearnPoissonEmission(DistributionEmission):
    """Poisson states with hmmlearn's ``PoissonHMM`` update for ``lambdas_prior/weight``.

    ``rate_k = (alpha + N ybar_k) / (beta + N)``, with ``ybar_k`` state ``k``'s
    posterior-weighted mean count and ``N`` the expected visits of *all* states:
    hmmlearn's rule, kept for compatibility. It is not the MAP of any prior (the
    objective is the likelihood), so a step may lower the likelihood by up to
    :meth:`monotone_slack`; without a prior (``alpha = beta = 0``) it is maximum
    likelihood, and :class:`DistributionEmission` with ``Poisson`` states is used.

    Parameters
    ----------
    templates : sequence of n_components Poisson
    lambdas_prior, lambdas_weight : float or ndarray broadcastable to (K, n_features)
    """

    def __init__(self, templates: Sequence[Distribution], lambdas_prior: Any,
                 lambdas_weight: Any):
        super().__init__(templates, letter="l")
        self.alphas = np.asarray(lambdas_prior, dtype=float)
        self.betas = np.asarray(lambdas_weight, dtype=float)

    def _rates(self, stats: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """hmmlearn's rates (K, D), with the visits (K,), the mean counts (K, D) and the
        reachable states (K,) they come from."""
        post = np.array([s["n"] for s in stats["components"]], dtype=float)
        obs = np.stack([s["sum"] for s in stats["components"]])
        live = post >= DEAD_MASS
        y_bar = obs / np.where(live, post, 1.0)[:, None]
        n = post.sum()
        return (self.alphas + n * y_bar) / (self.betas + n), post, y_bar, live

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        if not self._updates(update):
            return {}
        rates, post, _, live = self._rates(stats)
        start = fixed["emissions"]
        return {"emissions": [{"rate": rates[k]} if live[k] else start[k]
                              for k in range(len(post))]}

    def monotone_slack(self, stats: dict, fixed: dict, update: str) -> float:
        """What hmmlearn's rate costs against the exact maximizer ``ybar_k``.

        State ``k``'s part of EM's expected log-likelihood is, per feature,
        ``n_k (ybar log(rate) - rate)`` (plus terms free of the rate), maximized
        by ``rate = ybar``; the update's shortfall is
        ``n_k (rate - ybar - ybar log(rate / ybar))`` (``n_k rate`` where
        ``ybar = 0``), summed over the reachable states and features: exact, so
        the guard stays at rounding level.
        """
        if not self._updates(update):
            return 0.0
        rates, post, y_bar, live = self._rates(stats)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_term = np.where(y_bar > 0, y_bar * np.log(rates / np.where(y_bar > 0, y_bar,
                                                                           1.0)), 0.0)
        shortfall = post[:, None] * (rates - y_bar - log_term)
        return float(np.sum(shortfall[live]))

    def log_prior(self, params: dict, update: str, live: np.ndarray) -> float:
        return 0.0
