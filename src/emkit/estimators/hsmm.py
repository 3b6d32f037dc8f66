"""``emkit.HSMM``: the explicit-duration hidden semi-Markov model.

Each state, once entered, lasts ``d >= 1`` frames with probability
``durations_[state, d - 1]``, emits each frame from its emission distribution,
then moves to another state by ``transmat_`` (zero diagonal: the duration
model replaces self-transitions). Fitting is EM on :func:`emkit.em` with
:class:`~emkit.models.hmm.semi_markov.HSMMModel`; the rest of the machinery
(monitor, ``n_init``, weights, NaN frames, saving) is :class:`emkit.HMM`'s.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .. import backends
from ..models.hmm import semi_markov_durations as durations
from ..models.hmm.model import Sequences, check_lengths
from ..models.hmm.semi_markov import HSMMModel
from ._hmm_supervision import Supervision, longest_labelled_run
from .hmm_distribution import HMM

__all__ = ["HSMM"]


class HSMM(HMM):
    """Hidden semi-Markov model (explicit durations) with any emkit emission.

    **Duration convention.** Durations are ``d = 1 .. max_duration``;
    ``"poisson"`` and ``"negative_binomial"`` (NB(r, p), scipy's ``nbinom``)
    are on ``d - 1``, truncated at ``max_duration`` and renormalized;
    ``"nonparametric"`` is a probability vector over ``1 .. max_duration``.
    The first segment starts at the first frame of a sequence; the last
    segment is **right-censored**: it lasts at least until the last frame
    (probability ``P(duration >= observed length)``). ``score``,
    ``predict_proba``, ``predict`` and ``fit`` all use this convention.

    **Left-right topologies.** Zeros of ``startprob_`` and ``transmat_`` stay
    zero through fitting. A row of ``transmat_`` may be all zero: a *terminal*
    state, whose segment can only end with the sequence (it is the censored last
    segment; its durations are fitted from those). A sequence with probability
    zero under the parameters (say longer than a left-right chain's states can
    last, ``max_duration`` frames each) makes ``fit``, ``predict``, ``decode``
    and ``predict_proba`` raise ``ValueError``; its ``score`` is ``-inf``.

    Parameters
    ----------
    emission : Distribution or list of Distribution
        As for :class:`emkit.HMM`.
    n_components : int, default 1
    duration : {"poisson", "negative_binomial", "nonparametric"}, default "poisson"
    max_duration : int or None, default None
        Longest duration; ``None`` means the longest sequence of the fit.
    duration_prior : float or (float, float), default 1.0
        Nonparametric durations: the Dirichlet concentration of each row (1: none).
        Poisson durations: ``(shape, rate)`` of a Gamma prior on each rate of
        ``d - 1`` (shape >= 1, rate >= 0; the MAP M-step solves
        ``N m(lambda) + rate lambda = N xbar + shape - 1``, ``m`` the truncated
        mean; without truncation ``(N xbar + shape - 1) / (N + rate)``); 1.0: none.
        Negative binomial durations take no prior (1.0).
    params, init_params : str, default "stde"
        ``s`` startprob, ``t`` transmat, ``d`` durations, ``e`` emissions.
    startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol, verbose, \
implementation, n_init, accelerate, freeze
        As for :class:`emkit.HMM` (``freeze`` may also name ``duration_params_``).

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
        Zero diagonal; each row sums to 1, or is all zero (a terminal state).
    durations_ : ndarray of shape (n_components, max_duration_)
        ``P(duration = d | state)``, d = 1 .. max_duration_.
    duration_params_ : ndarray
        The family's parameters: Poisson rates (K, 1), negative binomial
        ``(r, p)`` (K, 2), or the table itself (K, max_duration_).
    max_duration_ : int
    emissions_ : list of Distribution
    monitor_ : ConvergenceMonitor
    """

    _letters = "de"
    _letter_attrs: ClassVar[dict[str, str]] = {"d": "duration_params_", "e": "emissions_"}

    def __init__(self, emission: Any = None, n_components: int = 1, *,
                 duration: str = "poisson", max_duration: int | None = None,
                 duration_prior: Any = 1.0, startprob_prior: Any = 1.0,
                 transmat_prior: Any = 1.0, algorithm: str = "viterbi",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool = False, params: str = "stde", init_params: str = "stde",
                 implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None, freeze: Any = None):
        self.emission = emission
        self.duration = duration
        self.max_duration = max_duration
        self.duration_prior = duration_prior
        self._set_shared_arguments(locals())

    # -- settings ------------------------------------------------------------------
    def _check_settings(self) -> None:
        super()._check_settings()
        if self.duration not in durations.DURATIONS:
            raise ValueError(f"duration must be one of {durations.DURATIONS}, got "
                             f"{self.duration!r}")
        self._check_duration_prior()
        d = self.max_duration
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer))
                              or d < 1):
            raise ValueError(f"max_duration must be an integer >= 1 or None, got {d!r}")

    def _check_duration_prior(self) -> None:
        prior = self.duration_prior
        if np.shape(prior) == (2,) and self.duration == "poisson":
            shape, rate = (float(v) for v in prior)
            if not (np.isfinite(shape) and np.isfinite(rate) and shape >= 1 and rate >= 0):
                raise ValueError(f"duration_prior for Poisson durations must be (shape, rate) "
                                 f"with shape >= 1 and rate >= 0, got {prior!r}")
            return
        try:
            scalar = (np.ndim(prior) == 0 and not isinstance(prior, (bool, str))
                      and bool(np.isfinite(float(prior))))
        except (TypeError, ValueError):
            scalar = False
        if self.duration == "nonparametric" and scalar and float(prior) > 0:
            return
        if scalar and float(prior) == 1.0:
            return
        wanted = {"nonparametric": "a positive Dirichlet concentration",
                  "poisson": "1.0 (none) or a Gamma (shape, rate) pair",
                  "negative_binomial": "1.0 (no prior)"}[self.duration]
        raise ValueError(f"duration_prior for {self.duration!r} durations must be {wanted}, "
                         f"got {prior!r}")

    def _sequences(self, X: Any, lengths: Any, fitting: bool = False) -> Sequences:
        data = super()._sequences(X, lengths, fitting)
        if fitting and "_fit_dmax" not in self.__dict__:  # a Dask piece: set by _fit
            self._fit_dmax = (int(data.lengths.max()) if self.max_duration is None
                              else int(self.max_duration))
        return data

    def _fit(self, X: Any, lengths: Any, sample_weight: Any = None) -> HSMM:
        if backends.is_dask(X):  # the longest sequence of all partitions, not of one
            rows = len(X) if hasattr(X, "columns") else int(X.shape[0])
            self._fit_dmax = (int(check_lengths(lengths, rows).max())
                              if self.max_duration is None else int(self.max_duration))
        super()._fit(X, lengths, sample_weight)
        return self

    def _supervised(self, n_rows: int, lengths: np.ndarray | None) -> Supervision:
        sup = super()._supervised(n_rows, lengths)
        labels = self.__dict__.get("_supervision", (None,))[0]
        if labels is not None and lengths is not None:
            longest = longest_labelled_run(np.asarray(labels), lengths)
            if longest[0] > self._dmax():
                raise ValueError(
                    f"max_duration={self._dmax()} is shorter than a run of {longest[0]} "
                    f"consecutive frames labelled state {longest[1]} (from row {longest[2]}): "
                    "an HSMM has no self-transitions, so such a run is one segment; raise "
                    "max_duration")
        return sup

    def _dmax(self) -> int:
        fitting = self.__dict__.get("_fit_dmax")
        if fitting is not None:
            return int(fitting)
        if hasattr(self, "max_duration_"):
            return int(self.max_duration_)
        if self.max_duration is None:
            raise ValueError("max_duration is not known: fit the model or set max_duration")
        return int(self.max_duration)

    def _end_fit(self) -> None:
        super()._end_fit()
        self.__dict__.pop("_fit_dmax", None)

    # -- parameters <-> attributes ----------------------------------------------------
    def _duration_start(self, X: np.ndarray) -> np.ndarray:
        k, dmax = self.n_components, self._dmax()
        if not self._needs_init("d", "duration_params_"):
            given = np.array(self.duration_params_, dtype=float)
            if self.duration == "nonparametric" and given.shape[1] != dmax:
                raise ValueError(f"duration_params_ must have shape {(k, dmax)}, got "
                                 f"{given.shape}")
            return given
        return durations.initial_durations(self.duration, k, dmax, len(X) / (2.0 * k))

    def _initial_params(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        k = self.n_components
        if self._needs_init("t", "transmat_"):
            self.__dict__["_random_transmat"] = True
        params = super()._initial_params(X, rng)
        if self.__dict__.pop("_random_transmat", False):
            off = np.zeros((k, k))
            for i in range(k):
                if k > 1:
                    off[i, np.arange(k) != i] = rng.dirichlet(np.ones(k - 1))
            params["transmat"] = off
        if np.any(np.diag(params["transmat"]) != 0):
            raise ValueError("transmat_ must have a zero diagonal (an HSMM has no "
                             "self-transitions; the durations replace them)")
        params["duration"] = self._duration_start(X)
        durations.check_duration_params(self.duration, params["duration"], k, self._dmax())
        # zeros of the start stay zero through EM: they are structure, not fitted values
        self.n_free_chain_ = _free_chain(params["startprob"], params["transmat"])
        return params

    @staticmethod
    def _check_stochastic(p: np.ndarray, name: str) -> None:
        if name != "transmat_":
            HMM._check_stochastic(p, name)
            return
        sums = p.sum(axis=-1)
        terminal = np.all(p == 0, axis=-1)  # a terminal state (one state: no transitions)
        if np.any(p < 0) or not np.allclose(sums[~terminal], 1.0, rtol=0, atol=1e-6):
            raise ValueError("transmat_ must be non-negative with each row summing to 1, or "
                             "all zero for a terminal state (the end of a left-right chain; "
                             f"its segment lasts to the end of the sequence) (row sums "
                             f"{np.round(sums, 6)})")

    def _current_params(self) -> dict:
        out = super()._current_params()
        if not hasattr(self, "duration_params_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("duration_params_ is not set: fit the model first")
        out["duration"] = np.array(self.duration_params_, dtype=float)
        return out

    def _set_params_from(self, params: dict) -> None:
        super()._set_params_from(params)
        self.duration_params_ = np.asarray(params["duration"], float)
        self.max_duration_ = self._dmax()
        self.durations_ = np.exp(durations.log_pmf_table(
            self.duration, self.duration_params_, self.max_duration_))

    def _model(self, X: np.ndarray, fixed: dict, total_rows: int | None = None) -> Any:
        return HSMMModel(self._emission(X), self.n_components, self.duration, self._dmax(),
                         self.params, fixed, self.startprob_prior, self.transmat_prior,
                         self.duration_prior, total_rows=total_rows)

    def _n_fit_scalars_per_param(self, n_features: int,
                                 start: dict | None = None) -> dict[str, int]:
        k = self.n_components
        # the start's zeros stay zero (a left-right chain has no free transitions); entries
        # that EM drives to zero are still counted, as hmmlearn counts them
        if start is not None:
            n_start, n_trans = _free_chain(start["startprob"], start["transmat"])
        elif getattr(self, "n_free_chain_", None) is not None:
            n_start, n_trans = (int(v) for v in self.n_free_chain_)
        else:
            n_start, n_trans = k - 1, k * max(k - 2, 0)
        return {"s": n_start, "t": n_trans,
                "d": durations.n_duration_parameters(self.duration, k, self._dmax()),
                **self._emission_scalars(n_features, start)}

    # -- sampling ----------------------------------------------------------------------
    def sample(self, n_samples: int = 1, random_state: Any = None,
               currstate: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw one sequence of ``n_samples`` rows (the last segment cut at the end).

        A terminal state (an all-zero row of ``transmat_``) has nowhere to go: once
        entered, its segment runs to the end of the sample.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        state_sequence : ndarray of shape (n_samples,)
        """
        from sklearn.utils import check_random_state

        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        params = self._current_params()
        rng = check_random_state(self.random_state if random_state is None else random_state)
        table = np.exp(durations.log_pmf_table(self.duration, params["duration"],
                                               self._dmax()))
        state = (int(rng.choice(self.n_components, p=params["startprob"]))
                 if currstate is None else int(currstate))
        states: list[int] = []
        transmat = params["transmat"]
        while len(states) < n_samples:
            if not np.any(transmat[state] > 0):  # terminal: its segment runs to the end
                states.extend([state] * (n_samples - len(states)))
                break
            d = 1 + int(rng.choice(table.shape[1], p=table[state]))
            states.extend([state] * d)
            state = int(rng.choice(self.n_components, p=transmat[state]))
        states = states[:n_samples]
        rows = [self._sample_state(s, rng) for s in states]
        return np.atleast_2d(np.array(rows)), np.array(states, dtype=int)

    # -- persistence -------------------------------------------------------------------
    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        if state and hasattr(self, "duration_params_"):
            state["duration_params_"] = self.duration_params_
            state["max_duration_"] = int(getattr(self, "max_duration_", self._dmax()))
            if getattr(self, "n_free_chain_", None) is not None:
                state["n_free_chain_"] = [int(v) for v in self.n_free_chain_]
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        params = state.pop("duration_params_", None)
        dmax = state.pop("max_duration_", None)
        chain = state.pop("n_free_chain_", None)
        super()._set_state(state)
        if chain is not None:
            self.n_free_chain_ = (int(chain[0]), int(chain[1]))
        if params is not None:
            self.duration_params_ = np.asarray(params, float)
            self.max_duration_ = int(dmax)
            self.durations_ = np.exp(durations.log_pmf_table(
                self.duration, self.duration_params_, self.max_duration_))


def _free_chain(startprob: np.ndarray, transmat: np.ndarray) -> tuple[int, int]:
    """Free start and transition probabilities of a chain whose zeros are fixed.

    Each row (and the start vector) with ``m`` nonzero entries has ``m - 1`` free
    ones: a full K-state HSMM chain ``(K - 1, K (K - 2))``, a left-right one ``(0, 0)``.
    """
    n_start = max(int(np.count_nonzero(startprob)) - 1, 0)
    per_row = np.count_nonzero(np.asarray(transmat), axis=1) - 1
    return n_start, int(np.maximum(per_row, 0).sum())
