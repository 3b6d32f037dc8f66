"""hmmlearn's test_base.py, run against emkit.

Its ``ConvergenceMonitor`` is emkit's, and its ``StubHMM`` (an HMM whose frame
log-probabilities are set directly, ignoring ``X``) is rebuilt on emkit's
``BaseHMM``, so the forward-backward, Viterbi, sampling and stationary
distribution under test are emkit's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hmmlearn_swap import peer_module

from emkit.estimators.hmm_base import BaseHMM
from emkit.estimators.hmm_monitor import ConvergenceMonitor
from emkit.models.hmm.emission import Emission


class _SetFrames(Emission):
    """Emissions whose log-probabilities (n_samples, K) are given, whatever the rows."""

    def __init__(self, log_frameprob: np.ndarray):
        self.log_frameprob = np.asarray(log_frameprob, dtype=float)

    def log_prob(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, Any]:
        if len(X) != len(self.log_frameprob):
            raise ValueError("X must have one row per row of log_frameprob")
        return self.log_frameprob, None


class StubHMM(BaseHMM):
    """hmmlearn's test stub: an HMM with hardcoded observation log-probabilities."""

    log_frameprob: np.ndarray

    def __init__(self, n_components: int = 1, startprob_prior: Any = 1.0,
                 transmat_prior: Any = 1.0, algorithm: str = "viterbi",
                 random_state: Any = None, n_iter: int = 10, tol: float = 1e-2,
                 verbose: bool = False, params: str = "st", init_params: str = "st",
                 implementation: str = "log", n_init: int = 1,
                 accelerate: str | None = None):
        self._set_shared_arguments(locals())

    def _check_X(self, X: Any, fitting: bool) -> np.ndarray:
        return np.asarray(X, dtype=float)

    def _emission(self, X: np.ndarray) -> Emission:
        return _SetFrames(self.log_frameprob)

    def _emission_scalars(self, n_features: int, start: dict | None = None) -> dict[str, int]:
        return {}

    def _sample_state(self, state: int, rng: np.random.RandomState) -> np.ndarray:
        return np.zeros(1)


peer_module("test_base", ConvergenceMonitor=ConvergenceMonitor, StubHMM=StubHMM)

from hmmlearn.tests.test_base import *  # noqa: E402,F403
