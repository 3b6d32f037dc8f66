"""The Gaussian M-steps against formulas written out here, from weighted data.

:func:`emkit.gaussian.m_step.gaussian_mixture_m_step` and
:func:`emkit.gaussian.map_step.map_m_step` receive statistics centred on the E-step
means; the references below compute the same estimates directly from the rows and
responsibilities, with the covariance about the *new* mean. The MAP step is also
checked as what it claims to be: the maximizer of the expected complete-data
log-likelihood (scipy's densities) plus :func:`map_log_prior`.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as ss

from emkit.exceptions import NumericalError
from emkit.gaussian.m_step import gaussian_mixture_m_step, regularization_slack
from emkit.gaussian.map_step import (
    DEAD_MASS,
    ConjugatePrior,
    covariance_ok,
    floor_covariance,
    map_log_prior,
    map_m_step,
)

TYPES = ["full", "tied", "diag", "spherical"]
K, D = 3, 2


def problem(seed=0, offset=0.0, spread=1.0, dead=False):
    """Rows, responsibilities (times weights) and E-step means not at the new means."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, D)) * spread * [1.0, 2.0] + offset
    X[:, 1] += 0.5 * X[:, 0]
    R = rng.dirichlet(np.ones(K), size=60) * rng.uniform(0.5, 2.0, (60, 1))
    if dead:
        R[:, 2] = 0.0
    mu = X.mean(axis=0) + rng.normal(size=(K, D)) * spread
    return X, R, mu


def statistics(X, R, mu, full: bool):
    """The module's layout: n, sum, centred_sum, centred_outer about ``mu``."""
    centred = X[None] - mu[:, None]  # (K, n, D)
    outer = np.einsum("ik,kia,kib->kab", R, centred, centred)
    return {"n": R.sum(axis=0), "sum": R.T @ X,
            "centred_sum": np.einsum("ik,kia->ka", R, centred),
            "centred_outer": outer if full else np.diagonal(outer, axis1=1, axis2=2).copy()}


def scatter_about(X, R, means):
    """sum_i r_ik (x_i - m_k)(x_i - m_k)^T, shape (K, D, D)."""
    c = X[None] - means[:, None]
    return np.einsum("ik,kia,kib->kab", R, c, c)


def reference_ml(X, R, ctype, reg):
    n = R.sum(axis=0)
    means = (R.T @ X) / n[:, None]
    S = scatter_about(X, R, means)
    cov = {"full": S / n[:, None, None] + reg * np.eye(D),
           "tied": S.sum(axis=0) / n.sum() + reg * np.eye(D),
           "diag": np.diagonal(S, axis1=1, axis2=2) / n[:, None] + reg,
           "spherical": (np.diagonal(S, axis1=1, axis2=2) / n[:, None] + reg).mean(axis=1)}
    return n / n.sum(), means, cov[ctype]


@pytest.mark.parametrize("reg", [0.0, 0.3])
@pytest.mark.parametrize("ctype", TYPES)
def test_ml_m_step_is_the_weighted_mle(ctype, reg):
    X, R, mu = problem()
    got = gaussian_mixture_m_step(statistics(X, R, mu, ctype in ("full", "tied")), ctype, reg)
    weights, means, cov = reference_ml(X, R, ctype, reg)
    np.testing.assert_allclose(got["weights"], weights, rtol=1e-13)
    np.testing.assert_allclose(got["means"], means, rtol=1e-13)
    np.testing.assert_allclose(got["covariances"], cov, rtol=1e-12)


def test_ml_m_step_stays_accurate_far_from_the_origin_and_refuses_unknown_types():
    X, R, _ = problem(offset=1e9)
    mu = (R.T @ X) / R.sum(axis=0)[:, None] + 0.3  # E-step means near the new ones
    got = gaussian_mixture_m_step(statistics(X, R, mu, True), "full", 0.0)
    _, _, cov = reference_ml(X - 1e9, R, "full", 0.0)
    np.testing.assert_allclose(got["covariances"], cov, rtol=1e-6)
    with pytest.raises(ValueError, match="covariance_type"):
        gaussian_mixture_m_step(statistics(X, R, mu, True), "banana", 0.0)
    # an empty component: sklearn's 10 eps keeps the (meaningless) mean finite
    X, R, mu = problem(dead=True)
    got = gaussian_mixture_m_step(statistics(X, R, mu, False), "diag", 1e-6)
    assert got["weights"][2] == pytest.approx(10 * np.finfo(float).eps / R.sum(), rel=1e-6)
    np.testing.assert_array_equal(got["means"][2], 0.0)


