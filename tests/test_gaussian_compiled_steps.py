"""The one-call E-step and M-step of small Gaussian mixtures (emkit.gaussian.compiled_steps),
checked against statistics and an M-step written here from SciPy's densities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from emkit.gaussian.compiled_steps import collapse_check, e_step_one_call, m_step_one_call
from emkit.gaussian.prepared import CENTRING_LIMIT
from emkit.models.mixture.gaussian import GaussianMixtureModel

LIMIT = CENTRING_LIMIT[np.dtype(np.float64)]


def _problem(kind: str, n: int, d: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 2.0 + 30.0
    weights = rng.dirichlet(np.ones(k) * 3)
    means = X[rng.choice(n, k, replace=False)]
    if kind == "full":
        a = rng.normal(size=(k, d, d))
        cov = a @ a.transpose(0, 2, 1) / d + np.eye(d)
    elif kind == "diag":
        cov = rng.uniform(0.5, 3.0, (k, d))
    else:
        cov = rng.uniform(0.5, 3.0, k)
    return X, weights, means, cov


def _full_cov(kind: str, cov: np.ndarray, d: int) -> np.ndarray:
    if kind == "full":
        return cov
    var = cov if kind == "diag" else np.repeat(cov[:, None], d, axis=1)
    return np.stack([np.diag(v) for v in var])


@pytest.mark.parametrize("kind", ["full", "diag", "spherical"])
@pytest.mark.parametrize(("n", "d", "k"), [(1000, 2, 3), (700, 5, 3), (300, 1, 4), (513, 3, 2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_e_step_equals_statistics_from_scipy_densities(kind, n, d, k, weighted):
    X, weights, means, cov = _problem(kind, n, d, k, seed=n + d + k)
    w = np.random.default_rng(1).uniform(0.2, 2.0, n) if weighted else np.ones(n)
    cov3 = _full_cov(kind, cov, d)
    log_joint = np.stack([np.log(weights[c]) + multivariate_normal(means[c], cov3[c]).logpdf(X)
                          for c in range(k)], axis=1).reshape(n, k)
    row_ll = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - row_ll[:, None]) * w[:, None]
    params = {"weights": weights, "means": means, "covariances": cov}
    stats, loglik = e_step_one_call(X, w if weighted else None, params, kind, LIMIT)
    assert loglik == pytest.approx(float(row_ll @ w), rel=1e-12)
    np.testing.assert_allclose(stats["n"], resp.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(stats["sum"], resp.T @ X, rtol=1e-10)
    for c in range(k):
        diff = X - means[c]
        np.testing.assert_allclose(stats["centred_sum"][c], resp[:, c] @ diff, rtol=1e-8,
                                   atol=1e-9 * n)
        outer = (diff * resp[:, c:c + 1]).T @ diff
        want = outer if kind == "full" else np.diag(outer)
        np.testing.assert_allclose(stats["centred_outer"][c], want, rtol=1e-9,
                                   atol=1e-10 * n)


def test_e_step_declines_what_needs_the_general_path():
    X, weights, means, cov = _problem("full", 200, 2, 3, seed=0)
    params = {"weights": weights, "means": means, "covariances": cov}
    singular = dict(params, covariances=np.zeros_like(cov))
    assert e_step_one_call(X, None, singular, "full", LIMIT) is None
    zero_weight = dict(params, weights=np.array([0.0, 0.5, 0.5]))
    assert e_step_one_call(X, None, zero_weight, "full", LIMIT) is None
    # components 1e6 standard deviations apart need centring groups of their own
    far = dict(params, means=means + np.array([[0.0, 0.0], [1e6, 0.0], [0.0, 0.0]]))
    assert e_step_one_call(X, None, far, "full", LIMIT) is None


@pytest.mark.parametrize("kind", ["full", "diag", "spherical"])
def test_m_step_equals_the_closed_form(kind):
    rng = np.random.default_rng(3)
    n, d, k, reg = 400, 3, 3, 1e-3
    X = rng.normal(size=(n, d)) + 7.0
    resp = rng.dirichlet(np.ones(k), n)
    e_means = rng.normal(size=(k, d)) + 7.0  # the means the statistics are centred on
    nk = resp.sum(axis=0)
    full_outer = np.stack([((X - e_means[c]) * resp[:, c:c + 1]).T @ (X - e_means[c])
                           for c in range(k)])
    stats = {"n": nk, "sum": resp.T @ X,
             "centred_sum": np.stack([resp[:, c] @ (X - e_means[c]) for c in range(k)]),
             "centred_outer": full_outer if kind == "full"
             else np.diagonal(full_outer, axis1=1, axis2=2).copy()}
    got = m_step_one_call(stats, kind, reg, 0.0)
    means = resp.T @ X / nk[:, None]
    cov = np.stack([((X - means[c]) * resp[:, c:c + 1]).T @ (X - means[c]) / nk[c]
                    for c in range(k)]) + reg * np.eye(d)
    np.testing.assert_allclose(got["weights"], nk / n, rtol=1e-14)
    np.testing.assert_allclose(got["means"], means, rtol=1e-13)
    want = {"full": cov, "diag": np.diagonal(cov, axis1=1, axis2=2),
            "spherical": np.diagonal(cov, axis1=1, axis2=2).mean(axis=1)}[kind]
    np.testing.assert_allclose(got["covariances"], want, rtol=1e-10)


@pytest.mark.parametrize("kind", ["full", "diag", "spherical"])
def test_model_steps_agree_with_the_numpy_chunk_kernels(kind):
    X, weights, means, cov = _problem(kind, 900, 3, 3, seed=8)
    params = {"weights": weights, "means": means, "covariances": cov}
    model = GaussianMixtureModel(kind, 1e-6)
    fast, fast_ll = model.e_step(X, params)
    slow, slow_ll = model.e_step((X, None, np.zeros((len(X), 3))), params)  # evidence path
    assert fast_ll == pytest.approx(slow_ll, rel=1e-13)
    for key in fast:
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-9, atol=1e-9)


def test_collapse_check_codes():
    means = np.array([[1e8, 0.0], [1.0, 2.0]])
    good = np.stack([np.eye(2), np.eye(2)])
    assert collapse_check(good, means, "full", 2.2e-16, 4.0)[0] == 0
    bad = good.copy()
    bad[1] = [[1.0, 2.0], [2.0, 1.0]]
    assert collapse_check(bad, means, "full", 2.2e-16, 4.0)[0] == 2
    nan = good.copy()
    nan[0, 0, 1] = np.nan
    assert collapse_check(nan, means, "full", 2.2e-16, 4.0)[0] == 1
    tiny = good * np.array([1e-30, 1.0])[:, None, None]
    code, comp, value = collapse_check(tiny, means, "full", 2.2e-16, 4.0)
    assert (code, comp) == (3, 0) and value == pytest.approx(1e-30)
    assert collapse_check(np.array([1.0, -1.0]), means, "spherical", 2.2e-16, 4.0)[:2] == (2, 1)
    assert collapse_check(np.eye(2) * 1e-30, means, "tied", 2.2e-16, 4.0)[:2] == (3, 0)
