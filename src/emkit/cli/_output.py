"""Output files of the commands: checked before any fitting, written by suffix, atomically.

* :func:`check_output` - refuse an output path with a suffix the command cannot
  write (a usage error, exit 2) or a place that cannot be written (exit 1),
  before the data are read;
* :func:`write_table` - a table as CSV, TSV, Parquet or JSON by the suffix,
  through :mod:`emkit.atomic` (a reader sees the old file or the whole new one);
* :func:`check_plot_dir` - a ``--plot`` directory that exists or can be made.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from . import CLIError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TABLE_SUFFIXES", "check_output", "write_table", "check_plot_dir"]

#: The suffixes :func:`write_table` writes, and the format of each.
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet",
                  ".pq": "parquet", ".json": "json"}


def check_output(path: Path | None, option: str,
                 suffixes: Sequence[str] | None = tuple(TABLE_SUFFIXES)) -> None:
    """Check an output path before any work: its suffix (exit 2), then that it can be written.

    Parameters
    ----------
    path : pathlib.Path or None
        The path given; ``None`` (not given) passes.
    option : str
        The option's name, for the messages (``"--output"``).
    suffixes : sequence of str or None
        The suffixes the command writes (lower case); ``None`` accepts any.

    Raises
    ------
    typer.BadParameter
        For a suffix the command does not write (exit 2).
    CLIError
        When the file cannot be written there (exit 1).
    """
    from ._outcome import check_save_path

    if path is None:
        return
    if Path(path).is_dir():
        raise CLIError(f"cannot write {path} ({option}): it is a directory")
    if suffixes is not None and Path(path).suffix.lower() not in suffixes:
        raise typer.BadParameter(
            f"cannot tell the format of {path}: end it in {', '.join(suffixes)}",
            param_hint=option)
    try:
        check_save_path(Path(path), option)
    except CLIError as exc:  # "cannot write PATH (--output): why", naming the file first
        message = str(exc).replace(f"cannot write {option} {path}", f"cannot write {path} "
                                   f"({option})", 1)
        raise CLIError(message) from None


def check_plot_dir(path: Path | None, option: str = "--plot") -> None:
    """Refuse a ``--plot`` directory that is a file, or whose parent cannot be written."""
    if path is None:
        return
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise CLIError(f"cannot write {option} {target}: it is a file, not a directory")
    existing = target
    while not existing.exists():
        existing = existing.parent if str(existing.parent) else Path(".")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write {option} {target}: {existing} is not writable")


def write_table(table: pd.DataFrame, path: Path | None, *, index: bool = False) -> None:
    """Write ``table`` to ``path`` in the format its suffix names (stdout CSV for ``None``).

    ``.csv``, ``.tsv``/``.txt`` (tab-separated), ``.parquet``/``.pq`` and ``.json``
    (a list of records); written atomically, so an interrupted or failed write
    leaves any old file whole.
    """
    from ..atomic import atomic_path, atomic_write

    if path is None:
        table.to_csv(sys.stdout, index=index)
        return
    kind = TABLE_SUFFIXES.get(Path(path).suffix.lower(), "csv")
    if kind == "parquet":
        with atomic_path(path) as tmp:
            table.to_parquet(tmp, index=index)
        return
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        if kind == "json":
            fh.write(table.to_json(orient="records", indent=2))
            fh.write("\n")
        else:
            table.to_csv(fh, sep="\t" if kind == "tsv" else ",", index=index)
