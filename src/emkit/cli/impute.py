"""``emkit impute``: fill missing values by EM and show the teacher's loop.

The first guess is every column's mean; each EM iteration then re-fills the
missing entries with their conditional expectations and recomputes the class
means, until the log-likelihood is stable. ``--trace`` prints that loop: one row
per iteration with the class means and their largest change.
"""

from __future__ import annotations

import json
import math
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    QuietOption,
    SeedOption,
    array_text,
    loading,
    watch_fit,
)

if TYPE_CHECKING:  # pandas and scikit-learn are imported when a command runs, not
    import pandas as pd  # at start-up (`emkit --help` stays quick)

__all__ = ["impute", "register", "impute_table", "print_trace"]


class Covariance(str, Enum):
    full = "full"
    tied = "tied"
    diag = "diag"
    spherical = "spherical"


def _columns(values: list[str] | None, table: pd.DataFrame) -> list[str]:
    """Chosen columns (comma-separated or repeated), or every numeric column."""
    if values:
        names = [n.strip() for v in values for n in v.split(",") if n.strip()]
        if names:
            return names
    from pandas.api.types import is_numeric_dtype

    def numeric_like(values: Any) -> bool:
        # a column of numbers with a stray marker ('?', 'n/a') is numeric data whose
        # marker needs --na-values: numeric_matrix then names the value
        if is_numeric_dtype(values):
            return True
        present = values.dropna()
        parsed = pd.to_numeric(present, errors="coerce").notna()
        return bool(len(present)) and float(parsed.mean()) > 0.5

    import pandas as pd

    numeric = [str(c) for c in table.columns if numeric_like(table[c])]
    if not numeric:
        raise ValueError("the table has no numeric column to impute")
    return numeric


def impute_table(table: pd.DataFrame, columns: list[str], **options: Any
                 ) -> tuple[pd.DataFrame, Any]:
    """Fit an :class:`~emkit.EMImputer` on ``columns`` of ``table`` and fill them.

    Returns the filled copy of ``table`` (other columns untouched) and the fitted
    imputer. ``options`` go to the imputer's constructor.
    """
    from ..estimators.imputer import EMImputer
    from ..io import numeric_matrix

    X = numeric_matrix(table, columns)
    imputer = EMImputer(**options)
    filled = imputer.fit(X).transform(X)
    out = table.copy()
    for j, name in enumerate(columns):
        out[name] = filled[:, j]
    return out, imputer


def _write(table: pd.DataFrame, path: Path) -> None:
    from ..atomic import atomic_path, atomic_write

    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        with atomic_path(path) as tmp:
            table.to_parquet(tmp, index=False)
        return
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        table.to_csv(fh, sep="\t" if suffix in (".tsv", ".txt") else ",", index=False)


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _document(imputer: Any, columns: list[str], X_missing: np.ndarray,
              output: Path | None) -> dict[str, Any]:
    history = imputer.history_
    doc: dict[str, Any] = {
        "columns": columns,
        "n_rows": int(X_missing.shape[0]),
        "n_missing": int(X_missing.sum()),
        "missing_per_column": dict(zip(columns, X_missing.sum(axis=0).tolist(), strict=True)),
        "n_components": int(imputer.n_components),
        "n_iter": int(imputer.n_iter_),
        "converged": bool(imputer.converged_),
        "loglik": float(imputer.loglik_),
        "history": [
            {"iteration": int(i), "means": m.tolist(), "change": _number(c),
             "loglik": float(ll)}
            for i, m, c, ll in zip(history["iteration"], history["means"], history["change"],
                                   history["loglik"], strict=True)
        ],
        "output": str(output) if output is not None else None,
    }
    if imputer.n_components == 1:
        doc["mean"] = imputer.mean_.tolist()
        doc["covariance"] = imputer.covariance_.tolist()
        doc["standard_errors"] = imputer.standard_errors_.tolist()
    else:
        doc["weights"] = imputer.weights_.tolist()
        doc["means"] = imputer.means_.tolist()
        doc["covariances"] = np.asarray(imputer.covariances_).tolist()
    return doc


def print_trace(imputer: Any, columns: list[str], console: Any = None) -> None:
    """Print a fitted :class:`~emkit.EMImputer`'s ``history_`` as the teacher's loop.

    One row per iteration: the first guess (the column means), then each EM
    iteration's class means, their largest change and the log-likelihood. Used
    by ``emkit impute --trace`` and ``emkit demo``; ``console`` is a
    :class:`rich.console.Console` (default: a new one on stdout).
    """
    from rich.console import Console
    from rich.table import Table

    console = console if console is not None else Console(highlight=False)

    table = Table("iteration", *columns, "change", "log-likelihood",
                  title="The teacher's loop: class means at each EM iteration")
    if not console.is_terminal:  # a file or a pipe: room for every column
        console.width = max(console.width, 12 * (len(columns) + 3) + 20)
    h = imputer.history_
    for i, means, change, loglik in zip(h["iteration"], h["means"], h["change"], h["loglik"],
                                        strict=True):
        label = "first guess" if i == 0 else str(i)
        table.add_row(label, *(f"{m:.4f}" for m in means),
                      "-" if not math.isfinite(change) else f"{change:.2e}", f"{loglik:.4f}")
    console.print(table)


