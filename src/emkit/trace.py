"""The step-by-step story of an EM run, as a table.

Every engine iteration is one :class:`emkit.Step` record (kept in
``EMResult.steps`` and passed to ``callback``). This module turns those records
into rows: the iteration, the log-likelihood after it, its gain, the largest
parameter change ``max |theta_new - theta_old|`` and, for small problems, the new
parameters themselves. The CLI (``emkit fit --trace``, ``emkit demo``) prints
these rows; :func:`format_trace` gives the same table as plain text.

>>> import numpy as np, emkit
>>> from emkit.examples.textbook import GeneticLinkage
>>> result = emkit.em(GeneticLinkage(), np.array([125, 18, 20, 34]), 0.5, tol=1e-8)
>>> print(format_trace(result, max_rows=4))
iteration    log-likelihood          gain    max |Δθ|  parameters
        1         -7.612589   +2.6904e+00   1.082e-01  0.6082
        2         -7.549835   +6.2754e-02   1.607e-02  0.6243
        3         -7.548678   +1.1563e-03   2.168e-03  0.6265
      ...
        6         -7.548658   +6.3801e-09   5.087e-06  0.6268
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import Any, cast

import numpy as np

from .engine import EMResult, Step
from .engine.stats import tree_leaves

__all__ = [
    "TraceRow",
    "StepRecorder",
    "trace_rows",
    "format_params",
    "format_row",
    "format_trace",
    "PARAMS_LIMIT",
]

#: Problems with at most this many parameter entries show them in every row.
PARAMS_LIMIT = 24

HEADER = ("iteration", "log-likelihood", "gain", "max |Δθ|", "parameters")
#: Minimum widths of the four numeric columns, so rows line up when printed live.
WIDTHS = (9, 16, 12, 10)


@dataclass(frozen=True)
class TraceRow:
    """One printed row of the trace.

    Attributes
    ----------
    iteration : int
        1 for the first iteration (0 for the starting point, when shown).
    loglik : float
        Total observed-data log-likelihood after the iteration.
    gain : float
        Change of the log-likelihood made by the iteration (NaN at the start).
    param_change : float
        Largest absolute change of any parameter entry (NaN at the start).
    params : str
        The new parameters, formatted (empty for large problems).
    accelerated : bool
        True when a SQUAREM extrapolation was accepted in this iteration.
    """

    iteration: int
    loglik: float
    gain: float
    param_change: float
    params: str = ""
    accelerated: bool = False

    def cells(self) -> tuple[str, str, str, str, str]:
        """The row as five strings, in the order of the header."""
        gain = "" if np.isnan(self.gain) else f"{self.gain:+.4e}"
        change = "" if np.isnan(self.param_change) else f"{self.param_change:.3e}"
        mark = "*" if self.accelerated else ""
        return (f"{self.iteration}{mark}", f"{self.loglik:.6f}", gain, change, self.params)


class StepRecorder:
    """Collects the :class:`Step` records of the EM runs it observes.

    Use it with :func:`emkit.engine.observe` to watch an estimator that runs the
    engine internally; a ``Step`` with ``iteration=0`` (the starting point) opens a
    new run, so the ``n_init`` starts of one fit are kept apart.

    Parameters
    ----------
    on_step : callable, optional
        Also called with every record as it arrives (e.g. to print it live).

    Examples
    --------
    >>> import numpy as np, emkit
    >>> from emkit.engine import observe
    >>> from emkit.examples.textbook import GeneticLinkage
    >>> recorder = StepRecorder()
    >>> with observe(recorder):
    ...     _ = emkit.em(GeneticLinkage(), np.array([125, 18, 20, 34]), 0.5, tol=1e-12)
    >>> len(recorder.runs), recorder.best_run()[0].iteration, recorder.best_run()[-1].iteration
    (1, 0, 9)
    """

    def __init__(self, on_step: Any = None):
        self.runs: list[list[Step]] = []
        self.on_step = on_step

    def __call__(self, step: Step) -> None:
        if step.iteration == 0 or not self.runs:
            self.runs.append([])
        self.runs[-1].append(step)
        if self.on_step is not None:
            self.on_step(step)

    def best_run(self) -> list[Step]:
        """The run that reached the highest log-likelihood (what ``best_of`` keeps)."""
        if not self.runs:
            return []
        return max(self.runs, key=lambda run: max(s.loglik for s in run))

    @property
    def n_steps(self) -> int:
        """Iterations recorded over all runs (starting points not counted)."""
        return sum(1 for run in self.runs for s in run if s.iteration > 0)


def _n_entries(params: Any) -> int:
    return int(sum(np.size(leaf) for leaf in tree_leaves(params)))


def _format_leaf(value: Any, digits: int) -> str:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return f"{float(array):.{digits}g}"
    text = np.array2string(array, separator=" ", max_line_width=10_000,
                           formatter={"float_kind": lambda v: f"{v:.{digits}g}"})
    return " ".join(text.split())


def format_params(params: Any, *, keys: Sequence[str] | None = None, digits: int = 4) -> str:
    """Parameters on one line: ``"weights=[0.36 0.64] means=[[2.04 54.5] [4.29 80]]"``.

    Parameters
    ----------
    params : object
        A parameter tree (number, array, or dict/tuple/list of them).
    keys : sequence of str, optional
        For a dict, the entries to show, in order (default: all).
    digits : int, default 4
        Significant digits.
    """
    if isinstance(params, dict):
        names = [k for k in (keys if keys is not None else params) if k in params]
        return " ".join(f"{k}={format_params(params[k], digits=digits)}" for k in names)
    if isinstance(params, (list, tuple)) and not isinstance(params, np.ndarray):
        try:
            return _format_leaf(params, digits)
        except (TypeError, ValueError):
            return " ".join(format_params(p, digits=digits) for p in params)
    return _format_leaf(params, digits)


def _steps_of(source: EMResult | Iterable[Step]) -> list[Step]:
    if isinstance(source, EMResult):
        return list(source.steps)
    steps = list(source)
    if not all(isinstance(s, Step) for s in steps):
        raise ValueError("a trace is built from an EMResult or a sequence of emkit.Step records")
    return steps


def trace_rows(
    source: EMResult | Iterable[Step],
    *,
    show_params: bool | None = None,
    keys: Sequence[str] | None = None,
    start: tuple[float, Any] | None = None,
    digits: int = 4,
) -> list[TraceRow]:
    """One :class:`TraceRow` per iteration of an EM run.

    Parameters
    ----------
    source : EMResult or iterable of Step
        The run (``result.steps``) or the records a ``callback`` collected.
    show_params : bool or None, default None
        Whether to format the new parameters in each row; ``None`` shows them when
        the problem has at most :data:`PARAMS_LIMIT` entries (counting ``keys`` only).
    keys : sequence of str, optional
        For dict parameters, which entries to show (e.g. ``("weights", "means")``).
    start : (loglik, params), optional
        The starting point, shown as iteration 0.
    digits : int, default 4
        Significant digits of the parameters.

    Returns
    -------
    list of TraceRow
    """
    steps = _steps_of(source)
    rows: list[TraceRow] = []

    def shown(params: Any) -> Any:
        if keys is not None and isinstance(params, dict):
            return {k: params[k] for k in keys if k in params}
        return params

    if show_params is None:
        first = steps[0].params if steps else (start[1] if start else None)
        show_params = first is not None and _n_entries(shown(first)) <= PARAMS_LIMIT

    def text(params: Any) -> str:
        return format_params(params, keys=keys, digits=digits) if show_params else ""

    if start is not None:
        rows.append(TraceRow(0, float(start[0]), float("nan"), float("nan"), text(start[1])))
    for step in steps:
        rows.append(TraceRow(step.iteration, step.loglik, step.gain, step.param_change,
                             text(step.params), step.accelerated))
    return rows


def format_trace(
    source: EMResult | Iterable[Step] | Sequence[TraceRow],
    *,
    max_rows: int | None = None,
    **kwargs: Any,
) -> str:
    """The trace as a plain-text table (a header line, then one line per iteration).

    Parameters
    ----------
    source : EMResult, iterable of Step, or sequence of TraceRow
        What to show; ``kwargs`` go to :func:`trace_rows`.
    max_rows : int, optional
        Show at most this many iterations: the first ones and the last one, with
        ``...`` between.

    Returns
    -------
    str
    """
    items = list(source.steps if isinstance(source, EMResult) else source)
    # one kind of item throughout (the documented input): the first tells which
    rows: Sequence[TraceRow | EllipsisType]  # ``...``: the rows left out
    if items and isinstance(items[0], TraceRow):
        rows = cast("list[TraceRow]", items)
    else:
        rows = trace_rows(cast("list[Step]", items), **kwargs)
    if max_rows is not None and len(rows) > max_rows:
        rows = [*rows[: max(max_rows - 1, 0)], ..., rows[-1]]
    return "\n".join([format_row(None), *(format_row(r) for r in rows)])


def format_row(row: Any) -> str:
    """One line of the plain-text trace: a TraceRow; ``None`` the header; ``...`` a gap.

    Columns have fixed minimum widths, so rows printed one at a time (live,
    during a fit) line up with the header.
    """
    if row is None:
        values: Sequence[str] = HEADER
    elif row is Ellipsis:
        values = ("...", "", "", "", "")
    else:
        values = row.cells()
    head = "  ".join(v.rjust(w) for v, w in zip(values[:4], WIDTHS, strict=True))
    return f"{head}  {values[4]}".rstrip()
