"""The chunked Gaussian-mixture kernels and model against direct formulas."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

import emkit
from emkit.gaussian.blocked import log_gaussian_density_fast, quadratic_full
from emkit.gaussian.reference import log_gaussian_density, precision_cholesky
from emkit.models.mixture.gaussian import GaussianMixtureModel

TYPES = ["full", "tied", "diag", "spherical"]


def _data(n: int = 300, d: int = 3, offset: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) * np.linspace(0.5, 2.0, d) + offset


def _params(X: np.ndarray, covariance_type: str, k: int = 4, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    resp = rng.random((len(X), k))
    resp /= resp.sum(axis=1, keepdims=True)
    model = GaussianMixtureModel(covariance_type)
    return model.m_step(model.stats_from_resp(X, resp, k))


def _direct_stats(X, params, covariance_type, weights=None):
    """Responsibilities and statistics by the textbook formulas, all rows at once."""
    prec = precision_cholesky(params["covariances"], covariance_type)
    lp = log_gaussian_density(X, params["means"], prec, covariance_type)
    lp += np.log(params["weights"])
    ll = logsumexp(lp, axis=1)
    r = np.exp(lp - ll[:, None])
    w = np.ones(len(X)) if weights is None else weights
    r = r * w[:, None]
    mu = params["means"]
    diffs = [X - mu[k] for k in range(len(mu))]
    if covariance_type in ("full", "tied"):
        outer = np.stack([(r[:, k, None] * d).T @ d for k, d in enumerate(diffs)])
    else:
        outer = np.stack([(r[:, k, None] * d**2).sum(axis=0) for k, d in enumerate(diffs)])
    stats = {
        "n": r.sum(axis=0),
        "sum": r.T @ X,
        "centred_sum": np.stack([(r[:, k, None] * d).sum(axis=0) for k, d in enumerate(diffs)]),
        "centred_outer": outer,
    }
    return stats, float(ll @ w)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize(("k", "d"), [(1, 20), (4, 3)])  # full: whitening and quadratic
def test_fast_density_matches_reference(covariance_type, offset, k, d):
    X = _data(offset=offset, d=d)
    p = _params(X, covariance_type, k=k)
    prec = precision_cholesky(p["covariances"], covariance_type)
    ref = log_gaussian_density(X - offset, p["means"] - offset, prec, covariance_type)
    fast = log_gaussian_density_fast(X, p["means"], p["covariances"], covariance_type,
                                     chunk_size=77)
    np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_fast_density_float32(covariance_type):
    X = _data()
    p = _params(X, covariance_type)
    ref = log_gaussian_density_fast(X, p["means"], p["covariances"], covariance_type)
    fast = log_gaussian_density_fast(X.astype(np.float32), p["means"], p["covariances"],
                                     covariance_type)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize(("k", "d"), [(1, 20), (1, 3), (4, 3)])
def test_e_step_statistics_equal_direct_formulas(covariance_type, k, d):
    X = _data(offset=50.0, d=d)
    weights = np.random.default_rng(3).integers(0, 4, len(X)).astype(float)
    p = _params(X, covariance_type, k=k)
    for data, w in ((X, None), ((X, weights), weights)):
        stats, loglik = GaussianMixtureModel(covariance_type, chunk_size=64).e_step(data, p)
        ref, ref_ll = _direct_stats(X, p, covariance_type, w)
        assert loglik == pytest.approx(ref_ll, rel=1e-12)
        for key in ref:
            # centred sums are ~0 at these means: measure them against the counts
            scale = np.abs(ref[key]).max() + np.abs(ref["n"]).max()
            np.testing.assert_allclose(stats[key], ref[key], rtol=0, atol=1e-10 * scale,
                                       err_msg=key)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_statistics_are_additive_over_chunks(covariance_type):
    X = _data(n=257)
    p = _params(X, covariance_type)
    whole, ll = GaussianMixtureModel(covariance_type, chunk_size=1000).e_step(X, p)
    parts = [GaussianMixtureModel(covariance_type, chunk_size=10).e_step(X[s], p)
             for s in (slice(0, 100), slice(100, 257))]
    summed = emkit.engine.stats.tree_sum(part[0] for part in parts)
    assert sum(part[1] for part in parts) == pytest.approx(ll, rel=1e-13)
    for key in whole:
        np.testing.assert_allclose(summed[key], whole[key], rtol=1e-10, atol=1e-10)


def test_full_methods_chosen_by_shape():
    assert quadratic_full(16, 16) and quadratic_full(3, 2) and quadratic_full(8, 50)
    assert not quadratic_full(4, 48) and not quadratic_full(1, 20)


def test_model_runs_in_the_engine_and_rises():
    X = np.vstack([_data(n=150, seed=s) + 6.0 * s for s in range(3)])
    model = GaussianMixtureModel("full")
    result = emkit.em(model, X, _params(X, "full", k=3), tol=1e-6, max_iter=1000)
    assert result.converged
    assert np.all(np.diff(result.logliks) > -1e-9 * abs(result.logliks[-1]))


def test_singular_covariance_is_a_clear_error():
    X = _data()
    p = _params(X, "full")
    p["covariances"][1] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="component 1 is singular"):
        GaussianMixtureModel("full").e_step(X, p)
    q = _params(X, "diag")
    q["covariances"][0, 0] = 0.0
    with pytest.raises(ValueError, match="variances must be positive"):
        GaussianMixtureModel("diag").e_step(X, q)


def test_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixtureModel("banana")
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixtureModel("full", reg_covar=-1.0)
    with pytest.raises(ValueError, match="dtype"):
        GaussianMixtureModel("full", dtype=np.int64)


def _q_covariance_part(cov, scatter, n, covariance_type):
    """``-sum_k n_k / 2 (log det S_k + tr(S_k^-1 B_k))``: the covariance part of
    EM's Q at covariances ``cov`` given scatter matrices ``B`` about the new means
    (full matrices, (K, D, D); tied: the pooled scatter once)."""
    if covariance_type == "tied":
        logdet = np.linalg.slogdet(cov)[1]
        return -0.5 * n.sum() * (logdet + np.trace(np.linalg.solve(cov, scatter)))
    total = 0.0
    for c, b, nk in zip(cov, scatter, n, strict=True):
        logdet = np.linalg.slogdet(c)[1]
        total += -0.5 * nk * (logdet + np.trace(np.linalg.solve(c, b)))
    return total


@pytest.mark.parametrize("covariance_type", TYPES)
def test_regularization_slack_is_what_reg_covar_costs_q(covariance_type):
    from emkit.gaussian.m_step import regularization_slack

    X = _data(n=40)
    reg = 0.3
    stats = GaussianMixtureModel(covariance_type).stats_from_resp(
        X, np.random.default_rng(2).dirichlet(np.ones(3), size=len(X)), 3)
    exact = GaussianMixtureModel(covariance_type, reg_covar=0.0).m_step(stats)["covariances"]
    d = X.shape[1]
    full = {"full": lambda c: c, "tied": lambda c: c,
            "diag": lambda c: c[:, :, None] * np.eye(d),
            "spherical": lambda c: c[:, None, None] * np.eye(d)}[covariance_type]
    n = stats["n"] + 10 * np.finfo(float).eps
    # Q is maximized by the unregularized covariances; the regularized ones cost this
    scatter = full(exact) if covariance_type != "tied" else exact
    if covariance_type == "spherical":  # its maximizer averages the variances: B = diag(s)
        scatter = stats["centred_outer"] / n[:, None] - (stats["centred_sum"] / n[:, None])**2
        scatter = scatter[:, :, None] * np.eye(d)
    cost = (_q_covariance_part(full(exact), scatter, n, covariance_type)
            - _q_covariance_part(full(exact) + reg * np.eye(d), scatter, n, covariance_type))
    assert cost > 0.01
    assert regularization_slack(stats, covariance_type, reg) == pytest.approx(cost, rel=1e-9)
    assert regularization_slack(stats, covariance_type, 0.0) == 0.0


def _mle(X, covariance_type, k=2):
    model = GaussianMixtureModel(covariance_type, reg_covar=0.0)
    return emkit.em(model, X, _params(X, covariance_type, k=k), tol=1e-12,
                    max_iter=5000).params


@pytest.mark.parametrize("covariance_type", TYPES)
def test_guard_allows_what_reg_covar_costs_and_nothing_more(covariance_type, recwarn):
    X = np.vstack([_data(n=60, seed=s) + 4.0 * s for s in range(2)])
    start = _mle(X, covariance_type)  # a maximum: any other step lowers the likelihood
    model = GaussianMixtureModel(covariance_type, reg_covar=0.05)
    result = emkit.em(model, X, start, tol=0.0, max_iter=3)
    drop = result.logliks[0] - result.logliks[1]
    assert drop > 1e-7 * abs(result.logliks[0])  # far beyond rounding ...
    stats, _ = model.e_step(X, start)
    assert drop <= model.monotone_slack(stats)  # ... and within what reg_covar may cost
    assert not [w for w in recwarn if issubclass(w.category, emkit.MonotonicityWarning)]


class _ShiftedMeans(GaussianMixtureModel):
    """An inconsistent M-step: the means land 1e-4 standard deviations off."""

    def m_step(self, stats):
        params = super().m_step(stats)
        return {**params, "means": params["means"] + 1e-4}


@pytest.mark.parametrize("covariance_type", TYPES)
def test_guard_catches_an_m_step_off_by_1e_4_standard_deviations(covariance_type):
    X = np.vstack([_data(n=60, seed=s) + 4.0 * s for s in range(2)])
    start = _mle(X, covariance_type)
    # the step lowers the log-likelihood by ~1e-8 * N, ~5e-9 relative: past rounding
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emkit.em(_ShiftedMeans(covariance_type, reg_covar=0.0), X, start, tol=0.0,
                 max_iter=2)
    assert any(issubclass(w.category, emkit.MonotonicityWarning)
               and "lowered the log-likelihood" in str(w.message) for w in caught)
