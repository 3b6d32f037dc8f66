"""emkit.distributions: additivity, scipy densities, recovery, M-steps, validation, saving."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as ss
from threadpoolctl import threadpool_limits

import emkit
from emkit.distributions import (
    Bernoulli,
    Categorical,
    Exponential,
    Gamma,
    Gaussian,
    Independent,
    LogNormal,
    Poisson,
    StudentT,
)
from emkit.distributions.gamma import solve_gamma_shape
from emkit.engine.stats import tree_add, tree_leaves, tree_map


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny BLAS calls are slowed badly by thread hand-offs on a shared, loaded machine."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


COV = np.array([[1.0, 0.6], [0.6, 2.0]])

# name -> (true distribution, unfitted template)
CASES = {
    "poisson": (Poisson(rate=[2.0, 7.5]), Poisson()),
    "bernoulli": (Bernoulli(probs=[0.2, 0.7, 0.5]), Bernoulli()),
    "categorical": (Categorical(probs=[[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]]),
                    Categorical(n_categories=3)),
    "exponential": (Exponential(rate=[0.5, 3.0]), Exponential()),
    "gamma": (Gamma(shape=[2.0, 0.7], rate=[1.5, 3.0]), Gamma()),
    "lognormal": (LogNormal(mu=[0.0, 1.0], sigma=[0.5, 1.2], reg_var=0.0),
                  LogNormal(reg_var=0.0)),
    "gaussian_full": (Gaussian(mean=[1.0, -2.0], covariance=COV, reg_covar=0.0),
                      Gaussian(reg_covar=0.0)),
    "gaussian_tied": (Gaussian(mean=[1.0, -2.0], covariance=COV, covariance_type="tied",
                               reg_covar=0.0), Gaussian(covariance_type="tied", reg_covar=0.0)),
    "gaussian_diag": (Gaussian(mean=[1.0, -2.0], covariance=[1.0, 2.0], covariance_type="diag",
                               reg_covar=0.0), Gaussian(covariance_type="diag", reg_covar=0.0)),
    "gaussian_spherical": (Gaussian(mean=[1.0, -2.0], covariance=1.5,
                                    covariance_type="spherical", reg_covar=0.0),
                           Gaussian(covariance_type="spherical", reg_covar=0.0)),
    "student_t": (StudentT(mean=[1.0, -2.0], covariance=COV, dof=5.0, reg_covar=0.0),
                  StudentT(reg_covar=0.0)),
    "independent": (
        Independent([Poisson(rate=[3.0]), Bernoulli(probs=[0.3]),
                     Gaussian(mean=[0.0, 5.0], covariance=[1.0, 4.0], covariance_type="diag",
                              reg_covar=0.0)], columns=[0, 1, [2, 3]]),
        Independent([Poisson(), Bernoulli(), Gaussian(covariance_type="diag", reg_covar=0.0)],
                    columns=[0, 1, [2, 3]]),
    ),
}


def _scipy_logpdf(dist, X):
    """The same log-density computed by scipy.stats, column by column."""
    if isinstance(dist, Poisson):
        return ss.poisson.logpmf(X, dist.rate).sum(axis=1)
    if isinstance(dist, Bernoulli):
        return ss.bernoulli.logpmf(X, dist.probs).sum(axis=1)
    if isinstance(dist, Categorical):
        return sum(np.log(dist.probs[d, X[:, d].astype(int)]) for d in range(X.shape[1]))
    if isinstance(dist, Exponential):
        return ss.expon.logpdf(X, scale=1.0 / dist.rate).sum(axis=1)
    if isinstance(dist, Gamma):
        return ss.gamma.logpdf(X, dist.shape, scale=1.0 / dist.rate).sum(axis=1)
    if isinstance(dist, LogNormal):
        return ss.lognorm.logpdf(X, dist.sigma, scale=np.exp(dist.mu)).sum(axis=1)
    if isinstance(dist, Gaussian):
        return ss.multivariate_normal(dist.mean, dist.full_covariance()).logpdf(X)
    if isinstance(dist, StudentT):
        return ss.multivariate_t(dist.mean, dist.covariance, df=dist.dof).logpdf(X)
    if isinstance(dist, Independent):
        groups = [[0], [1], [2, 3]]
        pairs = zip(dist.distributions, groups, strict=True)
        return sum(_scipy_logpdf(p, X[:, g]) for p, g in pairs)
    raise AssertionError(type(dist))


def _close_trees(a, b, **tol):
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        np.testing.assert_allclose(x, y, **tol)


@pytest.mark.parametrize("name", CASES)
def test_log_prob_matches_scipy(name):
    true, _ = CASES[name]
    X = true.sample(200, rng=1)
    np.testing.assert_allclose(true.log_prob(X), _scipy_logpdf(true, X), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", CASES)
def test_vectorized_component_densities_match_one_by_one(name):
    true, _ = CASES[name]
    X = true.sample(50, rng=12)
    comps = [true.with_parameters(tree_map(lambda v, f=f: v * f, true.parameters()))
             for f in (1.0, 0.9, 0.8)]
    if isinstance(true, Categorical):  # keep each row of probabilities summing to one
        comps = [c.with_parameters({"probs": c.probs / c.probs.sum(axis=1, keepdims=True)})
                 for c in comps]
    if isinstance(true, Bernoulli | Categorical) or isinstance(true, Independent):
        comps = [c for c in comps if c.is_feasible(c.parameters())]
    stacked = type(true).log_prob_components(comps, X)
    one_by_one = np.column_stack([c.log_prob(X) for c in comps])
    np.testing.assert_allclose(stacked, one_by_one, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_stats_are_additive_over_batches(name):
    true, template = CASES[name]
    rng = np.random.default_rng(2)
    X = true.sample(301, rng=rng)
    w = rng.uniform(0.1, 2.0, size=301)
    whole = true.stats(X, w)
    parts = [true.stats(X[s], w[s]) for s in (slice(0, 100), slice(100, 250), slice(250, None))]
    _close_trees(tree_add(tree_add(parts[0], parts[1]), parts[2]), whole, rtol=1e-12, atol=1e-9)
    if not isinstance(template, StudentT):  # a t needs parameters for its scale weights
        whole = template.stats(X, w)
        halves = tree_add(template.stats(X[:150], w[:150]), template.stats(X[150:], w[150:]))
        _close_trees(halves, whole, rtol=1e-12, atol=1e-9)


# 5 standard errors for n = 20000, worked out per parameter
N_RECOVERY = 20_000


def _tolerance(true):
    n = N_RECOVERY
    if isinstance(true, Poisson):
        return {"rate": 5 * np.sqrt(true.rate / n)}
    if isinstance(true, Bernoulli):
        return {"probs": 5 * np.sqrt(true.probs * (1 - true.probs) / n)}
    if isinstance(true, Categorical):
        return {"probs": 5 * np.sqrt(true.probs * (1 - true.probs) / n)}
    if isinstance(true, Exponential):
        return {"rate": 5 * true.rate / np.sqrt(n)}
    if isinstance(true, Gamma):  # Fisher information of (shape, rate), inverted
        a, b = true.shape, true.rate
        from scipy.special import polygamma

        i11, i12, i22 = polygamma(1, a), -1 / b, a / b**2
        d = i11 * i22 - i12**2
        return {"shape": 5 * np.sqrt(i22 / d / n), "rate": 5 * np.sqrt(i11 / d / n)}
    if isinstance(true, LogNormal):
        return {"mu": 5 * true.sigma / np.sqrt(n), "sigma": 5 * true.sigma / np.sqrt(2 * n)}
    if isinstance(true, Gaussian):
        sd = np.sqrt(np.diag(true.full_covariance()))
        cov = np.asarray(true.covariance)
        return {"mean": 5 * sd / np.sqrt(n), "covariance": 5 * np.sqrt(2.0 / n) * np.max(cov)}
    if isinstance(true, StudentT):
        sd = np.sqrt(np.diag(true.covariance))
        return {"mean": 5 * sd / np.sqrt(n), "covariance": 10 * np.max(COV) / np.sqrt(n),
                "dof": 0.1 * true.dof}
    if isinstance(true, Independent):
        return {"parts": [_tolerance(p) for p in true.distributions]}
    raise AssertionError(type(true))


@pytest.mark.parametrize("name", CASES)
def test_recovers_parameters_within_sampling_error(name):
    true, template = CASES[name]
    X = true.sample(N_RECOVERY, rng=3)
    fitted = template.fit(X)
    tol = _tolerance(true)

    def check(est, ref, atol):
        assert np.all(np.abs(np.asarray(est) - np.asarray(ref)) <= atol), (est, ref, atol)

    tree_map(check, fitted.parameters(), true.parameters(), tol)


@pytest.mark.parametrize("name", [n for n in CASES if n != "student_t"])
def test_fit_is_a_maximum_of_the_likelihood(name):
    true, template = CASES[name]
    X = true.sample(500, rng=4)
    fitted = template.fit(X)
    best = fitted.log_prob(X).sum()
    rng = np.random.default_rng(5)
    for _ in range(5):
        nudged = tree_map(lambda v: v * (1 + 0.01 * rng.standard_normal(np.shape(v))),
                          fitted.parameters())
        if isinstance(true, Categorical):
            nudged["probs"] = nudged["probs"] / nudged["probs"].sum(axis=1, keepdims=True)
        if isinstance(true, Gaussian) and true.covariance_type in ("full", "tied"):
            c = nudged["covariance"]
            nudged["covariance"] = (c + c.T) / 2
        assert fitted.with_parameters(nudged).log_prob(X).sum() <= best + 1e-9


@pytest.mark.parametrize("name", [n for n in CASES if n != "student_t"])
def test_integer_weights_equal_repeated_rows(name):
    true, template = CASES[name]
    X = true.sample(60, rng=6)
    counts = np.random.default_rng(7).integers(0, 4, size=60)
    weighted = template.fit(X, weights=counts.astype(float))
    repeated = template.fit(np.repeat(X, counts, axis=0))
    _close_trees(weighted.parameters(), repeated.parameters(), rtol=1e-8, atol=1e-10)


def test_gaussian_m_step_is_weighted_mean_and_covariance():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(50, 3)) + 1000.0  # far from the origin: centring matters
    w = rng.uniform(size=50)
    g = Gaussian(reg_covar=0.0).fit(X, weights=w)
    np.testing.assert_allclose(g.mean, np.average(X, axis=0, weights=w), rtol=1e-12)
    np.testing.assert_allclose(g.covariance, np.cov(X.T, aweights=w, bias=True), rtol=1e-8)


def test_gamma_shape_solver_and_fit_match_scipy():
    s = np.array([1e-4, 0.01, 0.5, 3.0])
    a = solve_gamma_shape(s)
    from scipy.special import digamma

    np.testing.assert_allclose(np.log(a) - digamma(a), s, rtol=1e-10)
    X = Gamma(shape=[3.0], rate=[2.0]).sample(400, rng=9)
    shape, _, scale = ss.gamma.fit(X[:, 0], floc=0)
    fitted = Gamma().fit(X)
    np.testing.assert_allclose(fitted.shape, [shape], rtol=1e-4)
    np.testing.assert_allclose(1 / fitted.rate, [scale], rtol=1e-4)


def test_student_t_downweights_outliers():
    t = StudentT(mean=[0.0, 0.0], covariance=np.eye(2), dof=3.0)
    stats = t.stats(np.array([[0.0, 0.0], [30.0, 30.0]]))
    # E[u | x] = (dof + D) / (dof + delta): 5/3 at the centre, ~0.003 far out
    np.testing.assert_allclose(stats["sum_u"], 5 / 3 + 5 / (3 + 1800), rtol=1e-12)


def test_student_t_fixed_dof_stays_fixed():
    X = StudentT(mean=[0.0], covariance=[[1.0]], dof=4.0).sample(500, rng=10)
    fitted = StudentT(dof=2.5, fix_dof=True).fit(X)
    assert fitted.dof == 2.5 and fitted.n_parameters == 2


def test_conjugate_priors_give_posterior_modes():
    X = np.array([[0.0, 1.0], [2.0, 1.0], [1.0, 0.0]])
    p = Poisson(prior=(3.0, 2.0)).fit(X)
    np.testing.assert_allclose(p.rate, (X.sum(axis=0) + 2.0) / (3 + 2.0))
    B = np.array([[1.0], [1.0], [1.0]])
    b = Bernoulli(prior=(2.0, 2.0)).fit(B)
    np.testing.assert_allclose(b.probs, [(3 + 1) / (3 + 2)])
    c = Categorical(n_categories=3, prior=2.0).fit(np.array([[0.0], [0.0]]))
    np.testing.assert_allclose(c.probs, [[3 / 5, 1 / 5, 1 / 5]])
    e = Exponential(prior=(2.0, 1.0)).fit(np.array([[1.0], [3.0]]))
    np.testing.assert_allclose(e.rate, [(2 + 1) / (4 + 1)])
    assert Poisson(rate=[1.0], prior=(2.0, 1.0)).log_prior() == pytest.approx(
        ss.gamma.logpdf(1.0, 2.0))


@pytest.mark.parametrize(
    ("dist", "X", "match"),
    [
        (Poisson(), [[1.0], [-1.0]], "non-negative integer"),
        (Poisson(), [[1.5]], "non-negative integer"),
        (Bernoulli(), [[0.0], [2.0]], "only 0 and 1"),
        (Categorical(n_categories=2), [[0.0], [2.0]], "only 2 categories"),
        (Categorical(), [[0.5]], "integer category codes"),
        (Exponential(), [[-0.1]], "non-negative"),
        (Gamma(), [[0.0]], "strictly positive"),
        (LogNormal(), [[-1.0]], "strictly positive"),
        (Gaussian(), [[np.nan, 1.0]], "NaN"),
        (Gaussian(), np.zeros((0, 2)), "non-empty"),
        (Gaussian(), [["a", "b"]], "numeric"),
        (Poisson(rate=[1.0, 2.0]), [[1.0, 2.0, 3.0]], "has 3 features but"),
        (Independent([Poisson(), Bernoulli()]), [[1.0, 0.0, 4.0]], "2 columns"),
        (Independent([Poisson(), Bernoulli()]), [[1.0, 3.0]], "only 0 and 1"),
    ],
)
def test_bad_input_is_refused_with_a_message(dist, X, match):
    with pytest.raises(ValueError, match=match):
        dist.validate(X)


def test_unfitted_distribution_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="no value for rate"):
        Poisson().log_prob([[1.0]])
    with pytest.raises(ValueError, match="covariance_type"):
        Gaussian(covariance_type="banana").fit([[1.0], [2.0]])
    with pytest.raises(ValueError, match="alpha >= 1"):
        Poisson(prior=(0.5, 1.0)).fit([[1.0]])
    with pytest.raises(ValueError, match="column groups"):
        Independent([Poisson()], columns=[0, 1]).validate([[1.0, 2.0]])


@pytest.mark.parametrize("name", CASES)
def test_n_parameters_and_sample_shape(name):
    true, _ = CASES[name]
    expected = {"poisson": 2, "bernoulli": 3, "categorical": 4, "exponential": 2, "gamma": 4,
                "lognormal": 4, "gaussian_full": 5, "gaussian_tied": 5, "gaussian_diag": 4,
                "gaussian_spherical": 3, "student_t": 6, "independent": 6}[name]
    assert true.n_parameters == expected
    assert true.sample(7, rng=0).shape == (7, true.n_features)
    np.testing.assert_array_equal(true.sample(7, rng=0), true.sample(7, rng=0))


def _scipy_marginals(dist):
    """scipy.stats frozen distributions of each column of ``dist``."""
    if isinstance(dist, Poisson):
        return [ss.poisson(r) for r in dist.rate]
    if isinstance(dist, Bernoulli):
        return [ss.bernoulli(p) for p in dist.probs]
    if isinstance(dist, Categorical):
        return [ss.rv_discrete(values=(np.arange(len(p)), p)) for p in dist.probs]
    if isinstance(dist, Exponential):
        return [ss.expon(scale=1.0 / r) for r in dist.rate]
    if isinstance(dist, Gamma):
        return [ss.gamma(a, scale=1.0 / r) for a, r in zip(dist.shape, dist.rate, strict=True)]
    if isinstance(dist, LogNormal):
        return [ss.lognorm(s, scale=np.exp(m)) for m, s in zip(dist.mu, dist.sigma, strict=True)]
    if isinstance(dist, Gaussian):
        cov = dist.full_covariance()
        return [ss.norm(m, np.sqrt(v)) for m, v in zip(dist.mean, np.diag(cov), strict=True)]
    if isinstance(dist, StudentT):
        return [ss.t(dist.dof, m, np.sqrt(v))
                for m, v in zip(dist.mean, np.diag(dist.covariance), strict=True)]
    if isinstance(dist, Independent):
        return [m for part in dist.distributions for m in _scipy_marginals(part)]
    raise AssertionError(type(dist))


@pytest.mark.parametrize("name", CASES)
def test_sample_moments_match_the_distribution(name):
    # each column's sample mean and (unbiased) variance against scipy's, within 5
    # standard errors of the estimate: sd(mean) = sigma / sqrt(n) and
    # sd(variance) = sigma^2 sqrt((kurt + 2 + 2 / (n - 1)) / n), kurt the excess
    # kurtosis; the seed is fixed, so the test is deterministic
    true, _ = CASES[name]
    n = 20_000
    X = true.sample(n, rng=3)
    for j, marginal in enumerate(_scipy_marginals(true)):
        mean, var, kurt = (float(v) for v in marginal.stats(moments="mvk"))
        assert abs(X[:, j].mean() - mean) < 5 * np.sqrt(var / n), (j, X[:, j].mean(), mean)
        sd_var = var * np.sqrt((kurt + 2 + 2 / (n - 1)) / n)
        assert abs(X[:, j].var(ddof=1) - var) < 5 * sd_var, (j, X[:, j].var(ddof=1), var)
    if isinstance(true, Gaussian | StudentT):
        # the dependence too: the sample covariance of the two columns, whose variance
        # is (E[x^2 y^2] - cov^2) / n; by Isserlis' theorem E[x^2 y^2] is
        # S11 S22 + 2 S12^2 for a Gaussian, times nu^2 / ((nu - 2)(nu - 4)) for a
        # Student t with scale matrix S (whose covariance is S nu / (nu - 2))
        S = true.full_covariance() if isinstance(true, Gaussian) else true.covariance
        nu = getattr(true, "dof", np.inf)
        want = S[0, 1] * (nu / (nu - 2) if np.isfinite(nu) else 1.0)
        fourth = (S[0, 0] * S[1, 1] + 2 * S[0, 1] ** 2) * (
            nu**2 / ((nu - 2) * (nu - 4)) if np.isfinite(nu) else 1.0)
        assert abs(np.cov(X.T)[0, 1] - want) < 5 * np.sqrt((fourth - want**2) / n)


@pytest.mark.parametrize("name", CASES)
def test_save_and_load_round_trip(name, tmp_path):
    true, _ = CASES[name]
    loaded = emkit.load(true.save(tmp_path / "d.npz"))
    assert type(loaded) is type(true)
    X = true.sample(20, rng=11)
    np.testing.assert_array_equal(loaded.log_prob(X), true.log_prob(X))
