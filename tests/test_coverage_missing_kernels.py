"""The compiled missing-data kernels, run as plain Python too.

Coverage cannot see inside numba-compiled functions, and a compiled kernel
should match its own Python source anyway. Each kernel of
:mod:`emkit.models.mixture.gaussian_missing_kernels` is run compiled and as its
``py_func`` (with the helpers it calls swapped for theirs), and both are checked
against scipy: the log-likelihood of the observed coordinates, the conditional
means, the per-component log-densities and the singular-block report.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import logsumexp

from emkit.models.mixture import gaussian_missing_kernels as kernels

HELPERS = ("_cholesky_lower", "_forward", "_pattern_factors", "_row_log_probs")


@pytest.fixture(params=["compiled", "python"])
def run(request, monkeypatch):
    """Call a kernel compiled, or as Python with its helpers as Python too."""
    if request.param == "compiled":
        return lambda name, *args: getattr(kernels, name)(*args)
    for helper in HELPERS:
        monkeypatch.setattr(kernels, helper, getattr(kernels, helper).py_func)
    return lambda name, *args: getattr(kernels, name).py_func(*args)


def problem(seed: int = 0, k: int = 2, d: int = 3):
    rng = np.random.default_rng(seed)
    masks = np.array([[False] * d, [True] + [False] * (d - 1), [False, True] + [False] * (d - 2),
                      [True, True] + [False] * (d - 2)])
    counts = np.array([3, 2, 2, 1])
    bounds = np.r_[0, np.cumsum(counts)]
    values = rng.normal(size=(bounds[-1], d))
    weights = rng.uniform(0.5, 2.0, bounds[-1])
    means = rng.normal(size=(k, d))
    a = rng.normal(size=(k, d, d))
    covariances = a @ a.transpose(0, 2, 1) + np.eye(d)
    log_weights = np.log(rng.dirichlet(np.ones(k)))
    return values, weights, bounds, masks, log_weights, means, covariances


def observed_log_probs(values, bounds, masks, log_weights, means, covariances):
    out = np.empty((len(values), len(means)))
    for p in range(len(bounds) - 1):
        obs = ~masks[p]
        for row in range(bounds[p], bounds[p + 1]):
            for k in range(len(means)):
                out[row, k] = log_weights[k] + sps.multivariate_normal(
                    means[k][obs], covariances[k][np.ix_(obs, obs)]).logpdf(values[row, obs])
    return out


def test_log_prob_matches_scipy(run):
    values, _, bounds, masks, log_w, means, covs = problem()
    log_prob, bad = run("small_patterns_log_prob", values, bounds, masks, log_w, means, covs)
    assert bad == -1
    expected = observed_log_probs(values, bounds, masks, log_w, means, covs)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-10, atol=1e-12)


def test_e_step_loglik_and_counts_match_scipy(run):
    values, weights, bounds, masks, log_w, means, covs = problem(1)
    n, total, centred_sum, outer, loglik, bad = run(
        "small_patterns_e_step", values, weights, bounds, masks, log_w, means, covs)
    assert bad == -1
    log_prob = observed_log_probs(values, bounds, masks, log_w, means, covs)
    norm = logsumexp(log_prob, axis=1)
    np.testing.assert_allclose(loglik, weights @ norm, rtol=1e-10)
    resp = np.exp(log_prob - norm[:, None]) * weights[:, None]
    np.testing.assert_allclose(n, resp.sum(axis=0), rtol=1e-10)
    # sums of responsibility-weighted conditional expectations of each row
    expected_total = np.zeros_like(means)
    for p in range(len(bounds) - 1):
        mis, obs = masks[p], ~masks[p]
        for row in range(bounds[p], bounds[p + 1]):
            for k in range(len(means)):
                xhat = values[row].copy()
                if mis.any():
                    s = covs[k]
                    xhat[mis] = means[k][mis] + s[np.ix_(mis, obs)] @ np.linalg.solve(
                        s[np.ix_(obs, obs)], values[row, obs] - means[k][obs])
                expected_total[k] += resp[row, k] * xhat
    np.testing.assert_allclose(total, expected_total, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(centred_sum, expected_total - n[:, None] * means, rtol=1e-8,
                               atol=1e-10)
    assert outer.shape == covs.shape
    np.testing.assert_allclose(outer, outer.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(outer) > -1e-10)


def test_conditional_mean_matches_the_regression_formula(run):
    values, _, bounds, masks, log_w, means, covs = problem(2, k=1)
    filled, bad = run("small_patterns_conditional_mean", values, bounds, masks, log_w, means,
                      covs)
    assert bad == -1
    for p in range(len(bounds) - 1):
        mis, obs = masks[p], ~masks[p]
        for row in range(bounds[p], bounds[p + 1]):
            np.testing.assert_array_equal(filled[row, obs], values[row, obs])
            if mis.any():
                s = covs[0]
                expect = means[0][mis] + s[np.ix_(mis, obs)] @ np.linalg.solve(
                    s[np.ix_(obs, obs)], values[row, obs] - means[0][obs])
                np.testing.assert_allclose(filled[row, mis], expect, rtol=1e-10, atol=1e-12)


def test_compiled_and_python_kernels_agree():
    args = problem(3, k=3)
    compiled = kernels.small_patterns_e_step(*args)
    with pytest.MonkeyPatch.context() as mp:
        for helper in HELPERS:
            mp.setattr(kernels, helper, getattr(kernels, helper).py_func)
        python = kernels.small_patterns_e_step.py_func(*args)
    for a, b in zip(compiled, python, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", ["small_patterns_log_prob", "small_patterns_e_step",
                                    "small_patterns_conditional_mean"])
def test_a_singular_observed_block_is_reported(run, kernel):
    values, weights, bounds, masks, log_w, means, covs = problem(4)
    covs = covs.copy()
    covs[1] = np.zeros_like(covs[1])  # singular everywhere
    args = (values, bounds, masks, log_w, means, covs)
    if kernel == "small_patterns_e_step":
        args = (values, weights, *args[1:])
    result = run(kernel, *args)
    # the first pattern (nothing missing) fails, except where it needs no factor: the
    # conditional mean of a complete row is the row itself
    assert result[-1] == (1 if kernel == "small_patterns_conditional_mean" else 0)
    # only coordinate 0 degenerate, patterns from the one missing coordinate 0 on:
    # that pattern factorizes, the next (which observes coordinate 0) is the one reported
    covs = problem(4)[6].copy()
    covs[1][0, :] = covs[1][:, 0] = 0.0
    start = bounds[1]
    args = (values[start:], bounds[1:] - start, masks[1:], log_w, means, covs)
    if kernel == "small_patterns_e_step":
        args = (values[start:], weights[start:], *args[1:])
    assert run(kernel, *args)[-1] == 1
