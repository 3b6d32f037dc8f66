"""Inference with a fitted :class:`~emkit.estimators.gaussian_mixture.GaussianMixture`.

This module's one job is what a fitted mixture answers about data: ``predict``,
``predict_proba``, ``score_samples``, ``score``, ``sample`` and the model
selection criteria ``bic`` and ``aic``. NumPy input is scored chunk by chunk
(missing coordinates marginalized); Dask input is handed to
:func:`emkit.estimators._gaussian_mixture_scale.predict_dask`, which maps the
same chunked functions over its blocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import backends
from ..models.mixture.gaussian import GaussianMixtureModel
from ..numerics.logsumexp import log_normalize
from ._mixture_sample import draw_rows

if TYPE_CHECKING:
    from ..models.mixture.gaussian_missing import MissingGaussianMixtureModel

__all__ = ["GaussianMixturePredict"]


class GaussianMixturePredict:
    """Prediction, scoring and sampling methods of ``GaussianMixture``.

    Reads the fitted attributes and the estimator's ``_validate_X``, ``_dtype``,
    ``_make_model`` and ``_fitted_params`` (from the checks and fit mixins).
    """

    n_components: int
    covariance_type: str
    random_state: Any
    # fitted attributes, set by GaussianMixtureFit._set_fitted
    weights_: np.ndarray
    means_: np.ndarray
    covariances_: np.ndarray

    if TYPE_CHECKING:  # from GaussianMixtureChecks and GaussianMixtureFit
        def _dtype(self) -> np.dtype: ...

        def _validate_X(self, X: Any, reset: bool) -> np.ndarray: ...

        def _make_model(self, X: np.ndarray
                        ) -> GaussianMixtureModel | MissingGaussianMixtureModel: ...

        def _fitted_params(self) -> dict: ...

    def _weighted_log_prob_chunks(self, X: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        model = self._make_model(X)
        params = self._fitted_params()
        if isinstance(model, GaussianMixtureModel):
            yield from model.iter_weighted_log_prob(X, params)
        else:
            yield 0, model.log_prob_rows(X, params)

    def _predict_validated(self, X: np.ndarray) -> np.ndarray:
        labels = np.empty(len(X), dtype=np.int64)
        for start, block in self._weighted_log_prob_chunks(X):
            labels[start:start + len(block)] = block.argmax(axis=1)
        return labels

    def _log_prob_resp(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_norm = np.empty(len(X), dtype=np.float64)
        resp = np.empty((len(X), self.n_components), dtype=self._dtype())
        for start, block in self._weighted_log_prob_chunks(X):
            block = np.array(block, dtype=np.float64)  # a copy, so normalized in place
            norm, resp[start:start + len(block)] = log_normalize(block, out=block)
            log_norm[start:start + len(block)] = norm
        return log_norm, resp

    def _infer(self, X: Any, what: str) -> Any:
        """``what`` ("predict", "predict_proba" or "score_samples") of NumPy or Dask ``X``."""
        check_is_fitted(self)
        if backends.is_dask(X):
            from ._gaussian_mixture_scale import predict_dask

            return predict_dask(self, X, what)
        X = self._validate_X(X, reset=False)
        if what == "predict":
            return self._predict_validated(X)
        log_norm, resp = self._log_prob_resp(X)
        # in the fit's precision, as scikit-learn returns them (summed in float64)
        return resp if what == "predict_proba" else log_norm.astype(self._dtype(), copy=False)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._infer(X, "predict")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            May contain NaN: missing coordinates are marginalized.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._infer(X, "predict_proba")

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each row (of its observed coordinates when NaN).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._infer(X, "score_samples")

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
        """
        values = self.score_samples(X)
        return float(values.mean().compute() if backends.is_dask(values) else np.mean(values))

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the fitted mixture (seeded by ``random_state``).

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                "least one sample."
            )
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, np.asarray(self.weights_, dtype=np.float64))
        return draw_rows(rng, counts, np.asarray(self.means_, dtype=np.float64),
                         np.asarray(self.covariances_, dtype=np.float64), self.covariance_type)

    def _n_parameters(self) -> int:
        """Free parameters (what bic/aic charge for); frozen entries are not counted
        (:mod:`emkit.estimators._freeze_counts`)."""
        n_features = self.means_.shape[1]
        k = self.n_components
        if getattr(self, "freeze", None):
            from ._freeze_counts import gaussian_mixture_free

            masks = self._freeze_masks(n_features)  # type: ignore[attr-defined]
            return gaussian_mixture_free(self.covariance_type, k, n_features, masks)
        cov_params = {
            "full": k * n_features * (n_features + 1) / 2.0,
            "diag": k * n_features,
            "tied": n_features * (n_features + 1) / 2.0,
            "spherical": k,
        }[self.covariance_type]
        return int(cov_params + n_features * k + k - 1)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better).

        The penalty counts the free parameters only: entries under ``freeze`` are
        not estimated and not counted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        n = np.asarray(X).shape[0] if not hasattr(X, "shape") else X.shape[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better).

        The penalty counts the free parameters only: entries under ``freeze`` are
        not estimated and not counted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        n = np.asarray(X).shape[0] if not hasattr(X, "shape") else X.shape[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()
