"""Reading data files: CSV, TSV, Parquet, NPY, gzip-compressed text, or standard input.

One reader for every command. It reads a file only when it can be read one way:
the separator and decimal mark are guessed by stated rules (:mod:`emkit.io.dialect`)
or given, and a table is refused - with a one-line message naming the line,
column or value - when its rows are ragged, a column name is duplicated or
missing (a ``DataFrame.to_csv()`` index), a column is empty, or the first row
looks like data. Every reader returns a :class:`pandas.DataFrame` (NPY arrays get
columns ``x0, x1, ...``) whose ``attrs["notes"]`` list what a user should be told
(a latin-1 fallback, a guessed separator); :func:`numeric_matrix` turns selected
columns into a float array, naming the first non-numeric value it meets. Errors
are ``ValueError`` or ``OSError`` subclasses.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._text import read_text_table

__all__ = ["read_table", "numeric_matrix", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".npy")
_TEXT_SEP = {".csv": ",", ".tsv": "\t", ".txt": "\t"}


def _check_columns(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Refuse a table with an all-empty column (pandas would read it as all-NaN)."""
    if table.shape[0] > 0:
        for position, column in enumerate(table.columns):
            if table.iloc[:, position].isna().all():
                raise ValueError(
                    f"column {column!r} (column {position + 1}) of {name} is empty: all "
                    f"{table.shape[0]} rows are missing (NaN); drop it or choose columns "
                    "with --columns")
    return table


def read_table(path: str | Path, *, sep: str | None = None, decimal: str | None = None,
               encoding: str | None = None, na_values: Sequence[str] | None = None,
               header: bool = True, index_col: int | str | None = None) -> pd.DataFrame:
    """Read a data table from ``path`` (or ``"-"`` for a text table on standard input).

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv``, ``.tsv``/``.txt``, ``.parquet``/``.pq`` or ``.npy`` (1-D or 2-D
        numeric array) file, a text table compressed as ``.csv.gz`` etc., or ``"-"``.
    sep : str, optional
        The field separator of a text table; default: guessed among ``,`` ``;`` tab
        ``|`` (the file is refused when more than one reads evenly and the data do
        not decide).
    decimal : {".", ","}, optional
        The decimal mark; default ``"."`` with a comma separator, otherwise guessed
        (values that may be thousands groups, like ``1,234``, are refused).
    encoding : str, optional
        The text encoding; default UTF-8 (a byte-order mark is honoured), falling
        back to latin-1 with a note in ``attrs["notes"]``.
    na_values : sequence of str, optional
        Extra cell values that mean "missing" (e.g. ``["?", "NA"]``); empty cells
        always do.
    header : bool
        Whether the first row names the columns. With False, columns are named
        ``x0, x1, ...``; with True, a first row of numbers only is refused.
    index_col : int or str, optional
        A column (0-based position or name) to use as the row index instead of
        data; needed for a file written by ``DataFrame.to_csv()`` with its index.

    Returns
    -------
    pandas.DataFrame of shape (n_rows, n_columns)
        Text tables carry ``attrs["dialect"]`` (sep, decimal, encoding, header,
        sniffed) and ``attrs["notes"]`` (list of str).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the file is empty, unreadable, ambiguous, or of an unsupported kind.
    """
    text_options: dict[str, Any] = {"sep": sep, "decimal": decimal, "encoding": encoding,
                    "na_values": na_values, "header": header, "index_col": index_col}
    if str(path) == "-":
        text = sys.stdin.read()
        if not text.strip():
            raise ValueError("standard input is empty; pipe a CSV table into it")
        return _check_columns(read_text_table(text, "standard input", default_sep=",",
                                              **text_options), "standard input")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a data file")
    compressed = path.suffix.lower() == ".gz"
    suffix = Path(path.stem).suffix.lower() if compressed else path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES or (compressed and suffix not in _TEXT_SEP):
        kinds = ", ".join(SUPPORTED_SUFFIXES) + " files (text ones may end in .gz)"
        raise ValueError(f"cannot read {path.name}: use {kinds}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty")
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim == 1:
                array = array[:, None]
            if array.ndim != 2:
                raise ValueError(f"{path} holds a {array.ndim}-D array; expected 1-D or 2-D")
            table = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
        elif suffix in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            raw = path.read_bytes()
            if compressed:
                raw = gzip.decompress(raw)
            try:
                table = read_text_table(raw, path.name, default_sep=_TEXT_SEP[suffix],
                                        **text_options)
            except ValueError as exc:
                exc.emkit_own = True  # type: ignore[attr-defined]  # already names the file
                raise
    except (OSError, ValueError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if getattr(exc, "emkit_own", False):
            raise
        raise ValueError(f"cannot read {path}: {message}") from None
    return _check_columns(table, path.name)


def _first_bad(values: pd.Series) -> tuple[int, object] | None:
    """The 1-based data row and value of the first cell that is not a number."""
    converted = pd.to_numeric(values, errors="coerce")
    bad = values.notna().to_numpy() & converted.isna().to_numpy()
    if not bad.any():
        return None
    row = int(np.flatnonzero(bad)[0])
    return row + 1, values.iloc[row]


def numeric_matrix(table: pd.DataFrame, columns: Sequence[str] | None = None) -> np.ndarray:
    """The chosen columns of ``table`` as a float array of shape (n_rows, n_columns).

    Empty cells become NaN (missing values). Raises ``ValueError`` naming unknown
    columns, the first non-numeric value (its data row, counted from 1 after the
    header, and its column), or when no rows remain.
    """
    if columns:
        unknown = [c for c in columns if c not in table.columns]
        if unknown:
            raise ValueError(
                f"unknown column(s) {', '.join(map(str, unknown))}; the table has "
                f"{', '.join(map(str, table.columns))}"
            )
        table = table[list(columns)]
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise ValueError("the table has no data rows")
    bad: list[tuple[str, int, object]] = []
    for position, column in enumerate(table.columns):
        values = table.iloc[:, position]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            continue
        found = _first_bad(values.astype(object))
        if found is not None:
            bad.append((str(column), *found))
    if bad:
        column, row, value = bad[0]
        text = str(value)
        hint = "; choose numeric columns with --columns"
        if "," in text and text.replace(",", "").replace(".", "", 1).strip().isdigit():
            hint = "; ',' as a thousands separator is not read: remove it from the file"
        elif text.strip() and not any(ch.isdigit() for ch in text):
            hint = (f"; if {text.strip()!r} marks a missing value, give na_values "
                    f"(--na-values {text.strip()!r}), else choose columns with --columns")
        raise ValueError(f"column(s) {', '.join(b[0] for b in bad)} are not numeric: data "
                         f"row {row} of column {column!r} holds {text!r}{hint}")
    return table.to_numpy(dtype=float)
