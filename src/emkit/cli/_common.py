"""Pieces shared by the ``emkit`` sub-commands: options, reading data, printing.

Kept small and stable so every command module can use them:

* :data:`ColumnsOption`, :data:`JsonOption`, :data:`QuietOption`,
  :data:`SeedOption`, :data:`SaveOption`, :data:`MaxIterOption`, :data:`TolOption`,
  :data:`NInitOption`, :data:`AccelerateOption` - Typer option declarations with
  one meaning everywhere;
* :func:`load_data` - a data file (or ``-``) to a float matrix and its column names;
* :func:`array_text`, :func:`print_block` - arrays in the seed's style
  (``"Means:"`` then the array);
* :func:`jsonable`, :func:`print_json` - one JSON document on stdout;
* :func:`warn` - one line on stderr;
* :func:`watch_fit` - around an estimator's ``fit``: a progress bar on a
  terminal, the engine's steps recorded, warnings turned into stderr lines, and
  Ctrl-C turned into "stop and keep the best parameters so far".
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ..engine import Step, observe
from ..trace import StepRecorder

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "ColumnsOption",
    "JsonOption",
    "QuietOption",
    "SeedOption",
    "SaveOption",
    "MaxIterOption",
    "TolOption",
    "NInitOption",
    "SepOption",
    "DecimalOption",
    "EncodingOption",
    "NaValuesOption",
    "NoHeaderOption",
    "IndexColOption",
    "Accelerate",
    "AccelerateOption",
    "split_columns",
    "load_data",
    "array_text",
    "print_block",
    "jsonable",
    "print_json",
    "warn",
    "FitWatch",
    "watch_fit",
]

#: Exit codes of every command (also in ``emkit --help`` and docs/cli.md).
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

ColumnsOption = Annotated[
    list[str] | None,
    typer.Option("--columns", "-c", metavar="NAMES",
                 help="Columns to use, comma-separated or repeated (default: all)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bar, no notes on stderr.")
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Random seed (initialization).")]
SaveOption = Annotated[Path | None, typer.Option(
    "--save", metavar="FILE", help="Save the fitted model (emkit.load reads it).")]
MaxIterOption = Annotated[int, typer.Option("--max-iter", min=1, help="Most EM iterations.")]
TolOption = Annotated[float, typer.Option(
    "--tol", min=0.0, help="Stop when the mean log-likelihood per row gains less.")]
NInitOption = Annotated[int, typer.Option("--n-init", min=1, help="Starts; the best is kept.")]
SepOption = Annotated[str | None, typer.Option(
    "--sep", metavar="CHAR", help="Field separator of a text table (default: guessed among "
    ", ; tab |; write tab as '\\t').")]
DecimalOption = Annotated[str | None, typer.Option(
    "--decimal", metavar="MARK", help="Decimal mark, . or , (default: guessed).")]
EncodingOption = Annotated[str | None, typer.Option(
    "--encoding", metavar="NAME", help="Text encoding (default: UTF-8, else latin-1 with a note).")]
NaValuesOption = Annotated[list[str] | None, typer.Option(
    "--na-values", metavar="VALUES",
    help="Cell values meaning missing, comma-separated or repeated (empty cells always are).")]
NoHeaderOption = Annotated[bool, typer.Option(
    "--no-header", help="The first row is data; columns are named x0, x1, ...")]
IndexColOption = Annotated[str | None, typer.Option(
    "--index-col", metavar="COLUMN",
    help="A column (name or 0-based position) that is a row index, not data.")]


class Accelerate(str, Enum):
    """The ``--accelerate`` choices."""

    squarem = "squarem"


AccelerateOption = Annotated[Accelerate | None, typer.Option(
    "--accelerate", help="Speed EM up with SQUAREM.")]


def split_columns(values: list[str] | None) -> list[str] | None:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``; ``None`` or nothing -> ``None``."""
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def load_data(path: str, columns: list[str] | None = None, *, sep: str | None = None,
              decimal: str | None = None, encoding: str | None = None,
              na_values: list[str] | None = None, no_header: bool = False,
              index_col: str | None = None,
              notes: bool = True) -> tuple[np.ndarray, list[str]]:
    """Read ``path`` (CSV, TSV, Parquet, NPY, ``.gz`` text, or ``-`` for stdin) as a float matrix.

    Parameters
    ----------
    path : str
        The data file, or ``"-"``.
    columns : list of str, optional
        Columns to keep (see :func:`split_columns`); default all.
    sep, decimal, encoding : str, optional
        As :func:`emkit.io.read_table` (``--sep``, ``--decimal``, ``--encoding``);
        ``--sep '\\t'`` means a tab.
    na_values : list of str, optional
        ``--na-values``, split as :func:`split_columns` splits names.
    no_header : bool
        ``--no-header``: the first row is data.
    index_col : str, optional
        ``--index-col``: a column name, or a 0-based position given as digits.
    notes : bool
        Print the reader's notes (a guessed separator, a latin-1 fallback) on stderr.

    Returns
    -------
    X : ndarray of shape (n_rows, n_columns)
        Empty cells are NaN.
    names : list of str
        The column names.

    Raises
    ------
    FileNotFoundError, ValueError
        With a one-line message naming the problem.
    """
    from ..io import numeric_matrix, read_table

    if sep in ("\\t", "tab"):
        sep = "\t"
    index: int | str | None = index_col
    if index_col is not None and index_col.strip().isdigit():
        index = int(index_col)
    table = read_table(path, sep=sep, decimal=decimal, encoding=encoding,
                       na_values=split_columns(na_values), header=not no_header,
                       index_col=index)
    if notes:
        for note in table.attrs.get("notes", []):
            warn(note)
    names = split_columns(columns)
    X = numeric_matrix(table, names)
    if np.isinf(X).any():
        raise ValueError("the data contain infinite values; remove or replace them")
    return X, [str(c) for c in (names or table.columns)]


