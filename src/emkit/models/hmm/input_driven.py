"""An HMM whose transition probabilities are a multinomial logit of covariates.

Model
-----
Sequences of frames ``x_t`` with covariates ``u_t`` (one row per frame). With
``z~_t = [1, (u_t - centre) / half_range]`` (:class:`~emkit.numerics.design_scaling.Design`,
so ``|z~_tj| <= 1``),

    P(z_t = j | z_{t-1} = i, u_t) = softmax_j(z~_t' beta_ij),    beta_ii = 0,

staying in ``i`` being the reference category of row ``i``. The first frame of a
sequence draws from ``startprob`` or, optionally, from a multinomial logit of its
own covariates, ``softmax_k(z~_0' alpha_k)`` with ``alpha_0 = 0``. Each state
emits from a :mod:`emkit.distributions` instance
(:class:`~emkit.models.hmm.emission.DistributionEmission`).

Data: :class:`CovariateSequences` (frames, covariates, lengths, weights).

Parameters (a dict): ``startprob`` (K,) or ``start_coef`` (K, q + 1); ``trans``
(K, K, q + 1), both on the scaled design; ``emissions``.

E-step
------
The time-varying forward-backward of :mod:`.input_driven_recursions` gives the
posteriors ``gamma_t`` and the pair posteriors ``xi_t(i, j)``. EM's ``Q`` for
row ``i`` of the coefficients is the multinomial log-likelihood
``sum_t sum_j xi_t(i, j) log P_t(i, j)``: the concomitant-mixture objective of
:mod:`emkit.numerics.multinomial_logit` with responsibilities
``xi_t(i, .) / gamma_{t-1}(i)`` and row weights ``gamma_{t-1}(i)``, so its
gradient, minus its Hessian and its Gram matrix are sums over frames
(:func:`~emkit.numerics.multinomial_logit.mixing_stats`, with the columns of row
``i`` ordered ``i`` first). The point they are taken at travels as
``anchor = n_rows * beta`` (a row sum like the rest), so the statistics of pieces
of the data add up to those of the whole.

M-step
------
The emissions' own M-step; for the coefficients one safeguarded Newton step per
row (:func:`~emkit.numerics.multinomial_logit.mixing_m_step`), which raises
``Q`` (generalized EM), so the observed log-likelihood never falls. Without
covariates (``q = 0``) the maximizer is closed form,
``beta_ij = log(n_ij / n_ii)``: the plain HMM's ``transmat = n_ij / n_i``.

Frozen coefficients (``frozen``: boolean masks in the covariates' *own* units)
are linear constraints on the scaled coefficients, ``scaled = M original`` per
row (:func:`~emkit.numerics.multinomial_logit.own_unit_map`). The Newton step is
taken in the free original coordinates only
(:func:`~emkit.numerics.multinomial_logit.constrained_mixing_m_step`: gradient ``B'g``, minus the
Hessian ``B'HB`` for the basis ``B`` of the free directions), so the frozen ones
do not move; at ``q = 0`` the constrained maximizer is closed form
(:func:`_constrained_counts`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...engine.stats import tree_add
from ...numerics.design_scaling import Design
from ...numerics.logsumexp import logsumexp_rows
from ...numerics.multinomial_logit import (
    constrained_mixing_m_step,
    mixing_m_step,
    mixing_stats,
    own_unit_map,
)
from ...numerics.simplex import on_simplex
from .emission import DEAD_MASS, DistributionEmission
from .input_driven_recursions import forward_backward_tv, viterbi_tv
from .model import Sequences, check_lengths, reachable_states, sequence_groups, single_threaded_blas
from .supervision import with_evidence

__all__ = ["CovariateSequences", "InputDrivenHMMModel", "log_transitions"]

#: Most rows in one E-step block (the block holds (rows, K, K) transition arrays).
BLOCK_ROWS = 1 << 15


@dataclass(frozen=True)
class CovariateSequences:
    """Sequences stored back to back with one covariate row per frame.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    U : ndarray of shape (n_samples, n_covariates)
        Finite covariates; ``U[t]`` drives the transition into frame ``t``.
    lengths : ndarray of shape (n_sequences,), int64
    weights : ndarray of shape (n_sequences,) or None
    log_evidence : ndarray of shape (n_samples, n_components) or None
        Per-frame log-evidence (known states, soft evidence) added to each
        frame's emission log-likelihood.
    """

    X: np.ndarray
    U: np.ndarray
    lengths: np.ndarray
    weights: np.ndarray | None = None
    log_evidence: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, X: np.ndarray, U: np.ndarray, lengths: Any = None,
                    weights: np.ndarray | None = None) -> CovariateSequences:
        lengths = check_lengths(lengths, len(X))
        return cls(np.asarray(X), np.asarray(U, dtype=float), lengths, weights)

    @property
    def n_sequences(self) -> int:
        return len(self.lengths)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    def subset(self, index: Any) -> CovariateSequences:
        """The sequences selected by ``index`` (a slice or integer array), in order."""
        offsets = self.offsets
        chosen = np.arange(self.n_sequences)[index]
        rows = np.concatenate([np.arange(offsets[s], offsets[s + 1]) for s in chosen])
        weights = None if self.weights is None else self.weights[chosen]
        evidence = None if self.log_evidence is None else self.log_evidence[rows]
        return CovariateSequences(self.X[rows], self.U[rows], self.lengths[chosen], weights,
                                  evidence)

    def split(self, n_pieces: int) -> list[CovariateSequences]:
        """At most ``n_pieces`` groups of whole consecutive sequences, each with its
        frames' covariates and its sequences' weights (chunked and Dask backends)."""
        offsets = self.offsets
        out = []
        for a, b in sequence_groups(self.lengths, n_pieces):
            lo, hi = offsets[a], offsets[b]
            weights = None if self.weights is None else self.weights[a:b]
            evidence = None if self.log_evidence is None else self.log_evidence[lo:hi]
            out.append(CovariateSequences(self.X[lo:hi], self.U[lo:hi], self.lengths[a:b],
                                          weights, evidence))
        return out

    def blocks(self, block_rows: int = BLOCK_ROWS
               ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
        """``(row_start, row_stop, local_offsets, weights)`` of groups of whole sequences
        (sequences of weight 0 left out), as :meth:`Sequences.weighted_blocks`."""
        return Sequences(self.X, self.lengths, self.weights).weighted_blocks(block_rows)


def log_transitions(Zt: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``log P(z_t = j | z_{t-1} = i)``, shape (n, K, K), for design rows ``Zt``
    (n, q + 1) and coefficients ``coef`` (K, K, q + 1) on the same design."""
    k = coef.shape[0]
    logits = Zt @ coef.reshape(k * k, -1).T
    flat = logits.reshape(-1, k)
    with np.errstate(invalid="ignore"):
        out = flat - logsumexp_rows(flat)[:, None]
    return out.reshape(len(Zt), k, k)


