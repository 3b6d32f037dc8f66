"""The frames-innermost Gaussian kernels against SciPy's densities and NumPy moments.

:mod:`emkit.models.hmm.gaussian_columns` computes one sequence's frame
probabilities (diagonal and full covariances) and full-covariance moments with
the frames as the inner loop, in blocks of ``BLOCK`` frames, and diagonal moments. Checked here on
sequences shorter than, equal to and longer than a block, against
``scipy.stats.multivariate_normal.logpdf`` and moments written with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from emkit.gaussian.reference import precision_cholesky
from emkit.models.hmm import gaussian_columns as gc

LENGTHS = [1, 3, gc.BLOCK, gc.BLOCK + 1, 2 * gc.BLOCK + 37]


def _states(seed: int, k: int = 5, d: int = 4):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(k, d))
    a = rng.normal(size=(k, d, d))
    covs = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(d)
    return rng, means, covs


def _columns(X: np.ndarray) -> np.ndarray:
    xt = np.empty((X.shape[1], len(X) + 5))  # wider than needed, as in the E-step
    gc.transpose_rows(X, 0, len(X), xt)
    return xt


def _expected(X, means, covs):
    log = np.stack([np.atleast_1d(multivariate_normal(m, c).logpdf(X))
                    for m, c in zip(means, covs, strict=True)], axis=1)
    shift = log.max(axis=1)
    return np.exp(log - shift[:, None]), shift


def _scratch(k: int, d: int):
    return (np.empty((k, gc.BLOCK)), np.empty((d, gc.BLOCK)), np.empty(gc.BLOCK),
            np.empty(gc.BLOCK))


@pytest.mark.parametrize("n", LENGTHS)
def test_full_frame_matches_scipy(n):
    rng, means, covs = _states(0)
    k, d = means.shape
    X = means[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    upper = np.ascontiguousarray(np.triu(precision_cholesky(covs, "full")))
    log_norm = (np.log(np.diagonal(upper, axis1=1, axis2=2)).sum(axis=1)
                - 0.5 * d * np.log(2 * np.pi))
    frame, shift = np.full((n + 2, k), -1.0), np.full(n + 2, -1.0)
    q, z, y, top = _scratch(k, d)
    gc.full_frame(_columns(X), n, means, upper, log_norm, frame, shift, z, y, q, top)
    want, want_shift = _expected(X, means, covs)
    np.testing.assert_allclose(shift[:n], want_shift, rtol=1e-12)
    np.testing.assert_allclose(frame[:n], want, rtol=1e-11, atol=1e-300)
    assert (frame[n:] == -1.0).all() and (shift[n:] == -1.0).all()  # nothing past n


@pytest.mark.parametrize("n", LENGTHS)
def test_diag_frame_matches_scipy(n):
    rng = np.random.default_rng(1)
    k, d = 6, 3
    means = rng.normal(scale=3.0, size=(k, d))
    var = rng.uniform(0.3, 3.0, size=(k, d))
    X = means[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    log_norm = -0.5 * np.log(var).sum(axis=1) - 0.5 * d * np.log(2 * np.pi)
    frame, shift = np.empty((n, k)), np.empty(n)
    q, _, _, top = _scratch(k, d)
    gc.diag_frame(_columns(X), n, means, 1.0 / var, log_norm, frame, shift, q, top)
    covs = np.stack([np.diag(v) for v in var])
    want, want_shift = _expected(X, means, covs)
    np.testing.assert_allclose(shift, want_shift, rtol=1e-12)
    np.testing.assert_allclose(frame, want, rtol=1e-11, atol=1e-300)


def test_frame_far_state_underflows_to_zero_and_empty_row_is_zero():
    """A state thousands of deviations away gets exactly 0 (not NaN); a row with every
    state at -inf gets shift 0 and zeros."""
    k, d = 2, 2
    means = np.array([[0.0, 0.0], [1e4, 1e4]])
    X = np.array([[0.1, -0.2], [0.3, 0.0]])
    log_norm = np.array([0.0, -np.inf])
    frame, shift = np.empty((2, k)), np.empty(2)
    q, _, _, top = _scratch(k, d)
    gc.diag_frame(_columns(X), 2, means, np.ones((k, d)), log_norm, frame, shift, q, top)
    assert (frame[:, 1] == 0.0).all() and (frame[:, 0] == 1.0).all()
    gc.diag_frame(_columns(X), 2, means, np.ones((k, d)), np.full(k, -np.inf), frame, shift,
                  q, top)
    assert (shift == 0.0).all() and (frame == 0.0).all()


@pytest.mark.parametrize("n", LENGTHS)
def test_full_moments_match_numpy(n):
    rng, means, _ = _states(2)
    k, d = means.shape
    X = 1e3 + means[rng.integers(k, size=n)] + rng.normal(size=(n, d))  # far from 0
    means = means + 1e3
    gamma = rng.dirichlet(np.ones(k), size=n) * rng.uniform(0.5, 2.0, size=(n, 1))
    gamma[::5] = 0.0  # rows left out (weight 0), as the E-step does for rows with NaN
    gt = np.zeros((k, n + 3))
    gc.transpose_rows(gamma, 0, n, gt)
    first, outer = np.zeros((d, k)), np.zeros((d, d, k))
    _, z, _, _ = _scratch(k, d)
    gc.full_moments(_columns(X), n, gt, means, first, outer, z, np.empty_like(z))
    upper = np.triu_indices(d)
    for j in range(k):
        c = X - means[j]
        want_first = gamma[:, j] @ c
        want_outer = (c * gamma[:, j, None]).T @ c
        scale = gamma[:, j] @ (c**2).sum(axis=1)  # the size of the terms summed
        np.testing.assert_allclose(first[:, j], want_first, rtol=0,
                                   atol=1e-13 * (gamma[:, j] @ np.abs(c)).max())
        np.testing.assert_allclose(outer[:, :, j][upper], want_outer[upper], rtol=0,
                                   atol=1e-13 * scale)


@pytest.mark.parametrize("n", LENGTHS)
def test_diag_moments_match_numpy(n):
    rng, means, _ = _states(3)
    k, d = means.shape
    X = -500.0 + means[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    means = means - 500.0
    gamma = rng.dirichlet(np.ones(k), size=n)
    gamma[1::4] = 0.0
    X[1::4, 0] = np.nan  # rows of weight 0 may hold NaN (transposed as 0)
    gt = np.zeros((k, n))
    gc.transpose_rows(gamma, 0, n, gt)
    first, second = np.zeros((d, k)), np.zeros((d, k))
    gc.diag_moments(_columns(X), n, gt, means, first, second)
    Xc = np.nan_to_num(X)
    for j in range(k):
        c = Xc - means[j]
        terms = gamma[:, j, None] * np.abs(c)
        np.testing.assert_allclose(first[:, j], gamma[:, j] @ c, rtol=0,
                                   atol=1e-13 * terms.sum(axis=0).max())
        np.testing.assert_allclose(second[:, j], gamma[:, j] @ c**2, rtol=1e-13)


def test_transpose_writes_nan_as_zero():
    X = np.array([[1.0, np.nan], [np.nan, 4.0], [5.0, 6.0]])
    xt = np.full((2, 4), 9.0)
    gc.transpose_rows(X, 1, 3, xt)
    np.testing.assert_array_equal(xt, [[0.0, 5.0, 9.0, 9.0], [4.0, 6.0, 9.0, 9.0]])
