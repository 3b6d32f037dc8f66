"""When compiled kernels run in parallel, and which fast-math flags they may use.

One policy for every compiled loop over rows or sequences: below
:data:`PARALLEL_MIN_ROWS` rows a kernel runs on the calling thread (waking worker
threads costs more than it saves on small inputs, and much more on a busy
machine); above it the work is split into :func:`n_groups` groups.
"""

from __future__ import annotations

from numba import get_num_threads

__all__ = ["PARALLEL_MIN_ROWS", "FASTMATH", "n_groups"]

#: Below this many rows a kernel runs on the calling thread.
PARALLEL_MIN_ROWS = 20_000

#: numba fast-math flags for loops where -inf and 0 are meaningful values: no
#: ``nnan``/``ninf``. ``reassoc`` lets the compiler reorder sums, so a kernel that
#: relies on exact rounding steps (:mod:`emkit.numerics.fast_exp`) must not use it.
FASTMATH = {"reassoc", "contract", "arcp", "nsz"}


def n_groups(n_items: int, n_rows: int) -> int:
    """How many parallel groups to split ``n_items`` items (``n_rows`` rows) into.

    1 means "run serially" (small inputs, one item, or one thread).
    """
    if n_rows < PARALLEL_MIN_ROWS or get_num_threads() == 1:
        return 1
    return int(max(1, min(n_items, 4 * get_num_threads())))
