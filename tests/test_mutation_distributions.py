"""The distributions' M-steps against closed forms written out here.

Written from the mutation-testing survivors (docs/mutation-testing.md): each
family's estimate from summed statistics with and without its conjugate prior, the
prior's bounds one at a time, the boundary cases (empty components, rounding past
a probability of 1, all-zero data, a constant column) with their exact messages,
statistics taken at parameters far from the data (so the centring shift matters),
the Gaussian MAP and frozen-parameter steps and the tied pool, and the Student-t's
degrees of freedom at both bounds.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special

from emkit.distributions import (
    Bernoulli,
    Categorical,
    Exponential,
    Gamma,
    Gaussian,
    LogNormal,
    Poisson,
    StudentT,
)
from emkit.distributions.gamma import solve_gamma_shape


def weighted(seed=0, n=50, d=2, positive=False):
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, 1.5, (n, d)) if positive else rng.normal(size=(n, d)) * [1.0, 2.0] + 3
    return X, rng.uniform(0.2, 2.0, n)


# ------------------------------------------------------------ simple families
@pytest.mark.parametrize("prior", [None, (3.0, 2.0), (1.0, 0.0)])
def test_poisson_rate_is_the_posterior_mode(prior):
    X, w = weighted()
    X = np.round(np.abs(X))
    fitted = Poisson(prior=prior).from_stats(Poisson().stats(X, w))
    a, b = prior or (1.0, 0.0)
    np.testing.assert_allclose(fitted.rate, (w @ X + a - 1) / (w.sum() + b), rtol=1e-14)


@pytest.mark.parametrize("prior", [None, (3.0, 2.0), (1.0, 1.0)])
def test_bernoulli_probability_is_the_posterior_mode_and_stays_in_0_1(prior):
    X, w = weighted()
    X = (X > 3).astype(float)
    fitted = Bernoulli(prior=prior).from_stats(Bernoulli().stats(X, w))
    a, b = prior or (1.0, 1.0)
    np.testing.assert_allclose(fitted.probs, (w @ X + a - 1) / (w.sum() + a + b - 2),
                               rtol=1e-14)
    # sums past n (or below 0) by rounding are clipped into [0, 1]
    edge = Bernoulli().from_stats({"n": np.asarray(3.0),
                                   "sum": np.array([3.0 * (1 + 1e-14), -1e-17, 1.5])})
    assert edge.probs[0] == 1.0 and edge.probs[1] == 0.0
    assert edge.probs[2] == pytest.approx(0.5, rel=1e-14)


@pytest.mark.parametrize("prior", [None, (3.0, 2.0), (1.0, 0.0)])
def test_exponential_rate_is_the_posterior_mode(prior):
    X, w = weighted(positive=True)
    fitted = Exponential(prior=prior).from_stats(Exponential().stats(X, w))
    a, b = prior or (1.0, 0.0)
    np.testing.assert_allclose(fitted.rate, (w.sum() + a - 1) / (w @ X + b), rtol=1e-14)
    small = Exponential().from_stats({"n": np.asarray(2.0), "sum": np.array([0.5])})
    np.testing.assert_allclose(small.rate, [4.0], rtol=1e-14)  # a total below 1 is fine
    with pytest.raises(ValueError, match=r"^Exponential: the weighted data are all zero; "
                                         r"the rate is infinite$"):
        Exponential().from_stats({"n": np.asarray(2.0), "sum": np.array([0.0, 1.0])})


@pytest.mark.parametrize("family, prior, message", [
    (Poisson, (0.5, 0.0), r"^Poisson: prior needs alpha >= 1 and beta >= 0, got \(0\.5, 0\.0\)$"),
    (Poisson, (1.0, -0.5), r"^Poisson: prior needs alpha >= 1 and beta >= 0, got \(1\.0, -0\.5\)$"),
    (Bernoulli, (0.5, 1.0), r"^Bernoulli: prior needs a >= 1 and b >= 1, got \(0\.5, 1\.0\)$"),
    (Bernoulli, (1.0, 0.5), r"^Bernoulli: prior needs a >= 1 and b >= 1, got \(1\.0, 0\.5\)$"),
    (Exponential, (0.5, 0.0),
     r"^Exponential: prior needs alpha >= 1 and beta >= 0, got \(0\.5, 0\.0\)$"),
    (Exponential, (1.0, -0.5),
     r"^Exponential: prior needs alpha >= 1 and beta >= 0, got \(1\.0, -0\.5\)$"),
])
def test_each_prior_bound_is_checked_on_its_own(family, prior, message):
    stats = {"n": np.asarray(2.0), "sum": np.array([1.0])}
    with pytest.raises(ValueError, match=message):
        family(prior=prior).from_stats(stats)


def test_categorical_probabilities_with_a_prior_light_and_empty_components():
    counts = np.array([[2.0, 1.0, 0.0], [0.2, 0.3, 0.0], [0.0, 0.0, 0.0]])
    got = Categorical(n_categories=3).from_stats({"counts": counts}).probs
    np.testing.assert_allclose(got[:2], counts[:2] / counts[:2].sum(axis=1, keepdims=True),
                               rtol=1e-15)
    np.testing.assert_array_equal(got[2], np.full(3, 1.0 / 3.0))  # no weight: uniform
    # a Dirichlet prior below 1 pulls a zero count to 0, not below
    light = Categorical(n_categories=3, prior=0.5).from_stats({"counts": counts[:1]}).probs
    np.testing.assert_allclose(light, [[1.5 / 2.0, 0.5 / 2.0, 0.0]], rtol=1e-15)
    heavy = Categorical(n_categories=3, prior=2.0).from_stats({"counts": counts[:1]}).probs
    np.testing.assert_allclose(heavy, [[3.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0]], rtol=1e-15)


# ------------------------------------------------------------- gamma, lognormal
def test_gamma_shape_solver_over_twelve_orders_of_magnitude():
    # (below s = 1e-4, log(a) - digamma(a) ~ 1/(2a) cancels: the reference loses digits)
    s = np.logspace(-4, 3, 15)
    got = solve_gamma_shape(s)
    for si, a in zip(s, got, strict=True):
        want = optimize.brentq(lambda x, si=si: np.log(x) - special.digamma(x) - si,
                               1e-12, 1e12, xtol=1e-300, rtol=1e-15)
        assert a == pytest.approx(want, rel=1e-10)
    X, w = weighted(positive=True)
    fitted = Gamma().from_stats(Gamma().stats(X, w))
    mean, mean_log = (w @ X) / w.sum(), (w @ np.log(X)) / w.sum()
    np.testing.assert_allclose(fitted.shape, solve_gamma_shape(np.log(mean) - mean_log),
                               rtol=1e-14)
    np.testing.assert_allclose(fitted.rate, fitted.shape / mean, rtol=1e-14)


@pytest.mark.parametrize("reg_var", [0.0, 0.25])
def test_lognormal_estimate_from_statistics_taken_far_from_the_data(reg_var):
    X, w = weighted(positive=True)
    template = LogNormal(mu=[5.0, -4.0], sigma=[1.0, 1.0], reg_var=reg_var)
    fitted = template.from_stats(template.stats(X, w))
    y = np.log(X)
    mu = (w @ y) / w.sum()
    var = (w @ (y - mu) ** 2) / w.sum() + reg_var
    np.testing.assert_allclose(fitted.mu, mu, rtol=1e-13)
    np.testing.assert_allclose(fitted.sigma, np.sqrt(var), rtol=1e-12)
    constant = np.c_[X[:, 0], np.full(len(X), 2.0)]
    with pytest.raises(ValueError, match=r"^LogNormal: a column of log x is constant; "
                                         r"set reg_var > 0$"):
        LogNormal(reg_var=0.0).fit(constant)
    tiny = LogNormal(reg_var=1e-3).fit(constant)
    assert tiny.sigma[1] == pytest.approx(np.sqrt(1e-3), rel=1e-9)


# ------------------------------------------------------------------ Student t
def student_t_reference(X, w, template):
    """One EM step of the multivariate t from ``template``'s parameters, written out."""
    d = X.shape[1]
    nu = float(template.dof)
    c = X - template.mean
    delta = np.einsum("ij,jk,ik->i", c, np.linalg.inv(template.covariance), c)
    u = (nu + d) / (nu + delta)
    mean = (w * u) @ X / (w * u).sum()
    xc = X - mean
    cov = (xc * (w * u)[:, None]).T @ xc / w.sum() + template.reg_covar * np.eye(d)
    return mean, cov


