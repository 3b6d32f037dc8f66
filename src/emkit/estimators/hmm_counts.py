"""``CategoricalHMM``, ``PoissonHMM``, ``MultinomialHMM``: HMMs of symbols and counts (hmmlearn's).

Their states emit from :class:`emkit.distributions.Categorical`,
:class:`emkit.distributions.Poisson` and :class:`emkit.distributions.Multinomial`;
the shared arguments and behaviour are documented in :mod:`emkit.estimators.hmm`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import sparse

from .. import backends
from ..distributions.categorical import Categorical
from ..distributions.multinomial import Multinomial
from ..distributions.poisson import Poisson
from ..models.hmm.emission import DistributionEmission, Emission, HmmlearnPoissonEmission
from ._hmm_inputs import float_X
from ._hmm_weights import weighted_mean_var
from .hmm_base import BaseHMM

__all__ = ["CategoricalHMM", "PoissonHMM", "MultinomialHMM"]


class CategoricalHMM(BaseHMM):
    """Hidden Markov model with categorical emissions (hmmlearn's ``CategoricalHMM``).

    ``X`` is an integer array of shape (n_samples, 1) holding symbols
    ``0 .. n_features - 1``.

    Parameters
    ----------
    emissionprob_prior : float or array-like, default 1.0
        Dirichlet concentration for each row of ``emissionprob_``.
    n_features : int or None
        Number of symbols; ``None`` infers ``max(X) + 1`` at fit and then holds
        that count, as in hmmlearn (so a later fit keeps the alphabet).

    Attributes
    ----------
    emissionprob_ : ndarray of shape (n_components, n_symbols)
    """

    _letters = "e"
    _param_attrs: ClassVar[dict[str, str]] = {"emissionprob": "emissionprob_"}
    _letter_attrs: ClassVar[dict[str, str]] = {"e": "emissionprob_"}
    _sets_n_features = False

    def __init__(self, n_components: int = 1, startprob_prior: Any = 1.0,
                 transmat_prior: Any = 1.0, *, emissionprob_prior: Any = 1.0,
                 n_features: int | None = None, algorithm: str = "viterbi",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool = False, params: str = "ste", init_params: str = "ste",
                 implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None, freeze: Any = None):
        self._set_shared_arguments(locals())
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features

    def __sklearn_tags__(self) -> Any:
        # X holds symbols: non-negative integer codes of categories
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.positive_only = True
        return tags

    def _n_symbols(self, X: np.ndarray | None = None) -> int:
        if hasattr(self, "emissionprob_") and "e" not in self.init_params:
            return int(np.shape(self.emissionprob_)[1])
        if hasattr(self, "emissionprob_") and X is None:
            return int(np.shape(self.emissionprob_)[1])
        if self.n_features is not None:
            return int(self.n_features)
        return int(X.max()) + 1 if X is not None else 0

    def _set_n_features(self, X: np.ndarray) -> None:
        if self.n_features is None:
            self.n_features = int(np.shape(self.emissionprob_)[1])

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        if sparse.issparse(X):
            raise ValueError("Sparse data was passed to CategoricalHMM, but dense data is "
                             "required: convert it with X.toarray()")
        X = np.asarray(X)
        if np.iscomplexobj(X):
            raise ValueError("Complex data not supported: CategoricalHMM symbols must be "
                             "non-negative integers")
        if X.dtype == object:
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError("CategoricalHMM symbols must be non-negative integers") \
                    from None
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim == 2 and X.shape[1] == 0:
            raise ValueError(f"X is empty: 0 feature(s) (shape={X.shape}) while a minimum "
                             "of 1 is required.")
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
            raise ValueError(f"Negative values in data passed to CategoricalHMM: symbols "
                             f"must be non-negative integers; found {int(X.min())}")
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

    def _emission_scalars(self, n_features: int, start: dict | None = None) -> dict[str, int]:
        n_symbols = (self._n_symbols() if start is None
                     else int(np.size(start["emissions"][0]["probs"])))
        return {"e": self.n_components * (n_symbols - 1)}

    def _to_model_params(self, emission: dict) -> dict:
        return {"emissions": [{"probs": row[None, :]}
                              for row in np.asarray(emission["emissionprob"], float)]}

    def _from_model_params(self, params: dict) -> dict:
        return {"emissionprob": np.stack([np.asarray(t["probs"])[0]
                                          for t in params["emissions"]])}

    def _init_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        if not self._needs_init("e", "emissionprob_"):
            return {}
        p = rng.rand(self.n_components, self._n_symbols(X))
        return {"emissionprob": p / p.sum(axis=1, keepdims=True)}

    def _check_emission_params(self, params: dict, X: np.ndarray | None) -> None:
        n_symbols = self._n_symbols(X) if X is not None else np.shape(params["emissionprob"])[-1]
        self._check_shape(params["emissionprob"], (self.n_components, n_symbols),
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
    _letter_attrs: ClassVar[dict[str, str]] = {"l": "lambdas_"}

    def __init__(self, n_components: int = 1, startprob_prior: Any = 1.0,
                 transmat_prior: Any = 1.0, lambdas_prior: Any = 0.0,
                 lambdas_weight: Any = 0.0, algorithm: str = "viterbi",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool = False, params: str = "stl", init_params: str = "stl",
                 implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None, freeze: Any = None):
        self._set_shared_arguments(locals())
        self.lambdas_prior = lambdas_prior
        self.lambdas_weight = lambdas_weight

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # counts
        return tags

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        given, X = X, float_X(X)
        if not fitting:
            self._check_columns(X, given)
        if np.any(X < 0):
            raise ValueError(f"Negative values in data passed to PoissonHMM: counts must be "
                             f"non-negative; found "
                             f"{int((X < 0).sum())} negative value(s), e.g. {X[X < 0][0]:g}")
        if np.any(X != np.round(X)):
            raise ValueError("PoissonHMM needs integer counts; found non-integer values")
        return X

    def _fitted_columns(self) -> int | None:
        return int(np.shape(self.lambdas_)[1]) if hasattr(self, "lambdas_") else None

    def _emission(self, X: np.ndarray) -> Emission:
        states = [Poisson()] * self.n_components
        if np.all(np.asarray(self.lambdas_prior) == 0) and np.all(
                np.asarray(self.lambdas_weight) == 0):
            return DistributionEmission(states, letter="l")
        return HmmlearnPoissonEmission(states, self.lambdas_prior, self.lambdas_weight)

    def _emission_scalars(self, n_features: int, start: dict | None = None) -> dict[str, int]:
        return {"l": self.n_components * n_features}

    def _to_model_params(self, emission: dict) -> dict:
        return {"emissions": [{"rate": row} for row in np.asarray(emission["lambdas"], float)]}

    def _from_model_params(self, params: dict) -> dict:
        return {"lambdas": np.stack([np.asarray(t["rate"]) for t in params["emissions"]])}

    def _init_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        if not self._needs_init("l", "lambdas_"):
            return {}
        mean, var = weighted_mean_var(X, self._row_weights())
        shape = (self.n_components, X.shape[1])
        if mean > 0 and var > 0:
            return {"lambdas": rng.gamma(shape=mean**2 / var, scale=var / mean, size=shape)}
        return {"lambdas": np.full(shape, max(mean, 1e-3)) * rng.uniform(0.5, 1.5, shape)}

    def _check_emission_params(self, params: dict, X: np.ndarray | None) -> None:
        lam = params["lambdas"]
        d = X.shape[1] if X is not None else np.shape(lam)[-1]
        self._check_shape(lam, (self.n_components, d), "lambdas_")
        if not np.all(np.isfinite(lam)) or np.any(lam < 0):
            raise ValueError("lambdas_ must be finite and non-negative")

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        return rng.poisson(self.lambdas_[state])


class MultinomialHMM(BaseHMM):
    """Hidden Markov model with multinomial emissions (hmmlearn 0.3's ``MultinomialHMM``).

    Each row of ``X`` counts the outcomes of ``n_features`` categories over
    that row's trials; state ``k`` emits Multinomial(trials, ``emissionprob_[k]``).
    The log-likelihood includes the multinomial coefficient, as hmmlearn's.
    With ``n_trials=1`` it is a :class:`CategoricalHMM` on one-hot rows.

    The arguments not listed below are described in :mod:`emkit.estimators.hmm`.

    Parameters
    ----------
    n_trials : int, array-like of int of shape (n_samples,), or None
        Trials per row: every row of ``X`` must sum to it (each row to its
        entry). ``None``: each row's total is its number of trials, and fit
        then sets ``n_trials`` to the rows' common total when they all have
        one (as hmmlearn, so the model can :meth:`sample`).

    Attributes
    ----------
    emissionprob_ : ndarray of shape (n_components, n_features)
    n_features : int
        Number of categories, set by fit.
    """

    _letters = "e"
    _param_attrs: ClassVar[dict[str, str]] = {"emissionprob": "emissionprob_"}
    _letter_attrs: ClassVar[dict[str, str]] = {"e": "emissionprob_"}
    _columns_are = "categories"
    n_features: int  # set by fit

    def __init__(self, n_components: int = 1, *, n_trials: Any = None,
                 startprob_prior: Any = 1.0, transmat_prior: Any = 1.0,
                 algorithm: str = "viterbi", random_state: Any = None, n_iter: int = 10,
                 tol: float = 1e-2, verbose: bool = False, params: str = "ste",
                 init_params: str = "ste", implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None, freeze: Any = None):
        self._set_shared_arguments(locals())
        self.n_trials = n_trials

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # counts
        return tags

    def fit(self, X: Any, lengths: Any = None, sample_weight: Any = None, *,
            labels: Any = None, priors: Any = None) -> MultinomialHMM:
        """Baum-Welch, as :meth:`BaseHMM.fit <emkit.estimators.hmm_base.BaseHMM.fit>`;
        then ``n_trials=None`` becomes the rows' common total, if they have one."""
        super().fit(X, lengths, sample_weight, labels=labels, priors=priors)
        if self.n_trials is None and not backends.is_dask(X):
            totals = np.unique(self._check_X(X, fitting=False).sum(axis=1))
            if len(totals) == 1:
                self.n_trials = int(totals[0])
        return self

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        given, X = X, float_X(X)
        if X.shape[0] == 0:
            raise ValueError("X is empty: it has no rows (samples)")
        if not fitting:
            self._check_columns(X, given)
        if np.any(X < 0):
            raise ValueError("Negative values in data passed to MultinomialHMM: it needs "
                             "non-negative integer counts in X")
        if not np.all(np.isfinite(X)) or np.any(X != np.round(X)):
            raise ValueError("MultinomialHMM needs non-negative integer counts in X")
        if self.n_trials is not None:
            trials = np.asarray(self.n_trials)
            if trials.ndim > 1 or (trials.ndim == 1 and trials.shape != (len(X),)):
                raise ValueError(f"n_trials must be one integer or one per row of X "
                                 f"({len(X)}), got shape {trials.shape}")
            bad = np.flatnonzero(X.sum(axis=1) != trials)
            if bad.size:
                row = int(bad[0])
                raise ValueError(f"every row of X must sum to n_trials: row {row} sums to "
                                 f"{X[row].sum():g}, n_trials is "
                                 f"{trials if trials.ndim == 0 else trials[row]}")
        return X

    def _fitted_columns(self) -> int | None:
        return (int(np.shape(self.emissionprob_)[1]) if hasattr(self, "emissionprob_")
                else None)

    def _emission(self, X: np.ndarray) -> Emission:
        return DistributionEmission([Multinomial()] * self.n_components)

    def _emission_scalars(self, n_features: int, start: dict | None = None) -> dict[str, int]:
        n_categories = (np.shape(self.emissionprob_)[1] if start is None
                        else np.size(start["emissions"][0]["probs"]))
        return {"e": self.n_components * (int(n_categories) - 1)}

    def _to_model_params(self, emission: dict) -> dict:
        return {"emissions": [{"probs": row}
                              for row in np.asarray(emission["emissionprob"], float)]}

    def _from_model_params(self, params: dict) -> dict:
        return {"emissionprob": np.stack([np.asarray(t["probs"]) for t in params["emissions"]])}

    def _init_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        if not self._needs_init("e", "emissionprob_"):
            return {}
        p = rng.rand(self.n_components, X.shape[1])
        return {"emissionprob": p / p.sum(axis=1, keepdims=True)}

    def _check_emission_params(self, params: dict, X: np.ndarray | None) -> None:
        probs = params["emissionprob"]
        n_categories = X.shape[1] if X is not None else np.shape(probs)[-1]
        self._check_shape(probs, (self.n_components, n_categories), "emissionprob_")
        self._check_stochastic(probs, "emissionprob_")

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        trials = np.unique(np.asarray(self.n_trials if self.n_trials is not None else []))
        if len(trials) != 1:
            raise ValueError(f"sampling needs one n_trials for every row, got "
                             f"{self.n_trials!r}")
        return rng.multinomial(int(trials[0]), self.emissionprob_[state])
