"""``emkit.HMM``: a hidden Markov model whose states emit from any emkit distribution.

The states' emissions are :mod:`emkit.distributions` instances, the same objects
a :class:`~emkit.MixtureModel` uses as components: Poisson counts, Exponential
or Gamma durations, Student-t returns, Bernoulli or Categorical symbols, and
:class:`~emkit.distributions.Independent` products for frames that mix a
Gaussian column, a count and a category. Fitting is Baum-Welch on
:func:`emkit.em` (:class:`~emkit.models.hmm.model.HMMModel` with a
:class:`~emkit.models.hmm.emission.DistributionEmission`); everything else
(``score``, ``predict``, ``decode``, ``sample``, ``monitor_``, saving) is
:class:`~emkit.estimators.hmm_base.BaseHMM`, shared with the hmmlearn-named
classes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.exceptions import NotFittedError

from ..distributions._base import Distribution, as_rng
from ..distributions.components import Components
from ..distributions.missing import MissingEntries
from ..models.hmm.emission import DistributionEmission, Emission
from ._components import component_templates, dense_matrix, start_responsibilities, validate_for
from ._hmm_inputs import check_observed_columns, start_rows
from .hmm_base import BaseHMM

__all__ = ["HMM"]


class HMM(BaseHMM):
    """Hidden Markov model with any :mod:`emkit.distributions` emission.

    Parameters
    ----------
    emission : Distribution or list of Distribution
        The emission of every state: one distribution used as the template of
        all ``n_components`` states, or a list of ``n_components`` of them
        (per-state families or settings; with ``init_params`` lacking ``"e"``
        their parameter values are the start).
    n_components : int, default 1
        Number of hidden states.
    startprob_prior, transmat_prior : float or array-like, default 1.0
        Dirichlet concentrations for ``startprob_`` (K,) and each row of
        ``transmat_`` (K, K); 1 means no prior. A distribution's own prior
        (e.g. ``Poisson(prior=(a, b))``) is its emission prior.
    algorithm : {"viterbi", "map"}, default "viterbi"
        Decoder used by ``predict`` and ``decode``.
    random_state : int, RandomState or None
    n_iter : int, default 10
        Most EM iterations.
    tol : float, default 1e-2
        Stop when one EM step raises the total log-likelihood by less than this.
    verbose : bool, default False
        Print each iteration to standard error.
    params, init_params : str, default "ste"
        Letters of the parameters to update / to initialize before fitting:
        ``s`` startprob, ``t`` transmat, ``e`` the emissions. A letter missing
        from ``init_params`` starts from the value already set (``startprob_``,
        ``transmat_``, or the parameters of the distributions in ``emission``);
        a value not set is initialized all the same, as in hmmlearn.
    implementation : {"log", "scaling"}, default "log"
        Accepted for hmmlearn compatibility; the compiled scaled recursion is
        always used.
    n_init : int, default 1
        Number of starts; the best final log-likelihood is kept.
    accelerate : {None, "squarem"}, default None
        SQUAREM acceleration from the engine.
    freeze : dict or None, default None
        Fitted attribute -> ``True`` (kept whole at its start) or a boolean mask
        of its shape: ``startprob_`` and ``transmat_`` (the free entries share
        the rest of their row) and ``emissions_`` (K,) (a True state keeps its
        whole emission distribution; the others are fitted); checked by ``fit``.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    emissions_ : list of n_components Distribution
        Each state's fitted emission distribution.
    n_features : int
        Columns of ``X``.
    monitor_ : ConvergenceMonitor

    Examples
    --------
    >>> import numpy as np
    >>> import emkit
    >>> rng = np.random.default_rng(0)
    >>> counts = np.concatenate([rng.poisson(2, 300), rng.poisson(12, 300)])[:, None]
    >>> hmm = emkit.HMM(emkit.distributions.Poisson(), n_components=2, n_iter=50,
    ...                 random_state=0).fit(counts)
    >>> sorted(round(float(e.rate[0])) for e in hmm.emissions_)
    [2, 12]
    """

    _letters = "e"
    _letter_attrs: ClassVar[dict[str, str]] = {"e": "emissions_"}

    def __init__(self, emission: Any = None, n_components: int = 1, *,
                 startprob_prior: Any = 1.0, transmat_prior: Any = 1.0,
                 algorithm: str = "viterbi", random_state: Any = None, n_iter: int = 10,
                 tol: float = 1e-2, verbose: bool = False, params: str = "ste",
                 init_params: str = "ste", implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None, freeze: Any = None):
        self.emission = emission
        self._set_shared_arguments(locals())

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN: an entry missing at random
        return tags

    # -- emissions -----------------------------------------------------------------
    def _templates(self) -> list[Distribution]:
        if hasattr(self, "emissions_") and "e" not in self.init_params:
            return list(self.emissions_)
        return component_templates(self.emission, self.n_components, "emission")

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        given, X = X, dense_matrix(X, "HMM")
        if not fitting and X.ndim == 2:
            self._check_columns(X, given)
        if fitting:
            templates = self._templates()
            if X.ndim == 2 and X.size and not np.isinf(X).any():
                # settings read from the data (a category count) see the observed values
                missing = MissingEntries.of(X)
                seen = X if missing is None else missing.support_filled()
                templates = [t.prepare(seen) for t in templates]
            self._fit_templates = templates
        else:
            templates = self._state_templates()
        return validate_for(X, templates, allow_missing=True)  # NaN: missing at random

    def _end_fit(self) -> None:
        self.__dict__.pop("_fit_templates", None)

    def _state_templates(self) -> list[Distribution]:
        """The templates of the fit in progress, else the fitted emissions."""
        fitting = self.__dict__.get("_fit_templates")
        if fitting is not None:
            return fitting
        if hasattr(self, "emissions_"):
            return list(self.emissions_)
        return self._templates()

    def _emission(self, X: np.ndarray) -> Emission:
        return DistributionEmission(self._state_templates())

    def _emission_params(self) -> dict:
        states = self._state_templates()
        if not all(e.is_fitted for e in states):
            raise NotFittedError("emissions_ is not set: fit the model first, or give the "
                                 "emission distributions with parameters")
        return {"emissions": [e.parameters() for e in states]}

    def _set_emission_params(self, params: dict) -> None:
        templates = self._state_templates()
        self.emissions_ = [t.with_parameters(p)
                           for t, p in zip(templates, params["emissions"], strict=True)]

    def _start_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        check_observed_columns(X)
        templates = self._fit_templates
        emission = DistributionEmission(templates)
        if "e" not in self.init_params and all(t.is_fitted for t in templates):
            return {"emissions": emission.components.pack(templates)}
        k = len(templates)
        if len(X) < k:
            raise ValueError(f"n_components={k} states need at least {k} rows, got {len(X)}")
        X = start_rows(X, rng)  # X itself without NaN
        w = self._row_weights()  # each row's sequence weight in a weighted fit
        resp = start_responsibilities(X, templates, "kmeans", rng, sample_weight=w)
        if w is not None:
            resp = resp * w[:, None]
        comps = emission.components.initialize(X, resp, as_rng(rng))
        return {"emissions": emission.components.pack(comps)}

    def _check_emission_params(self, params: dict, X: np.ndarray | None) -> None:
        if not Components(self._state_templates()).is_feasible(params["emissions"]):
            raise ValueError("the starting emission parameters are outside the "
                             "distributions' parameter spaces")

    def _emission_scalars(self, n_features: int, start: dict | None = None) -> dict[str, int]:
        states = self._state_templates()
        if start is not None:
            states = [t.with_parameters(p)
                      for t, p in zip(states, start["emissions"], strict=True)]
        return {"e": Components(states).n_parameters(states)}

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        return np.asarray(self._state_templates()[state].sample(1, rng))[0]

    # -- persistence -----------------------------------------------------------------
    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        if state and hasattr(self, "emissions_"):
            state["emissions_"] = list(self.emissions_)
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        emissions = state.pop("emissions_", None)
        super()._set_state(state)
        if emissions is not None:
            self.emissions_ = list(emissions)