@pytest.mark.parametrize("reg_covar", [0.0, 0.3])
def test_student_t_step_from_parameters_far_from_the_data(reg_covar):
    X, w = weighted(3)
    template = StudentT(mean=[-4.0, 9.0], covariance=[[2.0, 0.3], [0.3, 1.0]], dof=4.0,
                        reg_covar=reg_covar, fix_dof=True)
    fitted = template.from_stats(template.stats(X, w))
    mean, cov = student_t_reference(X, w, template)
    np.testing.assert_allclose(fitted.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(fitted.covariance, cov, rtol=1e-12)
    assert float(fitted.dof) == 4.0
    with pytest.raises(ValueError, match=r"^StudentT: fix_dof=True needs a dof value$"):
        StudentT(fix_dof=True)._fit_stats(template.stats(X, w))


def test_student_t_dof_solves_its_equation_and_stops_at_the_bounds():
    # the M-step's dof solves log(nu/2) - digamma(nu/2) + 1 + c = 0 (c = the mean of
    # E[log u] - E[u]); outside the bounds' bracket it is the bound itself
    t = StudentT(dof_bounds=(0.5, 1000.0))

    def f(nu, c):
        return np.log(nu / 2) - special.digamma(nu / 2) + 1 + c

    for c in (-1.05, -1.2, -1.6):
        want = optimize.brentq(f, 0.5, 1000.0, args=(c,), xtol=1e-14, rtol=1e-15)
        assert t._solve_dof(c) == pytest.approx(want, rel=1e-9)
    assert t._solve_dof(-0.9) == 1000.0  # Gaussian-looking data: the upper bound exactly
    assert t._solve_dof(-5.0) == 0.5  # the heaviest tail allowed
    # f(1000) = log(500) - digamma(500) + 1 + c ~ 1/1000 + 1/3e6 + 1 + c: the bound is
    # left just below c = -1.0010003
    assert t._solve_dof(-1.0010004) < 1000.0 and t._solve_dof(-1.0010003) == 1000.0


# -------------------------------------------------------------------- Gaussian
def gaussian_data(seed=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 2)) * [1.0, 0.5] + [2.0, -1.0]
    R = rng.dirichlet(np.ones(2), size=80)
    return X, R


