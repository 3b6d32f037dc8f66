"""The hidden Markov model on the EM engine: Baum-Welch as an :class:`~emkit.EMModel`.

Data
----
:class:`Sequences` holds the rows ``X`` of all sequences back to back and their
``lengths``. ``HMMModel.e_step`` works on any :meth:`Sequences.subset`, so a
backend may map it over groups of sequences and add the results.

Parameters (a dict)
-------------------
``startprob`` (K,), ``transmat`` (K, K), plus the emission family's entries
(see :mod:`emkit.models.hmm.emission`).

Statistics (a dict, additive over sequences)
--------------------------------------------
``start`` (K,): posterior of the first state of each sequence, summed;
``trans`` (K, K): expected transition counts ``sum_t xi_t(i, j)``;
``emission``: the emission family's weighted statistics, built from the
posteriors ``gamma_t(k)`` (see the family). With sequence weights
(:attr:`Sequences.weights`), each sequence's posteriors, transition counts and
log-likelihood are multiplied by its weight; the priors are not.

The E-step streams: it takes consecutive sequences in blocks of at most
``block_rows`` rows (a longer sequence is a block of its own), computes the
emission log-densities, runs the compiled forward-backward over the block's
sequences in parallel, folds the posteriors into the statistics and drops them.
Memory is therefore bounded by the largest block, not by the data.

Objective
---------
The value ``e_step`` returns is the log-likelihood plus the log-density of the
Dirichlet (and emission) priors, the quantity the MAP M-step increases
(hmmlearn's priors; it is exactly the log-likelihood at the default priors).
To stay additive over pieces of the data, each call adds the share
``n_rows / total_rows`` of the log prior, so the pieces of a data set of
``total_rows`` rows add up to one whole prior. :meth:`HMMModel.log_prior`
gives the prior so callers can report the plain log-likelihood.

Unreachable states
------------------
A state whose expected number of visits is below :data:`DEAD_MASS` has no data
to estimate from, so the M-step removes it: its start probability and every
transition into it become 0 (it stays unreachable), its own transition row
becomes uniform over the entries allowed by the initial ``transmat``, and its
emission parameters become those of the pooled data (the emission family says
how). Nothing is divided by zero, so no NaN appears; the priors' term of the
objective leaves unreachable states out (:func:`reachable_states`).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ...engine.stats import tree_add
from ...numerics.simplex import on_simplex
from . import recursions as kernels
from .emission import DEAD_MASS, Emission
from .supervision import constrained_rows, with_evidence

__all__ = ["Sequences", "HMMModel", "DEAD_MASS", "check_lengths", "reachable_states",
           "sequence_groups"]

#: Default most rows in one E-step block.
BLOCK_ROWS = 1 << 18


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """BLAS limited to one thread inside an HMM E-step.

    The E-step's matrix products are small (features x features); the
    parallelism is across sequences, in the compiled kernels. Threaded BLAS on
    such products costs far more in thread hand-offs than it saves (measured
    5x slower full-covariance fits on a busy 2-core machine).
    """
    try:
        return _blas_controller().limit(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl missing or unusable
        return contextlib.nullcontext()


def check_lengths(lengths: Any, n_samples: int) -> np.ndarray:
    """Validate ``lengths`` against ``n_samples``; ``None`` means one sequence.

    Raises
    ------
    ValueError
        When a length is not a positive integer or the lengths do not sum to
        ``n_samples``.
    """
    if lengths is None:
        if n_samples == 0:
            raise ValueError("X has no rows; an HMM needs at least one observation")
        return np.array([n_samples], dtype=np.int64)
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"lengths must be a non-empty 1-D list of integers, got shape "
                         f"{arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(arr == np.round(arr)):
            raise ValueError("lengths must be integers")
    arr = arr.astype(np.int64)
    if np.any(arr <= 0):
        bad = np.flatnonzero(arr <= 0)
        raise ValueError(
            f"lengths must be positive: sequence(s) {bad[:5].tolist()} have length "
            f"{arr[bad[:5]].tolist()} (zero-length sequences are not allowed)"
        )
    if int(arr.sum()) != n_samples:
        raise ValueError(f"lengths sum to {int(arr.sum())} but X has {n_samples} rows")
    return arr


def sequence_groups(lengths: np.ndarray, n_pieces: int) -> list[tuple[int, int]]:
    """``(first, stop)`` sequence ranges of at most ``n_pieces`` consecutive groups with
    balanced row counts (each group holds at least one sequence)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size == 0:
        return [(0, 0)]
    ends = np.cumsum(lengths)
    targets = np.linspace(0, ends[-1], max(1, int(n_pieces)) + 1)[1:-1]
    cuts = np.unique(np.searchsorted(ends, targets, side="left") + 1)
    edges = [0, *[int(c) for c in cuts if 0 < c < lengths.size], int(lengths.size)]
    return list(itertools.pairwise(edges))


