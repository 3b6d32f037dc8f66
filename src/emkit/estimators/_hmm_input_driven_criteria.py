"""Model selection criteria of :class:`~emkit.estimators.hmm_input_driven.InputDrivenHMM`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..distributions.components import Components
from ._components import dense_matrix

__all__ = ["InputDrivenCriteria"]


class InputDrivenCriteria:
    """``aic``, ``bic`` and the free-parameter count of an input-driven HMM."""

    def _n_parameters(self) -> int:
        est: Any = self  # an InputDrivenHMM
        k, q1 = est.n_components, est._n_covariates() + 1
        start = (k - 1) * q1 if est.start_covariates else k - 1
        emissions = est._fitted_emissions()
        return start + k * (k - 1) * q1 + Components(emissions).n_parameters(emissions)

    def aic(self, X: Any, lengths: Any = None, *, covariates: Any = None) -> float:
        """Akaike's criterion ``-2 log L + 2 p`` (lower is better)."""
        est: Any = self
        return -2.0 * est.score(X, lengths, covariates=covariates) + 2.0 * self._n_parameters()

    def bic(self, X: Any, lengths: Any = None, *, covariates: Any = None) -> float:
        """Schwarz's criterion ``-2 log L + p log(n_samples)``."""
        est: Any = self
        n = len(dense_matrix(X, "InputDrivenHMM"))
        return (-2.0 * est.score(X, lengths, covariates=covariates)
                + np.log(n) * self._n_parameters())
