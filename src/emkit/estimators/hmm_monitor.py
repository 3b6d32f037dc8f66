"""What an HMM fit reports: hmmlearn's ``ConvergenceMonitor``, filled from the engine's run."""

from __future__ import annotations

import sys
from collections import deque

from ..engine import Step

__all__ = ["ConvergenceMonitor"]


class ConvergenceMonitor:
    """What happened during ``fit``, with the attributes of hmmlearn's monitor.

    Attributes
    ----------
    tol : float
        The absolute tolerance on the gain of the total log-likelihood.
    n_iter : int
        The iteration cap.
    verbose : bool
        Whether iterations were printed to standard error.
    history : collections.deque of float
        The log-likelihood (without the priors' term) before each M-step of
        the kept run, then after the last one.
    iter : int
        Iterations done by the kept run.
    converged : bool
        True only when the tolerance was met; unlike hmmlearn's monitor,
        reaching ``n_iter`` does **not** count as converged.
    """

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol: float, n_iter: int, verbose: bool):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history: deque[float] = deque()
        self.iter = 0
        self.converged = False

    def __repr__(self) -> str:
        return (f"ConvergenceMonitor(tol={self.tol!r}, n_iter={self.n_iter!r}, "
                f"iter={self.iter}, converged={self.converged}, "
                f"history=[{', '.join(f'{h:.6f}' for h in list(self.history)[-3:])}])")

    def report(self, step: Step) -> None:
        """Print one iteration to standard error when ``verbose``."""
        if self.verbose:
            print(self._template.format(iter=step.iteration, log_prob=step.loglik,
                                        delta=step.gain), file=sys.stderr)
