"""Input checks shared by the estimators."""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_ABS_VALUE", "check_magnitude", "check_observed_columns"]

#: Largest absolute data value accepted: Gaussian models square the data (and sum
#: many such squares), which overflows float64 near 1e154; 1e152 leaves room for
#: sums of 10,000 squares and still accepts data scaled by 1e150.
MAX_ABS_VALUE = 1e152


def check_magnitude(X: np.ndarray, name: str = "X") -> None:
    """Refuse data whose squares would overflow, with a message saying what to do.

    NaN entries (missing values) are ignored.

    Raises
    ------
    ValueError
        When some finite ``|x|`` exceeds :data:`MAX_ABS_VALUE`.
    """
    X = np.asarray(X)
    if X.size == 0 or not np.issubdtype(X.dtype, np.floating):
        return
    # fmax/fmin skip NaN and, unlike np.abs(X), allocate nothing the size of X
    largest = max(abs(float(np.fmax.reduce(X, axis=None))),
                  abs(float(np.fmin.reduce(X, axis=None))))
    if np.isnan(largest):  # every entry is NaN
        return
    if largest > MAX_ABS_VALUE:
        raise ValueError(
            f"{name} has values as large as {largest:.3g}; squaring them overflows "
            f"floating point: rescale the data (e.g. divide by {largest:.0e})"
        )


def check_observed_columns(X: np.ndarray, name: str = "X") -> None:
    """Refuse a column with no observed value: every entry NaN (an empty column).

    EM would give such a column made-up estimates (a mean of 0 and the
    regularization as its variance) and report convergence, so the fit refuses it.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data; only floating arrays can hold NaN (others pass).
    name : str
        The argument's name, for the message.

    Raises
    ------
    ValueError
        Naming the empty columns (0-based, at most ten shown).
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or not np.issubdtype(X.dtype, np.floating):
        return
    # only a column whose first entry is NaN can be all NaN: check those alone
    candidates = np.flatnonzero(np.isnan(X[0]))
    empty = [int(j) for j in candidates if np.isnan(X[:, j]).all()]
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (", ..." if len(empty) > 10 else "")
        raise ValueError(
            f"{name} has no observed value in column(s) {shown}: every entry is NaN "
            "(missing), so nothing can be estimated for them; drop those columns")