def q_loss(S, e, n):
    """n/2 [log det(S + eI) - log det S + tr((S + eI)^-1 S) - D]: Q lost by adding eI."""
    T = S + e * np.eye(len(S))
    return 0.5 * n * (np.linalg.slogdet(T)[1] - np.linalg.slogdet(S)[1]
                      + np.trace(np.linalg.solve(T, S)) - len(S))


@pytest.mark.parametrize("ctype", TYPES)
def test_regularization_slack_is_the_expected_loglik_the_regularization_costs(ctype):
    X, R, mu = problem(1)
    stats = statistics(X, R, mu, ctype in ("full", "tied"))
    n = R.sum(axis=0)
    e = 0.4
    S = scatter_about(X, R, (R.T @ X) / n[:, None]) / n[:, None, None]
    want = {"full": sum(q_loss(S[k], e, n[k]) for k in range(K)),
            "tied": q_loss((S * n[:, None, None]).sum(axis=0) / n.sum(), e, n.sum()),
            "diag": sum(q_loss(np.diag(np.diag(S[k])), e, n[k]) for k in range(K)),
            "spherical": sum(q_loss(np.eye(D) * np.diag(S[k]).mean(), e, n[k])
                             for k in range(K))}[ctype]
    assert want > 0
    np.testing.assert_allclose(regularization_slack(stats, ctype, e), want, rtol=1e-10)
    assert regularization_slack(stats, ctype, 0.0) == 0.0
    # a singular covariance (a constant column): nothing bounds a regularized step
    Xc = np.c_[X[:, 0], np.full(len(X), 3.0)]
    constant = statistics(Xc, R, np.c_[mu[:, 0], np.full(K, 3.0)],
                          ctype in ("full", "tied"))
    if ctype in ("full", "tied"):
        assert regularization_slack(constant, ctype, e) == np.inf


# ------------------------------------------------------------------ MAP M-step
def prior_for(ctype, seed=5, min_covar=0.0, mean_weight=(0.7, 0.0, 2.0), cov_weight=None):
    rng = np.random.default_rng(seed)
    m0 = rng.normal(size=(K, D))
    if ctype in ("full", "tied"):
        a = rng.normal(size=(K, D, D))
        P = a @ a.transpose(0, 2, 1) * 0.2 + 0.1 * np.eye(D)
        P = P[0] if ctype == "tied" else P
        cw = np.asarray(4.5 if cov_weight is None else cov_weight)
    else:
        P = rng.uniform(0.1, 0.5, (K, D))
        cw = np.asarray([2.5, 1.0, 3.0] if cov_weight is None else cov_weight)
    return ConjugatePrior(means_prior=m0, means_weight=np.asarray(mean_weight, float),
                          covars_prior=P, covars_weight=cw, min_covar=min_covar)


