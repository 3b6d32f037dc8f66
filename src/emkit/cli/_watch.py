"""Watching a fit from the command line: progress, warnings and Ctrl-C, one way everywhere.

* :func:`loading` - a spinner with the elapsed time while a file is read;
* :func:`watch_fit` - around an estimator's ``fit``: a progress line on a
  terminal (iteration, the current gain against ``tol``, the log-likelihood,
  the elapsed time), the engine's steps recorded, warnings turned into stderr
  lines, and Ctrl-C turned into "stop after this EM step and keep the best
  parameters so far".

Ctrl-C during EM is noted and acted on at the end of the running step (a
compiled E-step is never torn in the middle, which is what used to turn an
interrupt into a ``SystemError``); a second Ctrl-C, or one before EM has
started, stops at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..engine import Step, observe
from ..trace import StepRecorder

__all__ = ["FitWatch", "FitAbandoned", "watch_fit", "loading"]


class FitAbandoned(ValueError):
    """Raised in the fits that would start after Ctrl-C when a command runs many
    (``emkit select``): the selection records them as not run and returns the
    fits made so far."""


@dataclass
class FitWatch:
    """What :func:`watch_fit` saw during a fit.

    Attributes
    ----------
    recorder : StepRecorder
        The engine's steps, one list per run (``recorder.best_run()``).
    interrupted : bool
        True when Ctrl-C stopped the fit (the estimator then holds the best
        parameters reached, reported as not converged).
    warnings : list of str
        Warning messages raised during the fit, in order.
    """

    recorder: StepRecorder
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    in_em: bool = False
    presses: int = 0


@contextlib.contextmanager
def _sigint_flag(watch: FitWatch) -> Iterator[None]:
    """Note Ctrl-C in ``watch``: during EM stop after the running step, else at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        watch.interrupted = True
        watch.presses += 1
        if not watch.in_em or watch.presses > 1:
            raise KeyboardInterrupt
        print("emkit: stopping after the running EM step (Ctrl-C again stops at once)",
              file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Collect(logging.Handler):
    """Log records of emkit's loggers as warning lines, like the warnings of a fit."""

    def __init__(self, into: list[str]):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@contextlib.contextmanager
def _logged(into: list[str]) -> Iterator[None]:
    """While the block runs, emkit's log warnings go to ``into``, not to stderr."""
    logger = logging.getLogger("emkit")
    handler = _Collect(into)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _console(quiet: bool) -> Any:
    """A rich console on stderr when it is a terminal and not ``quiet``, else None."""
    if quiet:
        return None
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_terminal else None


@contextlib.contextmanager
def loading(what: str, quiet: bool = False) -> Iterator[None]:
    """A spinner ``reading <what>`` with the elapsed time on a terminal, while the block runs."""
    console = _console(quiet)
    if console is None:
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(f"reading {what}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        progress.add_task("read", total=None)
        yield


def _gain_text(step: Step, tol: float | None, n_rows: int | None) -> str:
    if step.iteration == 0 or step.gain != step.gain:
        return "starting"
    against = f" (tol {tol:.0e})" if tol is not None else ""
    if n_rows:
        return f"gain/row {step.gain / n_rows:.1e}{against}"
    return f"gain {step.gain:.1e}{against}"


@contextlib.contextmanager
def watch_fit(*, quiet: bool = False, total: int | None = None, label: str = "EM",
              on_step: Callable[[Step], Any] | None = None, tol: float | None = None,
              n_rows: int | None = None, abandon: bool = False,
              fits: int | None = None) -> Iterator[FitWatch]:
    """Watch the estimator fit run inside the block.

    Parameters
    ----------
    quiet : bool
        No progress line and no warning lines.
    total : int, optional
        The most iterations (``--max-iter``), shown as the limit, not as a bar
        to fill: EM usually stops long before it.
    label : str
        The progress line's description.
    on_step : callable, optional
        Called with every engine :class:`~emkit.Step` (e.g. to print a trace live).
    tol : float, optional
        The tolerance the gain is compared with, shown beside it.
    n_rows : int, optional
        Show the gain per row (for estimators whose ``tol`` is per row).
    fits : int, optional
        How many EM runs the block makes (a selection): the progress line then
        counts them, ``fit 3 of 126``.
    abandon : bool
        After Ctrl-C, runs that start later raise :class:`FitAbandoned` (a
        ``ValueError``, which a selection records as a failed fit) instead of
        stopping at their start.

    Yields
    ------
    FitWatch
        Filled in as the fit runs. The progress line is shown on stderr only when
        it is a terminal and no ``on_step`` prints its own lines. After Ctrl-C,
        further runs (``n_init`` starts) stop at their starting point, so the fit
        returns quickly with the best so far.
    """
    console = _console(quiet or on_step is not None)
    progress = None
    task = None
    if console is not None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        limit = f"/{total}" if total else ""
        # one text after the clock, the most useful first: a narrow terminal cuts its end
        from rich.table import Column

        fixed = Column(no_wrap=True,
                       min_width=len(label) + (len(f": fit {fits} of {fits}") if fits else 0))
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}",
                                                        table_column=fixed),
                            TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
                            TextColumn("{task.fields[status]}", table_column=Column(
                                no_wrap=True, overflow="ellipsis", ratio=1)),
                            console=console, transient=True)
        task = progress.add_task(label, total=None, status="")

    watch: FitWatch

    def step_seen(step: Step) -> None:
        if watch.interrupted:
            if abandon and step.iteration == 0:
                raise FitAbandoned("not run: interrupted (Ctrl-C)")
            raise KeyboardInterrupt  # stop here, keeping the best parameters so far
        watch.in_em = True
        if on_step is not None:
            on_step(step)
        if progress is not None and task is not None:
            if fits and step.iteration == 0:
                progress.update(task, description=f"{label}: fit {len(watch.recorder.runs)} "
                                f"of {fits}")
            progress.update(task, completed=step.iteration,
                            status=f"iteration {step.iteration}{limit}  "
                            f"{_gain_text(step, tol, n_rows)}  loglik {step.loglik:.6g}")
        if watch.interrupted:  # Ctrl-C while this step's observers ran
            raise KeyboardInterrupt

    watch = FitWatch(StepRecorder(step_seen))
    with contextlib.ExitStack() as stack:
        if progress is not None:
            stack.enter_context(progress)
        stack.enter_context(_sigint_flag(watch))
        logged: list[str] = []
        stack.enter_context(_logged(logged))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        stack.enter_context(observe(watch.recorder))
        try:
            yield watch
        except KeyboardInterrupt:
            watch.interrupted = True
            raise
    seen: set[str] = set()
    for text in [*(str(item.message) for item in caught), *logged]:
        message = " ".join(text.split())
        if message not in seen:
            seen.add(message)
            watch.warnings.append(message)
    if not quiet:
        for message in watch.warnings:
            if not (watch.interrupted and "converge" in message):
                print(f"emkit: warning: {message}", file=sys.stderr)
