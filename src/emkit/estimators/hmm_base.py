"""The shared part of emkit's hidden Markov model estimators (hmmlearn 0.3 conventions).

The estimators are thin: they validate input, build initial parameters, hand
an :class:`~emkit.models.hmm.model.HMMModel` to :func:`emkit.em` (through
:func:`emkit.engine.best_of` for ``n_init`` restarts) and copy the result to
hmmlearn's attribute names. All math lives in :mod:`emkit.models.hmm.model`.
"""

from __future__ import annotations

import logging
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state

from .. import backends
from ..engine import EMResult, best_of, em
from ..models.hmm.emission import Emission
from ..models.hmm.model import HMMModel, Sequences, check_lengths
from ._hmm_hooks import HMMHooks
from ._hmm_supervision import Supervision, apply_freeze, hmm_supervision, labelled_start
from ._hmm_weights import check_sample_weight, frame_weights
from .hmm_criteria import HMMCriteria
from .hmm_dask import dask_sequences
from .hmm_monitor import ConvergenceMonitor, decides_convergence
from .hmm_persistence import HMMPersistence

if TYPE_CHECKING:
    from dask.delayed import Delayed

__all__ = ["ConvergenceMonitor", "BaseHMM"]

_log = logging.getLogger(__name__)

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


def _em_naming_n_iter(*args: Any, **kwargs: Any) -> EMResult:
    """:func:`~emkit.engine.em`, its non-convergence advice naming the HMMs' ``n_iter``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = em(*args, **kwargs)
    for item in caught:
        message = str(item.message).replace("raise max_iter", "raise n_iter")
        warnings.warn_explicit(message, item.category, item.filename, item.lineno)
    return result

class BaseHMM(HMMHooks, HMMCriteria, HMMPersistence, BaseEstimator):
    """Common machinery; subclasses add an emission family.

    Subclasses define ``_letters`` (emission letters), ``_param_attrs``
    (model parameter name -> attribute name), ``_check_X``, ``_emission``,
    ``_init_emission`` and ``_sample_state``.
    """

    _letters = ""
    _param_attrs: ClassVar[dict[str, str]] = {}
    #: emission letter -> the attribute it initializes (hmmlearn's names)
    _letter_attrs: ClassVar[dict[str, str]] = {}
    _sets_n_features = True
    #: what the columns of X are, when not features (named in a column-count error)
    _columns_are = ""
    #: Number of columns (symbols for CategoricalHMM), set by fit, or a constructor
    #: argument where the subclass has one (then possibly None).
    n_features: int | None

    #: Constructor arguments every HMM estimator has (hmmlearn's; emkit's add ``freeze``).
    _SHARED_ARGUMENTS = ("n_components", "startprob_prior", "transmat_prior", "algorithm",
                         "random_state", "n_iter", "tol", "verbose", "params", "init_params",
                         "implementation", "n_init", "accelerate")

    def _set_shared_arguments(self, arguments: dict[str, Any]) -> None:
        """Store the shared constructor arguments as given (``arguments``: the
        constructor's ``locals()``), as scikit-learn requires: no checks here."""
        for name in self._SHARED_ARGUMENTS:
            setattr(self, name, arguments[name])
        if "freeze" in arguments:  # a subclass without it fits with nothing frozen
            self.freeze = arguments["freeze"]

    @property
    def monitor_(self) -> Any:
        """The :class:`ConvergenceMonitor` of the last fit (hmmlearn's ``monitor_``).

        It exists before any fit, as in hmmlearn, so that a monitor subclass
        with its own ``converged`` can be assigned and decide when ``fit`` stops.
        """
        monitor = self.__dict__.get("_monitor")
        if monitor is None:
            monitor = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
            self._monitor = monitor
        return monitor

    @monitor_.setter
    def monitor_(self, monitor: Any) -> None:
        self._monitor = monitor

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
        for name, least in (("n_init", 1), ("n_iter", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
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

    def _fitted_columns(self) -> int | None:
        """Columns of ``X`` the parameters as set expect (None: not known)."""
        return getattr(self, "n_features_in_", None)

    def _check_columns(self, X: np.ndarray, given: Any) -> None:
        """Raise ``ValueError`` (scikit-learn's wording) when the 2-D ``X`` made from
        ``given`` has another number of columns than the model expects."""
        expected = self._fitted_columns()
        if expected is None or X.shape[1] == expected:
            return
        hint = (" (a 1-D X is read as one feature; Reshape your data with "
                "X.reshape(1, -1) if it is a single row)") if np.ndim(given) == 1 else ""
        if self._columns_are:
            hint += f": X has {X.shape[1]} {self._columns_are}, the model {expected}"
        raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                         f"expecting {expected} features as input{hint}")

    # -- parameters <-> attributes ------------------------------------------------
    def _current_params(self) -> dict:
        """The parameter tree of the model as set; ``NotFittedError`` (a ``ValueError``)
        names the first attribute not set."""
        out = {}
        for key, attr in (("startprob", "startprob_"), ("transmat", "transmat_")):
            if not hasattr(self, attr):
                raise NotFittedError(f"{attr} is not set: fit the model first, or set "
                                     f"{attr} before using it")
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
                name = attr.strip("_") + "_"
                raise NotFittedError(f"{name} is not set: fit the model first, or set "
                                     f"{name} before using it")
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

    def _needs_init(self, letter: str, attr: str) -> bool:
        """hmmlearn's rule: a parameter is initialized when its letter is in
        ``init_params`` or when it has not been set."""
        return letter in self.init_params or not hasattr(self, attr)

    def _log_init_notes(self, X: np.ndarray, n_values: int, start: dict) -> None:
        """hmmlearn's two initialization messages (``logging`` warnings, as hmmlearn):
        a set attribute that ``init_params`` overwrites, and fewer data values
        (``n_values``) than free parameters to fit from ``start``."""
        for letter, attr in {"s": "startprob_", "t": "transmat_", **self._letter_attrs}.items():
            if letter in self.init_params and hasattr(self, attr):
                _log.warning("Even though the %r attribute is set, it will be overwritten "
                             "during initialization because 'init_params' contains %r",
                             attr.lstrip("_"), letter)
        counts = self._n_fit_scalars_per_param(int(X.shape[1]), start)
        n_free = sum(counts.get(letter, 0) for letter in self.params)
        if n_values < n_free:
            _log.warning("Fitting a model with %d free scalar parameters with only %d data "
                         "points will result in a degenerate solution.", n_free, n_values)

    def _initial_params(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        k = self.n_components
        params: dict = {}
        params["startprob"] = (np.full(k, 1.0 / k) if self._needs_init("s", "startprob_")
                               else self._given("startprob_", (k,)))
        params["transmat"] = (rng.dirichlet(np.ones(k), size=k)
                              if self._needs_init("t", "transmat_")
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

    def _check_emission_params(self, params: dict, X: np.ndarray | None) -> None:
        """Raise ``ValueError`` naming a starting emission parameter of the wrong shape/value
        (``X``: the data to fit, or None to check the parameters as they are set)."""

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
    def fit(self, X: Any, lengths: Any = None, sample_weight: Any = None, *,
            labels: Any = None, priors: Any = None) -> BaseHMM:
        """Estimate the parameters by Baum-Welch (EM) on the emkit engine.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All sequences' rows, back to back.
        lengths : array-like of int of shape (n_sequences,), optional
            Rows per sequence (they must sum to ``n_samples``); ``None`` means
            one sequence.
        sample_weight : array-like of shape (n_sequences,), optional
            Non-negative finite weight of each sequence, not all zero: its
            statistics and log-likelihood count that many times (an integer
            weight equals repeating the sequence, 0 dropping it; the priors
            count once), in the start (k-means, data moments) as in EM; the
            monitored log-likelihood is the weighted one. ``score`` is not weighted.
        labels : array-like of int of shape (n_samples,), optional
            Known state of each frame, -1 for unknown: a known frame's posterior is
            one-hot at its state throughout (the rest is EM).
        priors : array-like of shape (n_samples, n_components), optional
            Soft evidence multiplying each frame's emission likelihood (a row of
            ones changes nothing). With ``labels``, the fit's log-likelihood is
            that of the frames jointly with the evidence.

        The constructor's ``freeze`` (checked here) keeps attributes, or the
        entries of a boolean mask (``startprob_``, ``transmat_``, the emission
        attributes), at their start.

        Returns
        -------
        self
        """
        try:
            self._supervision = (labels, priors)
            return self._fit(X, lengths, sample_weight)
        finally:
            self.__dict__.pop("_supervision", None)
            self.__dict__.pop("_start_weights", None)
            self._end_fit()

    def _supervised(self, n_rows: int, lengths: np.ndarray | None) -> Supervision:
        """The fit's checked ``labels``/``priors`` (see :meth:`fit`) and ``freeze`` for
        ``n_rows`` frames in sequences of ``lengths``."""
        labels, priors = self.__dict__.get("_supervision", (None, None))
        return hmm_supervision(self, n_rows, labels, priors, getattr(self, "freeze", None))

    def _end_fit(self) -> None:
        """Drop what only the fit in progress needed (default: nothing)."""

    def _row_weights(self) -> np.ndarray | None:
        """Weight of each row the start is computed from (its sequence's), during a
        weighted fit; ``None`` otherwise (every row counts once)."""
        return self.__dict__.get("_start_weights")

    def _fit(self, X: Any, lengths: Any, sample_weight: Any = None) -> BaseHMM:
        self._check_settings()
        data: Sequences | list[Delayed]  # whole sequences, or pieces of them (Dask)
        if backends.is_dask(X):
            rows = int(len(X) if hasattr(X, "columns") else X.shape[0])
            sup = self._supervised(rows, check_lengths(lengths, rows))
            ev = sup.log_evidence
            head, data, n_rows, self._start_weights = dask_sequences(
                self, X, lengths, sample_weight,
                None if ev is None else (lambda a, b: ev[a:b]))
        else:
            data = self._sequences(X, lengths, fitting=True)
            weights = check_sample_weight(sample_weight, data.n_sequences)
            head, n_rows = data.X, len(data.X)
            self._start_weights = frame_weights(weights, data.lengths, n_rows)
            sup = self._supervised(n_rows, data.lengths)
            data = Sequences(data.X, data.lengths, weights, sup.log_evidence)
        rng = check_random_state(self.random_state)
        starts = [self._initial_params(head, rng) for _ in range(self.n_init)]
        if sup.labelled and sup.log_evidence is not None:  # start's states named as labels
            starts = [labelled_start(self, head, s, sup.log_evidence[:len(head)]) for s in starts]
        self._log_init_notes(head, n_rows * int(head.shape[1]), starts[0])
        monitor = self.monitor_
        if type(monitor) is ConvergenceMonitor:  # emkit's own: this fit's settings
            monitor = self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        if self.n_iter == 0:  # hmmlearn: initialize only
            self._set_params_from(starts[0])
            self._set_n_features(head)
            self.n_features_in_ = int(head.shape[1])
            monitor._reset()
            return self
        decides = decides_convergence(monitor)
        runs: dict[int, tuple[HMMModel, dict]] = {}

        def fit_one(init: dict) -> EMResult:
            model = apply_freeze(self._model(head, init, total_rows=n_rows), sup, self)
            engine_model = backends.DaskModel(model) if isinstance(data, list) else model
            monitor._reset()

            def report(step: Any) -> bool:
                # the engine's objective includes the priors' log-density; report the
                # likelihood, starting with the one before the first M-step
                if not monitor.history:
                    monitor.history.append(step.loglik - step.gain - model.log_prior(init))
                monitor.report(step.loglik - model.log_prior(step.params))
                return not (decides and monitor.converged)

            result = _em_naming_n_iter(engine_model, data, init, tol=self.tol,
                                       max_iter=self.n_iter, accelerate=self.accelerate,
                                       callback=report)
            runs[id(result)] = (model, init)
            return result

        best, _ = best_of(starts, fit_one)
        model, init = runs[id(best)]
        self._set_params_from(best.params)
        self._set_n_features(head)
        self.n_features_in_ = int(head.shape[1])
        history = [best.logliks[0] - model.log_prior(init)] + [
            s.loglik - model.log_prior(s.params) for s in best.steps]
        monitor.history = deque(float(h) for h in history)
        monitor.iter = best.n_iter
        if not decides:
            monitor.converged = bool(best.converged)
        return self

    def _set_n_features(self, X: np.ndarray) -> None:
        if self._sets_n_features:
            self.n_features = int(X.shape[1])

    def __sklearn_is_fitted__(self) -> bool:
        """Whether every parameter is set (by ``fit``, ``_init`` or by hand), for
        :func:`sklearn.utils.validation.check_is_fitted`."""
        try:
            self._current_params()
        except NotFittedError:
            return False
        return True

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
