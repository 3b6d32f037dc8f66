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

import json
import math
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ._watch import FitAbandoned, FitWatch, loading, watch_fit

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
    "plural",
    "array_text",
    "print_block",
    "jsonable",
    "print_json",
    "warn",
    "FitWatch",
    "FitAbandoned",
    "watch_fit",
    "loading",
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

    Options not given here are those of the running command
    (:func:`emkit.cli._reading.reader_options`).

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
    from ..io import numeric_matrix
    from ._reading import _CURRENT, read_input

    given = {"sep": sep, "decimal": decimal, "encoding": encoding, "na_values": na_values,
             "no_header": no_header or None, "index_col": index_col}
    options = {**(_CURRENT.get() or {}), **{k: v for k, v in given.items() if v is not None}}
    if not notes:
        options["quiet"] = True
    token = _CURRENT.set(options)
    try:
        table = read_input(path)
    finally:
        _CURRENT.reset(token)
    names = split_columns(columns)
    X = numeric_matrix(table, names)
    if np.isinf(X).any():
        raise ValueError("the data contain infinite values; remove or replace them")
    if names is None and notes:
        from ._reading import warn_counters

        warn_counters(X, [str(c) for c in table.columns])
    return X, [str(c) for c in (names or table.columns)]


def plural(n: int, word: str) -> str:
    """``"1 component"``, ``"3 components"`` (``word`` takes an ``s``)."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
