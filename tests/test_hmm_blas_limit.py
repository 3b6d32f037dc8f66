"""An HMM E-step limits BLAS to one thread and gives the caller's limit back."""

from __future__ import annotations

import numpy as np
import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

import emkit  # noqa: E402


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]


@pytest.mark.filterwarnings("ignore::emkit.ConvergenceWarning")
def test_e_step_keeps_callers_outer_limit():
    if not _blas_threads():
        pytest.skip("no BLAS library reports its threads")
    X = np.random.default_rng(0).normal(size=(200, 2))
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        emkit.GaussianHMM(2, n_iter=3, random_state=0).fit(X)
        assert _blas_threads() == [1] * len(_blas_threads())
    before = _blas_threads()
    emkit.GaussianHMM(2, n_iter=3, random_state=0).fit(X)
    assert _blas_threads() == before