def test_tied_components_share_the_pooled_covariance():
    X, R = gaussian_data()
    t = Gaussian(covariance_type="tied", reg_covar=0.1)
    starts = [t.with_parameters({"mean": np.array([5.0, 5.0])}),
              t.with_parameters({"mean": np.array([-5.0, 0.0])})]
    stats = [s.stats(X, R[:, k]) for k, s in enumerate(starts)]
    fitted = Gaussian.fit_components(starts, stats)
    n = R.sum(axis=0)
    means = (R.T @ X) / n[:, None]
    scatter = sum(((X - means[k]) * R[:, [k]]).T @ (X - means[k]) for k in range(2))
    pooled = scatter / n.sum() + 0.1 * np.eye(2)
    for k, f in enumerate(fitted):
        np.testing.assert_allclose(f.mean, means[k], rtol=1e-13)
        np.testing.assert_allclose(f.covariance, pooled, rtol=1e-12)
    assert fitted[0].covariance is not fitted[1].covariance  # copies, not one array


@pytest.mark.parametrize("ctype", ["full", "tied", "diag", "spherical"])
def test_gaussian_map_components_and_frozen_parameters(ctype):
    X, R = gaussian_data(6)
    d = 2
    cov_prior = np.eye(d) * 0.4 if ctype in ("full", "tied") else np.full(d, 0.4)
    template = Gaussian(covariance_type=ctype, mean_prior=[1.0, 1.0], mean_weight=2.0,
                        covariance_prior=cov_prior, covariance_weight=3.5)
    starts = [template.with_parameters({"mean": np.array([4.0, 0.0])}),
              template.with_parameters({"mean": np.array([0.0, -3.0])})]
    stats = [s.stats(X, R[:, k]) for k, s in enumerate(starts)]
    fitted = Gaussian.fit_components(starts, stats)
    n = R.sum(axis=0)
    means = (2.0 * np.array([1.0, 1.0]) + R.T @ X) / (2.0 + n)[:, None]

    def scatter(k, m):
        c = X - m
        return (c * R[:, [k]]).T @ c + 2.0 * np.outer(m - 1.0, m - 1.0)

    if ctype == "full":
        want = [(cov_prior + scatter(k, means[k])) / (max(3.5 - d, 0) + n[k]) for k in range(2)]
    elif ctype == "tied":
        pooled = (cov_prior + scatter(0, means[0]) + scatter(1, means[1])) / (
            max(3.5 - d, 0) + n.sum())
        want = [pooled, pooled]
    else:
        diag = [(cov_prior + np.diag(scatter(k, means[k]))) / (2.5 + n[k]) for k in range(2)]
        want = diag if ctype == "diag" else [v.mean() for v in diag]
    for k, f in enumerate(fitted):
        np.testing.assert_allclose(f.mean, means[k], rtol=1e-12)
        np.testing.assert_allclose(f.covariance, want[k], rtol=1e-11)
    # a frozen mean: the covariance is the (prior-weighted) scatter about it
    keep = [{"mean": np.array([0.5, 0.5])}, {"mean": np.array([3.0, -2.0])}]
    frozen = Gaussian.fit_components(starts, stats, frozen=keep)
    for k, f in enumerate(frozen):
        np.testing.assert_array_equal(f.mean, keep[k]["mean"])
    if ctype == "full":
        want = (cov_prior + scatter(1, keep[1]["mean"])) / (max(3.5 - d, 0) + n[1])
        np.testing.assert_allclose(frozen[1].covariance, want, rtol=1e-11)
    # frozen covariances come back as given, the means re-estimated
    covs = [np.asarray(f.covariance) * 2.0 for f in fitted]
    kept = Gaussian.fit_components(starts, stats, frozen=[{"covariance": c} for c in covs])
    for k, f in enumerate(kept):
        np.testing.assert_array_equal(f.covariance, covs[k])
        np.testing.assert_allclose(f.mean, means[k], rtol=1e-12)
    # one Gaussian with a prior fits through the same MAP step
    single = template.from_stats(stats[0])
    np.testing.assert_allclose(single.mean, (2.0 + R[:, 0] @ X) / (2.0 + n[0]), rtol=1e-12)


