"""hmmlearn's initialization and checking hooks of the HMM estimators (``_init``, ``_check``)."""

from __future__ import annotations

from typing import Any

from sklearn.utils import check_random_state

__all__ = ["HMMHooks"]


class HMMHooks:
    """``_init`` and ``_check`` for :class:`~emkit.estimators.hmm_base.BaseHMM`."""

    def _init(self, X: Any, lengths: Any = None) -> None:
        """Set the starting parameters as ``fit`` would, without fitting (hmmlearn's hook).

        Parameters named in ``init_params``, and those not set, are
        initialized from ``X``; the others keep their values. ``lengths`` is
        accepted for hmmlearn's signature and not used.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        lengths : array-like of int, optional
        """
        est: Any = self  # a BaseHMM
        est._check_settings()
        try:
            X = est._check_X(X, fitting=True)
            start = est._initial_params(X, check_random_state(est.random_state))
            est._log_init_notes(X, int(X.size), start)
            est._set_params_from(start)
            est._set_n_features(X)
            est.n_features_in_ = int(X.shape[1])
        finally:
            est._end_fit()

    def _check(self) -> None:
        """Raise ``ValueError`` when the parameters as set are invalid (hmmlearn's hook):
        settings, ``startprob_``/``transmat_`` shapes and sums, emission parameters."""
        est: Any = self  # a BaseHMM
        est._check_settings()
        k = est.n_components
        startprob = est._given("startprob_", (k,))
        transmat = est._given("transmat_", (k, k))
        est._check_stochastic(startprob, "startprob_")
        est._check_stochastic(transmat, "transmat_")
        est._check_emission_params(est._emission_params(), None)
