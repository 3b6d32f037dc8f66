"""Hidden Markov models with hmmlearn 0.3's names: GaussianHMM, GMMHMM, CategoricalHMM,
PoissonHMM, MultinomialHMM.

All five fit by Baum-Welch on :func:`emkit.em` (compiled forward-backward from
:mod:`emkit.models.hmm.recursions`); the shared behaviour (``fit(X, lengths)``,
``score``, ``score_samples``, ``predict``, ``predict_proba``, ``decode``,
``sample``, ``monitor_``) is documented on
:class:`emkit.estimators.hmm_base.BaseHMM`.

Arguments shared by every class
-------------------------------
n_components : int
    Number of hidden states.
startprob_prior, transmat_prior : float or array-like
    Dirichlet concentrations for ``startprob_`` (K,) and each row of
    ``transmat_`` (K, K); 1 means no prior.
algorithm : {"viterbi", "map"}
    Decoder used by ``predict``/``decode``.
random_state : int, RandomState or None
n_iter : int
    Most EM iterations; 0 only initializes the parameters (as hmmlearn).
tol : float
    Stop when one EM step raises the total log-likelihood by less than this
    (absolute, as hmmlearn).
verbose : bool
    Print each iteration to standard error.
params, init_params : str
    Letters of the parameters to update / to initialize before fitting
    (``s`` startprob, ``t`` transmat, plus the family's letters). A letter
    missing from ``init_params`` means "use the value already set", e.g.
    ``init_params=""`` starts from the attributes you assigned; as in hmmlearn,
    a parameter not set is initialized all the same, and one that is set but
    whose letter is in ``init_params`` is overwritten (with a ``logging``
    warning saying so).
implementation : {"log", "scaling"}
    Accepted for compatibility; emkit always uses its compiled scaled
    recursion, which is safe for long sequences.
n_init : int
    Number of starts; the best final log-likelihood is kept.
accelerate : {None, "squarem"}
    SQUAREM acceleration from the engine.
freeze : dict or None
    Fitted attribute -> ``True`` (kept whole at its start) or a boolean mask of
    its shape (True = kept): ``startprob_`` and ``transmat_`` (the free entries
    share the rest of their row) and the emission attributes (``means_``,
    ``covars_``, ``lambdas_``, ``emissionprob_``, GMMHMM's ``weights_``; the free
    entries get the constrained M-step); checked by ``fit``, see
    :mod:`emkit.estimators._hmm_supervision` and
    :mod:`emkit.estimators._hmm_freeze_masks`.

Every class also follows scikit-learn's conventions where they do not change
hmmlearn's: ``fit`` sets ``n_features_in_`` (the columns of ``X``), and using a
model whose parameters are not all set raises ``NotFittedError`` (a
``ValueError``).

Unlike hmmlearn, ``monitor_.converged`` is False when ``n_iter`` is hit (and a
:class:`~emkit.ConvergenceWarning` is issued), and ``min_covar`` is a floor
kept during fitting, not only at initialization.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..distributions.gaussian import Gaussian
from ..models.hmm.emission import DistributionEmission, Emission
from ._hmm_inputs import (
    check_covariance_type,
    check_covariances,
    data_covariance,
    float_X,
    gaussian_X,
    kmeans_centers,
    start_rows,
)
from .hmm_base import BaseHMM, ConvergenceMonitor
from .hmm_counts import CategoricalHMM, MultinomialHMM, PoissonHMM
from .hmm_gmm import GMMHMM

__all__ = ["GaussianHMM", "GMMHMM", "CategoricalHMM", "PoissonHMM", "MultinomialHMM",
           "ConvergenceMonitor"]

#: GaussianHMM's ``params`` letters: ``m`` re-fits the states' means, ``c`` their covariances.
GAUSSIAN_LETTERS = {"m": ("mean",), "c": ("covariance",)}


class GaussianHMM(BaseHMM):
    """Hidden Markov model with Gaussian emissions (hmmlearn's ``GaussianHMM``).

    The arguments not listed below are described in the module docstring.

    Parameters
    ----------
    covariance_type : {"diag", "full", "tied", "spherical"}, default "diag"
    min_covar : float, default 1e-3
        Added to the data covariance at initialization and kept as a floor.
    means_prior, means_weight : float or array-like
        Normal prior on the means (mean and pseudo-count).
    covars_prior, covars_weight : float or array-like
        Inverse-gamma / inverse-Wishart prior on the covariances, in hmmlearn's
        parametrization.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    means_ : ndarray of shape (n_components, n_features)
    covars_ : ndarray of shape (n_components, n_features, n_features)
        Always full matrices when read (as hmmlearn); assign the
        ``covariance_type`` shape: (K,) spherical, (K, D) diag,
        (K, D, D) full, (D, D) tied.
    n_features : int
    monitor_ : ConvergenceMonitor
    """

    _letters = "mc"
    _param_attrs: ClassVar[dict[str, str]] = {"means": "means_", "covars": "_covars_"}
    _letter_attrs: ClassVar[dict[str, str]] = {"m": "means_", "c": "_covars_"}
    n_features: int  # set by fit

    def __init__(self, n_components: int = 1, covariance_type: str = "diag",
                 min_covar: float = 1e-3, startprob_prior: Any = 1.0,
                 transmat_prior: Any = 1.0, means_prior: Any = 0, means_weight: Any = 0,
                 covars_prior: Any = 1e-2, covars_weight: Any = 1,
                 algorithm: str = "viterbi", random_state: Any = None, n_iter: int = 10,
                 tol: float = 1e-2, verbose: bool = False, params: str = "stmc",
                 init_params: str = "stmc", implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None, freeze: Any = None):
        self._set_shared_arguments(locals())
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN: an entry missing at random
        return tags

    @property
    def covars_(self) -> np.ndarray:
        """Covariances as full matrices, shape (n_components, n_features, n_features)."""
        cov = self._covars_
        k, ctype = self.n_components, self.covariance_type
        if ctype == "full":
            return cov
        if ctype == "diag":
            return np.stack([np.diag(c) for c in cov])
        if ctype == "tied":
            return np.tile(cov, (k, 1, 1))
        d = self.means_.shape[1] if hasattr(self, "means_") else self.n_features
        return np.eye(d)[None] * np.ravel(cov)[:, None, None]

    @covars_.setter
    def covars_(self, covars: Any) -> None:
        covars = np.array(covars, dtype=float)
        k, ctype = self.n_components, self.covariance_type
        check_covariance_type(ctype)
        if ctype == "spherical" and covars.ndim > 1 and covars.size == len(covars):
            covars = covars.reshape(len(covars))  # (K, 1), (K, 1, 1, 1): one variance each
        expected = {"spherical": 1, "diag": 2, "full": 3, "tied": 2}[ctype]
        if covars.ndim != expected or (ctype != "tied" and len(covars) != k):
            shapes = {"spherical": "(n_components,)", "diag": "(n_components, n_features)",
                      "full": "(n_components, n_features, n_features)",
                      "tied": "(n_features, n_features)"}
            raise ValueError(f"{ctype!r} covars_ must have shape {shapes[ctype]}, "
                             f"got {covars.shape}")
        self._covars_ = covars

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        checked = float_X(X, allow_missing=True)  # NaN: missing at random
        if not fitting:
            self._check_columns(checked, X)
        return gaussian_X(checked)

    def _fitted_columns(self) -> int | None:
        return int(np.shape(self.means_)[-1]) if hasattr(self, "means_") else None

    def _check_settings(self) -> None:
        super()._check_settings()
        check_covariance_type(self.covariance_type)

    def _emission(self, X: np.ndarray) -> Emission:
        """Gaussian states with hmmlearn's priors and ``min_covar`` as a floor."""
        k, d, ctype = self.n_components, X.shape[1], self.covariance_type
        means_prior = np.broadcast_to(np.asarray(self.means_prior, float), (k, d))
        means_weight = np.broadcast_to(np.asarray(self.means_weight, float), (k,))
        shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k, d)}
        covars_prior = np.broadcast_to(np.asarray(self.covars_prior, float), shape[ctype])
        states = [Gaussian(covariance_type=ctype, reg_covar=0.0,
                           min_covariance=float(self.min_covar), mean_prior=means_prior[j],
                           mean_weight=float(means_weight[j]),
                           covariance_prior=covars_prior if ctype == "tied" else covars_prior[j],
                           covariance_weight=self.covars_weight)
                  for j in range(k)]
        return DistributionEmission(states, parameter_letters=GAUSSIAN_LETTERS)

    def _emission_scalars(self, n_features: int, start: dict | None = None) -> dict[str, int]:
        k, d = self.n_components, n_features
        covariance = {"spherical": k, "diag": k * d, "full": k * d * (d + 1) // 2,
                      "tied": d * (d + 1) // 2}[self.covariance_type]
        return {"m": k * d, "c": covariance}

    def _to_model_params(self, emission: dict) -> dict:
        means = np.asarray(emission["means"], float)
        covars = np.asarray(emission["covars"], float)
        per_state = [covars] * len(means) if self.covariance_type == "tied" else list(covars)
        return {"emissions": [{"mean": m, "covariance": np.asarray(c)}
                              for m, c in zip(means, per_state, strict=True)]}

    def _from_model_params(self, params: dict) -> dict:
        states = params["emissions"]
        covars = [np.asarray(t["covariance"], float) for t in states]
        return {"means": np.stack([np.asarray(t["mean"], float) for t in states]),
                "covars": covars[0] if self.covariance_type == "tied" else np.stack(covars)}

    def _init_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        out = {}
        k, ctype = self.n_components, self.covariance_type
        X = start_rows(X, rng)  # X itself without NaN
        if self._needs_init("m", "means_"):
            if len(X) < k:
                raise ValueError(f"n_components={k} states need at least {k} rows, "
                                 f"got {len(X)}")
            out["means"] = kmeans_centers(X, k, rng, self._row_weights())
        if self._needs_init("c", "_covars_"):
            cv = data_covariance(X, self.min_covar, self._row_weights())
            out["covars"] = {"spherical": np.full(k, cv.diagonal().mean()),
                             "diag": np.tile(np.diag(cv), (k, 1)),
                             "full": np.tile(cv, (k, 1, 1)), "tied": cv}[ctype]
        return out

    def _check_emission_params(self, params: dict, X: np.ndarray | None) -> None:
        means = params["means"]
        k, d = self.n_components, X.shape[1] if X is not None else means.shape[-1]
        self._check_shape(means, (k, d), "means_")
        shape = {"spherical": (k,), "diag": (k, d), "full": (k, d, d),
                 "tied": (d, d)}[self.covariance_type]
        self._check_shape(params["covars"], shape, "covars_")
        check_covariances(params["covars"], self.covariance_type, "covars_")

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        return rng.multivariate_normal(self.means_[state], self.covars_[state])
