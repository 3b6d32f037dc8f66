"""Pieces of the outcome-model commands (``emkit regress``, ``emkit survival``).

* :func:`check_save_path` - refuse an unwritable ``--save`` before any fitting;
* :func:`column_values` - the named columns of a data file, each checked for empty cells;
* :func:`distinct_columns` - refuse a column named twice (a usage error);
* :func:`component_table` - rows of per-component numbers as an aligned text table;
* :func:`fit_facts` - log-likelihood, BIC/AIC, iterations and the stop reason;
* :func:`print_fit_facts`, :func:`save_model` - the closing lines, and ``--save``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import typer

from ..atomic import atomic_write
from . import CLIError
from ._common import FitWatch, load_data, warn

__all__ = ["check_save_path", "column_values", "distinct_columns", "component_table",
           "fit_facts", "print_fit_facts", "save_model", "number"]


def check_save_path(path: Path | None, option: str = "--save") -> None:
    """Raise :class:`~emkit.cli.CLIError` (exit 1) when ``path`` cannot be written.

    Checked before the data are read, so that a long fit is never lost to a
    mistyped directory.
    """
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise CLIError(f"cannot write {option} {target}: it is a directory")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"cannot write {option} {target}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write {option} {target}: the directory {parent} is not "
                       "writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise CLIError(f"cannot write {option} {target}: the file is not writable")
    # the permission bits do not tell everything (root, read-only mounts): start the
    # atomic write for real and abandon it, which removes its temporary file and
    # leaves the target as it was
    try:
        with atomic_write(target):
            raise _Probe
    except _Probe:
        pass
    except OSError as exc:
        reason = str(exc.strerror or exc)
        if reason.startswith("cannot write"):
            reason = reason.split(": ", 1)[-1]
        raise CLIError(f"cannot write {option} {target}: {reason}") from None


class _Probe(Exception):
    """Abandons the probing write of :func:`check_save_path`."""


def distinct_columns(names: Sequence[str], what: str) -> None:
    """Raise a usage error (exit 2) when a column is named twice among ``names``."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise typer.BadParameter(f"column {name!r} is named more than once",
                                     param_hint=what)
        seen.add(name)


def column_values(data: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The columns ``names`` of the data file, as float vectors without empty cells.

    Raises
    ------
    ValueError
        Naming an unknown or non-numeric column, or the first empty cell.
    """
    X, _ = load_data(data, list(names))
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        column = X[:, j]
        empty = np.flatnonzero(np.isnan(column))
        if empty.size:
            raise CLIError(f"column {name} has {empty.size} empty cell(s) (first in data row "
                           f"{int(empty[0]) + 1}); this model needs every value: fill or "
                           "drop those rows")
        out[name] = column
    return out


def number(value: Any, digits: int = 6) -> str:
    """A float with ``digits`` significant digits (``inf`` and NaN spelled out)."""
    value = float(value)
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def component_table(rows: Sequence[tuple[str, Any]], n_components: int,
                    *, first: str = "", digits: int = 6) -> str:
    """An aligned table: one column per component, one row per ``(label, values)``."""
    header = [first] + [f"component {j + 1}" for j in range(n_components)]
    body = [[label] + [number(v, digits) if not isinstance(v, str) else v for v in values]
            for label, values in rows]
    width0 = max(len(r[0]) for r in [header, *body])
    widths = [max(len(r[j]) for r in [header, *body] if j < len(r))
              for j in range(1, n_components + 1)]
    lines = []
    for r in [header, *body]:
        cells = [r[0].ljust(width0)] + [c.rjust(w) for c, w in zip(r[1:], widths, strict=False)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def fit_facts(model: Any, watch: FitWatch, loglik: float, n_rows: int,
              bic: float, aic: float) -> dict[str, Any]:
    """The closing facts of a fit: log-likelihood, criteria, iterations, stop reason."""
    interrupted = bool(watch.interrupted)
    converged = bool(model.converged_) and not interrupted
    return {
        "loglik": float(loglik),
        "mean_loglik": float(loglik) / n_rows,
        "n_parameters": int(model.n_parameters()),
        "bic": float(bic),
        "aic": float(aic),
        "n_iter": int(model.n_iter_),
        "converged": converged,
        "stop_reason": "interrupted" if interrupted else
                       ("converged" if converged else "max_iter"),
    }


def print_fit_facts(facts: dict[str, Any], file: Any = None) -> None:
    """The log-likelihood, BIC/AIC and iterations lines (as ``emkit fit`` prints them)."""
    out = file or sys.stdout
    print(f"Log-likelihood: {facts['loglik']:.4f} (mean per row {facts['mean_loglik']:.6f})",
          file=out)
    print(f"BIC: {facts['bic']:.4f}   AIC: {facts['aic']:.4f}   (lower is better; "
          f"{facts['n_parameters']} free parameters)", file=out)
    status = {"converged": "yes", "max_iter": "no (max_iter reached)",
              "interrupted": "no (interrupted; best parameters so far)"}[facts["stop_reason"]]
    print(f"Iterations: {facts['n_iter']}   converged: {status}", file=out)


def save_model(model: Any, path: Path | None, watch: FitWatch, quiet: bool) -> str | None:
    """Write ``--save`` (not after Ctrl-C: an interrupted fit leaves no file); the path."""
    if path is None:
        return None
    if watch.interrupted:
        if not quiet:
            warn(f"the fit was interrupted, so {path} was not written")
        return None
    return str(model.save(path))
