"""Input checks shared by the estimators."""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_ABS_VALUE", "check_magnitude"]

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
