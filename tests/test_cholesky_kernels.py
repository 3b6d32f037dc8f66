"""The compiled Cholesky factors against SciPy's LAPACK factorization."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from emkit.gaussian.cholesky_kernels import cholesky_factors
from emkit.gaussian.prepared import prepare_gaussians, upper_pairs


def _spd(rng: np.random.Generator, k: int, d: int) -> np.ndarray:
    a = rng.standard_normal((k, d, d))
    return a @ a.transpose(0, 2, 1) + 0.1 * np.eye(d)


@pytest.mark.parametrize("d", [1, 2, 5, 17])
def test_factors_equal_lapack(d: int) -> None:
    rng = np.random.default_rng(d)
    cov = _spd(rng, 4, d)
    lower, upper, failed = cholesky_factors(cov)
    assert failed == -1
    for c in range(4):
        ref_lower = linalg.cholesky(cov[c], lower=True)
        ref_upper = linalg.solve_triangular(ref_lower, np.eye(d), lower=True).T
        np.testing.assert_allclose(lower[c], ref_lower, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(upper[c], ref_upper, rtol=1e-12, atol=1e-12)
        # the defining identities, independent of any library
        np.testing.assert_allclose(lower[c] @ lower[c].T, cov[c], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(upper[c] @ upper[c].T, np.linalg.inv(cov[c]),
                                   rtol=1e-9, atol=1e-10)
        assert np.all(np.triu(lower[c], 1) == 0.0) and np.all(np.tril(upper[c], -1) == 0.0)


def test_first_failing_component_is_reported() -> None:
    rng = np.random.default_rng(0)
    cov = _spd(rng, 4, 3)
    cov[2] = np.diag([1.0, -1.0, 1.0])
    cov[3, 0, 2] = np.nan  # upper triangle only: still refused
    assert cholesky_factors(cov)[2] == 2
    cov[2] = np.eye(3)
    assert cholesky_factors(cov)[2] == 3
    cov[1] = np.ones((3, 3))  # singular: a zero pivot
    assert cholesky_factors(cov)[2] == 1


def test_prepare_names_the_singular_component() -> None:
    cov = np.stack([np.eye(2), np.array([[1.0, 1.0], [1.0, 1.0]])])
    with pytest.raises(ValueError, match="component 1 is singular"):
        prepare_gaussians(np.full(2, 0.5), np.zeros((2, 2)), cov, "full")


def test_upper_pairs_is_triu_and_read_only() -> None:
    rows, cols, twice = upper_pairs(4)
    ref_rows, ref_cols = np.triu_indices(4)
    assert np.array_equal(rows, ref_rows) and np.array_equal(cols, ref_cols)
    assert np.array_equal(twice, np.where(ref_rows == ref_cols, 1.0, 2.0))
    with pytest.raises(ValueError):
        rows[0] = 1
