"""Model selection for the HMM estimators: hmmlearn's parameter counts, ``aic`` and ``bic``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..models.hmm.model import HMMModel, Sequences

__all__ = ["HMMCriteria"]


class HMMCriteria:
    """``aic``, ``bic`` and the stationary distribution, shared by every HMM estimator.

    Each estimator counts its emission parameters in ``_emission_scalars``.
    """

    n_components: int
    transmat_: np.ndarray

    if TYPE_CHECKING:
        def _inference(self, X: Any, lengths: Any) -> tuple[HMMModel, Sequences, dict]: ...

    def _n_fit_scalars_per_param(self, n_features: int,
                                 start: dict | None = None) -> dict[str, int]:
        """Free parameters per ``params`` letter, hmmlearn's count (all letters), of the
        model as set or (``start``) of the starting parameters of a fit."""
        k = self.n_components
        return {"s": k - 1, "t": k * (k - 1), **self._emission_scalars(n_features, start)}

    def _n_free_scalars(self, n_features: int) -> int:
        """The ``p`` of :meth:`aic` and :meth:`bic`: hmmlearn's count less the entries
        under ``freeze`` (:mod:`emkit.estimators._hmm_freeze_counts`)."""
        from ._hmm_freeze_counts import free_scalars_per_param

        counts = self._n_fit_scalars_per_param(n_features)
        return int(sum(free_scalars_per_param(self, counts, n_features).values()))  # type: ignore[arg-type]

    def _emission_scalars(self, n_features: int, start: dict | None = None) -> dict[str, int]:
        """Free emission parameters per letter, for ``n_features`` columns (``start``:
        the starting parameters of a fit, where the count depends on them)."""
        raise NotImplementedError  # pragma: no cover - every estimator defines it

    def _criterion(self, X: Any, lengths: Any, penalty_per_parameter: float | None) -> float:
        model, data, params = self._inference(X, lengths)
        log_likelihood = float(model.score_sequences(data, params).sum())
        n_params = self._n_free_scalars(int(data.X.shape[1]))
        per = np.log(len(data.X)) if penalty_per_parameter is None else penalty_per_parameter
        return -2.0 * log_likelihood + float(per) * n_params

    def aic(self, X: Any, lengths: Any = None) -> float:
        """Akaike's criterion of the model on ``X``: ``-2 log L + 2 p`` (lower is better).

        ``p`` counts the free parameters of every part (start, transitions,
        emissions) as hmmlearn does, whichever ``params`` letters were fitted,
        less the entries under ``freeze`` (not estimated, not counted): a frozen
        mean or rate one fewer, a start or transition row its free entries less one
        (none when at most one is free), an attribute frozen whole all of its own.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        lengths : array-like of int of shape (n_sequences,), optional

        Returns
        -------
        float
        """
        return self._criterion(X, lengths, 2.0)

    def bic(self, X: Any, lengths: Any = None) -> float:
        """Schwarz's criterion of the model on ``X``: ``-2 log L + p log(n_samples)``.

        Parameters and ``p`` as in :meth:`aic`.

        Returns
        -------
        float
        """
        return self._criterion(X, lengths, None)

    def get_stationary_distribution(self) -> np.ndarray:
        """The stationary distribution of the fitted transition matrix, shape (n_components,)."""
        from scipy import linalg

        eigvals, eigvecs = linalg.eig(np.asarray(self.transmat_).T)
        vec = np.real_if_close(eigvecs[:, np.argmax(eigvals.real)])
        return np.real(vec / vec.sum())
