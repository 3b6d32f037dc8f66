"""The compiled one-pass Gaussian-mixture kernels and their vectorized ``exp``."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numba import njit

import emkit.models.mixture.gaussian as gaussian_mixture_module
from emkit.gaussian.blocked import (
    StatsAccumulator,
    chunk_weighted_log_prob,
    log_resp_inplace,
    prepare_gaussians,
)
from emkit.gaussian.kernels import (
    BLOCK_ROWS,
    DIAGONAL,
    FULL,
    quadratic_log_prob,
    quadratic_pass,
)
from emkit.models.mixture.gaussian import GaussianMixtureModel
from emkit.numerics.fast_exp import SMALLEST_EXPONENT, exp_nonpositive

TYPES = ["full", "diag", "spherical"]


@njit(cache=True)
def _exp_all(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = exp_nonpositive(x[i])
    return out


def test_exp_is_within_one_unit_in_the_last_place_of_numpy():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.uniform(SMALLEST_EXPONENT, 0.0, 200_000),
        rng.uniform(-1.0, 0.0, 100_000),
        -np.logspace(-300, 2.8, 10_000),
        np.arange(-708, 1, dtype=float),  # integer multiples hit n*ln2 boundaries
        -np.log(2.0) * np.arange(0, 1022),
    ])
    ref = np.exp(x)
    got = _exp_all(x)
    ulp = np.spacing(ref)
    assert np.max(np.abs(got - ref) / ulp) <= 1.5
    assert _exp_all(np.array([0.0]))[0] == 1.0


def test_exp_is_zero_below_the_smallest_normal_and_at_minus_infinity():
    x = np.array([SMALLEST_EXPONENT - 1e-9, -745.2, -1e300, -np.inf])
    assert np.all(_exp_all(x) == 0.0)
    assert _exp_all(np.array([SMALLEST_EXPONENT]))[0] == pytest.approx(np.exp(SMALLEST_EXPONENT),
                                                                         rel=1e-15)


def _problem(covariance_type, n, d=3, k=4, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 2.0, d) + offset
    means = rng.standard_normal((k, d)) + offset
    if covariance_type == "full":
        a = rng.standard_normal((k, d, d)) * 0.3
        cov = a @ a.transpose(0, 2, 1) + np.eye(d)
    elif covariance_type == "diag":
        cov = rng.uniform(0.5, 2.0, (k, d))
    else:
        cov = rng.uniform(0.5, 2.0, k)
    weights = rng.dirichlet(np.ones(k))
    return X, weights, means, cov


def _numpy_reference(X, prep, sample_weight):
    """The NumPy chunk kernels' sums and log-likelihood over all rows at once."""
    acc = StatsAccumulator(prep)
    log_prob, chunk = chunk_weighted_log_prob(X, prep)
    row_loglik = log_resp_inplace(log_prob)
    if sample_weight is not None:
        log_prob *= sample_weight
        row_loglik = row_loglik * sample_weight
    acc.add(chunk, log_prob)
    return acc.moments, float(row_loglik.sum())


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("n", [1, BLOCK_ROWS - 1, BLOCK_ROWS, BLOCK_ROWS + 1, 1000])
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_pass_equals_the_numpy_chunk_kernels(covariance_type, n, weighted):
    X, weights, means, cov = _problem(covariance_type, n, offset=30.0)
    sample_weight = np.random.default_rng(1).uniform(0, 3, n) if weighted else None
    prep = prepare_gaussians(weights, means, cov, covariance_type)
    layout = FULL if covariance_type == "full" else DIAGONAL
    moments = np.zeros_like(prep.coef, dtype=np.float64)
    loglik = quadratic_pass(X, sample_weight, prep.centres, prep.coef, layout, moments)
    ref_moments, ref_loglik = _numpy_reference(X, prep, sample_weight)
    assert loglik == pytest.approx(ref_loglik, rel=1e-13)
    np.testing.assert_allclose(moments, ref_moments, rtol=1e-11,
                               atol=1e-11 * np.abs(ref_moments).max())
    # the pass adds to what is there
    quadratic_pass(X, sample_weight, prep.centres, prep.coef, layout, moments)
    np.testing.assert_allclose(moments, 2 * ref_moments, rtol=1e-11,
                               atol=1e-11 * np.abs(ref_moments).max())


@pytest.mark.parametrize("covariance_type", TYPES)
def test_compiled_pass_in_float32_keeps_float64_sums(covariance_type):
    X, weights, means, cov = _problem(covariance_type, 700)
    prep64 = prepare_gaussians(weights, means, cov, covariance_type)
    prep32 = prepare_gaussians(weights, means, cov, covariance_type, np.float32)
    layout = FULL if covariance_type == "full" else DIAGONAL
    m64 = np.zeros_like(prep64.coef, dtype=np.float64)
    m32 = np.zeros_like(prep64.coef, dtype=np.float64)
    ll64 = quadratic_pass(X, None, prep64.centres, prep64.coef, layout, m64)
    ll32 = quadratic_pass(X.astype(np.float32), None, prep32.centres, prep32.coef, layout, m32)
    assert m32.dtype == np.float64
    assert ll32 == pytest.approx(ll64, rel=1e-5)
    np.testing.assert_allclose(m32, m64, rtol=1e-3, atol=1e-3 * np.abs(m64).max())


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_log_prob_equals_the_numpy_chunk_kernel(covariance_type, dtype):
    X, weights, means, cov = _problem(covariance_type, 600, offset=-20.0)
    X = X.astype(dtype)
    prep = prepare_gaussians(weights, means, cov, covariance_type, dtype)
    layout = FULL if covariance_type == "full" else DIAGONAL
    out = np.empty((len(X), len(means)), dtype=dtype)
    quadratic_log_prob(X, prep.centres, prep.coef, layout, out)
    ref = chunk_weighted_log_prob(X, prep)[0].T
    tol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("covariance_type", TYPES)