def reference_map(X, R, ctype, prior, fixed_means=None):
    """hmmlearn 0.3's MAP estimates, from the rows (NaN for an empty component)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _reference_map(X, R, ctype, prior, fixed_means)


def _reference_map(X, R, ctype, prior, fixed_means):
    n, w, m0 = R.sum(axis=0), prior.means_weight, prior.means_prior
    means = ((w[:, None] * m0 + R.T @ X) / (w + n)[:, None] if fixed_means is None
             else fixed_means)
    d0 = means - m0
    S = scatter_about(X, R, means) + w[:, None, None] * d0[:, :, None] * d0[:, None, :]
    if ctype in ("diag", "spherical"):
        a = np.maximum(prior.covars_weight - 1.0, 0.0)
        cov = (prior.covars_prior + np.diagonal(S, axis1=1, axis2=2)) / (a + n)[:, None]
        return means, cov.mean(axis=1) if ctype == "spherical" else cov
    a = max(float(np.max(prior.covars_weight)) - D, 0.0)
    if ctype == "tied":
        return means, (prior.covars_prior + S.sum(axis=0)) / (a + n.sum())
    return means, (prior.covars_prior + S) / (a + n)[:, None, None]


@pytest.mark.parametrize("ctype", TYPES)
def test_map_m_step_is_hmmlearns_estimate(ctype):
    X, R, mu = problem(2)
    prior = prior_for(ctype)
    means, cov = map_m_step(statistics(X, R, mu, ctype in ("full", "tied")), ctype, prior)
    want_means, want_cov = reference_map(X, R, ctype, prior)
    np.testing.assert_allclose(means, want_means, rtol=1e-12)
    np.testing.assert_allclose(cov, want_cov, rtol=1e-11)
    # kept means: the covariances are the (prior-weighted) scatter about them
    fixed = mu + 0.25
    means, cov = map_m_step(statistics(X, R, mu, ctype in ("full", "tied")), ctype, prior,
                            fixed_means=fixed)
    np.testing.assert_array_equal(means, fixed)
    np.testing.assert_allclose(cov, reference_map(X, R, ctype, prior, fixed)[1], rtol=1e-11)
    kept = np.asarray(want_cov) * 1.5
    means, cov = map_m_step(statistics(X, R, mu, ctype in ("full", "tied")), ctype, prior,
                            fixed_covariances=kept)
    np.testing.assert_allclose(means, want_means, rtol=1e-12)
    np.testing.assert_array_equal(cov, kept)


def expected_complete_loglik(X, R, means, cov, ctype):
    full = {"full": lambda k: cov[k], "tied": lambda k: cov,
            "diag": lambda k: np.diag(cov[k]), "spherical": lambda k: np.eye(D) * cov[k]}[ctype]
    return sum(R[:, k] @ ss.multivariate_normal(means[k], full(k)).logpdf(X) for k in range(K))


@pytest.mark.parametrize("ctype", TYPES)
def test_map_m_step_maximizes_the_expected_loglik_plus_the_log_prior(ctype):
    X, R, mu = problem(3)
    prior = prior_for(ctype)
    means, cov = map_m_step(statistics(X, R, mu, ctype in ("full", "tied")), ctype, prior)
    live = np.ones(K, bool)

    def objective(m, c):
        return (expected_complete_loglik(X, R, m, c, ctype)
                + map_log_prior(m, c, ctype, prior, live))

    best = objective(means, cov)
    rng = np.random.default_rng(0)
    for _ in range(6):
        dm = rng.normal(size=means.shape) * 1e-3
        dc = rng.normal(size=np.shape(cov)) * 1e-3
        if ctype in ("full", "tied"):
            dc = dc + np.swapaxes(dc, -1, -2)
        for step in (1.0, -1.0):
            assert objective(means + step * dm, cov) < best
            assert objective(means, cov + step * dc) < best
    # only the live components count: dropping one with a mean prior changes the value
    # (a scalar covars_weight: an array of K weights is not masked by ``live``)
    scalar = ConjugatePrior(prior.means_prior, prior.means_weight, prior.covars_prior,
                            np.asarray(2.5), 0.0)
    some = np.array([True, True, False])
    if ctype != "tied":
        cov_live = cov[some]
        full_value = map_log_prior(means[some], cov_live, ctype, ConjugatePrior(
            prior.means_prior[some], prior.means_weight[some],
            prior.covars_prior[some], np.asarray(2.5), 0.0), np.ones(2, bool))
        assert map_log_prior(means, cov, ctype, scalar, some) == pytest.approx(full_value,
                                                                               rel=1e-13)
    assert map_log_prior(means, cov, ctype, scalar, some) != \
        map_log_prior(means, cov, ctype, scalar, live)


@pytest.mark.parametrize("ctype", TYPES)
def test_map_m_step_floor_and_empty_components(ctype):
    X, R, mu = problem(4, dead=True)
    prior = prior_for(ctype, min_covar=0.0, mean_weight=(0.0, 0.0, 0.0))
    stats = statistics(X, R, mu, ctype in ("full", "tied"))
    means, cov = map_m_step(stats, ctype, prior)
    assert stats["n"][2] < DEAD_MASS
    if ctype != "tied":
        # the empty component takes the pooled parameters of all the data
        N = R.sum()
        pooled_mean = (R.sum(axis=1) @ X) / N
        np.testing.assert_allclose(means[2], pooled_mean, rtol=1e-12)
        c = X - pooled_mean
        pooled = (R.sum(axis=1)[:, None] * c).T @ c / N
        want = {"full": pooled, "diag": np.diag(pooled),
                "spherical": np.diag(pooled).mean()}[ctype]
        np.testing.assert_allclose(cov[2], want, rtol=1e-11)
    # the floor: every variance (eigenvalue) at least min_covar, the rest untouched
    # (a floor between the smallest and largest variance, so that it binds somewhere)
    if ctype == "tied":
        floor = np.linalg.eigvalsh(cov).mean()
    elif ctype == "full":
        floor = np.linalg.eigvalsh(cov[:2]).mean()
    else:
        floor = float(np.median(cov[:2]))
    floored = prior_for(ctype, min_covar=floor, mean_weight=(0.0, 0.0, 0.0))
    _, got = map_m_step(stats, ctype, floored)
    np.testing.assert_allclose(got, floor_covariance(cov, ctype, floor), rtol=1e-12)
    assert covariance_ok(got, ctype, floor)


@pytest.mark.parametrize("ctype", TYPES)
def test_floor_covariance_clips_eigenvalues_and_covariance_ok_checks_them(ctype):
    rng = np.random.default_rng(6)
    if ctype in ("full", "tied"):
        a = rng.normal(size=(K, D, D))
        cov = a @ a.transpose(0, 2, 1) + 0.05 * np.eye(D)
        cov = cov[0] if ctype == "tied" else cov
        values, vectors = np.linalg.eigh(cov)
        f = float(np.median(values))
        want = (vectors * np.maximum(values, f)[..., None, :]) @ np.swapaxes(vectors, -1, -2)
    else:
        cov = rng.uniform(0.1, 2.0, (K, D) if ctype == "diag" else K)
        f = float(np.median(cov))
        want = np.maximum(cov, f)
    got = floor_covariance(cov, ctype, f)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert not np.allclose(got, cov)
    np.testing.assert_array_equal(floor_covariance(got * 2, ctype, f), got * 2)  # above it
    assert covariance_ok(got, ctype, f) and not covariance_ok(cov, ctype, f)
    assert covariance_ok(got, ctype, f * (1 + 1e-10))  # rounding allowance
    assert not covariance_ok(got * np.nan, ctype, f)
    assert not covariance_ok(-np.abs(got), ctype, 0.0)


@pytest.mark.parametrize("ctype", TYPES)
def test_unresolvable_variances_are_refused_and_centred_ones_are_exact(ctype):
    # rows at 1e8 with a spread of 1e-4; the E-step means at 0: the scatter about the
    # new mean cancels below float64's resolution of the one-pass sums
    X, R, _ = problem(7, offset=1e8, spread=1e-4)
    prior = prior_for(ctype, mean_weight=(0.0, 0.0, 0.0), cov_weight=0.0)
    prior = ConjugatePrior(prior.means_prior, prior.means_weight,
                           np.zeros_like(prior.covars_prior), prior.covars_weight, 0.0)
    full = ctype in ("full", "tied")
    with pytest.raises(NumericalError, match="lost to rounding"):
        map_m_step(statistics(X, R, np.zeros((K, D)), full), ctype, prior)
    # centred on nearby means, the same data give the exact maximum-likelihood answer
    near = (R.T @ X) / R.sum(axis=0)[:, None] + 1e-4
    means, cov = map_m_step(statistics(X, R, near, full), ctype, prior)
    want_means, want_cov = reference_map(X - 1e8, R, ctype, prior)
    np.testing.assert_allclose(means - 1e8, want_means, rtol=0, atol=1e-7)
    np.testing.assert_allclose(cov, want_cov, rtol=1e-6)
    # a floor above the lost precision makes the refusal unnecessary
    floored = ConjugatePrior(prior.means_prior, prior.means_weight, prior.covars_prior,
                             prior.covars_weight, 1e6)
    _, cov = map_m_step(statistics(X, R, np.zeros((K, D)), full), ctype, floored)
    assert covariance_ok(cov, ctype, 1e6)