@dataclass(frozen=True)
class Sequences:
    """Several sequences stored back to back.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows of every sequence, in order.
    lengths : ndarray of shape (n_sequences,), int64
        Rows per sequence; they sum to ``n_samples``.
    log_evidence : ndarray of shape (n_samples, n_components) or None
        Per-frame log-evidence added to each frame's emission log-likelihood
        (known states: 0 at the state, ``-inf`` elsewhere; soft evidence: the log
        of its row), see :mod:`emkit.estimators._supervision`.
    weights : ndarray of shape (n_sequences,) or None
        Non-negative weight of each sequence in the E-step (``None``: all 1):
        its statistics and log-likelihood are multiplied by it, so an integer
        weight counts the sequence that many times and 0 leaves it out.
    """

    X: np.ndarray
    lengths: np.ndarray
    weights: np.ndarray | None = None
    log_evidence: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, X: np.ndarray, lengths: Any = None,
                    weights: np.ndarray | None = None) -> Sequences:
        """Build from ``X`` and ``lengths`` (``None``: one sequence), validating them.

        ``weights`` (n_sequences,), if given, must already be checked (see
        :func:`emkit.estimators._hmm_weights.check_sample_weight`).
        """
        X = np.asarray(X)
        lengths = check_lengths(lengths, len(X))
        if weights is not None:
            weights = np.asarray(weights, dtype=float)
            if weights.shape != lengths.shape:
                raise ValueError(f"sample_weight must have one entry per sequence "
                                 f"({len(lengths)}), got shape {weights.shape}")
        return cls(X, lengths, weights)

    @property
    def offsets(self) -> np.ndarray:
        """Start row of each sequence followed by ``n_samples``, shape (n_sequences + 1,)."""
        return np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    @property
    def n_sequences(self) -> int:
        return len(self.lengths)

    def subset(self, index: Any) -> Sequences:
        """The sequences selected by ``index`` (a slice or integer array), in order."""
        offsets = self.offsets
        chosen = np.arange(self.n_sequences)[index]
        rows = np.concatenate([np.arange(offsets[s], offsets[s + 1]) for s in chosen])
        weights = None if self.weights is None else self.weights[chosen]
        evidence = None if self.log_evidence is None else self.log_evidence[rows]
        return Sequences(self.X[rows], self.lengths[chosen], weights, evidence)

    def split(self, n_pieces: int) -> list[Sequences]:
        """At most ``n_pieces`` groups of whole consecutive sequences with balanced row
        counts, each with its own sequences' weights (for the chunked and Dask backends)."""
        offsets = self.offsets
        out = []
        for a, b in sequence_groups(self.lengths, n_pieces):
            lo, hi = offsets[a], offsets[b]
            weights = None if self.weights is None else self.weights[a:b]
            evidence = None if self.log_evidence is None else self.log_evidence[lo:hi]
            out.append(Sequences(self.X[lo:hi], self.lengths[a:b], weights, evidence))
        return out

    def weighted_blocks(self, block_rows: int = BLOCK_ROWS
                        ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
        """Like :meth:`blocks`, with the weights of the block's sequences:
        ``(row_start, row_stop, local_offsets, weights)``, ``weights`` of shape
        (n_block_sequences,) or ``None`` when there are no weights.

        A block holds sequences of any (positive) weights; sequences of weight 0
        are left out (each run of consecutive positive weights is cut into blocks).
        """
        if self.weights is None:
            for lo, hi, local in self.blocks(block_rows):
                yield lo, hi, local, None
            return
        w = self.weights
        offsets = self.offsets
        positive = np.concatenate([[False], w > 0, [False]])
        edges = np.flatnonzero(np.diff(positive.astype(np.int8)))
        for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            base = int(offsets[a])
            run = Sequences(self.X[base:offsets[b]], self.lengths[a:b])
            for lo, hi, local in run.blocks(block_rows):
                first = a + int(np.searchsorted(run.offsets, lo))
                yield lo + base, hi + base, local, w[first:first + len(local) - 1]

    def blocks(self, block_rows: int = BLOCK_ROWS) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(row_start, row_stop, local_offsets)`` for consecutive groups of sequences."""
        offsets = self.offsets
        first = 0
        while first < self.n_sequences:
            last = int(np.searchsorted(offsets, offsets[first] + block_rows, side="right")) - 1
            last = max(last, first + 1)
            yield (int(offsets[first]), int(offsets[last]),
                   offsets[first:last + 1] - offsets[first])
            first = last


class HMMModel:
    """Baum-Welch for one emission family, as an :class:`~emkit.EMModel`.

    Parameters
    ----------
    emission : Emission
        The emission family (see :mod:`emkit.models.hmm.emission`).
    n_components : int
        Number of hidden states K.
    params : str
        Letters of the parameters the M-step updates (``"s"`` startprob,
        ``"t"`` transmat, plus the emission family's letters); the others keep
        their values in ``fixed``.
    fixed : dict
        Initial parameters; those not updated are copied from here, and the
        zero pattern of ``startprob``/``transmat`` is kept (as hmmlearn does).
    startprob_prior, transmat_prior : float or ndarray
        Dirichlet concentrations, broadcast to (K,) and (K, K).
    block_rows : int
        Most rows in one E-step block (see the module docstring).
    total_rows : int or None
        Rows of the whole data set, to share the log prior between pieces
        (``None``: every call adds the whole prior).
    """

    def __init__(self, emission: Emission, n_components: int, params: str, fixed: dict,
                 startprob_prior: Any = 1.0, transmat_prior: Any = 1.0,
                 block_rows: int = BLOCK_ROWS, total_rows: int | None = None,
                 frozen: dict | None = None):
        k = n_components
        self.emission = emission
        self.n_components = k
        self.params = params
        self.fixed = fixed
        #: "startprob" / "transmat" -> boolean mask of entries kept at ``fixed``'s values
        self.frozen = {} if frozen is None else dict(frozen)
        self.startprob_prior = np.broadcast_to(np.asarray(startprob_prior, float), (k,))
        self.transmat_prior = np.broadcast_to(np.asarray(transmat_prior, float), (k, k))
        self.start_mask = np.asarray(fixed["startprob"]) > 0
        self.trans_mask = np.asarray(fixed["transmat"]) > 0
        self.block_rows = int(block_rows)
        self.total_rows = total_rows
        self.monotone_rtol = emission.monotone_rtol

    # -- E-step ------------------------------------------------------------
    def e_step(self, data: Sequences, params: dict) -> tuple[dict, float]:
        """Additive statistics of ``data`` at ``params`` and the log-posterior objective."""
        with single_threaded_blas():
            return self._e_step(data, params)

    def _e_step(self, data: Sequences, params: dict) -> tuple[dict, float]:
        prepared = self.emission.prepare(params)
        start = np.zeros(self.n_components)
        visits = np.zeros(self.n_components)
        trans = np.zeros((self.n_components, self.n_components))
        emission_stats = None
        total = 0.0
        workspace: dict = {}  # the kernels' scratch arrays, reused from block to block
        evidence = data.log_evidence
        for lo, hi, offsets, weights in data.weighted_blocks(self.block_rows):
            X = data.X[lo:hi]
            fused = None if evidence is not None else self.emission.block_e_step(
                X, offsets, weights, prepared, params["startprob"], params["transmat"])
            if fused is not None:  # the family's one-pass kernel: the same sums
                logliks, block_start, block_visits, xi, block = fused
                total += float(logliks.sum() if weights is None else logliks @ weights)
                start += block_start
                visits += block_visits
                trans += xi
                emission_stats = block if emission_stats is None else tree_add(emission_stats,
                                                                               block)
                continue
            frame, shift, extra = self.emission.frame(X, prepared)
            if evidence is not None:
                frame, shift = with_evidence(frame, shift, evidence[lo:hi])
            # the kernel weights the posteriors and transition counts as it writes them;
            # every other statistic is linear in the posteriors
            logliks, gamma, xi = kernels.forward_backward(
                None, offsets, params["startprob"], params["transmat"], frame, shift,
                overwrite_frame=True, workspace=workspace, weights=weights)
            total += float(logliks.sum() if weights is None else logliks @ weights)
            start += gamma[offsets[:-1]].sum(axis=0)
            visits += np.ones(len(gamma)) @ gamma  # a BLAS product: faster than sum(axis=0)
            trans += xi
            block = self.emission.stats(X, gamma, prepared, extra)
            emission_stats = block if emission_stats is None else tree_add(emission_stats,
                                                                           block)
        if emission_stats is None:  # every sequence has weight 0: zero statistics
            _, _, extra = self.emission.frame(data.X[:1], prepared)
            emission_stats = self.emission.stats(data.X[:1], np.zeros((1, self.n_components)),
                                                 prepared, extra)
        stats = {"start": start, "trans": trans, "visits": visits,
                 "emission": emission_stats}
        share = 1.0 if self.total_rows is None else len(data.X) / self.total_rows
        return stats, total + share * self.log_prior(params)

    # -- M-step ------------------------------------------------------------
    def m_step(self, stats: dict) -> dict:
        """MAP startprob/transmat (hmmlearn's Dirichlet update) and emission parameters."""
        out = dict(self.fixed)
        dead = stats["visits"] < DEAD_MASS
        if "s" in self.params:
            p = np.maximum(self.startprob_prior - 1.0 + stats["start"], 0.0)
            p = np.where(self.start_mask & ~dead, p, 0.0)
            out["startprob"] = _normalize_rows(p[None, :], self.start_mask[None, :])[0]
        if "t" in self.params:
            a = np.maximum(self.transmat_prior - 1.0 + stats["trans"], 0.0)
            a = _normalize_rows(np.where(self.trans_mask, a, 0.0), self.trans_mask)
            if np.any(dead):  # nothing enters a dead state any more
                kept = np.where(dead[None, :], 0.0, a)
                a = np.where(kept.sum(axis=1, keepdims=True) > 0,
                             _normalize_rows(kept, self.trans_mask), a)
            out["transmat"] = a
        for key, rows in constrained_rows(self, stats, dead).items():
            partly = np.atleast_2d(self.frozen[key]).any(axis=1, keepdims=True)
            merged = np.where(partly, np.atleast_2d(rows), np.atleast_2d(out[key]))
            out[key] = merged[0] if key == "startprob" else merged
        out.update(self.emission.m_step(stats["emission"], self.fixed, self.params))
        return out

    def monotone_slack(self, stats: dict) -> float:
        """How much the M-step from ``stats`` may lower the objective (for the engine's
        guard): the start and transition updates are the exact MAP, so it is the
        emissions' :meth:`~emkit.models.hmm.emission.Emission.monotone_slack`."""
        return self.emission.monotone_slack(stats["emission"], self.fixed, self.params)

    # -- objective pieces ----------------------------------------------------
    def log_prior(self, params: dict) -> float:
        """Log prior density (up to a constant) that the MAP M-step adds to the likelihood.

        Unreachable states (see :func:`reachable_states`) are left out: their
        parameters are set without their prior and affect no likelihood.
        """
        live = reachable_states(params["startprob"], params["transmat"])
        total = 0.0
        if "s" in self.params:
            total += _dirichlet_log(self.startprob_prior, params["startprob"])
        if "t" in self.params:
            total += _dirichlet_log(self.transmat_prior[live],
                                    np.asarray(params["transmat"])[live])
        return total + self.emission.log_prior(params, self.params, live)

    def is_feasible(self, params: dict) -> bool:
        """Whether ``params`` are valid (used to screen SQUAREM's extrapolations)."""
        for key in ("startprob", "transmat"):
            if not on_simplex(params[key]):
                return False
        return self.emission.is_feasible(params)

    # -- inference -----------------------------------------------------------
    def score_sequences(self, data: Sequences, params: dict) -> np.ndarray:
        """Log-likelihood of each sequence, shape (n_sequences,)."""
        prepared = self.emission.prepare(params)
        out = []
        with single_threaded_blas():
            for lo, hi, offsets in data.blocks(self.block_rows):
                frame, shift, _ = self.emission.frame(data.X[lo:hi], prepared)
                out.append(kernels.forward_loglik(None, offsets, params["startprob"],
                                                  params["transmat"], frame, shift))
        return np.concatenate(out)

    def posteriors(self, data: Sequences, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """Per-sequence log-likelihoods (n_sequences,) and posteriors (n_samples, K)."""
        prepared = self.emission.prepare(params)
        logliks, gammas = [], []
        with single_threaded_blas():
            for lo, hi, offsets in data.blocks(self.block_rows):
                frame, shift, _ = self.emission.frame(data.X[lo:hi], prepared)
                ll, gamma, _ = kernels.forward_backward(None, offsets, params["startprob"],
                                                        params["transmat"], frame, shift,
                                                        overwrite_frame=True)
                logliks.append(ll)
                gammas.append(gamma)
        return np.concatenate(logliks), np.concatenate(gammas)

    def viterbi(self, data: Sequences, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """Per-sequence best-path log-probabilities and the paths (n_samples,)."""
        prepared = self.emission.prepare(params)
        logprobs, states = [], []
        with single_threaded_blas():
            for lo, hi, offsets in data.blocks(self.block_rows):
                log_frame, _ = self.emission.log_prob(data.X[lo:hi], prepared)
                lp, path = kernels.viterbi(log_frame, offsets, params["startprob"],
                                           params["transmat"])
                logprobs.append(lp)
                states.append(path)
        return np.concatenate(logprobs), np.concatenate(states)


def reachable_states(startprob: np.ndarray, transmat: np.ndarray) -> np.ndarray:
    """Boolean mask (K,) of the states some path with positive probability can visit."""
    live = np.asarray(startprob) > 0
    step = np.asarray(transmat) > 0
    while True:
        grown = live | step[live].any(axis=0)
        if np.array_equal(grown, live):
            return live
        live = grown


def _normalize_rows(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to one; an all-zero row becomes uniform over ``mask``."""
    sums = a.sum(axis=1, keepdims=True)
    dead = sums[:, 0] <= 0
    out = a / np.where(sums > 0, sums, 1.0)
    if np.any(dead):
        m = mask[dead].astype(float)
        out[dead] = m / np.maximum(m.sum(axis=1, keepdims=True), 1.0)
    return out


def _dirichlet_log(prior: np.ndarray, p: np.ndarray) -> float:
    """``sum (prior - 1) log p`` over entries with ``p > 0`` (unnormalized Dirichlet)."""
    weight = prior - 1.0
    use = (p > 0) & (weight != 0)
    if not np.any(use):
        return 0.0
    return float(np.sum(weight[use] * np.log(p[use])))
