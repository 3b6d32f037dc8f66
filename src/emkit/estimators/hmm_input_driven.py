"""``emkit.InputDrivenHMM``: an HMM whose transitions are a multinomial logit of covariates.

Transition probabilities out of state ``i`` at frame ``t`` are

    P(z_t = j | z_{t-1} = i, u_t) = softmax_j(transition_coef_[i, j, 0]
                                             + transition_coef_[i, j, 1:] @ u_t),

intercept first, the covariates ``u_t`` of frame ``t`` (the frame entered);
a fit reports staying as the reference (``transition_coef_[i, i] = 0``). States
emit from any :mod:`emkit.distributions` instance, as :class:`emkit.HMM`. Fitting
is generalized EM on :func:`emkit.em` (:class:`~emkit.models.hmm.input_driven.InputDrivenHMMModel`):
the emissions' exact M-step and one safeguarded Newton step per row of
coefficients, so the log-likelihood never falls.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state

from .. import backends
from ..distributions._base import Distribution, as_rng
from ..distributions.components import Components
from ..engine import EMResult, best_of, em
from ..models.hmm.emission import DistributionEmission
from ..models.hmm.input_driven import CovariateSequences, InputDrivenHMMModel, log_transitions
from ..numerics.design_scaling import Design
from ..persistence import Persistable
from ._components import component_templates, dense_matrix, start_responsibilities, validate_for
from ._hmm_covariates import check_covariates, n_rows, stationary
from ._hmm_input_driven_criteria import InputDrivenCriteria
from ._hmm_input_driven_data import fit_data
from ._hmm_input_driven_freeze import freeze_plan, restore_frozen, start_values
from ._hmm_inputs import check_observed_columns, start_rows
from .hmm_base import ALGORITHMS, _check_letters
from .hmm_monitor import ConvergenceMonitor

__all__ = ["InputDrivenHMM"]


class InputDrivenHMM(InputDrivenCriteria, Persistable, BaseEstimator):
    """Hidden Markov model with covariate-driven transitions and any emission.

    Parameters
    ----------
    emission : Distribution or list of Distribution
        Every state's emission: a template copied to all ``n_components`` states,
        or a list of ``n_components`` distributions (with ``init_params``
        lacking ``"e"`` their parameter values are the start).
    n_components : int, default 1
        Number of hidden states K.
    start_covariates : bool, default False
        Whether the first frame's state is a multinomial logit of that frame's
        covariates too (``start_coef_``, state 0 the reference) instead of
        ``startprob_``. Needs many sequences to be estimable.
    algorithm : {"viterbi", "map"}, default "viterbi"
        Decoder of ``predict`` and ``decode``.
    random_state : int, RandomState or None
    n_iter : int, default 10
        Most EM iterations.
    tol : float, default 1e-2
        Stop when one EM step raises the total log-likelihood by less than this.
    verbose : bool, default False
        Print each iteration to standard error.
    params, init_params : str, default "ste"
        Letters of what to update / initialize: ``s`` the start, ``t`` the
        transition coefficients, ``e`` the emissions. A letter missing from
        ``init_params`` starts from the attribute already set.
    n_init : int, default 1
        Starts; the best final log-likelihood is kept.
    accelerate : {None, "squarem"}, default None
        SQUAREM extrapolation of the generalized EM map (the emissions' M-step and
        one Newton step of the coefficients, a smooth map with EM's fixed points);
        each cycle is screened to stay monotone, as for :func:`emkit.em`.
    freeze : dict or None, default None
        ``{"transition_coef_": mask, "emissions_": True, "startprob_": mask}`` (or
        ``"start_coef_"``): True keeps an attribute at its start, a boolean mask of
        its shape the entries where it is True, bit for bit; the free coefficients
        get the M-step restricted to them. References (``transition_coef_[i, i]``,
        ``start_coef_[0]``) are not fitted; a partly frozen row needs them 0.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
        Start probabilities (not covariate dependent); absent with ``start_covariates``.
    start_coef_ : ndarray of shape (n_components, n_covariates + 1)
        With ``start_covariates``: intercept first, row 0 zero.
    transition_coef_ : ndarray of shape (n_components, n_components, n_covariates + 1)
        Logit coefficients in the covariates' own units, intercept first.
    emissions_ : list of n_components Distribution
    n_covariates_in_ : int
    n_features_in_ : int
    lower_bound_ : float
        Log-likelihood of the training data at the fitted parameters (without
        the emissions' log prior).
    n_iter_ : int
    converged_ : bool
    monitor_ : ConvergenceMonitor

    Examples
    --------
    >>> import numpy as np
    >>> import emkit
    >>> from emkit.estimators.hmm_input_driven import InputDrivenHMM
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(np.repeat([2.0, 12.0, 2.0], 100))[:, None]
    >>> u = rng.normal(size=(300, 1))
    >>> hmm = InputDrivenHMM(emkit.distributions.Poisson(), 2, n_iter=30,
    ...                      random_state=0).fit(X, covariates=u)
    >>> hmm.transition_coef_.shape
    (2, 2, 2)
    """

    def __init__(self, emission: Any = None, n_components: int = 1, *,
                 start_covariates: bool = False, algorithm: str = "viterbi",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool = False, params: str = "ste", init_params: str = "ste",
                 n_init: int = 1, accelerate: str | None = None, freeze: Any = None):
        self.emission = emission
        self.n_components = n_components
        self.start_covariates = start_covariates
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.n_init = n_init
        self.accelerate = accelerate
        self.freeze = freeze

    @property
    def monitor_(self) -> ConvergenceMonitor:
        """The :class:`~emkit.estimators.hmm_monitor.ConvergenceMonitor` of the last fit."""
        monitor = self.__dict__.get("_monitor")
        if monitor is None:
            monitor = self._monitor = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        return monitor

    # -- validation ----------------------------------------------------------------
    def _check_settings(self) -> None:
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {k!r}")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        for name, least in (("n_init", 1), ("n_iter", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float, np.number)) \
                or not self.tol >= 0:
            raise ValueError(f"tol must be a non-negative number, got {self.tol!r}")
        if not isinstance(self.start_covariates, (bool, np.bool_)):
            raise ValueError(f"start_covariates must be True or False, got "
                             f"{self.start_covariates!r}")
        if self.accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate must be None or 'squarem', got {self.accelerate!r}")
        _check_letters(self.params, "ste", "params")
        _check_letters(self.init_params, "ste", "init_params")

    def _templates(self) -> list[Distribution]:
        if hasattr(self, "emissions_") and "e" not in self.init_params:
            return list(self.emissions_)
        return component_templates(self.emission, self.n_components, "emission")

    def _check_X(self, X: Any, templates: list[Distribution] | None = None) -> np.ndarray:
        X = dense_matrix(X, "InputDrivenHMM")
        if templates is None:  # inference: the fitted emissions
            templates = self._fitted_emissions()
            expected = getattr(self, "n_features_in_", None)
            if expected is not None and X.shape[1] != expected:
                raise ValueError(f"X has {X.shape[1]} features, but InputDrivenHMM is "
                                 f"expecting {expected} features as input")
        return validate_for(X, templates, allow_missing=True)

    def _fitted_emissions(self) -> list[Distribution]:
        emissions = getattr(self, "emissions_", None)
        if emissions is None:
            templates = component_templates(self.emission, self.n_components, "emission")
            if not all(t.is_fitted for t in templates):
                raise NotFittedError("emissions_ is not set: fit the model first")
            emissions = templates
        return list(emissions)

    # -- parameters ------------------------------------------------------------------
    def _n_covariates(self) -> int:
        if hasattr(self, "n_covariates_in_"):
            return int(self.n_covariates_in_)
        if hasattr(self, "transition_coef_"):
            return int(np.shape(self.transition_coef_)[-1]) - 1
        raise NotFittedError("transition_coef_ is not set: fit the model first")

    def _current_params(self) -> dict:
        """The parameter tree in the covariates' own units (for an identity design)."""
        if not hasattr(self, "transition_coef_"):
            raise NotFittedError("transition_coef_ is not set: fit the model first, or set "
                                 "it before using it")
        params: dict[str, Any] = {
            "trans": np.asarray(self.transition_coef_, dtype=float),
            "emissions": [e.parameters() for e in self._fitted_emissions()]}
        if self.start_covariates:
            params["start_coef"] = np.asarray(self.start_coef_, dtype=float)
        else:
            params["startprob"] = np.asarray(self.startprob_, dtype=float)
        return params

    def _given(self, attr: str, shape: tuple) -> np.ndarray:
        if not hasattr(self, attr):
            raise ValueError(f"{attr} is not set; set it before fit or add its letter to "
                             "init_params")
        value = np.array(getattr(self, attr), dtype=float)
        if value.shape != shape:
            raise ValueError(f"{attr} must have shape {shape}, got {value.shape}")
        return value

    def _initial_params(self, X: np.ndarray, templates: list[Distribution], design: Design,
                        rng: np.random.RandomState, w: np.ndarray | None) -> dict:
        k, q1 = self.n_components, design.n_columns + 1
        params: dict[str, Any] = {}
        init = self.init_params
        if self.start_covariates:
            if "s" in init or not hasattr(self, "start_coef_"):
                params["start_coef"] = np.zeros((k, q1))
            else:
                given = self._given("start_coef_", (k, q1))
                scaled = design.to_scaled(given[:, 0], given[:, 1:])
                params["start_coef"] = scaled - scaled[0]
        elif "s" in init or not hasattr(self, "startprob_"):
            params["startprob"] = np.full(k, 1.0 / k)
        else:
            p = self._given("startprob_", (k,))
            if np.any(p < 0) or not np.isclose(p.sum(), 1.0, rtol=0, atol=1e-6):
                raise ValueError("startprob_ must be non-negative and sum to 1")
            params["startprob"] = p
        if "t" in init or not hasattr(self, "transition_coef_"):
            trans = np.zeros((k, k, q1))
            p = rng.dirichlet(np.ones(k), size=k)
            trans[:, :, 0] = np.log(p) - np.log(np.diag(p))[:, None]
        else:
            given = self._given("transition_coef_", (k, k, q1)).reshape(k * k, q1)
            trans = design.to_scaled(given[:, 0], given[:, 1:]).reshape(k, k, q1)
            trans = trans - trans[np.arange(k), np.arange(k)][:, None, :]  # staying: reference
        if not np.all(np.isfinite(trans)):
            raise ValueError("transition_coef_ must be finite")
        params["trans"] = trans
        params["emissions"] = self._start_emission(X, templates, rng, w)
        return params

    def _start_emission(self, X: np.ndarray, templates: list[Distribution],
                        rng: np.random.RandomState, w: np.ndarray | None) -> list[dict]:
        check_observed_columns(X)
        components = Components(templates)
        if "e" not in self.init_params and all(t.is_fitted for t in templates):
            return components.pack(templates)
        k = len(templates)
        if len(X) < k:
            raise ValueError(f"n_components={k} states need at least {k} rows, got {len(X)}")
        rows = start_rows(X, rng)
        resp = start_responsibilities(rows, templates, "kmeans", rng, sample_weight=w)
        if w is not None:
            resp = resp * w[:, None]
        return components.pack(components.initialize(rows, resp, as_rng(rng)))

    def _set_params(self, params: dict, design: Design, templates: list[Distribution]) -> None:
        k = self.n_components
        q1 = design.n_columns + 1
        flat = np.asarray(params["trans"], dtype=float).reshape(k * k, q1)
        intercept, slopes = design.to_original(flat)
        self.transition_coef_ = np.column_stack([intercept, slopes]).reshape(k, k, q1)
        if self.start_covariates:
            intercept, slopes = design.to_original(params["start_coef"])
            self.start_coef_ = np.column_stack([intercept, slopes])
        else:
            self.startprob_ = np.asarray(params["startprob"], dtype=float)
        self.emissions_ = [t.with_parameters(p)
                           for t, p in zip(templates, params["emissions"], strict=True)]

    # -- fitting -----------------------------------------------------------------------
    def fit(self, X: Any, lengths: Any = None, *, covariates: Any = None,
            sample_weight: Any = None, labels: Any = None,
            priors: Any = None) -> InputDrivenHMM:
        """Estimate the parameters by generalized EM.

        Parameters
        ----------
        X : array-like or Dask array/DataFrame of shape (n_samples, n_features)
            All sequences' frames, back to back (NaN: missing at random). A Dask
            ``X`` must hold whole sequences in each partition; each partition's
            E-step runs where it lies.
        lengths : array-like of int of shape (n_sequences,), optional
            Rows per sequence; ``None`` means one sequence.
        covariates : array-like or Dask array of shape (n_samples, n_covariates), optional
            Finite covariates, one row per frame; row ``t`` drives the transition
            into frame ``t`` (and the start, with ``start_covariates``). ``None``:
            no covariates (intercepts only, the plain HMM). With a Dask ``X`` they
            are cut at ``X``'s partitions.
        sample_weight : array-like of shape (n_sequences,), optional
            Non-negative weight of each sequence.
        labels : array-like of int of shape (n_samples,), optional
            Known state of each frame, -1 for unknown (one-hot posteriors there).
        priors : array-like of shape (n_samples, n_components), optional
            Soft evidence multiplying each frame's emission likelihood.

        Returns
        -------
        self
        """
        self._check_settings()
        prepared = fit_data(self, X, lengths, covariates, sample_weight, self._templates(),
                            labels, priors)
        plan = freeze_plan(self, self.freeze, prepared.n_covariates)
        X, data, design, templates = (prepared.X, prepared.data, prepared.design,
                                      prepared.templates)
        rng = check_random_state(self.random_state)
        starts = [self._initial_params(X, templates, design, rng, prepared.start_weights)
                  for _ in range(self.n_init)]
        values = {id(s): start_values(self, plan, s, design) for s in starts}
        monitor = self._monitor = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        self.n_features_in_ = int(X.shape[1])
        self.n_covariates_in_ = prepared.n_covariates
        if self.n_iter == 0:
            self._set_params(starts[0], design, templates)
            restore_frozen(self, plan, values[id(starts[0])])
            return self
        runs: dict[int, tuple[InputDrivenHMMModel, dict]] = {}

        def fit_one(init: dict) -> EMResult:
            model = InputDrivenHMMModel(DistributionEmission(templates), self.n_components,
                                        design, plan.letters, init,
                                        start_covariates=self.start_covariates,
                                        total_rows=prepared.n_rows)
            model.frozen = plan.masks
            engine_model = backends.DaskModel(model) if isinstance(data, list) else model
            monitor._reset()

            def report(step: Any) -> None:
                if not monitor.history:
                    monitor.history.append(step.loglik - step.gain - model.log_prior(init))
                monitor.report(step.loglik - model.log_prior(step.params))

            result = em(engine_model, data, init, tol=self.tol, max_iter=self.n_iter,
                        accelerate=self.accelerate, callback=report)
            runs[id(result)] = (model, init)
            return result

        best, _ = best_of(starts, fit_one)
        model, best_start = runs[id(best)]
        self._set_params(best.params, design, templates)
        restore_frozen(self, plan, values[id(best_start)])
        history = [best.logliks[0] - model.log_prior(best_start)] + [
            s.loglik - model.log_prior(s.params) for s in best.steps]
        monitor.history = deque(float(h) for h in history)
        monitor.iter = best.n_iter
        monitor.converged = bool(best.converged)
        self.lower_bound_ = float(best.loglik - model.log_prior(best.params))
        self.n_iter_ = int(best.n_iter)
        self.converged_ = bool(best.converged)
        return self

    # -- inference -----------------------------------------------------------------------
    def _inference(self, X: Any, lengths: Any, covariates: Any
                   ) -> tuple[InputDrivenHMMModel, CovariateSequences, dict]:
        params = self._current_params()
        X = self._check_X(X)
        q = self._n_covariates()
        U = check_covariates(covariates, len(X), q)
        data = CovariateSequences.from_arrays(X, U, lengths)
        model = InputDrivenHMMModel(DistributionEmission(self._fitted_emissions()),
                                    self.n_components, Design.identity(q), self.params,
                                    params, start_covariates=self.start_covariates)
        return model, data, params

    def score_samples(self, X: Any, lengths: Any = None, *, covariates: Any = None
                      ) -> tuple[float, np.ndarray]:
        """Log-likelihood of ``X`` and the posterior state probabilities.

        Returns
        -------
        log_prob : float
        posteriors : ndarray of shape (n_samples, n_components)
        """
        model, data, params = self._inference(X, lengths, covariates)
        logliks, gamma = model.posteriors(data, params)
        return float(logliks.sum()), gamma

    def score(self, X: Any, lengths: Any = None, *, covariates: Any = None) -> float:
        """Log-likelihood of ``X`` given ``covariates``, summed over sequences."""
        return self.score_samples(X, lengths, covariates=covariates)[0]

    def decode(self, X: Any, lengths: Any = None, *, covariates: Any = None,
               algorithm: str | None = None) -> tuple[float, np.ndarray]:
        """Most likely states: the Viterbi paths, or each row's posterior maximum ("map").

        Returns
        -------
        log_prob : float
        state_sequence : ndarray of shape (n_samples,)
        """
        algorithm = self.algorithm if algorithm is None else algorithm
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        model, data, params = self._inference(X, lengths, covariates)
        if algorithm == "viterbi":
            logprobs, states = model.viterbi(data, params)
            return float(logprobs.sum()), states
        _, gamma = model.posteriors(data, params)
        return float(gamma.max(axis=1).sum()), np.argmax(gamma, axis=1)

    def predict(self, X: Any, lengths: Any = None, *, covariates: Any = None) -> np.ndarray:
        """Most likely state of each row (by ``algorithm``), shape (n_samples,)."""
        return self.decode(X, lengths, covariates=covariates)[1]

    def predict_proba(self, X: Any, lengths: Any = None, *,
                      covariates: Any = None) -> np.ndarray:
        """Posterior state probabilities, shape (n_samples, n_components)."""
        return self.score_samples(X, lengths, covariates=covariates)[1]

    def predict_transmat(self, covariates: Any) -> np.ndarray:
        """Transition matrices at the given covariate rows.

        Parameters
        ----------
        covariates : array-like of shape (n, n_covariates)

        Returns
        -------
        ndarray of shape (n, n_components, n_components)
            Entry ``[t, i, j]`` is ``P(z_t = j | z_{t-1} = i, u_t = covariates[t])``.
        """
        q = self._n_covariates()
        if covariates is None:
            raise ValueError("covariates is required: one row of covariates per "
                             "transition matrix wanted")
        U = check_covariates(covariates, n_rows(covariates), q)
        coef = np.asarray(self.transition_coef_, dtype=float)
        return np.exp(log_transitions(Design.identity(q).rows(U), coef))

    def stationary_distribution(self, covariates: Any) -> np.ndarray:
        """Stationary state probabilities of the chain with the covariates held at each row.

        Parameters
        ----------
        covariates : array-like of shape (n, n_covariates)

        Returns
        -------
        ndarray of shape (n, n_components)
            Row ``t``: the ``pi`` with ``pi @ P(u_t) = pi`` (momentuHMM's stationary
            probabilities).
        """
        return stationary(self.predict_transmat(covariates))

    def sample(self, n_samples: int | None = None, random_state: Any = None, *,
               covariates: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw one sequence from the model.

        Parameters
        ----------
        n_samples : int, optional
            Frames to draw; defaults to the rows of ``covariates`` (1 without them).
        random_state : int, RandomState or None
        covariates : array-like of shape (n_samples, n_covariates)
            Required when the model has covariates.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        state_sequence : ndarray of shape (n_samples,)
        """
        params = self._current_params()
        q = self._n_covariates()
        if n_samples is None:
            n_samples = 1 if covariates is None else n_rows(covariates)
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        U = check_covariates(covariates, int(n_samples), q)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        Zt = Design.identity(q).rows(U)
        model = InputDrivenHMMModel(DistributionEmission(self._fitted_emissions()),
                                    self.n_components, Design.identity(q), self.params,
                                    params, start_covariates=self.start_covariates)
        start = np.exp(model.log_start(Zt[:1], params)[0])
        trans = np.exp(log_transitions(Zt, params["trans"]))
        emissions = self._fitted_emissions()
        state = int((np.cumsum(start) > rng.rand()).argmax())
        states = [state]
        for t in range(1, int(n_samples)):
            state = int((np.cumsum(trans[t, state]) > rng.rand()).argmax())
            states.append(state)
        rows = [np.asarray(emissions[s].sample(1, rng))[0] for s in states]
        return np.atleast_2d(np.array(rows)), np.array(states, dtype=int)