def _print_summary(console: Any, imputer: Any, columns: list[str], X_missing: np.ndarray,
                   output: Path | None, interrupted: bool = False) -> None:
    from rich.table import Table

    state = "converged" if imputer.converged_ else "stopped at max_iter (not converged)"
    if interrupted:
        state = "interrupted (not converged)"
    console.print(
        f"{'Would fill' if interrupted else 'Filled'} {int(X_missing.sum())} missing "
        f"value(s) in {X_missing.shape[0]} rows x "
        f"{len(columns)} columns: EM {state} after {imputer.n_iter_} iterations, "
        f"log-likelihood {imputer.loglik_:.4f}"
    )
    if imputer.n_components == 1:
        table = Table("column", "missing", "first guess", "EM mean", "std. error")
        first = imputer.history_["means"][0]
        for j, name in enumerate(columns):
            table.add_row(name, str(int(X_missing[:, j].sum())), f"{first[j]:.4f}",
                          f"{imputer.mean_[j]:.4f}", f"{imputer.standard_errors_[j]:.4f}")
        console.print(table)
    else:
        console.print(f"Weights:\n{array_text(imputer.weights_)}\n"
                      f"Means ({', '.join(columns)}):\n{array_text(imputer.means_)}")
    if output is not None:
        console.print(f"Wrote {output}")


def impute(
    data: Annotated[str, typer.Argument(help="Data file (CSV, TSV, Parquet, NPY) or '-'.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the filled table here: .csv, .tsv, .parquet or .json "
        "by the suffix; without it the filled CSV goes to stdout.")] = None,
    columns: Annotated[list[str] | None, typer.Option(
        "--columns", "-c", metavar="NAMES",
        help="Columns to impute, comma-separated or repeated (default: every numeric "
        "column; other columns are copied unchanged).")] = None,
    trace: Annotated[bool, typer.Option(
        "--trace", help="Show the teacher's loop: the first guess (column means), then "
        "each iteration's class means and change.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    n_components: Annotated[int, typer.Option(
        "--n-components", "-k", min=1, help="1: one multivariate normal; more: a mixture."
    )] = 1,
    covariance_type: Annotated[Covariance, typer.Option(
        "--covariance-type", help="Covariance structure.")] = Covariance.full,
    max_iter: Annotated[int, typer.Option("--max-iter", min=1, help="Most EM iterations.")
                        ] = 1000,
    tol: Annotated[float, typer.Option(
        "--tol", min=0.0, help="Tolerance on the mean per-row log-likelihood change.")] = 1e-10,
    seed: SeedOption = 0,
    quiet: QuietOption = False,
) -> int:
    """Fill missing values with their conditional expectations under a normal fitted by EM."""
    from rich.console import Console

    from ._output import check_output, write_table
    from ._reading import read_input

    check_output(output, "--output")
    with loading(data, quiet):
        table = read_input(data)
    names = _columns(columns, table)
    with watch_fit(quiet=quiet, total=max_iter, tol=tol, label="EM",
                   n_rows=len(table)) as watch:
        filled, imputer = impute_table(
            table, names, n_components=n_components, covariance_type=covariance_type.value,
            max_iter=max_iter, tol=tol, random_state=seed,
        )
    interrupted = watch.interrupted
    if output is not None and not interrupted:
        write_table(filled, output)
    missing = table[names].isna().to_numpy()
    # Human-readable reports go to stderr when stdout carries the filled table.
    console = Console(stderr=output is None and not as_json, highlight=False)
    if as_json:
        doc = _document(imputer, names, missing, None if interrupted else output)
        doc["interrupted"] = interrupted
        doc["converged"] = bool(imputer.converged_) and not interrupted
        if output is None and not interrupted:
            doc["filled"] = json.loads(filled.to_json(orient="records"))
        print(json.dumps(doc, indent=2))
        return EXIT_INTERRUPTED if interrupted else EXIT_OK
    if trace:
        print_trace(imputer, names, console)
    if interrupted:
        # the estimates so far, on stderr; no filled table is written anywhere
        console = Console(stderr=True, highlight=False)
        console.print(f"Interrupted (Ctrl-C) after {imputer.n_iter_} iterations: nothing "
                      "was written; the estimates so far:")
        _print_summary(console, imputer, names, missing, None, interrupted=True)
        return EXIT_INTERRUPTED
    if not quiet:
        _print_summary(console, imputer, names, missing, output)
    if output is None:
        filled.to_csv(sys.stdout, index=False)
    return EXIT_OK


def register(app: typer.Typer) -> None:
    """Add ``emkit impute`` to ``app``."""
    from ._command import add_command

    add_command(app, "impute", impute)