def _constrained_counts(counts: np.ndarray, row: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Without covariates: the maximizer of ``sum_j n_j log softmax(b)_j`` over the free
    ``b_j`` (not the reference): ``b_j = log(n_j E / n_fixed)``, ``E = sum_fixed exp(b)``
    (``p_j = n_j / n``). Fixed entries without counts: no maximum; ``row`` is kept."""
    fixed = ~free
    n_fixed = float(counts[fixed].sum())
    out = np.array(row, dtype=float)
    if not free.any() or not n_fixed > 0.0:
        return out
    log_e = float(logsumexp_rows(out[fixed][None, :])[0])
    with np.errstate(divide="ignore"):
        out[free] = np.log(counts[free]) + (log_e - np.log(n_fixed))
    return out


def _constrained_startprob(start: np.ndarray, counts: np.ndarray,
                           frozen: np.ndarray) -> np.ndarray:
    """Free start probabilities share the mass the frozen ones leave, by their counts."""
    free = ~frozen
    out = np.array(start, dtype=float)
    total = float(counts[free].sum())
    if total > 0.0:
        rest = max(1.0 - float(out[frozen].sum()), 0.0)
        out[free] = rest * counts[free] / total
    return out


def _order(i: int, k: int) -> np.ndarray:
    """The columns of row ``i`` with the reference ``i`` first."""
    return np.array([i] + [j for j in range(k) if j != i])


class InputDrivenHMMModel:
    """Generalized EM for the input-driven HMM, as an :class:`~emkit.EMModel`.

    Parameters
    ----------
    emission : DistributionEmission
        The states' emissions.
    n_components : int
    design : Design
        The scaling of the covariates (its ``n_columns`` is ``q``).
    params : str
        Letters of what the M-step updates: ``s`` the start (probabilities or
        coefficients), ``t`` the transition coefficients, ``e`` the emissions.
    fixed : dict
        Starting parameters; those not updated are copied from here.
    start_covariates : bool
        Whether the first frame's state is a logit of its covariates.
    total_rows : int or None
        Rows of the whole data set, to share the emissions' log prior between pieces.
    block_rows : int

    Attributes
    ----------
    frozen : dict
        Boolean masks of entries kept at ``fixed``: ``"trans"`` (K, K, q + 1) and
        ``"start_coef"`` (K, q + 1) in the covariates' own units, ``"startprob"`` (K,).
    """

    def __init__(self, emission: DistributionEmission, n_components: int, design: Design,
                 params: str, fixed: dict, start_covariates: bool = False,
                 total_rows: int | None = None, block_rows: int = BLOCK_ROWS):
        self.emission = emission
        self.n_components = int(n_components)
        self.design = design
        self.params = params
        self.fixed = fixed
        self.start_covariates = bool(start_covariates)
        self.total_rows = total_rows
        self.block_rows = int(block_rows)
        self.monotone_rtol = emission.monotone_rtol
        self.frozen: dict[str, np.ndarray] = {}

    # -- pieces ------------------------------------------------------------
    def log_start(self, Zt_first: np.ndarray, params: dict) -> np.ndarray:
        """Log start probabilities of sequences whose first design rows are ``Zt_first``,
        shape (n_sequences, K)."""
        if self.start_covariates:
            a = Zt_first @ np.asarray(params["start_coef"], dtype=float).T
            return a - logsumexp_rows(a)[:, None]
        with np.errstate(divide="ignore"):
            log_pi = np.log(np.asarray(params["startprob"], dtype=float))
        return np.broadcast_to(log_pi, (len(Zt_first), self.n_components))

    def _blocks(self, data: CovariateSequences, params: dict, prepared: Any
                ) -> Iterator[tuple[int, int, np.ndarray, Any, np.ndarray, np.ndarray,
                                    np.ndarray]]:
        """Per block: rows, offsets, weights, design rows, log start and log transitions."""
        coef = np.asarray(params["trans"], dtype=float)
        for lo, hi, offsets, weights in data.blocks(self.block_rows):
            Zt = self.design.rows(data.U[lo:hi])
            yield (lo, hi, offsets, weights, Zt, self.log_start(Zt[offsets[:-1]], params),
                   log_transitions(Zt, coef))

    # -- E-step ------------------------------------------------------------
    def e_step(self, data: CovariateSequences, params: dict) -> tuple[dict, float]:
        """Additive statistics of ``data`` at ``params`` and the objective
        (log-likelihood plus the emissions' log prior, shared by rows)."""
        with single_threaded_blas():
            return self._e_step(data, params)

    def _e_step(self, data: CovariateSequences, params: dict) -> tuple[dict, float]:
        k, q1 = self.n_components, self.design.n_columns + 1
        prepared = self.emission.prepare(params)
        n_rows = float(len(data.X))
        stats: dict[str, Any] = {
            "rows": np.asarray(n_rows),
            "anchor_trans": n_rows * np.asarray(params["trans"], dtype=float),
            "start": np.zeros(k), "visits": np.zeros(k), "counts": np.zeros((k, k)),
            "logit": {"grad": np.zeros((k, k - 1, q1)),
                      "hess": np.zeros((k, (k - 1) * q1, (k - 1) * q1)),
                      "gram": np.zeros((k, q1, q1))},
        }
        if self.start_covariates:
            stats["anchor_start"] = n_rows * np.asarray(params["start_coef"], dtype=float)
            stats["start_logit"] = {"grad": np.zeros((k - 1, q1)),
                                    "hess": np.zeros(((k - 1) * q1, (k - 1) * q1)),
                                    "gram": np.zeros((q1, q1))}
        emission_stats = None
        total = 0.0
        for lo, hi, offsets, weights, Zt, log_start, log_a in self._blocks(data, params,
                                                                           prepared):
            X = data.X[lo:hi]
            frame, shift, extra = self.emission.frame(X, prepared)
            if data.log_evidence is not None:
                frame, shift = with_evidence(frame, shift, data.log_evidence[lo:hi])
            logliks, gamma, xi = forward_backward_tv(frame, shift, offsets, np.exp(log_start),
                                                     np.exp(log_a), weights)
            total += float(logliks.sum() if weights is None else logliks @ weights)
            first = offsets[:-1]
            stats["start"] += gamma[first].sum(axis=0)
            stats["visits"] += gamma.sum(axis=0)
            stats["counts"] += xi.sum(axis=0)
            if self.start_covariates:
                w = np.ones(len(first)) if weights is None else np.asarray(weights, float)
                with np.errstate(invalid="ignore", divide="ignore"):
                    resp = np.nan_to_num(gamma[first] / w[:, None])
                part = mixing_stats(Zt[first], resp, w, log_start)
                stats["start_logit"] = tree_add(stats["start_logit"], part)
            if q1 > 1:
                self._add_logit_stats(stats["logit"], Zt, xi, log_a)
            block = self.emission.stats(X, gamma, prepared, extra)
            emission_stats = block if emission_stats is None else tree_add(emission_stats,
                                                                           block)
        if emission_stats is None:  # every sequence has weight 0
            _, _, extra = self.emission.frame(data.X[:1], prepared)
            emission_stats = self.emission.stats(data.X[:1], np.zeros((1, k)), prepared, extra)
        stats["emission"] = emission_stats
        share = 1.0 if self.total_rows is None else n_rows / self.total_rows
        return stats, total + share * self.log_prior(params)

    def _add_logit_stats(self, out: dict, Zt: np.ndarray, xi: np.ndarray,
                         log_a: np.ndarray) -> None:
        """Add each origin row's gradient, Hessian and Gram matrix of ``Q`` to ``out``."""
        k = self.n_components
        origin = xi.sum(axis=2)  # gamma_{t-1}(i), times the weight; 0 on first rows
        for i in range(k):
            w = origin[:, i]
            rows = np.flatnonzero(w > 0)
            if rows.size == 0:
                continue
            order = _order(i, k)
            resp = xi[rows, i][:, order] / w[rows, None]
            part = mixing_stats(Zt[rows], resp, w[rows], log_a[rows, i][:, order])
            out["grad"][i] += part["grad"]
            out["hess"][i] += part["hess"]
            out["gram"][i] += part["gram"]

    # -- M-step ------------------------------------------------------------
    def m_step(self, stats: dict) -> dict:
        """Start and transition updates (closed form, or one safeguarded Newton step)
        and the emissions' M-step."""
        out = dict(self.fixed)
        k = self.n_components
        rows = float(stats["rows"])
        if "s" in self.params:
            if self.start_covariates:
                alpha = np.asarray(stats["anchor_start"], dtype=float) / rows
                if "start_coef" in self.frozen:
                    free = ~np.asarray(self.frozen["start_coef"], dtype=bool)
                    out["start_coef"] = constrained_mixing_m_step(
                        alpha, stats["start_logit"], free, own_unit_map(self.design),
                        "the start's multinomial logit")
                else:
                    out["start_coef"] = mixing_m_step(
                        alpha, stats["start_logit"]) if k > 1 else np.zeros_like(alpha)
            elif "startprob" in self.frozen:
                out["startprob"] = _constrained_startprob(
                    self.fixed["startprob"], np.asarray(stats["start"], dtype=float),
                    self.frozen["startprob"])
            else:
                start = np.asarray(stats["start"], dtype=float)
                out["startprob"] = start / start.sum() if start.sum() > 0 else \
                    np.asarray(self.fixed["startprob"], dtype=float)
        if "t" in self.params and k > 1:
            anchor = np.asarray(stats["anchor_trans"], dtype=float) / rows
            out["trans"] = self._transition_step(anchor, stats)
        out.update(self.emission.m_step(stats["emission"], self.fixed, self.params))
        return out

    def _transition_step(self, anchor: np.ndarray, stats: dict) -> np.ndarray:
        k = self.n_components
        origin = np.asarray(stats["counts"], dtype=float).sum(axis=1)
        new = anchor.copy()
        frozen = self.frozen.get("trans")
        for i in range(k):
            if origin[i] < DEAD_MASS:  # never left: nothing to estimate row i from
                continue
            if frozen is not None and frozen[i][_order(i, k)[1:]].any():
                new[i] = self._frozen_row(i, anchor[i], stats, frozen[i])
                continue
            if self.design.n_columns == 0:
                counts = np.asarray(stats["counts"][i], dtype=float)
                with np.errstate(divide="ignore"):
                    logc = np.log(counts)
                ref = logc[i] if counts[i] > 0 else np.log(counts.sum())
                new[i, :, 0] = logc - ref
                continue
            order = _order(i, k)
            logit = {key: np.asarray(value[i], dtype=float)
                     for key, value in stats["logit"].items()}
            step = mixing_m_step(anchor[i][order], logit)
            new[i][order] = step
        return new

    def _frozen_row(self, i: int, anchor: np.ndarray, stats: dict,
                    frozen: np.ndarray) -> np.ndarray:
        """Row ``i`` (K, q + 1) of the coefficients with the entries ``frozen`` kept."""
        k = self.n_components
        if self.design.n_columns == 0:
            free = ~frozen[:, 0]
            free[i] = False
            out = anchor.copy()
            out[:, 0] = _constrained_counts(np.asarray(stats["counts"][i], dtype=float),
                                            anchor[:, 0], free)
            return out
        order = _order(i, k)
        logit = {key: np.asarray(value[i], dtype=float) for key, value in stats["logit"].items()}
        out = anchor.copy()
        out[order] = constrained_mixing_m_step(anchor[order], logit,
                                               ~np.asarray(frozen[order], dtype=bool),
                                               own_unit_map(self.design),
                                               f"the transitions out of state {i}")
        return out

    def monotone_slack(self, stats: dict) -> float:
        """What the emissions' M-step may cost (the logit steps never lower ``Q``)."""
        return self.emission.monotone_slack(stats["emission"], self.fixed, self.params)

    def log_prior(self, params: dict) -> float:
        """The emissions' log prior over the states some path can visit."""
        k = self.n_components
        coef = np.asarray(params["trans"], dtype=float)
        possible = np.isfinite(coef).all(axis=2) | np.eye(k, dtype=bool)
        start = (np.ones(k) if self.start_covariates
                 else np.asarray(params["startprob"], dtype=float))
        live = reachable_states(start, possible.astype(float))
        return self.emission.log_prior(params, self.params, live)

    def is_feasible(self, params: dict) -> bool:
        """Whether ``params`` are valid (screens SQUAREM's extrapolations)."""
        coef = np.asarray(params["trans"], dtype=float)
        if np.any(np.isnan(coef)) or np.any(coef == np.inf):
            return False
        if "startprob" in params and not on_simplex(params["startprob"]):
            return False
        if "start_coef" in params and not np.all(np.isfinite(params["start_coef"])):
            return False
        return self.emission.is_feasible(params)

    # -- inference -----------------------------------------------------------
    def posteriors(self, data: CovariateSequences, params: dict
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Per-sequence log-likelihoods (n_sequences,) and posteriors (n_samples, K)."""
        prepared = self.emission.prepare(params)
        logliks, gammas = [], []
        with single_threaded_blas():
            for lo, hi, offsets, _, _, log_start, log_a in self._blocks(data, params,
                                                                        prepared):
                frame, shift, _ = self.emission.frame(data.X[lo:hi], prepared)
                ll, gamma, _ = forward_backward_tv(frame, shift, offsets, np.exp(log_start),
                                                   np.exp(log_a))
                logliks.append(ll)
                gammas.append(gamma)
        return np.concatenate(logliks), np.concatenate(gammas)

    def score_sequences(self, data: CovariateSequences, params: dict) -> np.ndarray:
        """Log-likelihood of each sequence, shape (n_sequences,)."""
        return self.posteriors(data, params)[0]

    def viterbi(self, data: CovariateSequences, params: dict
                ) -> tuple[np.ndarray, np.ndarray]:
        """Per-sequence best-path log-probabilities and the paths (n_samples,)."""
        prepared = self.emission.prepare(params)
        logprobs, states = [], []
        with single_threaded_blas():
            for lo, hi, offsets, _, _, log_start, log_a in self._blocks(data, params,
                                                                        prepared):
                log_frame, _ = self.emission.log_prob(data.X[lo:hi], prepared)
                lp, path = viterbi_tv(log_frame, offsets, log_start, log_a)
                logprobs.append(lp)
                states.append(path)
        return np.concatenate(logprobs), np.concatenate(states)
