"""What an HMM fit reports: hmmlearn's ``ConvergenceMonitor``, filled from the engine's run."""

from __future__ import annotations

import sys
from collections import deque
from typing import Any

__all__ = ["ConvergenceMonitor", "decides_convergence"]


class ConvergenceMonitor:
    """What happened during ``fit``, with the attributes and methods of hmmlearn's monitor.

    Every HMM has one as ``monitor_`` from construction on. As in hmmlearn, a
    subclass that redefines the ``converged`` property and is assigned to
    ``monitor_`` before ``fit`` decides when the fit stops: ``fit`` reports each
    iteration's log-likelihood to it and stops once ``converged`` is True.

    Parameters
    ----------
    tol : float
        The absolute tolerance on the gain of the total log-likelihood.
    n_iter : int
        The iteration cap.
    verbose : bool
        Whether iterations are printed to standard error.

    Attributes
    ----------
    history : collections.deque of float
        The log-likelihood (without the priors' term) before each M-step of
        the kept run, then after the last one.
    iter : int
        Iterations done by the kept run.
    converged : bool
        After ``fit``: whether the tolerance was met. Unlike hmmlearn's
        monitor, reaching ``n_iter`` does **not** count as converged. Before
        a fit verdict, the last gain in ``history`` is below ``tol``.
    """

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol: float, n_iter: int, verbose: bool):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history: deque[float] = deque()
        self.iter = 0
        self._verdict: bool | None = None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(tol={self.tol!r}, n_iter={self.n_iter!r}, "
                f"iter={self.iter}, converged={self.converged}, "
                f"history=[{', '.join(f'{h:.6f}' for h in list(self.history)[-3:])}])")

    def _reset(self) -> None:
        """Forget the iterations reported so far (hmmlearn's ``_reset``)."""
        self.iter = 0
        self.history.clear()
        self._verdict = None

    def report(self, log_prob: float) -> None:
        """Record one iteration's log-likelihood, printing it when ``verbose``.

        The printed columns are the iteration, the log-likelihood and its gain
        over the previous report (NaN for the first), as in hmmlearn.
        """
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else float("nan")
            print(self._template.format(iter=self.iter + 1, log_prob=log_prob, delta=delta),
                  file=sys.stderr)
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self) -> bool:
        """Whether the fit met its tolerance (see the class docstring)."""
        if self._verdict is not None:
            return self._verdict
        return len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol

    @converged.setter
    def converged(self, value: bool) -> None:
        self._verdict = bool(value)


def decides_convergence(monitor: Any) -> bool:
    """Whether ``monitor`` defines its own ``converged`` (then it decides when a fit stops)."""
    return getattr(type(monitor), "converged", None) is not ConvergenceMonitor.converged
