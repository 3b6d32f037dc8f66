"""``emkit hmm``: fit a Gaussian hidden Markov model to sequences in a table, and decode.

``emkit hmm fit sequences.csv --states 4 --sequence-column id`` groups the rows
by the ``id`` column (each group is one sequence, its rows in file order),
fits a :class:`~emkit.GaussianHMM` to the numeric columns and prints the
parameters. ``--save model.emkit`` keeps the model, with the column names, for
``emkit hmm decode model.emkit data.csv -o states.csv``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ._common import ColumnsOption, JsonOption, SeedOption, print_block, print_json, split_columns

__all__ = ["hmm_app", "register", "fit", "decode"]

hmm_app = typer.Typer(name="hmm", no_args_is_help=True,
                      help="Hidden Markov models: fit sequences, decode hidden states.")

SequenceOption = Annotated[str | None, typer.Option(
    "--sequence-column", "-s", metavar="NAME",
    help="Column naming the sequence of each row (default: all rows are one sequence).")]


def _sequences(table: Any, sequence_column: str | None,
               columns: list[str] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     list[str], Any]:
    """Rows grouped by sequence: (X, lengths, order, feature names, sequence ids per row)."""
    import pandas as pd

    from ..io import numeric_matrix

    if sequence_column is not None and sequence_column not in table.columns:
        raise ValueError(f"no column {sequence_column!r}; the table has "
                         f"{', '.join(map(str, table.columns))}")
    if columns is None:
        columns = [str(c) for c in table.columns if c != sequence_column
                   and pd.api.types.is_numeric_dtype(table[c])]
        if not columns:
            raise ValueError("the table has no numeric feature columns")
    elif sequence_column in columns:
        raise ValueError(f"the sequence column {sequence_column!r} cannot also be a feature")
    X = numeric_matrix(table, columns)
    if np.isnan(X).any() or np.isinf(X).any():
        raise ValueError("the feature columns have empty or infinite cells; an HMM needs "
                         "complete rows")
    if sequence_column is None:
        return X, np.array([len(X)]), np.arange(len(X)), columns, None
    ids = table[sequence_column]
    if ids.isna().any():
        raise ValueError(f"column {sequence_column!r} has empty cells")
    codes, _ = pd.factorize(ids)
    order = np.argsort(codes, kind="stable")
    return X[order], np.bincount(codes), order, columns, ids


def fit(
    data: Annotated[str, typer.Argument(help="CSV/TSV/Parquet/NPY table, or - for stdin.")],
    states: Annotated[int, typer.Option("--states", "-k", min=1,
                                        help="Number of hidden states.")] = 2,
    sequence_column: SequenceOption = None,
    columns: ColumnsOption = None,
    covariance_type: Annotated[str, typer.Option(
        "--covariance-type", help="full, diag, tied or spherical.")] = "diag",
    n_iter: Annotated[int, typer.Option("--n-iter", min=1, help="Most EM iterations.")] = 100,
    tol: Annotated[float, typer.Option(
        "--tol", min=0.0, help="Stop when the log-likelihood gains less than this.")] = 1e-2,
    n_init: Annotated[int, typer.Option("--n-init", min=1, help="Random starts.")] = 1,
    save: Annotated[Path | None, typer.Option(
        "--save", metavar="PATH", help="Save the fitted model (emkit format).")] = None,
    as_json: JsonOption = False,
    seed: SeedOption = None,
) -> None:
    """Fit a Gaussian HMM with STATES states to the sequences in DATA."""
    from ..estimators.hmm import GaussianHMM
    from ..exceptions import ConvergenceWarning
    from ..io import read_table

    table = read_table(data)
    X, lengths, _, names, _ = _sequences(table, sequence_column, split_columns(columns))
    model = GaussianHMM(states, covariance_type, n_iter=n_iter, tol=tol, n_init=n_init,
                        random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, lengths)
    for item in caught:
        print(f"emkit: warning: {' '.join(str(item.message).split())}", file=sys.stderr)
    model.feature_names_in_ = list(names)
    model.sequence_column_ = sequence_column
    loglik = model.score(X, lengths)
    if save is not None:
        model.save(save)
    if as_json:
        print_json({"states": states, "covariance_type": covariance_type,
                    "columns": names, "n_sequences": len(lengths), "n_rows": len(X),
                    "loglik": loglik, "converged": model.monitor_.converged,
                    "n_iter": model.monitor_.iter, "startprob": model.startprob_,
                    "transmat": model.transmat_, "means": model.means_,
                    "covars": model._covars_, "saved": save})
        return
    print(f"GaussianHMM, {states} states ({covariance_type}), {len(lengths)} sequence(s), "
          f"{len(X)} rows, columns {', '.join(names)}")
    print(f"log-likelihood {loglik:.6f} after {model.monitor_.iter} iterations "
          f"(converged: {model.monitor_.converged})")
    print_block("Start probabilities", model.startprob_)
    print_block("Transition matrix", model.transmat_)
    print_block("Means", model.means_)
    if save is not None:
        print(f"Wrote {save}", file=sys.stderr)


def decode(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A saved emkit HMM.")],
    data: Annotated[str, typer.Argument(help="Table with the model's columns, or -.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the states CSV here (default: stdout).")] = None,
    sequence_column: SequenceOption = None,
    algorithm: Annotated[str, typer.Option(
        "--algorithm", help="viterbi (best path) or map (best state per row).")] = "viterbi",
) -> None:
    """Most likely hidden state of every row of DATA under MODEL, as CSV (row, state)."""
    import pandas as pd

    from ..estimators.hmm_base import BaseHMM
    from ..io import read_table
    from ..persistence import load
    from . import CLIError

    model = load(model_path)
    if not isinstance(model, BaseHMM):
        raise CLIError(f"{model_path} holds a {type(model).__name__}, not a hidden Markov model")
    table = read_table(data)
    if sequence_column is None:
        saved = getattr(model, "sequence_column_", None)
        sequence_column = saved if saved in table.columns else None
    names = getattr(model, "feature_names_in_", None)
    X, lengths, order, _, ids = _sequences(table, sequence_column,
                                           list(names) if names else None)
    _, states = model.decode(X, lengths, algorithm=algorithm)
    per_row = np.empty(len(states), dtype=np.int64)
    per_row[order] = states
    result = pd.DataFrame({"row": np.arange(len(per_row)), "state": per_row})
    if sequence_column is not None:
        result.insert(0, sequence_column, ids.to_numpy())
    if output is None:
        result.to_csv(sys.stdout, index=False)
    else:
        from ..atomic import atomic_write

        with atomic_write(output, "w", encoding="utf-8", newline="") as fh:
            result.to_csv(fh, index=False)
        print(f"Wrote {output}", file=sys.stderr)


hmm_app.command("fit")(fit)
hmm_app.command("decode")(decode)


def register(app: typer.Typer) -> None:
    """Add ``emkit hmm fit`` and ``emkit hmm decode`` to ``app``."""
    app.add_typer(hmm_app, name="hmm")
