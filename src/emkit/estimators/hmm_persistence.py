"""Saving and loading the HMM estimators: the fitted state as :mod:`emkit.persistence` keeps it."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..persistence import Persistable
from .hmm_monitor import ConvergenceMonitor

__all__ = ["HMMPersistence"]


class HMMPersistence(Persistable):
    """``_get_state``/``_set_state`` shared by every HMM estimator: the start and
    transition probabilities, the emission attributes named in ``_param_attrs``,
    ``n_features`` and ``n_features_in_``, column names and the monitor."""

    _param_attrs: ClassVar[dict[str, str]] = {}
    tol: float
    n_iter: int
    verbose: bool
    startprob_: np.ndarray
    transmat_: np.ndarray
    n_features: int | None

    if TYPE_CHECKING:
        def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def _get_state(self) -> dict[str, Any]:
        if not hasattr(self, "startprob_"):
            return {}
        state: dict[str, Any] = {
            "startprob_": self.startprob_, "transmat_": self.transmat_,
            "n_features": getattr(self, "n_features", None),
        }
        for attr in self._param_attrs.values():
            state[attr.lstrip("_")] = getattr(self, attr)
        for extra in ("n_features_in_", "feature_names_in_", "sequence_column_"):
            if hasattr(self, extra):
                state[extra] = getattr(self, extra)
        monitor = getattr(self, "monitor_", None)
        if monitor is not None:
            state["monitor"] = {"history": [float(h) for h in monitor.history],
                                "iter": int(monitor.iter),
                                "converged": bool(monitor.converged)}
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        monitor = state.pop("monitor", None)
        for attr in ("startprob_", "transmat_", "n_features_in_", "feature_names_in_",
                     "sequence_column_"):
            if attr in state:
                setattr(self, attr, state.pop(attr))
        n_features = state.pop("n_features", None)
        if n_features is not None and "n_features" not in self.get_params():
            self.n_features = n_features
        for attr in self._param_attrs.values():
            if attr.lstrip("_") in state:
                setattr(self, attr, np.asarray(state.pop(attr.lstrip("_"))))
        if monitor is not None:
            m = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
            m.history = deque(monitor["history"])
            m.iter = monitor["iter"]
            m.converged = monitor["converged"]
            self.monitor_ = m