def test_e_step_converts_foreign_layouts_block_by_block(covariance_type, monkeypatch):
    X, weights, means, cov = _problem(covariance_type, 500)
    params = {"weights": weights, "means": means, "covariances": cov}
    model = GaussianMixtureModel(covariance_type)
    stats, loglik = model.e_step(X, params)
    monkeypatch.setattr(gaussian_mixture_module, "CONVERT_ROWS", 37)
    for foreign in (np.asfortranarray(X), np.repeat(X, 2, axis=0)[::2]):
        other, other_ll = model.e_step(foreign, params)
        assert other_ll == pytest.approx(loglik, rel=1e-13)
        for key in stats:
            np.testing.assert_allclose(other[key], stats[key], rtol=1e-7, atol=1e-9)
    single = X.astype(np.float32)  # rows in another dtype are converted, not refused
    converted_ll = model.e_step(single, params)[1]
    assert converted_ll == pytest.approx(model.e_step(single.astype(np.float64), params)[1],
                                         rel=1e-13)
    scores = model.log_prob_rows(np.asfortranarray(X), params)
    np.testing.assert_allclose(scores, model.log_prob_rows(X, params), rtol=1e-13)


def test_e_step_runs_on_one_thread_inside_a_dask_task(monkeypatch):
    from distributed import Client

    monkeypatch.setattr(gaussian_mixture_module.os, "sched_getaffinity", lambda pid: {0, 1, 2},
                        raising=False)
    assert gaussian_mixture_module._n_workers() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as a LocalCluster leaves it in the client
    assert gaussian_mixture_module._n_workers() == 3
    with Client(processes=False, n_workers=1, threads_per_worker=1,
                dashboard_address=":0") as client:
        assert client.submit(gaussian_mixture_module._n_workers).result() == 1
    assert gaussian_mixture_module._n_workers() == 3


def _tied_aware_problem(covariance_type, n, seed=0, offset=0.0):
    kind = "full" if covariance_type == "tied" else covariance_type
    X, weights, means, cov = _problem(kind, n, seed=seed, offset=offset)
    return X, weights, means, cov[0] if covariance_type == "tied" else cov


def _far_apart(covariance_type, n, seed=2):
    """Four components in three groups: two close together, two 1e6 and 2e6 sd away
    along different axes, listed out of group order."""
    X, weights, means, cov = _tied_aware_problem(covariance_type, n, seed=seed)
    means[1, 0] += 1e6
    means[3, 1] += 2e6
    labels = np.arange(n) % 4
    X = means[labels] + 0.5 * X
    return X, weights, means, cov


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_centring_groups_gather_near_components_and_leave_ordinary_mixtures_whole(
        covariance_type):
    _, weights, means, cov = _far_apart(covariance_type, 10)
    prep = prepare_gaussians(weights, means, cov, covariance_type)
    groups = [sorted(prep.members[a:b]) for a, b in itertools.pairwise(prep.bounds)]
    assert groups == [[0, 2], [1], [3]]
    np.testing.assert_array_equal(prep.centres, means[[0, 1, 3]])
    np.testing.assert_array_equal(prep.component_centres, means[[0, 1, 0, 3]])
    # components tens of standard deviations from the mixture mean share it
    _, weights, means, cov = _tied_aware_problem(covariance_type, 10, offset=1e6)
    means *= 5.0
    ordinary = prepare_gaussians(weights, means, cov, covariance_type)
    assert len(ordinary.centres) == 1 and not ordinary.parts
    np.testing.assert_allclose(ordinary.centres[0], weights @ means, rtol=1e-15)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("n", [1, BLOCK_ROWS + 1])
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_pass_with_centring_groups_equals_the_numpy_chunk_kernels(
        covariance_type, n, weighted):
    X, weights, means, cov = _far_apart(covariance_type, n)
    sample_weight = np.random.default_rng(1).uniform(0, 3, n) if weighted else None
    prep = prepare_gaussians(weights, means, cov, covariance_type)
    assert len(prep.centres) == 3
    layout = FULL if covariance_type == "full" else DIAGONAL
    moments = np.zeros_like(prep.coef, dtype=np.float64)
    loglik = quadratic_pass(X, sample_weight, prep.centres, prep.coef, layout, moments,
                            prep.members, prep.bounds)
    ref_moments, ref_loglik = _numpy_reference(X, prep, sample_weight)
    assert loglik == pytest.approx(ref_loglik, rel=1e-13)
    np.testing.assert_allclose(moments, ref_moments, rtol=1e-11,
                               atol=1e-11 * np.abs(ref_moments).max())
    out = np.empty((n, len(means)))
    quadratic_log_prob(X, prep.centres, prep.coef, layout, out, prep.members, prep.bounds)
    ref = chunk_weighted_log_prob(X, prep)[0].T
    np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)
