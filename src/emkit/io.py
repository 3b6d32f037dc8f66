"""Reading data files: CSV, TSV, Parquet, NPY, or standard input.

Every reader returns a :class:`pandas.DataFrame` (NPY arrays get columns
``x0, x1, ...``); :func:`numeric_matrix` turns selected columns into a float
array, refusing non-numeric columns with a message that names them. Errors are
``ValueError`` or ``OSError`` subclasses with one-line messages.
"""

from __future__ import annotations

import io as _io
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["read_table", "numeric_matrix", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".npy")


def _read_stdin() -> pd.DataFrame:
    text = sys.stdin.read()
    if not text.strip():
        raise ValueError("standard input is empty; pipe a CSV table into it")
    sep = "\t" if "\t" in text.splitlines()[0] else ","
    return pd.read_csv(_io.StringIO(text), sep=sep)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a data table from ``path`` (or ``"-"`` for CSV on standard input).

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv``, ``.tsv``/``.txt`` (tab-separated), ``.parquet``/``.pq`` or
        ``.npy`` (1-D or 2-D numeric array) file, or ``"-"``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the file is empty, unreadable, or of an unsupported kind.
    """
    if str(path) == "-":
        return _read_stdin()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a data file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"cannot read {path.name}: use one of {', '.join(SUPPORTED_SUFFIXES)} files"
        )
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty")
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim == 1:
                array = array[:, None]
            if array.ndim != 2:
                raise ValueError(f"{path} holds a {array.ndim}-D array; expected 1-D or 2-D")
            return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        sep = "," if suffix == ".csv" else "\t"
        return pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} has no data") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} is not a valid table: {str(exc).splitlines()[0]}") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def numeric_matrix(table: pd.DataFrame, columns: Sequence[str] | None = None) -> np.ndarray:
    """The chosen columns of ``table`` as a float array of shape (n_rows, n_columns).

    Empty cells become NaN (missing values). Raises ``ValueError`` naming unknown or
    non-numeric columns, or when no rows remain.
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
    bad = [str(c) for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise ValueError(
            f"column(s) {', '.join(bad)} are not numeric; choose numeric columns with --columns"
        )
    return table.to_numpy(dtype=float)
