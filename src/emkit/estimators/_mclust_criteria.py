"""BIC, AIC, ICL and the parameter count of :class:`~emkit.estimators.mclust_mixture.MclustMixture`.

A mixin: the estimator gives ``_check_fitted``, ``_log_joint`` (the (n_samples,
n_components) log-joint of validated rows), ``_em_model``, ``freeze``, ``model``,
``weights_`` and ``n_features_in_``; this module turns them into the criteria, from
one pass over the rows. Signs follow scikit-learn (lower is better).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..gaussian.constrained import check_model_name
from ..numerics.logsumexp import logsumexp_rows
from ._freeze_counts import mclust_free
from ._mclust_checks import check_freeze_masks
from ._mixture_inputs import check_sample_weight

__all__ = ["MclustCriteria"]


class MclustCriteria:
    """``n_parameters``, ``bic``, ``aic``, ``icl`` and ``criteria`` of a fitted MclustMixture."""

    model: str
    freeze: dict | None
    weights_: np.ndarray
    n_features_in_: int

    def _check_fitted(self) -> None:  # pragma: no cover - the estimator's
        raise NotImplementedError

    def _log_joint(self, X: Any) -> np.ndarray:  # pragma: no cover - the estimator's
        raise NotImplementedError

    def _em_model(self, X: np.ndarray | None = None) -> Any:  # pragma: no cover
        raise NotImplementedError

    def n_parameters(self) -> int:
        """Free parameters: ``(K-1) + K*D + nVarParams(model, D, K)``, less the entries
        under ``freeze`` (:func:`~emkit.estimators._freeze_counts.mclust_free`)."""
        self._check_fitted()
        k, d = len(self.weights_), int(self.n_features_in_)
        if self.freeze:
            return mclust_free(check_model_name(self.model), k, d,
                               check_freeze_masks(self.freeze, k, d))
        return self._em_model().n_parameters(k, d)

    def bic(self, X: Any, sample_weight: Any = None) -> float:
        """Bayesian information criterion ``-2 loglik + npar log n`` (lower is better)."""
        return self.criteria(X, sample_weight)["bic"]

    def aic(self, X: Any, sample_weight: Any = None) -> float:
        """Akaike information criterion ``-2 loglik + 2 npar`` (lower is better)."""
        return self.criteria(X, sample_weight)["aic"]

    def icl(self, X: Any, sample_weight: Any = None) -> float:
        """Integrated completed likelihood: ``bic(X) - 2 sum_i log z_i,map`` (lower is better).

        mclust's ICL is the negative of this (Biernacki, Celeux & Govaert 2000).
        """
        return self.criteria(X, sample_weight)["icl"]

    def criteria(self, X: Any, sample_weight: Any = None) -> dict[str, float]:
        """``loglik``, ``bic``, ``aic`` and ``icl`` of ``X`` from one pass over its rows.

        With ``sample_weight`` (n_samples,), each row's terms are weighted and
        BIC's ``n`` is the sum of the weights (rows of weight 0 are left out).
        """
        logp = self._log_joint(X)
        weight = check_sample_weight(sample_weight, logp.shape[0])
        if weight is None:
            weight = np.ones(logp.shape[0])
        else:
            logp, weight = logp[weight > 0], weight[weight > 0]
        n = float(weight.sum())
        norm = logsumexp_rows(logp)
        loglik = float(weight @ norm)
        npar = self.n_parameters()
        bic = float(-2 * loglik + npar * np.log(n))
        # log z_i,map = max_k logp - log-sum-exp (the row's largest log posterior)
        log_z_map = logp.max(axis=1) - norm
        return {"loglik": loglik, "bic": bic, "aic": float(-2 * loglik + 2 * npar),
                "icl": bic - 2.0 * float(weight @ log_z_map)}
