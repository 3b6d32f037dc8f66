"""The reader options every data-reading command takes, and reading with them.

:func:`reader_options` adds ``--sep``, ``--decimal``, ``--encoding``,
``--na-values``, ``--no-header`` and ``--index-col`` to a command; while the
command runs, :func:`read_input` (and :func:`emkit.cli._common.load_data`) read
data files with them through :func:`emkit.io.read_table`, so every command reads
a file the same way and refuses the same files.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:  # pandas is imported when a command runs, not at start-up
    import pandas as pd

__all__ = ["reader_options", "current_options", "read_input", "counter_columns",
           "warn_counters"]

F = TypeVar("F", bound=Callable[..., Any])

#: The options of the running command (empty outside one: the reader's defaults).
_CURRENT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "emkit_reader_options", default=None)


def _parameters() -> list[inspect.Parameter]:
    from ._common import (
        DecimalOption,
        EncodingOption,
        IndexColOption,
        NaValuesOption,
        NoHeaderOption,
        SepOption,
    )

    kinds = (("sep", SepOption, None), ("decimal", DecimalOption, None),
             ("encoding", EncodingOption, None), ("na_values", NaValuesOption, None),
             ("no_header", NoHeaderOption, False), ("index_col", IndexColOption, None))
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                              annotation=annotation) for name, annotation, default in kinds]


def reader_options(func: F) -> F:
    """Give the command ``func`` the reader options (its own, if it has some, stay).

    The options are taken out of the call and set for :func:`read_input` while
    ``func`` runs; ``quiet`` (when the command has it) silences the reader's notes.
    """
    signature = inspect.signature(func, eval_str=True)
    added = [p for p in _parameters() if p.name not in signature.parameters]
    names = [p.name for p in added]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = {name: kwargs.pop(name) for name in names if name in kwargs}
        options["quiet"] = bool(kwargs.get("quiet", False))
        token = _CURRENT.set(options)
        try:
            return func(*args, **kwargs)
        finally:
            _CURRENT.reset(token)

    parameters = [*signature.parameters.values(), *added]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]


def current_options() -> dict[str, Any]:
    """The running command's reader options (``sep``, ... ``index_col``, ``quiet``)."""
    return dict(_CURRENT.get() or {})


def read_input(path: str, *, notes: bool = True) -> pd.DataFrame:
    """Read the data file ``path`` (or ``"-"``) with the running command's reader options.

    Parameters
    ----------
    path : str
        A file :func:`emkit.io.read_table` reads, or ``"-"`` for standard input.
    notes : bool
        Print the reader's notes (a guessed separator, a latin-1 fallback) on
        stderr, unless the command runs with ``--quiet``.

    Returns
    -------
    pandas.DataFrame of shape (n_rows, n_columns)
        As read; an ``--index-col`` column is the index, not a column.
    """
    from ..io import read_table
    from ._common import split_columns, warn

    options = current_options()
    sep = options.get("sep")
    if sep in ("\\t", "tab"):
        sep = "\t"
    _check_values(sep, options.get("decimal"), options.get("encoding"))
    index_col: int | str | None = options.get("index_col")
    if isinstance(index_col, str) and index_col.strip().isdigit():
        index_col = int(index_col)
    table = read_table(path, sep=sep, decimal=options.get("decimal"),
                       encoding=options.get("encoding"),
                       na_values=split_columns(options.get("na_values")),
                       header=not options.get("no_header", False), index_col=index_col)
    if notes and not options.get("quiet", False):
        for note in table.attrs.get("notes", []):
            warn(note)
    return table


def _check_values(sep: str | None, decimal: str | None, encoding: str | None) -> None:
    """Refuse option values that no file could make right: a usage error (exit 2)."""
    import codecs

    import typer

    if sep is not None and (len(sep) != 1 or sep.isalnum() or sep in "\"'.\n\r"):
        raise typer.BadParameter(f"{sep!r} is not a field separator: give one character "
                                 "such as , ; | or '\\t' for a tab", param_hint="--sep")
    if decimal is not None and decimal not in (".", ","):
        raise typer.BadParameter(f"give . or , (not {decimal!r})", param_hint="--decimal")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise typer.BadParameter(f"unknown encoding {encoding!r}: use e.g. utf-8, "
                                     "latin-1, cp1252, utf-16", param_hint="--encoding"
                                     ) from None


def counter_columns(X: np.ndarray, names: list[str],
                    lengths: Any = None) -> list[str]:
    """Columns that count the rows (0, 1, 2, ... or 1, 2, 3, ..., restarting at each
    sequence when ``lengths`` gives them): an index or a time step, not data.

    A ``DataFrame.to_csv()`` index that was given a name, a time step ``t`` or a
    row number fitted as a feature makes a mixture split along it; the commands
    warn about such columns (they still fit them: a user may mean it).
    """
    n = X.shape[0]
    if n < 3:
        return []
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    if lengths is not None:
        starts[np.cumsum(np.asarray(lengths, dtype=np.int64))[:-1]] = True
    found = []
    for j, name in enumerate(names):
        column = X[:, j]
        if not np.all(np.isfinite(column)) or column[0] not in (0.0, 1.0):
            continue
        previous = np.r_[column[0] - 1.0, column[:-1]]
        counts = (column == previous + 1) & ~starts
        restarts = starts & (column == column[0])
        if np.all(counts | restarts) and np.count_nonzero(counts) >= 2:
            found.append(name)
    return found


def warn_counters(X: np.ndarray, names: list[str], lengths: Any = None) -> None:
    """One warning line per column of ``X`` that counts the rows (:func:`counter_columns`)."""
    from ._common import warn

    if current_options().get("quiet"):
        return
    for name in counter_columns(X, names, lengths):
        warn(f"column {name} counts the rows (0, 1, 2, ...): it is fitted as a feature; "
             "leave it out with --columns or make it the index with --index-col")
