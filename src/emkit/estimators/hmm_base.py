"""The shared part of emkit's hidden Markov model estimators (hmmlearn 0.3 conventions).

The estimators are thin: they validate input, build initial parameters, hand
an :class:`~emkit.models.hmm.model.HMMModel` to :func:`emkit.em` (through
:func:`emkit.engine.best_of` for ``n_init`` restarts) and copy the result to
hmmlearn's attribute names. All math lives in :mod:`emkit.models.hmm.model`.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from .. import backends
from ..engine import EMResult, best_of, em
from ..models.hmm.emission import Emission
from ..models.hmm.model import HMMModel, Sequences, check_lengths
from ..persistence import Persistable
from .hmm_monitor import ConvergenceMonitor

if TYPE_CHECKING:
    from dask.delayed import Delayed

__all__ = ["ConvergenceMonitor", "BaseHMM"]

ALGORITHMS = ("viterbi", "map")

IMPLEMENTATIONS = ("log", "scaling")


def _check_letters(value: Any, allowed: str, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string of letters from {allowed!r}, got {value!r}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"{name} has unknown letter(s) {''.join(unknown)!r}; "
                         f"use letters from {allowed!r}")
    return value


class BaseHMM(Persistable, BaseEstimator):
    """Common machinery; subclasses add an emission family.

    Subclasses define ``_letters`` (emission letters), ``_param_attrs``
    (model parameter name -> attribute name), ``_check_X``, ``_emission``,
    ``_init_emission`` and ``_sample_state``.
    """

    _letters = ""
    _param_attrs: ClassVar[dict[str, str]] = {}
    _sets_n_features = True
    #: Number of columns (symbols for CategoricalHMM), set by fit, or a constructor
    #: argument where the subclass has one (then possibly None).
    n_features: int | None

    #: Constructor arguments every HMM estimator has (hmmlearn's shared ones).
    _SHARED_ARGUMENTS = ("n_components", "startprob_prior", "transmat_prior", "algorithm",
                         "random_state", "n_iter", "tol", "verbose", "params", "init_params",
                         "implementation", "n_init", "accelerate")

    def _set_shared_arguments(self, arguments: dict[str, Any]) -> None:
        """Store the shared constructor arguments as given (``arguments``: the
        constructor's ``locals()``), as scikit-learn requires: no checks here."""
        for name in self._SHARED_ARGUMENTS:
            setattr(self, name, arguments[name])

    # -- subclass hooks --------------------------------------------------------
    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        raise NotImplementedError

    def _emission(self, X: np.ndarray) -> Emission:
        raise NotImplementedError

    def _init_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        raise NotImplementedError

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        raise NotImplementedError

    # -- validation --------------------------------------------------------------
    def _check_settings(self) -> None:
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {k!r}")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got "
                             f"{self.implementation!r}")
        for name in ("n_init", "n_iter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float, np.number)) \
                or not self.tol >= 0:
            raise ValueError(f"tol must be a non-negative number, got {self.tol!r}")
        if self.accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate must be None or 'squarem', got {self.accelerate!r}")
        min_covar = getattr(self, "min_covar", 0.0)
        if isinstance(min_covar, bool) or not isinstance(min_covar, (int, float, np.number)) \
                or not min_covar >= 0:
            raise ValueError(f"min_covar must be a non-negative number, got {min_covar!r}")
        letters = "st" + self._letters
        _check_letters(self.params, letters, "params")
        _check_letters(self.init_params, letters, "init_params")

    def _sequences(self, X: Any, lengths: Any, fitting: bool = False) -> Sequences:
        return Sequences.from_arrays(self._check_X(X, fitting), lengths)

    # -- parameters <-> attributes ------------------------------------------------
    def _current_params(self) -> dict:
        out = {}
        for key, attr in (("startprob", "startprob_"), ("transmat", "transmat_")):
            if not hasattr(self, attr):
                raise ValueError(f"{attr} is not set: fit the model first, or include its "
                                 "letter in init_params")
            out[key] = np.array(getattr(self, attr), dtype=float)
        out.update(self._to_model_params(self._emission_params()))
        return out

    def _to_model_params(self, emission: dict) -> dict:
        """Emission parameters in the attributes' layout -> the model's (default: same)."""
        return emission

    def _from_model_params(self, params: dict) -> dict:
        """The model's emission parameters -> the attributes' layout (default: same)."""
        return params

    def _emission_params(self) -> dict:
        """The emission entries of the parameter tree, from the fitted attributes."""
        out = {}
        for key, attr in self._param_attrs.items():
            if not hasattr(self, attr):
                raise ValueError(
                    f"{attr.strip('_')}_ is not set: fit the model first, or include its "
                    "letter in init_params")
            out[key] = np.array(getattr(self, attr), dtype=float)
        return out

    def _set_params_from(self, params: dict) -> None:
        self.startprob_ = np.asarray(params["startprob"], float)
        self.transmat_ = np.asarray(params["transmat"], float)
        self._set_emission_params(self._from_model_params(params))

    def _set_emission_params(self, params: dict) -> None:
        """Copy the emission entries of a parameter tree to the fitted attributes."""
        for key, attr in self._param_attrs.items():
            setattr(self, attr, np.asarray(params[key], float))

    def _initial_params(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        k = self.n_components
        init = self.init_params
        params: dict = {}
        params["startprob"] = (np.full(k, 1.0 / k) if "s" in init
                               else self._given("startprob_", (k,)))
        params["transmat"] = (rng.dirichlet(np.ones(k), size=k) if "t" in init
                              else self._given("transmat_", (k, k)))
        emission = self._start_emission(X, rng)
        params.update(emission)
        self._check_stochastic(params["startprob"], "startprob_")
        self._check_stochastic(params["transmat"], "transmat_")
        self._check_emission_params(params, X)
        return {"startprob": params["startprob"], "transmat": params["transmat"],
                **self._to_model_params(emission)}

    def _start_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        """Starting emission parameters: initialized, or the attributes already set."""
        emission = self._init_emission(X, rng)
        return {key: emission[key] if key in emission else self._given(attr, None)
                for key, attr in self._param_attrs.items()}

    def _check_emission_params(self, params: dict, X: np.ndarray) -> None:
        """Raise ``ValueError`` naming a starting emission parameter of the wrong shape/value."""

    @staticmethod
    def _check_shape(value: np.ndarray, shape: tuple, name: str) -> None:
        if value.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {value.shape}")

    def _given(self, attr: str, shape: tuple | None) -> np.ndarray:
        if not hasattr(self, attr):
            name = attr.strip("_") + "_"
            raise ValueError(f"{name} is not set; set it before fit or add its letter to "
                             "init_params")
        value = np.array(getattr(self, attr), dtype=float)
        if shape is not None and value.shape != shape:
            raise ValueError(f"{attr} must have shape {shape}, got {value.shape}")
        return value

    @staticmethod
    def _check_stochastic(p: np.ndarray, name: str) -> None:
        if np.any(p < 0) or not np.allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-6):
            raise ValueError(f"{name} must be non-negative with rows summing to 1 "
                             f"(row sums {np.round(p.sum(axis=-1), 6)})")

    def _model(self, X: np.ndarray, fixed: dict, total_rows: int | None = None) -> HMMModel:
        return HMMModel(self._emission(X), self.n_components, self.params, fixed,
                        self.startprob_prior, self.transmat_prior, total_rows=total_rows)

    # -- fitting -------------------------------------------------------------------
    def fit(self, X: Any, lengths: Any = None) -> BaseHMM:
        """Estimate the parameters by Baum-Welch (EM) on the emkit engine.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All sequences' rows, back to back.
        lengths : array-like of int of shape (n_sequences,), optional
            Rows per sequence (they must sum to ``n_samples``); ``None`` means
            one sequence.

        Returns
        -------
        self
        """
        try:
            return self._fit(X, lengths)
        finally:
            self._end_fit()

    def _end_fit(self) -> None:
        """Drop what only the fit in progress needed (default: nothing)."""

    def _fit(self, X: Any, lengths: Any) -> BaseHMM:
        self._check_settings()
        data: Sequences | list[Delayed]  # whole sequences, or pieces of them (Dask)
        if backends.is_dask(X):
            head, data, n_rows = self._dask_sequences(X, lengths)
        else:
            data = self._sequences(X, lengths, fitting=True)
            head, n_rows = data.X, len(data.X)
        rng = check_random_state(self.random_state)
        starts = [self._initial_params(head, rng) for _ in range(self.n_init)]
        monitor = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        runs: dict[int, tuple[HMMModel, dict]] = {}

        def fit_one(init: dict) -> EMResult:
            model = self._model(head, init, total_rows=n_rows)
            engine_model = backends.DaskModel(model) if isinstance(data, list) else model
            result = em(engine_model, data, init, tol=self.tol, max_iter=self.n_iter,
                        accelerate=self.accelerate, callback=monitor.report)
            runs[id(result)] = (model, init)
            return result

        best, _ = best_of(starts, fit_one)
        model, init = runs[id(best)]
        self._set_params_from(best.params)
        self.n_features = int(head.shape[1]) if self._sets_n_features else self.n_features
        # the engine's objective includes the priors' log-density; report the likelihood
        history = [best.logliks[0] - model.log_prior(init)] + [
            s.loglik - model.log_prior(s.params) for s in best.steps]
        monitor.history = deque(float(h) for h in history)
        monitor.iter = best.n_iter
        monitor.converged = bool(best.converged)
        self.monitor_ = monitor
        return self

    def _dask_sequences(self, X: Any, lengths: Any) -> tuple[np.ndarray, list[Delayed], int]:
        """Dask input: one piece of whole sequences per partition (row chunk) of ``X``.

        Returns the rows the start is drawn from (the first
        :data:`emkit.backends.INIT_SAMPLE_ROWS`: whole sequences, not a sample),
        the pieces (``dask.delayed`` :class:`Sequences`, validated where they
        lie) and the total number of rows.
        """
        from dask import delayed

        if hasattr(X, "columns"):
            X = X.to_dask_array(lengths=True)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim == 2 and len(X.chunks[1]) != 1:
            X = X.rechunk({1: -1})
        n_rows = int(X.shape[0])
        lengths = check_lengths(lengths, n_rows)
        ends = np.cumsum(lengths)
        edges = np.cumsum((0, *X.chunks[0]))
        if not np.isin(edges[1:], ends).all():
            raise ValueError(
                "every partition of a Dask X must hold whole sequences: rechunk the rows "
                "at sequence boundaries, e.g. X.rechunk({0: rows_per_partition}) with "
                "each entry a sum of consecutive lengths"
            )
        if not self._sets_n_features and getattr(self, "n_features", None) is None:
            raise ValueError("with Dask input, give n_features (the number of symbols): "
                             "the first rows need not show every symbol")
        first = np.concatenate([[0], ends[:-1]])
        blocks = X.to_delayed().ravel()
        check = delayed(self._sequences, pure=True)
        pieces = [check(block, lengths[(first >= a) & (ends <= b)], True)
                  for block, a, b in zip(blocks, edges[:-1], edges[1:], strict=True)]
        head = self._check_X(np.asarray(X[:min(n_rows, backends.INIT_SAMPLE_ROWS)].compute()), True)
        return head, pieces, n_rows

    # -- inference -------------------------------------------------------------------
    def _inference(self, X: Any, lengths: Any) -> tuple[HMMModel, Sequences, dict]:
        params = self._current_params()
        data = self._sequences(X, lengths)
        return self._model(data.X, params), data, params

    def score_samples(self, X: Any, lengths: Any = None) -> tuple[float, np.ndarray]:
        """Log-likelihood of ``X`` and the posterior state probabilities.

        Returns
        -------
        log_prob : float
        posteriors : ndarray of shape (n_samples, n_components)
        """
        model, data, params = self._inference(X, lengths)
        logliks, gamma = model.posteriors(data, params)
        return float(logliks.sum()), gamma

    def score(self, X: Any, lengths: Any = None) -> float:
        """Log-likelihood of ``X`` (summed over sequences)."""
        model, data, params = self._inference(X, lengths)
        return float(model.score_sequences(data, params).sum())

    def decode(self, X: Any, lengths: Any = None,
               algorithm: str | None = None) -> tuple[float, np.ndarray]:
        """Most likely states: Viterbi path or per-row posterior maximum (``"map"``).

        Returns
        -------
        log_prob : float
            Viterbi: log-probability of the best paths jointly with ``X``;
            "map": the sum over rows of each row's largest posterior probability
            (hmmlearn 0.3's value, kept for compatibility; not a log-probability).
        state_sequence : ndarray of shape (n_samples,)
        """
        algorithm = self.algorithm if algorithm is None else algorithm
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        model, data, params = self._inference(X, lengths)
        if algorithm == "viterbi":
            logprobs, states = model.viterbi(data, params)
            return float(logprobs.sum()), states
        _, gamma = model.posteriors(data, params)
        return float(gamma.max(axis=1).sum()), np.argmax(gamma, axis=1)

    def predict(self, X: Any, lengths: Any = None) -> np.ndarray:
        """Most likely state of each row (by ``algorithm``), shape (n_samples,)."""
        return self.decode(X, lengths)[1]

    def predict_proba(self, X: Any, lengths: Any = None) -> np.ndarray:
        """Posterior state probabilities, shape (n_samples, n_components)."""
        return self.score_samples(X, lengths)[1]

    def sample(self, n_samples: int = 1, random_state: Any = None,
               currstate: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw one sequence of ``n_samples`` rows from the model.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        state_sequence : ndarray of shape (n_samples,)
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        params = self._current_params()
        rng = check_random_state(self.random_state if random_state is None else random_state)
        start_cdf = np.cumsum(params["startprob"])
        trans_cdf = np.cumsum(params["transmat"], axis=1)
        state = (int((start_cdf > rng.rand()).argmax()) if currstate is None
                 else int(currstate))
        states = [state]
        rows = [self._sample_state(state, rng)]
        for _ in range(n_samples - 1):
            state = int((trans_cdf[state] > rng.rand()).argmax())
            states.append(state)
            rows.append(self._sample_state(state, rng))
        return np.atleast_2d(np.array(rows)), np.array(states, dtype=int)

    # -- model selection -------------------------------------------------------------
    def _n_fit_scalars_per_param(self, n_features: int) -> dict[str, int]:
        """Free parameters per ``params`` letter, hmmlearn's count (all letters)."""
        k = self.n_components
        return {"s": k - 1, "t": k * (k - 1), **self._emission_scalars(n_features)}

    def _emission_scalars(self, n_features: int) -> dict[str, int]:
        """Free emission parameters per letter, for ``n_features`` columns."""
        raise NotImplementedError  # pragma: no cover - every estimator defines it

    def _criterion(self, X: Any, lengths: Any, penalty_per_parameter: float | None) -> float:
        model, data, params = self._inference(X, lengths)
        log_likelihood = float(model.score_sequences(data, params).sum())
        n_params = sum(self._n_fit_scalars_per_param(int(data.X.shape[1])).values())
        per = np.log(len(data.X)) if penalty_per_parameter is None else penalty_per_parameter
        return -2.0 * log_likelihood + float(per) * n_params

    def aic(self, X: Any, lengths: Any = None) -> float:
        """Akaike's criterion of the model on ``X``: ``-2 log L + 2 p`` (lower is better).

        ``p`` counts the free parameters of every part (start, transitions,
        emissions) as hmmlearn does, whichever ``params`` letters were fitted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        lengths : array-like of int of shape (n_sequences,), optional

        Returns
        -------
        float
        """
        return self._criterion(X, lengths, 2.0)

    def bic(self, X: Any, lengths: Any = None) -> float:
        """Schwarz's criterion of the model on ``X``: ``-2 log L + p log(n_samples)``.

        Parameters and ``p`` as in :meth:`aic`.

        Returns
        -------
        float
        """
        return self._criterion(X, lengths, None)

    def get_stationary_distribution(self) -> np.ndarray:
        """The stationary distribution of the fitted transition matrix, shape (n_components,)."""
        from scipy import linalg

        eigvals, eigvecs = linalg.eig(np.asarray(self.transmat_).T)
        vec = np.real_if_close(eigvecs[:, np.argmax(eigvals.real)])
        return np.real(vec / vec.sum())

    # -- persistence ---------------------------------------------------------------
    def _get_state(self) -> dict[str, Any]:
        if not hasattr(self, "startprob_"):
            return {}
        state: dict[str, Any] = {
            "startprob_": self.startprob_, "transmat_": self.transmat_,
            "n_features": getattr(self, "n_features", None),
        }
        for attr in self._param_attrs.values():
            state[attr.lstrip("_")] = getattr(self, attr)
        for extra in ("feature_names_in_", "sequence_column_"):
            if hasattr(self, extra):
                state[extra] = getattr(self, extra)
        monitor = getattr(self, "monitor_", None)
        if monitor is not None:
            state["monitor"] = {"history": [float(h) for h in monitor.history],
                                "iter": int(monitor.iter),
                                "converged": bool(monitor.converged)}
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        monitor = state.pop("monitor", None)
        for attr in ("startprob_", "transmat_", "feature_names_in_", "sequence_column_"):
            if attr in state:
                setattr(self, attr, state.pop(attr))
        n_features = state.pop("n_features", None)
        if n_features is not None and "n_features" not in self.get_params():
            self.n_features = n_features
        for attr in self._param_attrs.values():
            if attr.lstrip("_") in state:
                setattr(self, attr, np.asarray(state.pop(attr.lstrip("_"))))
        if monitor is not None:
            m = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
            m.history = deque(monitor["history"])
            m.iter = monitor["iter"]
            m.converged = monitor["converged"]
            self.monitor_ = m
