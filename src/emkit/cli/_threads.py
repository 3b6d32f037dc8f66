"""One BLAS and OpenMP thread while a command fits a small table.

On a small table every linear-algebra call (a 2 x 2 Cholesky factor, a
triangular solve) and every k-means pass of the start is tiny, and a
multi-threaded BLAS or OpenMP runtime spends far longer waking its threads than
computing: measured on a busy 2-core machine, a 2 x 2 triangular solve took 5-15
ms with two BLAS threads and 0.011 ms with one, and ``GaussianMixture(3).fit``
took 0.098 s against 0.011 s on 272 x 2 rows, 0.103 s against 0.017 s on
10,000 x 5 and 0.194 s against 0.046 s on 50,000 x 5.

The limit acts on the thread pools loaded when it starts, so enter it after the
estimator's modules are imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["SMALL_VALUES", "few_threads"]

#: Tables of at most this many values (rows x columns) are fitted on one thread.
SMALL_VALUES = 250_000


@contextlib.contextmanager
def few_threads(n_values: int) -> Iterator[None]:
    """BLAS and OpenMP limited to one thread inside, when ``n_values <= SMALL_VALUES``.

    Parameters
    ----------
    n_values : int
        The size of the table being fitted (rows x columns).
    """
    if n_values > SMALL_VALUES:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        yield
        return
    with threadpool_limits(limits=1):
        yield