def array_text(array: Any, precision: int = 4) -> str:
    """An array as numpy prints it, with ``precision`` decimals and no scientific clutter."""
    with np.printoptions(precision=precision, suppress=True, linewidth=100):
        return str(np.asarray(array))


def print_block(title: str, array: Any, *, precision: int = 4, file: Any = None) -> None:
    """Print ``"Title:"`` then the array on the lines below (the seed's ``Means:`` style)."""
    print(f"{title}:\n{array_text(array, precision)}", file=file or sys.stdout)


def jsonable(value: Any) -> Any:
    """``value`` with arrays as nested lists, numpy scalars as Python ones, NaN/inf as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(document: Any) -> None:
    """Print ``document`` as one JSON document on stdout."""
    print(json.dumps(jsonable(document), indent=2))


def warn(message: str) -> None:
    """One line on stderr: ``emkit: warning: <message>``."""
    print(f"emkit: warning: {' '.join(str(message).split())}", file=sys.stderr)


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


@contextlib.contextmanager
def _sigint_flag(watch: FitWatch) -> Iterator[None]:
    """Note Ctrl-C in ``watch`` and raise ``KeyboardInterrupt`` as Python does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        watch.interrupted = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def watch_fit(*, quiet: bool = False, total: int | None = None, label: str = "EM",
              on_step: Callable[[Step], Any] | None = None) -> Iterator[FitWatch]:
    """Watch the estimator fit run inside the block.

    Parameters
    ----------
    quiet : bool
        No progress bar and no warning lines.
    total : int, optional
        Expected iterations (``max_iter``), for the progress bar.
    label : str
        The progress bar's description.
    on_step : callable, optional
        Called with every engine :class:`~emkit.Step` (e.g. to print a trace live).

    Yields
    ------
    FitWatch
        Filled in as the fit runs. A progress bar is shown on stderr only when it
        is a terminal and no ``on_step`` prints its own lines. After Ctrl-C,
        further runs (``n_init`` starts) stop at their starting point, so the fit
        returns quickly with the best so far.
    """
    from rich.console import Console

    console = Console(stderr=True)
    progress = None
    task = None
    if not quiet and on_step is None and console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        progress = Progress(TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[loglik]}"),
                            console=console, transient=True)
        task = progress.add_task(label, total=total, loglik="")

    watch: FitWatch

    def step_seen(step: Step) -> None:
        if watch.interrupted:
            raise KeyboardInterrupt  # later starts stop at once, keeping the best
        if on_step is not None:
            on_step(step)
        if progress is not None and task is not None:
            if step.iteration == 0:
                progress.reset(task, total=total)
            progress.update(task, completed=step.iteration,
                            loglik=f"log-likelihood {step.loglik:.6g}")

    watch = FitWatch(StepRecorder(step_seen))
    with contextlib.ExitStack() as stack:
        if progress is not None:
            stack.enter_context(progress)
        stack.enter_context(_sigint_flag(watch))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        stack.enter_context(observe(watch.recorder))
        yield watch
    seen: set[str] = set()
    for item in caught:
        message = " ".join(str(item.message).split())
        if message not in seen:
            seen.add(message)
            watch.warnings.append(message)
    if not quiet:
        for message in watch.warnings:
            if not (watch.interrupted and "converge" in message):
                warn(message)
