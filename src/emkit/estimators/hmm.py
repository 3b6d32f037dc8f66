"""Hidden Markov models with hmmlearn 0.3's names: GaussianHMM, GMMHMM, CategoricalHMM, PoissonHMM.

All four fit by Baum-Welch on :func:`emkit.em` (compiled forward-backward from
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
    Most EM iterations.
tol : float
    Stop when one EM step raises the total log-likelihood by less than this
    (absolute, as hmmlearn).
verbose : bool
    Print each iteration to standard error.
params, init_params : str
    Letters of the parameters to update / to initialize before fitting
    (``s`` startprob, ``t`` transmat, plus the family's letters). A letter
    missing from ``init_params`` means "use the value already set", e.g.
    ``init_params=""`` starts from the attributes you assigned.
implementation : {"log", "scaling"}
    Accepted for compatibility; emkit always uses its compiled scaled
    recursion, which is safe for long sequences.
n_init : int
    Number of starts; the best final log-likelihood is kept.
accelerate : {None, "squarem"}
    SQUAREM acceleration from the engine.

Unlike hmmlearn, ``monitor_.converged`` is False when ``n_iter`` is hit (and a
:class:`~emkit.ConvergenceWarning` is issued), and ``min_covar`` is a floor
kept during fitting, not only at initialization.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.utils import check_array

from ..distributions.categorical import Categorical
from ..distributions.gaussian import Gaussian
from ..distributions.poisson import Poisson
from ..gaussian.reference import COVARIANCE_TYPES
from ..models.hmm.emission import DistributionEmission, Emission, HmmlearnPoissonEmission
from ..models.hmm.gmm_emission import GMMEmission
from .hmm_base import BaseHMM, ConvergenceMonitor

__all__ = ["GaussianHMM", "GMMHMM", "CategoricalHMM", "PoissonHMM", "ConvergenceMonitor"]

#: GaussianHMM's ``params`` letters: ``m`` re-fits the states' means, ``c`` their covariances.
GAUSSIAN_LETTERS = {"m": ("mean",), "c": ("covariance",)}


def _float_X(X: Any) -> np.ndarray:
    X = check_array(X, dtype=np.float64, ensure_2d=False)
    if X.ndim == 1:
        X = X[:, None]
    return X


def _gaussian_X(X: Any) -> np.ndarray:
    """Float X whose centred squares, summed over all rows, stay finite."""
    X = _float_X(X)
    if X.size == 0:
        return X
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.abs(X - X.mean(axis=0)).max()
        fits = bool(spread * spread * len(X) < 1e307)  # False for inf/NaN as well
    if not fits:
        raise ValueError(f"X has values too large in magnitude (spread {spread:.3g}): the "
                         "sums of their squares overflow; rescale the data")
    return X


def _kmeans_fit(X: np.ndarray, k: int, rng: np.random.RandomState) -> Any:
    from sklearn.cluster import KMeans  # heavy import, only when initializing means

    seed = int(rng.randint(np.iinfo(np.int32).max))
    return KMeans(n_clusters=k, random_state=seed, n_init=3).fit(X)


def _kmeans(X: np.ndarray, k: int, rng: np.random.RandomState) -> np.ndarray:
    return _kmeans_fit(X, k, rng).cluster_centers_


def _data_covariance(X: np.ndarray, min_covar: float) -> np.ndarray:
    d = X.shape[1]
    cv = np.cov(X.T).reshape(d, d) if len(X) > 1 else np.zeros((d, d))
    return cv + min_covar * np.eye(d)


def _check_covariance_type(covariance_type: str) -> None:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, "
                         f"got {covariance_type!r}")


class GaussianHMM(BaseHMM):
    """Hidden Markov model with Gaussian emissions (hmmlearn's ``GaussianHMM``).

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

    The other arguments are described in the module docstring.

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

    def __init__(self, n_components: int = 1, covariance_type: str = "diag",
                 min_covar: float = 1e-3, startprob_prior: Any = 1.0,
                 transmat_prior: Any = 1.0, means_prior: Any = 0, means_weight: Any = 0,
                 covars_prior: Any = 1e-2, covars_weight: Any = 1,
                 algorithm: str = "viterbi", random_state: Any = None, n_iter: int = 10,
                 tol: float = 1e-2, verbose: bool = False, params: str = "stmc",
                 init_params: str = "stmc", implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.accelerate = accelerate

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
        _check_covariance_type(ctype)
        expected = {"spherical": 1, "diag": 2, "full": 3, "tied": 2}[ctype]
        if covars.ndim != expected or (ctype != "tied" and len(covars) != k):
            shapes = {"spherical": "(n_components,)", "diag": "(n_components, n_features)",
                      "full": "(n_components, n_features, n_features)",
                      "tied": "(n_features, n_features)"}
            raise ValueError(f"{ctype!r} covars_ must have shape {shapes[ctype]}, "
                             f"got {covars.shape}")
        self._covars_ = covars

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        X = _gaussian_X(X)
        if not fitting and hasattr(self, "means_") and X.shape[1] != self.means_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features but the model has "
                             f"{self.means_.shape[1]}")
        return X

    def _check_settings(self) -> None:
        super()._check_settings()
        _check_covariance_type(self.covariance_type)

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
        if "m" in self.init_params:
            if len(X) < k:
                raise ValueError(f"n_components={k} states need at least {k} rows, "
                                 f"got {len(X)}")
            out["means"] = _kmeans(X, k, rng)
        if "c" in self.init_params:
            cv = _data_covariance(X, self.min_covar)
            out["covars"] = {"spherical": np.full(k, cv.diagonal().mean()),
                             "diag": np.tile(np.diag(cv), (k, 1)),
                             "full": np.tile(cv, (k, 1, 1)), "tied": cv}[ctype]
        return out

    def _check_emission_params(self, params: dict, X: np.ndarray) -> None:
        k, d = self.n_components, X.shape[1]
        self._check_shape(params["means"], (k, d), "means_")
        shape = {"spherical": (k,), "diag": (k, d), "full": (k, d, d),
                 "tied": (d, d)}[self.covariance_type]
        self._check_shape(params["covars"], shape, "covars_")

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        return rng.multivariate_normal(self.means_[state], self.covars_[state])


class GMMHMM(BaseHMM):
    """Hidden Markov model whose emissions are Gaussian mixtures (hmmlearn's ``GMMHMM``).

    Parameters
    ----------
    n_mix : int, default 1
        Mixture components per state.
    weights_prior, means_prior, means_weight, covars_prior, covars_weight
        hmmlearn's priors (``None`` covariance priors take hmmlearn's defaults
        for the covariance type).
    covariance_type : {"diag", "full", "tied", "spherical"}, default "diag"
        ``tied``: one covariance per state, shared by its components.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components, n_mix)
    means_ : ndarray of shape (n_components, n_mix, n_features)
    covars_ : ndarray
        (K, M, D, D) full, (K, D, D) tied, (K, M, D) diag, (K, M) spherical.
    """

    _letters = "wmc"
    _param_attrs: ClassVar[dict[str, str]] = {
        "weights": "weights_", "means": "means_", "covars": "covars_"}

    def __init__(self, n_components: int = 1, n_mix: int = 1, min_covar: float = 1e-3,
                 startprob_prior: Any = 1.0, transmat_prior: Any = 1.0,
                 weights_prior: Any = 1.0, means_prior: Any = 0.0, means_weight: Any = 0.0,
                 covars_prior: Any = None, covars_weight: Any = None,
                 algorithm: str = "viterbi", covariance_type: str = "diag",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool = False, params: str = "stmcw", init_params: str = "stmcw",
                 implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None):
        self.n_components = n_components
        self.n_mix = n_mix
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.accelerate = accelerate

    def _check_settings(self) -> None:
        super()._check_settings()
        _check_covariance_type(self.covariance_type)
        if isinstance(self.n_mix, bool) or not isinstance(self.n_mix, (int, np.integer)) \
                or self.n_mix < 1:
            raise ValueError(f"n_mix must be an integer >= 1, got {self.n_mix!r}")

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        X = _gaussian_X(X)
        if not fitting and hasattr(self, "means_") and X.shape[1] != self.means_.shape[-1]:
            raise ValueError(f"X has {X.shape[1]} features but the model has "
                             f"{self.means_.shape[-1]}")
        return X

    def _emission(self, X: np.ndarray) -> Emission:
        return GMMEmission(self.covariance_type, self.n_components, self.n_mix, X.shape[1],
                           self.weights_prior, self.means_prior, self.means_weight,
                           self.covars_prior, self.covars_weight, self.min_covar,
                           center=X.mean(axis=0))

    def _init_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        k, m, ctype = self.n_components, self.n_mix, self.covariance_type
        out: dict = {}
        cv = _data_covariance(X, self.min_covar)
        if "w" in self.init_params:
            out["weights"] = np.full((k, m), 1.0 / m)
        if "m" in self.init_params:
            if len(X) < k:
                raise ValueError(f"n_components={k} states need at least {k} rows, "
                                 f"got {len(X)}")
            km = _kmeans_fit(X, k, rng)
            centre = km.cluster_centers_.mean(axis=0)
            means = []
            for label in range(k):
                members = X[km.labels_ == label]
                if len(members) >= m:
                    means.append(_kmeans(members, m, rng))
                else:
                    means.append(rng.multivariate_normal(centre, cv, size=m))
            out["means"] = np.stack(means)
        if "c" in self.init_params:
            d = X.shape[1]
            out["covars"] = {"tied": np.broadcast_to(cv, (k, d, d)),
                             "full": np.broadcast_to(cv, (k, m, d, d)),
                             "diag": np.broadcast_to(np.diag(cv), (k, m, d)),
                             "spherical": np.full((k, m), cv.mean())}[ctype].copy()
        return out

    def _check_emission_params(self, params: dict, X: np.ndarray) -> None:
        k, m, d = self.n_components, self.n_mix, X.shape[1]
        self._check_shape(params["weights"], (k, m), "weights_")
        self._check_stochastic(params["weights"], "weights_")
        self._check_shape(params["means"], (k, m, d), "means_")
        shape = {"spherical": (k, m), "diag": (k, m, d), "full": (k, m, d, d),
                 "tied": (k, d, d)}[self.covariance_type]
        self._check_shape(params["covars"], shape, "covars_")

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        j = rng.choice(self.n_mix, p=self.weights_[state])
        d = self.means_.shape[2]
        cov = {"full": lambda: self.covars_[state, j],
               "tied": lambda: self.covars_[state],
               "diag": lambda: np.diag(self.covars_[state, j]),
               "spherical": lambda: np.eye(d) * self.covars_[state, j]}[self.covariance_type]()
        return rng.multivariate_normal(self.means_[state, j], cov)


class CategoricalHMM(BaseHMM):
    """Hidden Markov model with categorical emissions (hmmlearn's ``CategoricalHMM``).

    ``X`` is an integer array of shape (n_samples, 1) holding symbols
    ``0 .. n_features - 1``.

    Parameters
    ----------
    emissionprob_prior : float or array-like, default 1.0
        Dirichlet concentration for each row of ``emissionprob_``.
    n_features : int or None
        Number of symbols; ``None`` infers ``max(X) + 1`` at fit (the argument
        itself is left as given; the fitted count is ``emissionprob_.shape[1]``).

    Attributes
    ----------
    emissionprob_ : ndarray of shape (n_components, n_symbols)
    """

    _letters = "e"
    _param_attrs: ClassVar[dict[str, str]] = {"emissionprob": "emissionprob_"}
    _sets_n_features = False

    def __init__(self, n_components: int = 1, startprob_prior: Any = 1.0,
                 transmat_prior: Any = 1.0, *, emissionprob_prior: Any = 1.0,
                 n_features: int | None = None, algorithm: str = "viterbi",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool = False, params: str = "ste", init_params: str = "ste",
                 implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.accelerate = accelerate

    def _n_symbols(self, X: np.ndarray | None = None) -> int:
        if hasattr(self, "emissionprob_") and "e" not in self.init_params:
            return int(np.shape(self.emissionprob_)[1])
        if hasattr(self, "emissionprob_") and X is None:
            return int(np.shape(self.emissionprob_)[1])
        if self.n_features is not None:
            return int(self.n_features)
        return int(X.max()) + 1 if X is not None else 0

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != 1:
            raise ValueError(f"CategoricalHMM expects X of shape (n_samples, 1) holding "
                             f"symbols, got shape {X.shape}")
        if X.shape[0] == 0:
            raise ValueError("X is empty: it has no rows (samples)")
        if X.dtype.kind not in "iub":
            if X.dtype.kind != "f" or not np.all(np.isfinite(X)) or np.any(X != np.round(X)):
                raise ValueError("CategoricalHMM symbols must be non-negative integers")
        X = X.astype(np.int64)
        if X.size and X.min() < 0:
            raise ValueError(f"CategoricalHMM symbols must be non-negative integers; "
                             f"found {int(X.min())}")
        n_symbols = self._n_symbols(X if fitting else None)
        if X.size and X.max() >= n_symbols:
            raise ValueError(f"symbol {int(X.max())} is outside the alphabet 0..{n_symbols - 1}"
                             f" (n_features={n_symbols})")
        return X

    def _emission(self, X: np.ndarray) -> Emission:
        k, n_symbols = self.n_components, self._n_symbols(X)
        prior = np.broadcast_to(np.asarray(self.emissionprob_prior, float), (k, n_symbols))
        return DistributionEmission([
            Categorical(n_categories=n_symbols,
                        prior=None if np.all(prior[j] == 1) else prior[j][None, :])
            for j in range(k)])

    def _to_model_params(self, emission: dict) -> dict:
        return {"emissions": [{"probs": row[None, :]}
                              for row in np.asarray(emission["emissionprob"], float)]}

    def _from_model_params(self, params: dict) -> dict:
        return {"emissionprob": np.stack([np.asarray(t["probs"])[0]
                                          for t in params["emissions"]])}

    def _init_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        if "e" not in self.init_params:
            return {}
        p = rng.rand(self.n_components, self._n_symbols(X))
        return {"emissionprob": p / p.sum(axis=1, keepdims=True)}

    def _check_emission_params(self, params: dict, X: np.ndarray) -> None:
        self._check_shape(params["emissionprob"], (self.n_components, self._n_symbols(X)),
                          "emissionprob_")
        self._check_stochastic(params["emissionprob"], "emissionprob_")

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        cdf = np.cumsum(self.emissionprob_[state])
        return np.array([(cdf > rng.rand()).argmax()])


class PoissonHMM(BaseHMM):
    """Hidden Markov model with independent Poisson counts per feature (hmmlearn's).

    Parameters
    ----------
    lambdas_prior, lambdas_weight : float or array-like, default 0
        hmmlearn's Gamma-prior terms for the rates.

    Attributes
    ----------
    lambdas_ : ndarray of shape (n_components, n_features)
    """

    _letters = "l"
    _param_attrs: ClassVar[dict[str, str]] = {"lambdas": "lambdas_"}

    def __init__(self, n_components: int = 1, startprob_prior: Any = 1.0,
                 transmat_prior: Any = 1.0, lambdas_prior: Any = 0.0,
                 lambdas_weight: Any = 0.0, algorithm: str = "viterbi",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool = False, params: str = "stl", init_params: str = "stl",
                 implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.lambdas_prior = lambdas_prior
        self.lambdas_weight = lambdas_weight
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.n_init = n_init
        self.accelerate = accelerate

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        X = _float_X(X)
        if np.any(X < 0):
            raise ValueError(f"PoissonHMM needs non-negative counts; found "
                             f"{int((X < 0).sum())} negative value(s), e.g. {X[X < 0][0]:g}")
        if np.any(X != np.round(X)):
            raise ValueError("PoissonHMM needs integer counts; found non-integer values")
        if not fitting and hasattr(self, "lambdas_") and X.shape[1] != self.lambdas_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features but the model has "
                             f"{self.lambdas_.shape[1]}")
        return X

    def _emission(self, X: np.ndarray) -> Emission:
        states = [Poisson()] * self.n_components
        if np.all(np.asarray(self.lambdas_prior) == 0) and np.all(
                np.asarray(self.lambdas_weight) == 0):
            return DistributionEmission(states, letter="l")
        return HmmlearnPoissonEmission(states, self.lambdas_prior, self.lambdas_weight)

    def _to_model_params(self, emission: dict) -> dict:
        return {"emissions": [{"rate": row} for row in np.asarray(emission["lambdas"], float)]}

    def _from_model_params(self, params: dict) -> dict:
        return {"lambdas": np.stack([np.asarray(t["rate"]) for t in params["emissions"]])}

    def _init_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        if "l" not in self.init_params:
            return {}
        mean, var = X.mean(), X.var()
        shape = (self.n_components, X.shape[1])
        if mean > 0 and var > 0:
            return {"lambdas": rng.gamma(shape=mean**2 / var, scale=var / mean, size=shape)}
        return {"lambdas": np.full(shape, max(mean, 1e-3)) * rng.uniform(0.5, 1.5, shape)}

    def _check_emission_params(self, params: dict, X: np.ndarray) -> None:
        lam = params["lambdas"]
        self._check_shape(lam, (self.n_components, X.shape[1]), "lambdas_")
        if not np.all(np.isfinite(lam)) or np.any(lam < 0):
            raise ValueError("lambdas_ must be finite and non-negative")

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        return rng.poisson(self.lambdas_[state])
