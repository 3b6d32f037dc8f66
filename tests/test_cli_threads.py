"""emkit.cli._threads: a small table is fitted with one BLAS and OpenMP thread."""

from __future__ import annotations

import scipy.linalg  # noqa: F401  (loads SciPy's BLAS)
import sklearn.cluster  # noqa: F401  (loads the OpenMP runtime)
from threadpoolctl import threadpool_info, threadpool_limits

from emkit.cli._threads import SMALL_VALUES, few_threads


def threads() -> dict[str, int]:
    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}


def test_a_small_table_gets_one_thread_and_the_pools_come_back():
    with threadpool_limits(limits=2):  # as on a 2-core machine, whatever this one has
        before = threads()
        assert before and set(before.values()) == {2}
        with few_threads(SMALL_VALUES):
            assert set(threads().values()) == {1}
        assert threads() == before


def test_a_large_table_keeps_the_threads():
    with threadpool_limits(limits=2):
        before = threads()
        with few_threads(SMALL_VALUES + 1):
            assert threads() == before
