"""The explicit-duration hidden semi-Markov model as an :class:`~emkit.EMModel`.

Each state, once entered, lasts ``d >= 1`` frames with probability
``P(d | state)`` (see :mod:`emkit.models.hmm.semi_markov_durations`), emits
every frame from its emission distribution, then moves to *another* state by
``transmat`` (zero diagonal; an all-zero row is a terminal state, whose segment
can only be the censored last one). The first segment starts at the first frame; the
last is right-censored (see :mod:`emkit.models.hmm.semi_markov_recursions`).

Parameters (a dict): ``startprob`` (K,), ``transmat`` (K, K), ``duration``
(the family's array) and the emission's entries.

Statistics (additive over sequences): ``start``, ``trans``, ``visits`` as for
the HMM, ``durations`` (K, D) expected complete-duration counts (censored last
segments imputed at the current parameters), ``anchor`` / ``anchor_rows``
(the current duration parameters times the rows, for the numerical M-step of
the negative binomial) and the emission's statistics from the state posteriors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...engine.stats import tree_add
from ...numerics.simplex import on_simplex
from . import semi_markov_durations as durations
from .emission import DEAD_MASS, Emission
from .model import (
    BLOCK_ROWS,
    Sequences,
    _dirichlet_log,
    _normalize_rows,
    reachable_states,
    single_threaded_blas,
)
from .semi_markov_recursions import hsmm_forward_backward, hsmm_loglik, hsmm_viterbi
from .supervision import constrained_rows

__all__ = ["HSMMModel"]


class HSMMModel:
    """EM for the explicit-duration HSMM with one emission family.

    Parameters
    ----------
    emission : Emission
    n_components : int
    duration : {"poisson", "negative_binomial", "nonparametric"}
    max_duration : int
    params : str
        Letters updated by the M-step: ``s``, ``t``, ``d`` (durations) and the
        emission's letters.
    fixed : dict
        Initial parameters; their zero patterns (``startprob``, ``transmat``,
        a nonparametric duration table) are kept.
    startprob_prior, transmat_prior : float or ndarray
        Dirichlet concentrations (1: none).
    duration_prior : float or (float, float)
        Dirichlet concentration of each nonparametric duration row (1: none), or
        for Poisson durations ``(shape, rate)`` of a Gamma prior on each rate.
    block_rows : int
    total_rows : int or None
        Rows of the whole data set, to share the log prior between pieces.
    """

    def __init__(self, emission: Emission, n_components: int, duration: str,
                 max_duration: int, params: str, fixed: dict, startprob_prior: Any = 1.0,
                 transmat_prior: Any = 1.0, duration_prior: Any = 1.0,
                 block_rows: int = BLOCK_ROWS, total_rows: int | None = None):
        k = n_components
        self.emission = emission
        self.n_components = k
        self.duration = duration
        self.max_duration = int(max_duration)
        self.params = params
        self.fixed = fixed
        self.startprob_prior = np.broadcast_to(np.asarray(startprob_prior, float), (k,))
        self.transmat_prior = np.broadcast_to(np.asarray(transmat_prior, float), (k, k))
        self.duration_prior = float(duration_prior) if duration == "nonparametric" else 1.0
        self.rate_prior = durations.gamma_prior(duration_prior)
        self.start_mask = np.asarray(fixed["startprob"]) > 0
        self.trans_mask = (np.asarray(fixed["transmat"]) > 0) & ~np.eye(k, dtype=bool)
        self.duration_mask = (np.asarray(fixed["duration"]) > 0
                              if duration == "nonparametric" else None)
        self.block_rows = int(block_rows)
        self.total_rows = total_rows
        #: "startprob" / "transmat" -> boolean mask of entries kept at ``fixed``'s values
        self.frozen: dict = {}
        self.monotone_rtol = emission.monotone_rtol

    def log_pmf(self, params: dict) -> np.ndarray:
        """Log duration table (K, max_duration) at ``params``."""
        return durations.log_pmf_table(self.duration, params["duration"], self.max_duration)

    # -- E-step --------------------------------------------------------------
    def e_step(self, data: Sequences, params: dict) -> tuple[dict, float]:
        """Additive statistics of ``data`` at ``params`` and the log-posterior objective."""
        with single_threaded_blas():
            return self._e_step(data, params)

    def _e_step(self, data: Sequences, params: dict) -> tuple[dict, float]:
        k, dmax = self.n_components, self.max_duration
        prepared = self.emission.prepare(params)
        log_pmf = self.log_pmf(params)
        stats: dict = {"start": np.zeros(k), "trans": np.zeros((k, k)), "visits": np.zeros(k),
                       "durations": np.zeros((k, dmax))}
        censored = np.zeros((k, dmax))
        emission_stats = None
        total = 0.0
        evidence = data.log_evidence
        for lo, hi, offsets, weights in data.weighted_blocks(self.block_rows):
            X = data.X[lo:hi]
            log_frame, extra = self.emission.log_prob(X, prepared)
            if evidence is not None:  # known states / soft evidence per frame
                log_frame = log_frame + evidence[lo:hi]
            out = hsmm_forward_backward(log_frame, offsets, params["startprob"],
                                        params["transmat"], log_pmf, weights)
            ll = out["logliks"]
            self._check_possible(ll, offsets, lo)
            total += float(ll.sum() if weights is None else ll @ weights)
            gamma = out["gamma"]
            stats["start"] += out["start"]
            stats["trans"] += out["trans"]
            stats["visits"] += gamma.sum(axis=0)
            stats["durations"] += out["durations"]
            censored += out["censored"]
            block = self.emission.stats(X, gamma, prepared, extra)
            emission_stats = block if emission_stats is None else tree_add(emission_stats,
                                                                           block)
        if emission_stats is None:  # every sequence has weight 0
            _, extra = self.emission.log_prob(data.X[:1], prepared)
            emission_stats = self.emission.stats(data.X[:1], np.zeros((1, k)), prepared, extra)
        stats["durations"] = durations.impute_censored(stats["durations"], censored, log_pmf)
        rows = float(len(data.X))
        stats["anchor"] = rows * np.asarray(params["duration"], float)
        stats["anchor_rows"] = np.asarray(rows)
        stats["emission"] = emission_stats
        share = 1.0 if self.total_rows is None else len(data.X) / self.total_rows
        return stats, total + share * self.log_prior(params)

    # -- M-step --------------------------------------------------------------
    def m_step(self, stats: dict) -> dict:
        """MAP start and transition probabilities, durations and emissions."""
        out = dict(self.fixed)
        dead = stats["visits"] < DEAD_MASS
        if "s" in self.params:
            p = np.maximum(self.startprob_prior - 1.0 + stats["start"], 0.0)
            p = np.where(self.start_mask & ~dead, p, 0.0)
            out["startprob"] = _normalize_rows(p[None, :], self.start_mask[None, :])[0]
        if "t" in self.params:
            a = np.maximum(self.transmat_prior - 1.0 + stats["trans"], 0.0)
            out["transmat"] = _normalize_rows(np.where(self.trans_mask, a, 0.0),
                                              self.trans_mask)
        if "d" in self.params:
            rows = float(stats["anchor_rows"])
            anchor = (np.asarray(stats["anchor"]) / rows if rows > 0
                      else np.asarray(self.fixed["duration"]))
            out["duration"] = durations.fit_durations(self.duration, stats["durations"],
                                                      anchor, self.duration_prior
                                                      if self.duration == "nonparametric"
                                                      else self.rate_prior,
                                                      self.duration_mask)
        for key, rows in constrained_rows(self, stats, dead).items():
            partly = np.atleast_2d(self.frozen[key]).any(axis=1, keepdims=True)
            merged = np.where(partly, np.atleast_2d(rows), np.atleast_2d(out[key]))
            out[key] = merged[0] if key == "startprob" else merged
        out.update(self.emission.m_step(stats["emission"], self.fixed, self.params))
        return out

    def monotone_slack(self, stats: dict) -> float:
        """What the emissions' M-step may fall short by (the rest is exact or guarded)."""
        return self.emission.monotone_slack(stats["emission"], self.fixed, self.params)

    def log_prior(self, params: dict) -> float:
        """Log Dirichlet priors (up to constants) of the MAP M-step."""
        live = reachable_states(params["startprob"], params["transmat"])
        total = 0.0
        if "s" in self.params:
            total += _dirichlet_log(self.startprob_prior, params["startprob"])
        if "t" in self.params:
            total += _dirichlet_log(self.transmat_prior[live],
                                    np.asarray(params["transmat"])[live])
        if "d" in self.params and self.duration == "nonparametric":
            table = np.asarray(params["duration"])[live]
            total += _dirichlet_log(np.full(table.shape, self.duration_prior), table)
        if "d" in self.params and self.duration == "poisson":
            shape, rate = self.rate_prior  # Gamma on the rates, up to constants
            lam = np.asarray(params["duration"], dtype=float)[live, 0]
            with np.errstate(divide="ignore", invalid="ignore"):
                total += float(np.sum(np.where(shape == 1.0, 0.0, (shape - 1.0) * np.log(lam))
                                      - rate * lam))
        return total + self.emission.log_prior(params, self.params, live)

    def is_feasible(self, params: dict) -> bool:
        """Whether ``params`` are valid (screens SQUAREM's extrapolations)."""
        transmat = np.asarray(params["transmat"])
        terminal = ~self.trans_mask.any(axis=1)  # all-zero rows stay all zero
        if not (on_simplex(params["startprob"]) and on_simplex(transmat[~terminal])
                and np.all(transmat[terminal] == 0)):
            return False
        if np.any(np.diag(transmat) != 0):
            return False
        try:
            durations.check_duration_params(self.duration, np.asarray(params["duration"]),
                                            self.n_components, self.max_duration)
        except ValueError:
            return False
        return self.emission.is_feasible(params)

    # -- inference -------------------------------------------------------------
    def _check_possible(self, logliks: np.ndarray, offsets: np.ndarray, lo: int) -> None:
        """Raise ``ValueError`` for the first sequence of a block with probability zero.

        ``logliks`` (n_block_sequences,), ``offsets`` the block's local offsets and
        ``lo`` its first row.
        """
        bad = np.flatnonzero(~(np.asarray(logliks) > -np.inf))
        if bad.size == 0:
            return
        i = int(bad[0])
        raise ValueError(
            f"the sequence of {int(offsets[i + 1] - offsets[i])} rows from row "
            f"{lo + int(offsets[i])} has probability zero under startprob_, transmat_, "
            f"the durations (max_duration={self.max_duration}) and the emissions: no "
            "segmentation of it is possible (e.g. a left-right chain whose states, at most "
            "max_duration frames each, cannot cover it; raise max_duration or check the "
            "zeros of startprob_ and transmat_, and the fit's labels or priors)")

    def _log_frames(self, data: Sequences, params: dict) -> Any:
        prepared = self.emission.prepare(params)
        for lo, hi, offsets in data.blocks(self.block_rows):
            yield self.emission.log_prob(data.X[lo:hi], prepared)[0], offsets, lo

    def score_sequences(self, data: Sequences, params: dict) -> np.ndarray:
        """Log-likelihood of each sequence, shape (n_sequences,)."""
        log_pmf = self.log_pmf(params)
        with single_threaded_blas():
            return np.concatenate([
                hsmm_loglik(lf, off, params["startprob"], params["transmat"], log_pmf)
                for lf, off, _ in self._log_frames(data, params)])

    def posteriors(self, data: Sequences, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """Per-sequence log-likelihoods (n_sequences,) and state posteriors (n_samples, K)."""
        log_pmf = self.log_pmf(params)
        logliks, gammas = [], []
        with single_threaded_blas():
            for lf, off, lo in self._log_frames(data, params):
                out = hsmm_forward_backward(lf, off, params["startprob"], params["transmat"],
                                            log_pmf)
                self._check_possible(out["logliks"], off, lo)
                logliks.append(out["logliks"])
                gammas.append(out["gamma"])
        return np.concatenate(logliks), np.concatenate(gammas)

    def viterbi(self, data: Sequences, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """Segmental Viterbi: best log-probabilities (n_sequences,) and states (n_samples,)."""
        log_pmf = self.log_pmf(params)
        logprobs, states = [], []
        with single_threaded_blas():
            for lf, off, lo in self._log_frames(data, params):
                lp, path = hsmm_viterbi(lf, off, params["startprob"], params["transmat"],
                                        log_pmf)
                self._check_possible(lp, off, lo)
                logprobs.append(lp)
                states.append(path)
        return np.concatenate(logprobs), np.concatenate(states)
