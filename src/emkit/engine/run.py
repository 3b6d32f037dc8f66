"""The state of one EM run, shared by the plain and the SQUAREM loop.

:class:`Run` counts E-steps, keeps the best point reached, checks that plain EM
steps do not lower the log-likelihood, tests convergence and reports each
:class:`~emkit.engine.steps.Step` to the callback and the observers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import exceptions
from ..exceptions import MonotonicityWarning, NumericalError
from .steps import EMModel, EMResult, Step, current_observers

__all__ = ["Run", "MONOTONE_RTOL"]

#: A plain EM step may lower the log-likelihood by this much (relative) before
#: the engine calls it a bug rather than rounding: a float64 total of N rows is
#: exact to ~sqrt(N) units in the last place (1e-10 covers N up to 1e12, and
#: per-row relative errors to ~1e5 units). Models may override it with a
#: ``monotone_rtol`` attribute, and add an absolute allowance for a deliberately
#: inexact M-step with ``monotone_slack(stats)``.
MONOTONE_RTOL = 1e-10


class Run:
    """State shared by the plain and SQUAREM loops: counting, tracking the best."""

    def __init__(self, model: EMModel, data: Any, tol: float, param_tol: float | None,
                 callback: Callable[[Step], Any] | None, rel_tol: float = 0.0,
                 record: bool = True):
        self.model = model
        self.data = data
        self.tol = float(tol)
        self.rel_tol = float(rel_tol)
        self.param_tol = param_tol
        self.callback = callback
        # iterations done and the last gain, also when steps are not recorded
        self.n_iter = 0
        self.last_gain = math.nan
        self.rtol = float(getattr(model, "monotone_rtol", MONOTONE_RTOL))
        self.logliks: list[float] = []
        self.steps: list[Step] = []
        self.best: tuple[float, Any, Any] | None = None
        self.observers = current_observers()
        #: False when nobody reads the steps: no Step records, no parameter change
        #: (unless ``param_tol`` needs it), no timing; the path and the result's
        #: numbers are the same
        self.record_steps = bool(record or self.observers or callback is not None
                                 or param_tol is not None)

    def e_step(self, params: Any) -> tuple[Any, float]:
        stats, loglik = self.model.e_step(self.data, params)
        loglik = float(loglik)
        self.logliks.append(loglik)
        return stats, loglik

    def accept(self, params: Any, stats: Any, loglik: float) -> None:
        """Record a point on the path; keep it if it is the best so far."""
        if not math.isfinite(loglik):
            raise NumericalError(
                f"the log-likelihood became {loglik} after {len(self.steps)} iterations; "
                "the model's parameters left its domain (check the data's scale, or "
                "add regularization)"
            )
        # A later point whose log-likelihood is lower only by rounding is kept: the
        # run's last parameters are what tol=0 / max_iter promise, and a backend
        # that sums in another order must not return an earlier iterate.
        if self.best is None or loglik >= self.best[0] - self.rtol * max(abs(self.best[0]), 1.0):
            self.best = (loglik, params, stats)

    def slack(self, stats: Any) -> float:
        """The model's ``monotone_slack`` of the M-step from ``stats`` (0 without one)."""
        fn = getattr(self.model, "monotone_slack", None)
        return 0.0 if fn is None else float(fn(stats))

    def check_monotone(self, before: float, after: float, iteration: int,
                       slack: float = 0.0) -> None:
        """Warn when a plain EM step lowered the log-likelihood by more than rounding
        (``rtol`` relative) plus ``slack``, what the M-step itself may cost."""
        if after < before - self.rtol * max(abs(before), 1.0) - slack:
            warnings.warn(
                f"EM step {iteration} lowered the log-likelihood from {before!r} to "
                f"{after!r}; exact EM never does, so the model's E-step or M-step is "
                "inconsistent",
                MonotonicityWarning,
                stacklevel=4,
            )

    def is_converged(self, gain: float, change: float, loglik: float = 0.0) -> bool:
        """``|gain| < tol + rel_tol * (1 + |loglik|)`` and, with ``param_tol``, the change."""
        if not abs(gain) < self.tol + self.rel_tol * (1.0 + abs(loglik)):
            return False
        return self.param_tol is None or change < self.param_tol

    def record(self, step: Step) -> bool:
        """Store a step and run the callback; False means the callback asked to stop."""
        self.n_iter = step.iteration
        self.last_gain = step.gain
        self.steps.append(step)
        for fn in self.observers:
            fn(step)
        if self.callback is not None and self.callback(step) is False:
            return False
        return True

    def result(self, converged: bool, reason: str) -> EMResult:
        assert self.best is not None
        loglik, params, stats = self.best
        if reason == "max_iter":
            warnings.warn(
                f"EM did not converge in {self.n_iter} iterations (last gain "
                f"{self.last_gain:.3g}, tol {self.tol:.3g}); raise max_iter, loosen tol "
                "or try accelerate='squarem'",
                exceptions.ConvergenceWarning,
                stacklevel=3,
            )
        return EMResult(
            params=params,
            loglik=loglik,
            n_iter=self.n_iter,
            n_estep=len(self.logliks),
            converged=converged,
            logliks=np.asarray(self.logliks, dtype=float),
            steps=self.steps,
            stop_reason=reason,
            stats=stats,
        )
