"""Weibull and NegativeBinomial: densities, exact weighted MLE, additive statistics, EM."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special
from scipy import stats as ss
from threadpoolctl import threadpool_limits

import emkit
from emkit.distributions import NegativeBinomial, Weibull
from emkit.distributions.negative_binomial import ratio_sum
from emkit.engine import observe
from emkit.engine.stats import tree_add, tree_leaves


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


WEIBULLS = [
    Weibull(shape=[0.6, 2.5, 15.0], scale=[3.0, 0.02, 400.0]),
    Weibull(shape=[1.0, 0.2], scale=[1.0, 5e3]),
    Weibull(shape=[40.0], scale=[1e-3]),
]
NBINOMS = [
    NegativeBinomial(n=[0.4, 3.0, 60.0], p=[0.05, 0.5, 0.9]),
    NegativeBinomial(n=[1.0, 0.05], p=[0.3, 0.02]),
    NegativeBinomial(n=[500.0], p=[0.99]),
]


def _scipy_logpdf(dist, X):
    if isinstance(dist, Weibull):
        return ss.weibull_min.logpdf(X, c=dist.shape, scale=dist.scale)
    return ss.nbinom.logpmf(X, dist.n, dist.p)


def _weighted_data(dist, n, seed):
    rng = np.random.default_rng(seed)
    return dist.sample(n, rng=rng), rng.uniform(0.1, 3.0, size=n)


# ------------------------------------------------------------------- densities
@pytest.mark.parametrize("dist", WEIBULLS + NBINOMS, ids=lambda d: repr(d))
def test_log_density_matches_scipy(dist):
    X = dist.sample(400, rng=1)
    expected = _scipy_logpdf(dist, X).sum(axis=1)
    got = dist.log_prob(X)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("dist", [WEIBULLS[0], NBINOMS[0]], ids=["weibull", "nbinom"])
def test_vectorized_component_densities_match_one_by_one(dist):
    X = dist.sample(50, rng=2)
    params = dist.parameters()
    comps = [dist.with_parameters({k: v * f if k != "p" else v ** f for k, v in params.items()})
             for f in (1.0, 0.8, 1.3)]
    stacked = type(dist).log_prob_components(comps, X)
    np.testing.assert_allclose(stacked, np.column_stack([c.log_prob(X) for c in comps]),
                               rtol=1e-13)


def test_far_outliers_have_density_zero_not_an_error():
    d = Weibull(shape=[50.0], scale=[1.0])
    with np.errstate(over="raise"):
        assert d.log_prob([[1e10]])[0] == -np.inf  # (1e10)^50 overflows
    assert NegativeBinomial(n=[2.0], p=[1.0]).log_prob([[0.0], [3.0]]).tolist() == [0.0, -np.inf]


# ------------------------------------------------------------------ weighted MLE
def _minimize(nll, start):
    """Nelder-Mead with tight tolerances, restarted from its result until it stays put."""
    x = np.asarray(start, dtype=float)
    for _ in range(6):
        res = optimize.minimize(nll, x, method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-11, "maxiter": 5_000})
        if np.allclose(res.x, x, rtol=0, atol=1e-9):
            break
        x = res.x
    return res.x


def _reference_weibull(x, w):
    """Weighted MLE of one column, optimized in (log shape, log scale)."""
    y = np.log(x)

    def nll(theta):
        return -w @ ss.weibull_min.logpdf(x, c=np.exp(theta[0]), scale=np.exp(theta[1]))

    sd = np.sqrt(np.cov(y, aweights=w))
    theta = _minimize(nll, [np.log(np.pi / (np.sqrt(6) * sd)), np.average(y, weights=w)])
    return np.exp(theta)


def _profile_root_weibull(x, w):
    """The root of the profile equation, by brentq (an exact reference for the shape)."""
    y = np.log(x)
    top = y.max()

    def g(k):
        e = np.exp(k * (y - top))
        return (w @ (e * y)) / (w @ e) - 1.0 / k - (w @ y) / w.sum()

    k = optimize.brentq(g, 1e-3, 1e3, xtol=1e-15, rtol=1e-15)
    return k, np.exp(top + np.log((w @ np.exp(k * (y - top))) / w.sum()) / k)


def _reference_nbinom(x, w):
    """Weighted MLE of one column, optimized in (log n, log mean).

    ``n`` and the mean ``n (1 - p) / p`` are orthogonal parameters (their Fisher
    information is diagonal), so the simplex does not crawl along a ridge.
    """
    values, index = np.unique(x, return_inverse=True)
    weights = np.bincount(index, weights=w)  # the same likelihood, one term per value

    def nll(theta):
        n, mean = np.exp(theta)
        return -weights @ ss.nbinom.logpmf(values, n, n / (n + mean))

    m, v = np.average(x, weights=w), np.cov(x, aweights=w)
    n, mean = np.exp(_minimize(nll, [np.log(m * m / (v - m)), np.log(m)]))
    return n, n / (n + mean)


def _profile_root_nbinom(x, w):
    total, s = w.sum(), w @ x

    def g(n):
        return w @ (special.digamma(x + n) - special.digamma(n)) - total * np.log1p(s / (total * n))

    n = optimize.brentq(g, 1e-6, 1e6, xtol=1e-14, rtol=1e-15)
    return n, n * total / (n * total + s)


WEIBULL_MLE_CASES = [WEIBULLS[0], Weibull(shape=[1.3, 0.35], scale=[7.0, 1e-4])]
NBINOM_MLE_CASES = [NBINOMS[0], NegativeBinomial(n=[8.0, 0.15], p=[0.2, 0.01])]


@pytest.mark.parametrize("true", WEIBULL_MLE_CASES, ids=["three", "two"])
def test_weibull_weighted_mle_matches_a_numerical_optimizer(true):
    X, w = _weighted_data(true, 400, seed=3)
    fitted = Weibull().fit(X, weights=w)
    for d in range(X.shape[1]):
        shape, scale = _reference_weibull(X[:, d], w)
        np.testing.assert_allclose([fitted.shape[d], fitted.scale[d]], [shape, scale],
                                   rtol=1e-6)
        # and the fixed point solves the profile equation to rounding
        np.testing.assert_allclose([fitted.shape[d], fitted.scale[d]],
                                   _profile_root_weibull(X[:, d], w), rtol=1e-10)


@pytest.mark.parametrize("true", NBINOM_MLE_CASES, ids=["three", "two"])
def test_nbinom_weighted_mle_matches_a_numerical_optimizer(true):
    X, w = _weighted_data(true, 600, seed=4)
    fitted = NegativeBinomial().fit(X, weights=w)
    for d in range(X.shape[1]):
        n, p = _reference_nbinom(X[:, d], w)
        np.testing.assert_allclose([fitted.n[d], fitted.p[d]], [n, p], rtol=1e-6)
        np.testing.assert_allclose([fitted.n[d], fitted.p[d]],
                                   _profile_root_nbinom(X[:, d], w), rtol=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_one_m_step_never_lowers_the_weighted_log_likelihood(seed):
    """The MM guarantee, from starting points far from the optimum."""
    rng = np.random.default_rng(seed)
    X, w = _weighted_data(Weibull(shape=[2.0, 0.7], scale=[1.0, 30.0]), 300, seed)
    C, v = _weighted_data(NegativeBinomial(n=[0.5, 40.0], p=[0.1, 0.7]), 300, seed)
    for d, data, weights in ((Weibull(), X, w), (NegativeBinomial(), C, v)):
        start = d.init_from_data(data, weights)
        for _ in range(5):
            jitter = {k: np.clip(val * np.exp(rng.normal(0, 1.5, val.shape)), 1e-3, 0.999)
                      if k == "p" else val * np.exp(rng.normal(0, 1.5, val.shape))
                      for k, val in start.parameters().items()}
            here = start.with_parameters(jitter)
            before = weights @ here.log_prob(data)
            after = weights @ d.from_stats(here.stats(data, weights)).log_prob(data)
            assert after >= before - 1e-12 * abs(before)


def test_m_step_reads_its_starting_point_from_the_statistics():
    """A mixture calls the M-step on a template without parameters."""
    for d in (WEIBULLS[0], NBINOMS[0]):
        X, w = _weighted_data(d, 100, seed=5)
        s = d.stats(X, w)
        for a, b in zip(tree_leaves(type(d)().from_stats(s).parameters()),
                        tree_leaves(d.from_stats(s).parameters()), strict=True):
            np.testing.assert_array_equal(a, b)


def test_ratio_sum_has_no_cancellation():
    x = np.array([[0.0, 1.0, 2.0, 7.0, 40.0, 3000.0]]).T @ np.ones((1, 5))
    a = np.array([0.3, 5.0, 25.0, 1e4, 1e7])
    exact = np.array([[np.sum(np.arange(int(xi)) / (aj + np.arange(int(xi)))) for aj in a]
                      for xi in x[:, 0]])
    np.testing.assert_allclose(ratio_sum(x, a), exact, rtol=1e-12, atol=1e-300)


# ---------------------------------------------------------------- statistics
@pytest.mark.parametrize("dist", [WEIBULLS[0], NBINOMS[0],
                                  NegativeBinomial(n=[2.0, 5.0, 1.0], p=[0.5, 0.2, 0.9],
                                                   fit_n=False)],
                         ids=["weibull", "nbinom", "nbinom_fixed_n"])
def test_stats_are_additive_over_rows(dist):
    X, w = _weighted_data(dist, 301, seed=6)
    whole = dist.stats(X, w)
    halves = tree_add(dist.stats(X[:150], w[:150]), dist.stats(X[150:], w[150:]))
    assert whole.keys() == halves.keys()
    for a, b in zip(tree_leaves(halves), tree_leaves(whole), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("template", [Weibull(), NegativeBinomial()], ids=["weibull", "nbinom"])
def test_stats_need_parameters(template):
    with pytest.raises(ValueError, match="no value for"):
        template.stats(np.ones((3, 1)))


@pytest.mark.parametrize("true", [WEIBULLS[0], NBINOMS[0]], ids=["weibull", "nbinom"])
def test_integer_weights_equal_repeated_rows(true):
    X = true.sample(80, rng=7)
    counts = np.random.default_rng(8).integers(0, 4, size=80)
    weighted = type(true)().fit(X, weights=counts.astype(float))
    repeated = type(true)().fit(np.repeat(X, counts, axis=0))
    for a, b in zip(tree_leaves(weighted.parameters()), tree_leaves(repeated.parameters()),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8)


# --------------------------------------------------------------------- input
@pytest.mark.parametrize(
    ("dist", "X", "match"),
    [
        (Weibull(), [[1.0], [0.0]], "strictly positive"),
        (Weibull(), [[-2.0]], "strictly positive"),
        (Weibull(), [[np.nan]], "NaN"),
        (Weibull(shape=[1.0], scale=[1.0]), [[1.0, 2.0]], "has 2 features but"),
        (NegativeBinomial(), [[1.5]], "non-negative integer"),
        (NegativeBinomial(), [[2.0], [-1.0]], "non-negative integer"),
        (NegativeBinomial(), [[np.nan]], "NaN"),
        (NegativeBinomial(), [[np.inf]], "NaN or infinite"),
    ],
)
def test_bad_input_is_refused_with_a_message(dist, X, match):
    with pytest.raises(ValueError, match=match):
        dist.fit(X)
    with pytest.raises(ValueError, match=match):
        emkit.MixtureModel(dist, n_components=1).fit(X)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="shape_bounds"):
        Weibull(shape_bounds=(2.0, 1.0)).fit([[1.0], [2.0]])
    with pytest.raises(ValueError, match="n_bounds"):
        NegativeBinomial(n_bounds=(0.0, 10.0)).fit([[1.0], [2.0]])
    with pytest.raises(ValueError, match="fit_n=False needs a value for n"):
        NegativeBinomial(fit_n=False).fit([[1.0], [2.0]])


def test_degenerate_data_end_at_the_bounds():
    assert Weibull().fit(np.full((10, 1), 2.0)).shape[0] == 1e3  # one value: k -> inf
    under = NegativeBinomial().fit(np.array([[0.0], [1.0], [2.0]]))  # variance < mean
    assert under.n[0] == 1e6 and under.p[0] == pytest.approx(1e6 / (1e6 + 1))
    zeros = NegativeBinomial().fit(np.zeros((5, 1)))
    assert zeros.p[0] == 1.0 and np.all(zeros.log_prob(np.zeros((2, 1))) == 0.0)


def test_fixed_n_gives_the_closed_form_p():
    X = np.array([[0.0], [3.0], [5.0], [1.0]])
    w = np.array([1.0, 2.0, 0.5, 1.0])
    fitted = NegativeBinomial(n=[2.0], fit_n=False).fit(X, weights=w)
    assert fitted.n[0] == 2.0 and fitted.n_parameters == 1
    np.testing.assert_allclose(fitted.p, 2.0 * w.sum() / (2.0 * w.sum() + w @ X[:, 0]))
    assert NegativeBinomial().exact_m_step is False and fitted.exact_m_step is True


# --------------------------------------------------------- sampling, saving
def test_large_sample_moments():
    k, lam = np.array([0.8, 3.0]), np.array([2.0, 50.0])
    X = Weibull(shape=k, scale=lam).sample(200_000, rng=9)
    mean = lam * special.gamma(1 + 1 / k)
    var = lam**2 * (special.gamma(1 + 2 / k) - special.gamma(1 + 1 / k) ** 2)
    np.testing.assert_allclose(X.mean(axis=0), mean, rtol=0.01)
    np.testing.assert_allclose(X.var(axis=0), var, rtol=0.03)
    n, p = np.array([0.5, 20.0]), np.array([0.1, 0.6])
    C = NegativeBinomial(n=n, p=p).sample(200_000, rng=10)
    assert np.all(C == np.round(C)) and np.all(C >= 0)
    np.testing.assert_allclose(C.mean(axis=0), n * (1 - p) / p, rtol=0.01)
    np.testing.assert_allclose(C.var(axis=0), n * (1 - p) / p**2, rtol=0.03)


@pytest.mark.parametrize("dist", [WEIBULLS[0], NBINOMS[0],
                                  NegativeBinomial(n=[3.0], p=[0.4], fit_n=False,
                                                   n_bounds=(1e-3, 1e3)),
                                  Weibull(shape=[2.0], scale=[1.0], shape_bounds=(0.1, 50.0))],
                         ids=["weibull", "nbinom", "nbinom_settings", "weibull_settings"])
def test_save_and_load_round_trip(dist, tmp_path):
    loaded = emkit.load(dist.save(tmp_path / "d.npz"))
    assert type(loaded) is type(dist)
    for name, value in dist.get_params().items():
        np.testing.assert_array_equal(np.asarray(getattr(loaded, name)), np.asarray(value))
    X = dist.sample(20, rng=11)
    np.testing.assert_array_equal(loaded.log_prob(X), dist.log_prob(X))
    assert dist.n_parameters == loaded.n_parameters


def test_n_parameters_and_feasibility():
    assert WEIBULLS[0].n_parameters == 6 and NBINOMS[0].n_parameters == 6
    w = Weibull(shape_bounds=(0.1, 10.0))
    assert w.is_feasible({"shape": np.array([1.0]), "scale": np.array([2.0])})
    assert not w.is_feasible({"shape": np.array([20.0]), "scale": np.array([2.0])})
    assert not w.is_feasible({"shape": np.array([1.0]), "scale": np.array([0.0])})
    nb = NegativeBinomial()
    assert nb.is_feasible({"n": np.array([1.0]), "p": np.array([1.0])})
    assert not nb.is_feasible({"n": np.array([1.0]), "p": np.array([0.0])})
    assert not nb.is_feasible({"n": np.array([-1.0]), "p": np.array([0.5])})


# ---------------------------------------------------------------- mixtures
def _fit_traced(model, X):
    logliks = []
    with observe(lambda step: logliks.append(step.loglik)):
        model.fit(X)
    return model, np.asarray(logliks)


def _assert_monotone(logliks):
    assert len(logliks) > 2
    assert np.all(np.diff(logliks) >= -1e-12 * np.abs(logliks[1:]))


def test_weibull_mixture_recovers_two_components():
    rng = np.random.default_rng(12)
    X = np.concatenate([ss.weibull_min.rvs(2.0, scale=1.0, size=1200, random_state=rng),
                        ss.weibull_min.rvs(6.0, scale=10.0, size=800, random_state=rng)])[:, None]
    model, logliks = _fit_traced(
        emkit.MixtureModel(Weibull(), n_components=2, random_state=0, tol=1e-8), X)
    _assert_monotone(logliks)
    _assert_monotone(model.lower_bounds_)
    order = np.argsort([c.scale[0] for c in model.components_])
    comps = [model.components_[i] for i in order]
    np.testing.assert_allclose(model.weights_[order], [0.6, 0.4], atol=0.03)
    np.testing.assert_allclose([c.shape[0] for c in comps], [2.0, 6.0], rtol=0.1)
    np.testing.assert_allclose([c.scale[0] for c in comps], [1.0, 10.0], rtol=0.05)


def test_nbinom_mixture_recovers_two_components():
    rng = np.random.default_rng(13)
    X = np.concatenate([ss.nbinom.rvs(2.0, 0.5, size=1200, random_state=rng),
                        ss.nbinom.rvs(20.0, 0.4, size=800, random_state=rng)])[:, None]
    model, logliks = _fit_traced(
        emkit.MixtureModel(NegativeBinomial(), n_components=2, random_state=0, tol=1e-8),
        X.astype(float))
    _assert_monotone(logliks)
    order = np.argsort([c.n[0] * (1 - c.p[0]) / c.p[0] for c in model.components_])
    comps = [model.components_[i] for i in order]
    np.testing.assert_allclose(model.weights_[order], [0.6, 0.4], atol=0.03)
    np.testing.assert_allclose([c.n[0] for c in comps], [2.0, 20.0], rtol=0.35)
    np.testing.assert_allclose([c.n[0] * (1 - c.p[0]) / c.p[0] for c in comps], [2.0, 30.0],
                               rtol=0.1)


@pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")  # tol=0
@pytest.mark.parametrize("template", [Weibull(), NegativeBinomial()], ids=["weibull", "nbinom"])
def test_mixture_is_monotone_from_random_starts_and_chunks_add_up(template):
    rng = np.random.default_rng(14)
    if isinstance(template, Weibull):
        X = np.concatenate([ss.weibull_min.rvs(0.7, scale=1.0, size=300, random_state=rng),
                            ss.weibull_min.rvs(4.0, scale=3.0, size=300, random_state=rng)])
    else:
        X = np.concatenate([ss.nbinom.rvs(0.5, 0.1, size=300, random_state=rng),
                            ss.nbinom.rvs(30.0, 0.6, size=300, random_state=rng)]).astype(float)
    X = X[:, None]
    settings = {"n_components": 3, "init_params": "random", "random_state": 1, "max_iter": 40,
                "tol": 0.0}
    whole, logliks = _fit_traced(emkit.MixtureModel(template, **settings), X)
    _assert_monotone(logliks)
    chunked = emkit.MixtureModel(template, chunk_size=97, **settings).fit(X)
    np.testing.assert_allclose(chunked.lower_bounds_, whole.lower_bounds_, rtol=1e-9)
    for a, b in zip(chunked.components_, whole.components_, strict=True):
        for x, y in zip(tree_leaves(a.parameters()), tree_leaves(b.parameters()), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-7)
