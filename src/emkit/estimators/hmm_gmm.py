"""``emkit.GMMHMM``: hidden Markov model whose states emit Gaussian mixtures (hmmlearn's).

The shared arguments and behaviour are documented in :mod:`emkit.estimators.hmm`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..distributions.missing import has_missing
from ..models.hmm.emission import Emission
from ..models.hmm.gmm_emission import GMMEmission
from ._hmm_inputs import (
    check_covariance_type,
    check_covariances,
    data_covariance,
    float_X,
    gaussian_X,
    kmeans_centers,
    kmeans_fit,
    start_rows,
)
from .hmm_base import BaseHMM

__all__ = ["GMMHMM"]


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
    _letter_attrs: ClassVar[dict[str, str]] = {"w": "weights_", "m": "means_", "c": "covars_"}

    def __init__(self, n_components: int = 1, n_mix: int = 1, min_covar: float = 1e-3,
                 startprob_prior: Any = 1.0, transmat_prior: Any = 1.0,
                 weights_prior: Any = 1.0, means_prior: Any = 0.0, means_weight: Any = 0.0,
                 covars_prior: Any = None, covars_weight: Any = None,
                 algorithm: str = "viterbi", covariance_type: str = "diag",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool = False, params: str = "stmcw", init_params: str = "stmcw",
                 implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None, freeze: Any = None):
        self._set_shared_arguments(locals())
        self.n_mix = n_mix
        self.min_covar = min_covar
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.covariance_type = covariance_type

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN: an entry missing at random
        return tags

    def _check_settings(self) -> None:
        super()._check_settings()
        check_covariance_type(self.covariance_type)
        if isinstance(self.n_mix, bool) or not isinstance(self.n_mix, (int, np.integer)) \
                or self.n_mix < 1:
            raise ValueError(f"n_mix must be an integer >= 1, got {self.n_mix!r}")

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        checked = float_X(X, allow_missing=True)  # NaN: missing at random
        if not fitting:
            self._check_columns(checked, X)
        return gaussian_X(checked)

    def _fitted_columns(self) -> int | None:
        return int(np.shape(self.means_)[-1]) if hasattr(self, "means_") else None

    def _emission(self, X: np.ndarray) -> Emission:
        return GMMEmission(self.covariance_type, self.n_components, self.n_mix, X.shape[1],
                           self.weights_prior, self.means_prior, self.means_weight,
                           self.covars_prior, self.covars_weight, self.min_covar,
                           center=_centre(X))

    def _init_emission(self, X: np.ndarray, rng: np.random.RandomState) -> dict:
        k, m, ctype = self.n_components, self.n_mix, self.covariance_type
        out: dict = {}
        X = start_rows(X, rng)  # X itself without NaN
        w = self._row_weights()  # each row's sequence weight in a weighted fit
        cv = data_covariance(X, self.min_covar, w)
        if self._needs_init("w", "weights_"):
            out["weights"] = np.full((k, m), 1.0 / m)
        if self._needs_init("m", "means_"):
            if len(X) < k:
                raise ValueError(f"n_components={k} states need at least {k} rows, "
                                 f"got {len(X)}")
            km = kmeans_fit(X, k, rng, w)
            centre = km.cluster_centers_.mean(axis=0)
            means = []
            for label in range(k):
                inside = km.labels_ == label
                members, member_w = X[inside], None if w is None else w[inside]
                counted = len(members) if member_w is None else np.count_nonzero(member_w)
                if counted >= m:
                    means.append(kmeans_centers(members, m, rng, member_w))
                else:
                    means.append(rng.multivariate_normal(centre, cv, size=m))
            out["means"] = np.stack(means)
        if self._needs_init("c", "covars_"):
            d = X.shape[1]
            out["covars"] = {"tied": np.broadcast_to(cv, (k, d, d)),
                             "full": np.broadcast_to(cv, (k, m, d, d)),
                             "diag": np.broadcast_to(np.diag(cv), (k, m, d)),
                             "spherical": np.full((k, m), cv.mean())}[ctype].copy()
        return out

    def _check_emission_params(self, params: dict, X: np.ndarray | None) -> None:
        k, m = self.n_components, self.n_mix
        d = X.shape[1] if X is not None else params["means"].shape[-1]
        self._check_shape(params["weights"], (k, m), "weights_")
        self._check_stochastic(params["weights"], "weights_")
        self._check_shape(params["means"], (k, m, d), "means_")
        shape = {"spherical": (k, m), "diag": (k, m, d), "full": (k, m, d, d),
                 "tied": (k, d, d)}[self.covariance_type]
        self._check_shape(params["covars"], shape, "covars_")
        check_covariances(params["covars"], self.covariance_type, "covars_")

    def _emission_scalars(self, n_features: int, start: dict | None = None) -> dict[str, int]:
        """Per state: ``n_mix - 1`` free weights (hmmlearn counts ``n_mix - 1`` in
        all, for every state together), the means and the covariances."""
        k, m, d = self.n_components, self.n_mix, n_features
        covariance = {"spherical": k * m, "diag": k * m * d, "full": k * m * d * (d + 1) // 2,
                      "tied": k * d * (d + 1) // 2}[self.covariance_type]
        return {"w": k * (m - 1), "m": k * m * d, "c": covariance}

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        j = rng.choice(self.n_mix, p=self.weights_[state])
        d = self.means_.shape[2]
        cov = {"full": lambda: self.covars_[state, j],
               "tied": lambda: self.covars_[state],
               "diag": lambda: np.diag(self.covars_[state, j]),
               "spherical": lambda: np.eye(d) * self.covars_[state, j]}[self.covariance_type]()
        return rng.multivariate_normal(self.means_[state, j], cov)


def _centre(X: np.ndarray) -> np.ndarray:
    """The column means the emission centres its statistics on (a numerical choice):
    of the observed entries where ``X`` has NaN, 0 for a column with none."""
    if not has_missing(X):
        return X.mean(axis=0)
    observed = ~np.isnan(X)
    counts = observed.sum(axis=0)
    return np.where(observed, X, 0.0).sum(axis=0) / np.maximum(counts, 1)
