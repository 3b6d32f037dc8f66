"""Model selection criteria of :class:`~emkit.estimators.hmm_input_driven.InputDrivenHMM`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..distributions.components import Components
from ._components import dense_matrix
from ._freeze_counts import free_simplex
from ._supervision import freeze_mask

__all__ = ["InputDrivenCriteria"]


class InputDrivenCriteria:
    """``aic``, ``bic`` and the free-parameter count of an input-driven HMM."""

    def _n_parameters(self) -> int:
        """Free parameters: the start's, the non-reference transition coefficients
        and the emissions'; entries under ``freeze`` are not estimated and not
        counted (a frozen coefficient one fewer, the free start probabilities less
        one, none when at most one is free; frozen emissions none)."""
        est: Any = self  # an InputDrivenHMM
        k, q1 = est.n_components, est._n_covariates() + 1
        freeze = est.freeze if isinstance(est.freeze, dict) else {}
        masks = {key: freeze_mask(value, shape, f"freeze[{key!r}]")
                 for key, shape in (("transition_coef_", (k, k, q1)), ("start_coef_", (k, q1)),
                                    ("startprob_", (k,)))
                 if (value := freeze.get(key)) is not None}
        trans = masks.get("transition_coef_", np.zeros((k, k, q1), bool))
        trans = ~trans & ~np.eye(k, dtype=bool)[:, :, None]  # free non-reference entries
        if est.start_covariates:
            start = int((~masks.get("start_coef_", np.zeros((k, q1), bool)))[1:].sum())
        else:
            start = free_simplex(masks.get("startprob_"), k)
        emissions = est._fitted_emissions()
        whole = freeze.get("emissions_", False)
        frozen_e = isinstance(whole, (bool, np.bool_)) and bool(whole)
        n_e = 0 if frozen_e else Components(emissions).n_parameters(emissions)
        return int(start + trans.sum() + n_e)

    def aic(self, X: Any, lengths: Any = None, *, covariates: Any = None) -> float:
        """Akaike's criterion ``-2 log L + 2 p`` (lower is better; ``p`` counts the free
        parameters only, not the entries under ``freeze``)."""
        est: Any = self
        return -2.0 * est.score(X, lengths, covariates=covariates) + 2.0 * self._n_parameters()

    def bic(self, X: Any, lengths: Any = None, *, covariates: Any = None) -> float:
        """Schwarz's criterion ``-2 log L + p log(n_samples)`` (``p`` as in :meth:`aic`)."""
        est: Any = self
        n = len(dense_matrix(X, "InputDrivenHMM"))
        return (-2.0 * est.score(X, lengths, covariates=covariates)
                + np.log(n) * self._n_parameters())
