"""Rows of a table grouped into sequences for ``emkit hmm``: features, missing cells, weights.

Each value of the sequence column is one sequence, its rows in file order. An
empty cell (or ``NA``) of a feature column is a missing entry, for the
emissions that take them as missing at random (GaussianHMM, GMMHMM and
``emkit.HMM``); the others refuse it, naming the row and the column. A weight
column gives one weight per sequence, so it must be constant within each one.
Covariate columns (``emkit hmm fit --covariates``) are read apart from the
features: numeric and complete, one row per frame, grouped as the features are.
Rows are numbered as ``emkit hmm decode`` numbers them: the first data row is 0.
:func:`criteria` and :func:`kind_parameters` report a model fitted to such rows.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = ["SequenceTable", "read_sequences", "takes_missing", "criteria",
           "kind_parameters"]


class SequenceTable(NamedTuple):
    """The rows of a table grouped by sequence.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        Feature rows, sequence after sequence; NaN for a missing entry.
    lengths : ndarray of int of shape (n_sequences,)
        Rows per sequence, in the order the sequences first appear.
    order : ndarray of int of shape (n_samples,)
        Table row of each row of ``X``.
    names : list of str
        The feature columns.
    ids : pandas.Series or None
        The sequence column (per table row), ``None`` without one.
    weights : ndarray of shape (n_sequences,) or None
        Weight of each sequence, from the weight column.
    n_missing : int
        Empty feature cells.
    U : ndarray of shape (n_samples, n_covariates) or None
        Covariate rows, aligned with ``X``; ``None`` without covariate columns.
    """

    X: np.ndarray
    lengths: np.ndarray
    order: np.ndarray
    names: list[str]
    ids: Any
    weights: np.ndarray | None
    n_missing: int
    U: np.ndarray | None = None


def _first_cell(mask: np.ndarray, names: list[str]) -> tuple[int, str, int]:
    """(row, column name, number of flagged cells) of the first True cell of ``mask``."""
    rows, cols = np.nonzero(mask)
    return int(rows[0]), names[int(cols[0])], len(rows)


def _more(count: int) -> str:
    return "" if count == 1 else f" (and {count - 1} more)"


def _check_features(X: np.ndarray, names: list[str], missing_ok: bool, family: str) -> int:
    """Refuse infinite cells always and empty ones where ``missing_ok`` is False;
    return the number of empty cells."""
    infinite = np.isinf(X)
    if infinite.any():
        row, name, count = _first_cell(infinite, names)
        raise ValueError(f"column {name!r} has an infinite value in row {row}{_more(count)}; "
                         "an HMM needs finite numbers (leave a cell empty for missing)")
    missing = np.isnan(X)
    if missing.any() and not missing_ok:
        row, name, count = _first_cell(missing, names)
        raise ValueError(f"column {name!r} has an empty cell in row {row}{_more(count)}; "
                         f"{family} does not take missing entries (gaussian, gmm and the "
                         "emkit.distributions families do): fill or drop them")
    return int(missing.sum())


def _sequence_weights(table: Any, column: str, codes: np.ndarray, n_sequences: int,
                      labels: Any) -> np.ndarray:
    """One weight per sequence from ``column``, which must be constant within each."""
    import pandas as pd

    values = table[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ValueError(f"the weight column {column!r} is not numeric")
    w = values.to_numpy(dtype=float)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = "empty" if np.isnan(w[row]) else repr(float(w[row]))
        raise ValueError(f"the weight column {column!r} is {shown} in row {row}; weights "
                         "must be finite and non-negative")
    first = np.full(n_sequences, -1)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # first row of each sequence
    per_sequence = w[first]
    differs = np.flatnonzero(w != per_sequence[codes])
    if len(differs):
        row = int(differs[0])
        where = "the table" if labels is None else f"sequence {labels[codes[row]]!r}"
        raise ValueError(f"the weight column {column!r} must be constant within each "
                         f"sequence (one weight per sequence): {where} has "
                         f"{per_sequence[codes[row]]:g} in row {int(first[codes[row]])} and "
                         f"{w[row]:g} in row {row}")
    if not np.any(per_sequence > 0):
        raise ValueError(f"the weight column {column!r} is 0 for every sequence: nothing "
                         "to fit")
    return per_sequence


def _covariates(table: Any, names: list[str]) -> np.ndarray:
    """The covariate columns ``names`` as a float matrix: numeric and without empty cells."""
    import pandas as pd

    for name in names:
        if name not in table.columns:
            raise ValueError(f"no covariate column {name!r}; the table has "
                             f"{', '.join(map(str, table.columns))}")
        if not pd.api.types.is_numeric_dtype(table[name]):
            raise ValueError(f"the covariate column {name!r} is not numeric")
    U = table[names].to_numpy(dtype=float)
    bad = ~np.isfinite(U)
    if bad.any():
        row, name, count = _first_cell(bad, names)
        raise ValueError(f"the covariate column {name!r} is empty or infinite in row "
                         f"{row}{_more(count)}; covariates must be finite in every row")
    return U


def read_sequences(table: Any, sequence_column: str | None, columns: list[str] | None, *,
                   missing_ok: bool = True, family: str = "this emission",
                   weights_column: str | None = None,
                   covariates: list[str] | None = None) -> SequenceTable:
    """Group the rows of ``table`` by ``sequence_column`` (``None``: one sequence).

    Parameters
    ----------
    table : pandas.DataFrame
    sequence_column : str or None
        Column naming the sequence of each row.
    columns : list of str or None
        Feature columns; default: every numeric column but the sequence and
        weight columns.
    missing_ok : bool, default True
        Whether empty feature cells are accepted (as NaN, missing at random).
    family : str
        What refuses them, for the message (``"--emission categorical"``).
    weights_column : str or None
        Column with each sequence's weight.
    covariates : list of str or None
        Covariate columns (never features, never the sequence or weight column).

    Returns
    -------
    SequenceTable

    Raises
    ------
    ValueError
        Naming the column (and row) at fault.
    """
    import pandas as pd

    from ..io import numeric_matrix

    special = {"sequence": sequence_column, "weight": weights_column}
    for name in special.values():
        if name is not None and name not in table.columns:
            raise ValueError(f"no column {name!r}; the table has "
                             f"{', '.join(map(str, table.columns))}")
    if weights_column is not None and weights_column == sequence_column:
        raise ValueError(f"the sequence column {sequence_column!r} cannot also be the "
                         "weight column")
    covariates = list(covariates or [])
    U = _covariates(table, covariates) if covariates else None
    for role, name in special.items():
        if name is not None and name in covariates:
            raise ValueError(f"the {role} column {name!r} cannot also be a covariate")
    if columns is None:
        columns = [str(c) for c in table.columns
                   if c not in (sequence_column, weights_column, *covariates)
                   and pd.api.types.is_numeric_dtype(table[c])]
        if not columns:
            raise ValueError("the table has no numeric feature columns")
    for role, name in special.items():
        if name is not None and name in columns:
            raise ValueError(f"the {role} column {name!r} cannot also be a feature")
    both = [name for name in columns if name in covariates]
    if both:
        raise ValueError(f"the covariate column {both[0]!r} cannot also be a feature")
    X = numeric_matrix(table, columns)
    n_missing = _check_features(X, list(columns), missing_ok, family)
    if sequence_column is None:
        codes, labels = np.zeros(len(X), dtype=np.int64), None
        ids = None
    else:
        ids = table[sequence_column]
        if ids.isna().any():
            row = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise ValueError(f"column {sequence_column!r} has an empty cell in row {row}")
        codes, labels = pd.factorize(ids)
    lengths = np.bincount(codes)
    weights = None if weights_column is None else _sequence_weights(
        table, weights_column, codes, len(lengths), labels)
    order = np.argsort(codes, kind="stable")
    return SequenceTable(X[order], lengths, order, list(columns), ids, weights, n_missing,
                         None if U is None else U[order])


def takes_missing(model: Any) -> bool:
    """Whether ``model`` reads NaN entries as missing at random (its scikit-learn tag;
    InputDrivenHMM, like emkit.HMM, marginalizes them in its emissions)."""
    if type(model).__name__ == "InputDrivenHMM":
        return True
    return bool(model.__sklearn_tags__().input_tags.allow_nan)


def criteria(model: Any, rows: SequenceTable) -> tuple[int, dict[str, float]]:
    """hmmlearn's free-parameter count and the (weighted) log-likelihood, AIC and BIC.

    Parameters
    ----------
    model : BaseHMM or InputDrivenHMM
        Fitted to ``rows`` (with ``rows.U`` as covariates, where there are any).
    rows : SequenceTable

    Returns
    -------
    n_parameters : int
    criteria : dict
        ``{"loglik": float, "bic": float, "aic": float}``, weighted by
        ``rows.weights`` as :func:`emkit.estimators.hmm_selection.weighted_criteria`.
    """
    from ..estimators.hmm_selection import n_free_parameters, weighted_criteria

    if rows.U is None:
        n_parameters = n_free_parameters(model, rows.X, rows.lengths)
        return n_parameters, weighted_criteria(model, rows.X, rows.lengths, rows.weights,
                                               n_parameters)
    p = model._n_parameters()
    inference, data, params = model._inference(rows.X, rows.lengths, rows.U)
    per_sequence = inference.score_sequences(data, params)
    w = np.ones(len(rows.lengths)) if rows.weights is None else rows.weights
    kept = w > 0  # a left-out sequence adds nothing, even where its density is 0
    loglik = float(np.dot(w[kept], per_sequence[kept]))
    n_rows = float(np.dot(w, rows.lengths))
    return p, {"loglik": loglik, "bic": -2.0 * loglik + p * math.log(n_rows),
               "aic": -2.0 * loglik + 2.0 * p}


def kind_parameters(model: Any, covariates: list[str] | None) -> dict[str, Any]:
    """What an HSMM (durations) or an InputDrivenHMM (logit coefficients) adds."""
    if type(model).__name__ == "HSMM":
        return {"duration": model.duration, "max_duration": model.max_duration_,
                "duration_params": model.duration_params_, "durations": model.durations_}
    if covariates:
        return {"covariates": covariates, "transition_coef": model.transition_coef_}
    return {"transmat": model.transmat_}
