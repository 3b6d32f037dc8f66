"""The missing-value Gaussian-mixture E-step against a direct per-row reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import emkit
from emkit.models.mixture.gaussian import GaussianMixtureModel
from emkit.models.mixture.gaussian_missing import MissingGaussianMixtureModel, find_patterns
from emkit.models.mixture.missing_information import normal_observed_information

TYPES = ("full", "tied", "diag", "spherical")


def make_params(ctype: str, k: int = 3, d: int = 4, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, d, d))
    full = a @ np.swapaxes(a, 1, 2) + np.eye(d)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": np.array([np.diag(c) for c in full]),
        "spherical": np.array([np.trace(c) / d for c in full]),
    }[ctype]
    weights = rng.uniform(0.5, 1.5, size=k)
    return {"weights": weights / weights.sum(), "means": rng.normal(size=(k, d)),
            "covariances": cov}


def make_data(n: int = 80, d: int = 4, frac: float = 0.3, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 0.5
    X[rng.uniform(size=X.shape) < frac] = np.nan
    return X[~np.isnan(X).all(axis=1)]


def full_covariances(params: dict, ctype: str) -> np.ndarray:
    cov = params["covariances"]
    k, d = params["means"].shape
    if ctype == "tied":
        return np.broadcast_to(cov, (k, d, d))
    if ctype == "diag":
        return np.array([np.diag(c) for c in cov])
    if ctype == "spherical":
        return np.array([c * np.eye(d) for c in cov])
    return cov


def reference(X: np.ndarray, params: dict, ctype: str, weights=None):
    """Row by row: marginal densities, conditional means and covariances."""
    w, mu = params["weights"], params["means"]
    cov = full_covariances(params, ctype)
    k, d = mu.shape
    weights = np.ones(len(X)) if weights is None else weights
    n, tot, cs = np.zeros(k), np.zeros((k, d)), np.zeros((k, d))
    co = np.zeros((k, d, d))
    log_prob = np.zeros((len(X), k))
    filled = X.copy()
    loglik = 0.0
    for i, x in enumerate(X):
        o, m = ~np.isnan(x), np.isnan(x)
        lp = np.array([np.log(w[j]) + multivariate_normal(mu[j][o], cov[j][np.ix_(o, o)])
                       .logpdf(x[o]) for j in range(k)])
        log_prob[i] = lp
        loglik += weights[i] * logsumexp(lp)
        r = np.exp(lp - logsumexp(lp))
        fill = np.zeros(m.sum())
        for j in range(k):
            s = cov[j]
            xh = x.copy()
            xh[m] = mu[j][m] + s[np.ix_(m, o)] @ np.linalg.solve(s[np.ix_(o, o)], x[o] - mu[j][o])
            c = np.zeros((d, d))
            c[np.ix_(m, m)] = s[np.ix_(m, m)] - s[np.ix_(m, o)] @ np.linalg.solve(
                s[np.ix_(o, o)], s[np.ix_(o, m)])
            rw = r[j] * weights[i]
            n[j] += rw
            tot[j] += rw * xh
            cs[j] += rw * (xh - mu[j])
            co[j] += rw * (np.outer(xh - mu[j], xh - mu[j]) + c)
            fill += r[j] * xh[m]
        filled[i, m] = fill
    if ctype in ("diag", "spherical"):
        co = np.diagonal(co, axis1=1, axis2=2)
    stats = {"n": n, "sum": tot, "centred_sum": cs, "centred_outer": co}
    return stats, loglik, log_prob, filled


def assert_stats_close(a: dict, b: dict, rtol: float = 1e-10, atol: float = 1e-10) -> None:
    assert set(a) == set(b) == {"n", "sum", "centred_sum", "centred_outer"}
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=atol, err_msg=key)


# rare_rows=0 sends every pattern through the matrix-product path, a huge value
# through the compiled loop for rare patterns; both must match the reference.
PATHS = {"blas": 0, "compiled": 10**9}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("ctype", TYPES)
def test_e_step_matches_row_by_row_reference(ctype, path):
    X = make_data()
    data = find_patterns(X, rare_rows=PATHS[path])
    params = make_params(ctype)
    model = MissingGaussianMixtureModel(ctype, chunk_size=7)  # several blocks per pattern
    stats, loglik = model.e_step(data, params)
    ref_stats, ref_loglik, ref_log_prob, ref_filled = reference(X, params, ctype)
    assert_stats_close(stats, ref_stats)
    np.testing.assert_allclose(loglik, ref_loglik, rtol=1e-12)
    np.testing.assert_allclose(model.log_prob_rows(data, params), ref_log_prob, rtol=1e-12)
    # without resp: compiled for rare patterns; with resp: the matrix-product path
    resp = np.exp(ref_log_prob - logsumexp(ref_log_prob, axis=1, keepdims=True))
    for filled in (model.conditional_expectation(X, params),
                   model.conditional_expectation(X, params, resp=resp)):
        np.testing.assert_allclose(filled, ref_filled, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ctype", TYPES)
def test_compiled_and_blas_paths_agree_with_frequent_and_rare_patterns(ctype):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(3000, 5)) + 2.0
    X[:1000, 0] = np.nan  # a frequent pattern
    X[rng.uniform(size=X.shape) < 0.05] = np.nan  # many rare ones
    X = X[~np.isnan(X).all(axis=1)]
    params = make_params(ctype, k=3, d=5)
    model = MissingGaussianMixtureModel(ctype)
    mixed = find_patterns(X)
    # both paths are exercised: the frequent patterns and the rare ones together hold
    # every row exactly once, and the rare ones are those with too few rows
    from emkit.models.mixture.missing_patterns import RARE_PATTERN_ROWS

    assert mixed.frequent and mixed.rare is not None
    frequent_rows = np.concatenate([mixed.groups[i].rows for i in mixed.frequent])
    np.testing.assert_array_equal(np.sort(np.r_[frequent_rows, mixed.rare.rows]),
                                  np.arange(len(X)))
    rare_sizes = np.diff(mixed.rare.bounds)
    assert rare_sizes.max() < RARE_PATTERN_ROWS
    assert min(len(mixed.groups[i].rows) for i in mixed.frequent) >= RARE_PATTERN_ROWS
    np.testing.assert_array_equal(mixed.rare.masks, np.isnan(X[mixed.rare.rows][
        mixed.rare.bounds[:-1]]))
    a = model.e_step(mixed, params)
    b = model.e_step(find_patterns(X, rare_rows=0), params)
    assert_stats_close(a[0], b[0], rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)
    np.testing.assert_allclose(model.log_prob_rows(mixed, params),
                               model.log_prob_rows(find_patterns(X, rare_rows=0), params),
                               rtol=1e-12)


def test_prepared_patterns_and_sample_weights_equal_repeated_rows():
    X = make_data(n=40)
    params = make_params("full")
    counts = np.random.default_rng(3).integers(0, 4, size=len(X))
    model = MissingGaussianMixtureModel("full")
    weighted = model.e_step(find_patterns(X, counts.astype(float)), params)
    repeated = model.e_step(np.repeat(X, counts, axis=0), params)
    assert_stats_close(weighted[0], repeated[0])
    np.testing.assert_allclose(weighted[1], repeated[1], rtol=1e-12)
    ref_stats, ref_loglik, _, _ = reference(X, params, "full", counts.astype(float))
    assert_stats_close(weighted[0], ref_stats)
    np.testing.assert_allclose(weighted[1], ref_loglik, rtol=1e-12)


@pytest.mark.parametrize("ctype", TYPES)
def test_complete_data_stats_equal_the_complete_data_model(ctype):
    X = np.random.default_rng(2).normal(size=(200, 4)) + 100.0  # far from the origin
    params = make_params(ctype)
    params["means"] = params["means"] + 100.0
    stats, loglik = MissingGaussianMixtureModel(ctype).e_step(X, params)
    full_stats, full_loglik = GaussianMixtureModel(ctype).e_step(X, params)
    assert_stats_close(stats, full_stats, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(loglik, full_loglik, rtol=1e-12)


def test_statistics_are_additive_over_rows():
    X = make_data(n=90)
    params = make_params("full")
    model = MissingGaussianMixtureModel("full")
    whole, ll = model.e_step(X, params)
    parts = [model.e_step(X[s], params) for s in (slice(0, 31), slice(31, 60), slice(60, None))]
    total = emkit.engine.stats.tree_sum(p[0] for p in parts)
    assert_stats_close(whole, total)
    np.testing.assert_allclose(ll, sum(p[1] for p in parts), rtol=1e-12)


@pytest.mark.parametrize("ctype", TYPES)
def test_em_increases_the_observed_likelihood(ctype):
    X = make_data(n=150, seed=5)
    model = MissingGaussianMixtureModel(ctype)
    init = make_params(ctype, k=2, seed=7)
    init["means"] = np.nanmean(X, axis=0) + init["means"]
    result = emkit.em(model, find_patterns(X), init, tol=1e-8, max_iter=500)
    assert result.converged
    assert np.all(np.diff(result.logliks) > -1e-6 * abs(result.logliks[-1]))
    # the reported log-likelihood is the observed-data marginal at the fitted params
    _, ref_loglik, _, _ = reference(X, result.params, ctype)
    np.testing.assert_allclose(result.loglik, ref_loglik, rtol=1e-12)


def test_conditional_expectation_keeps_observed_entries_bit_for_bit():
    X = make_data()
    X[~np.isnan(X)] *= np.pi * 1e-7  # values with no short decimal form
    filled = MissingGaussianMixtureModel().conditional_expectation(X, make_params("full"))
    observed = ~np.isnan(X)
    assert np.array_equal(filled[observed].view(np.uint64), X[observed].view(np.uint64))
    assert not np.isnan(filled).any()


def test_sample_conditional_draws_from_the_conditional_normal():
    params = make_params("full", k=1, d=3)
    x = np.array([[0.3, np.nan, np.nan]])
    model = MissingGaussianMixtureModel()
    X = np.repeat(x, 20000, axis=0)
    draws = model.sample_conditional(X, params, random_state=0)
    s, mu = params["covariances"][0], params["means"][0]
    cond_mean = mu[1:] + s[1:, :1] @ np.linalg.solve(s[:1, :1], x[0, :1] - mu[:1])
    cond_cov = s[1:, 1:] - s[1:, :1] @ np.linalg.solve(s[:1, :1], s[:1, 1:])
    assert np.all(draws[:, 0] == 0.3)
    se = np.sqrt(np.diag(cond_cov) / len(X))
    np.testing.assert_allclose(draws[:, 1:].mean(axis=0), cond_mean, atol=4 * se.max())
    # the standard error of a sample covariance entry here is below 0.02
    np.testing.assert_allclose(np.cov(draws[:, 1:], rowvar=False), cond_cov, atol=0.08)
    again = model.sample_conditional(X, params, random_state=0)
    assert np.array_equal(draws, again)


def test_observed_information_is_the_hessian_of_the_observed_loglik():
    X = make_data(n=60, d=3, seed=4)
    mean = np.nanmean(X, axis=0)
    cov = make_params("full", k=1, d=3)["covariances"][0]
    d = 3

    def loglik(theta: np.ndarray) -> float:
        s = np.zeros((d, d))
        idx = 0
        for j in range(d):
            for i in range(j, d):
                s[i, j] = s[j, i] = theta[d + idx]
                idx += 1
        params = {"weights": np.ones(1), "means": theta[:d][None], "covariances": s[None]}
        return MissingGaussianMixtureModel().e_step(X, params)[1]

    theta = np.r_[mean, np.concatenate([cov[j:, j] for j in range(d)])]
    p, h = len(theta), 1e-4
    hess = np.empty((p, p))
    for a in range(p):
        for b in range(p):
            ea, eb = np.eye(p)[a] * h, np.eye(p)[b] * h
            hess[a, b] = (loglik(theta + ea + eb) - loglik(theta + ea - eb)
                          - loglik(theta - ea + eb) + loglik(theta - ea - eb)) / (4 * h * h)
    info = normal_observed_information(X, mean, cov)
    np.testing.assert_allclose(info, -hess, rtol=1e-5, atol=1e-5 * np.abs(info).max())


def test_complete_data_information_at_the_mle_is_block_diagonal():
    X = np.random.default_rng(0).normal(size=(50, 3))
    mean, cov = X.mean(axis=0), np.cov(X, rowvar=False, bias=True)
    info = normal_observed_information(X, mean, cov)
    np.testing.assert_allclose(info[:3, :3], 50 * np.linalg.inv(cov), rtol=1e-12)
    np.testing.assert_allclose(info[:3, 3:], 0.0, atol=1e-9)


def test_bad_input_is_refused_with_clear_messages():
    model = MissingGaussianMixtureModel()
    params = make_params("full", k=1, d=2)
    with pytest.raises(ValueError, match="no observed value"):
        model.e_step(np.array([[1.0, 2.0], [np.nan, np.nan]]), params)
    with pytest.raises(ValueError, match="infinite"):
        model.e_step(np.array([[1.0, np.inf]]), params)
    with pytest.raises(ValueError, match="2-D"):
        find_patterns(np.ones(3))
    with pytest.raises(ValueError, match="sample_weight"):
        find_patterns(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="covariance_type"):
        MissingGaussianMixtureModel("banana")
    with pytest.raises(ValueError, match="resp"):
        model.conditional_expectation(np.array([[1.0, np.nan]]), params, resp=np.ones((2, 1)))
    singular = {"weights": np.ones(1), "means": np.zeros((1, 2)),
                "covariances": np.zeros((1, 2, 2))}
    for rare_rows in PATHS.values():
        with pytest.raises(ValueError, match="positive definite"):
            model.e_step(find_patterns(np.array([[1.0, np.nan]]), rare_rows=rare_rows),
                         singular)
        with pytest.raises(ValueError, match="positive definite"):
            model.log_prob_rows(find_patterns(np.array([[1.0, np.nan]]), rare_rows=rare_rows),
                                singular)
    with pytest.raises(ValueError, match="positive definite"):
        model.conditional_expectation(np.array([[1.0, np.nan]]), singular)
    assert not model.is_feasible(singular)
    assert model.is_feasible(params)
    assert not model.is_feasible({**params, "weights": np.array([1.5])})


@pytest.mark.parametrize("ctype", TYPES)
def test_factors_computed_once_per_pattern_and_call(ctype, monkeypatch):
    """Each pattern with a missing entry is factorised once per call, however many
    blocks of ``chunk_size`` rows it spans; the results still match the reference."""
    import emkit.models.mixture.gaussian_missing as gm

    calls: list[tuple[int, ...]] = []
    original = gm.conditional_factors

    def counting(cov, ctype_, k, observed, missing):
        calls.append(tuple(observed))
        return original(cov, ctype_, k, observed, missing)

    monkeypatch.setattr(gm, "conditional_factors", counting)
    X = make_data()
    data = find_patterns(X, rare_rows=0)  # every pattern through the blocked path
    partial = [g for g in data.groups if g.missing.size]
    assert max(len(g.rows) for g in partial) > 7  # some pattern spans several blocks
    params = make_params(ctype)
    model = MissingGaussianMixtureModel(ctype, chunk_size=7)
    ref_stats, ref_loglik, ref_log_prob, ref_filled = reference(X, params, ctype)
    resp = np.exp(ref_log_prob - logsumexp(ref_log_prob, axis=1, keepdims=True))

    stats, loglik = model.e_step(data, params)
    assert len(calls) == len(partial)
    assert sorted(calls) == sorted(tuple(g.observed) for g in partial)
    assert_stats_close(stats, ref_stats)
    np.testing.assert_allclose(loglik, ref_loglik, rtol=1e-12)

    for run, expected in (
        (lambda: model.log_prob_rows(data, params), ref_log_prob),
        (lambda: model.conditional_expectation(X, params, resp=resp), ref_filled),
    ):
        calls.clear()
        np.testing.assert_allclose(run(), expected, rtol=1e-10, atol=1e-12)
        assert len(calls) == len(partial)
    calls.clear()
    drawn = model.sample_conditional(X, params, random_state=0, resp=resp)
    assert len(calls) == len(partial)
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(drawn[observed], X[observed])
