"""Prediction, scoring and sampling of :class:`emkit.BayesianGaussianMixture`.

One job: what a fitted variational mixture says about new rows. As in
scikit-learn, a row's weighted log-probability under component ``k`` is the
variational ``E[log pi_k] + E[log N(x | mu_k, Lambda_k)]``;
``predict_proba`` normalizes it over components, ``score_samples`` is its
log-sum-exp (scikit-learn's definition, which is not a normalized density) and
``predict`` its argmax. The log-probabilities are computed block by block by
the Gaussian mixture's compiled kernels (responsibilities for one block at a time).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..numerics.logsumexp import log_normalize
from ._mixture_sample import draw_rows

if TYPE_CHECKING:
    from ..models.mixture.bayesian_gaussian import BayesianGaussianMixtureModel

__all__ = ["BayesianGaussianMixturePredict"]


class BayesianGaussianMixturePredict:
    """``predict``, ``predict_proba``, ``score_samples``, ``score`` and ``sample``."""

    n_components: int
    covariance_type: str
    random_state: Any

    if TYPE_CHECKING:
        weights_: np.ndarray
        means_: np.ndarray
        covariances_: np.ndarray

        def _validate_X(self, X: Any, reset: bool) -> np.ndarray: ...

        def _make_model(self, n_rows: int, frozen: bool = True
                        ) -> BayesianGaussianMixtureModel: ...

        def _fitted_params(self) -> dict: ...

    def _weighted_log_prob_chunks(self, X: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        model = self._make_model(len(X))
        gparams, shift = model.gaussian_params(self._fitted_params())
        for start, block in model.gaussian.iter_weighted_log_prob(X, gparams):
            yield start, block + shift

    def _predict_validated(self, X: np.ndarray) -> np.ndarray:
        labels = np.empty(len(X), dtype=np.int64)
        for start, block in self._weighted_log_prob_chunks(X):
            labels[start:start + len(block)] = block.argmax(axis=1)
        return labels

    def _log_prob_resp(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_norm = np.empty(len(X), dtype=np.float64)
        resp = np.empty((len(X), self.n_components), dtype=np.float64)
        for start, block in self._weighted_log_prob_chunks(X):
            block = np.array(block, dtype=np.float64)  # a copy, normalized in place
            norm, resp[start:start + len(block)] = log_normalize(block, out=block)
            log_norm[start:start + len(block)] = norm
        return log_norm, resp

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self._predict_validated(self._validate_X(X, reset=False))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Variational posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        return self._log_prob_resp(self._validate_X(X, reset=False))[1]

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-sum-exp over components of each row's weighted log-probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self._log_prob_resp(self._validate_X(X, reset=False))[0]

    def score(self, X: Any, y: Any = None) -> float:
        """Mean of :meth:`score_samples` over the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the mixture at the posterior means (seeded by ``random_state``).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples}. The sampling "
                             "requires at least one sample.")
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, np.asarray(self.weights_, dtype=np.float64))
        return draw_rows(rng, counts, np.asarray(self.means_, dtype=np.float64),
                         np.asarray(self.covariances_, dtype=np.float64), self.covariance_type)