def test_maximum_likelihood_components_with_frozen_means():
    X, R = gaussian_data(7)
    t = Gaussian(reg_covar=0.0)
    starts = [t.with_parameters({"mean": np.array([1.0, 1.0])}),
              t.with_parameters({"mean": np.array([2.0, 2.0])})]
    stats = [s.stats(X, R[:, k]) for k, s in enumerate(starts)]
    keep = [{"mean": np.array([0.0, 0.0])}, {"mean": np.array([2.0, -1.0])}]
    fitted = Gaussian.fit_components(starts, stats, frozen=keep)
    for k in range(2):
        np.testing.assert_array_equal(fitted[k].mean, keep[k]["mean"])
        c = X - keep[k]["mean"]
        want = (c * R[:, [k]]).T @ c / R[:, k].sum()  # the scatter about the frozen mean
        np.testing.assert_allclose(fitted[k].covariance, want, rtol=1e-12)


def test_gamma_shape_solver_starts_at_minkas_approximation_and_converges_quadratically():
    s = np.logspace(-4, 3, 15)
    # Minka (2002): a0 = (3 - s + sqrt((s - 3)^2 + 24 s)) / (12 s), within 1.5 % of the root
    minka = (3 - s + np.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
    np.testing.assert_array_equal(solve_gamma_shape(s, max_iter=0), minka)
    root = solve_gamma_shape(s)
    assert np.max(np.abs(minka / root - 1)) < 0.015
    # the generalized Newton step on 1/a: the error squares at each step
    one = np.max(np.abs(solve_gamma_shape(s, max_iter=1) / root - 1))
    two = np.max(np.abs(solve_gamma_shape(s, max_iter=2) / root - 1))
    assert one < 1e-4 and two < 1e-10
    # it stops once a step changes a by at most rtol (relative)
    # (the second step moves a by ~1e-5 < 1e-3: that step's value is returned)
    np.testing.assert_array_equal(solve_gamma_shape(s, rtol=1e-3),
                                  solve_gamma_shape(s, max_iter=2))
    np.testing.assert_array_equal(solve_gamma_shape(np.array([0.0, -1.0])),
                                  solve_gamma_shape(np.array([1e-12, 1e-12])))  # s >= 1e-12


def test_multinomial_probabilities_are_the_weighted_count_shares():
    from emkit.distributions.multinomial import Multinomial

    X = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 0.0, 4.0]])
    w = np.array([1.0, 0.5, 2.0])
    fitted = Multinomial(n_trials=4).from_stats(Multinomial().stats(X, w))
    counts = w @ X
    np.testing.assert_allclose(fitted.probs, counts / counts.sum(), rtol=1e-15)
    empty = Multinomial().from_stats({"n": np.asarray(0.0), "counts": np.zeros(4)})
    np.testing.assert_array_equal(empty.probs, np.full(4, 0.25))  # no weight: uniform
    small = Multinomial().from_stats({"n": np.asarray(0.1), "counts": np.array([0.1, 0.3])})
    np.testing.assert_allclose(small.probs, [0.25, 0.75], rtol=1e-15)
