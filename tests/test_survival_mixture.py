"""emkit.SurvivalMixture against independent references: the censored MLE by a numerical
optimizer of a log-likelihood written here with scipy.stats, the exponential closed
form, a direct maximization of the cure model, recovery of simulated mixtures."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.exceptions import NotFittedError

import emkit

RNG = np.random.default_rng(7)
N = 800
FAIL = 3.0 * RNG.weibull(1.4, N)
CENSOR = RNG.uniform(0.0, 8.0, N)
TIME = np.minimum(FAIL, CENSOR)
EVENT = (FAIL <= CENSOR).astype(int)


def _frozen(family, p):
    """scipy.stats distribution of one component from unconstrained parameters."""
    if family == "exponential":
        return stats.expon(scale=1.0 / np.exp(p[0]))
    if family == "weibull":
        return stats.weibull_min(np.exp(p[0]), scale=np.exp(p[1]))
    return stats.lognorm(np.exp(p[1]), scale=np.exp(p[0]))


def _censored_loglik(family, p, t, d, w=None):
    dist = _frozen(family, p)
    terms = np.where(d == 1, dist.logpdf(t), dist.logsf(t))
    return float(terms.sum() if w is None else w @ terms)


def _numerical_mle(family, t, d, w=None):
    start = {"exponential": [0.0], "weibull": [0.0, 1.0], "lognormal": [1.0, 0.0]}[family]
    res = optimize.minimize(lambda p: -_censored_loglik(family, p, t, d, w), start,
                            method="Nelder-Mead",
                            options={"xatol": 1e-12, "fatol": 1e-13, "maxiter": 20000,
                                     "maxfev": 40000})
    res = optimize.minimize(lambda p: -_censored_loglik(family, p, t, d, w), res.x,
                            method="Nelder-Mead",
                            options={"xatol": 1e-12, "fatol": 1e-13, "maxiter": 20000,
                                     "maxfev": 40000})  # restarted: a fresh simplex
    return res.x, -res.fun


def _fit(family, k=1, t=TIME, d=EVENT, **kw):
    kw.setdefault("tol", 1e-12)
    kw.setdefault("max_iter", 5000)
    return emkit.SurvivalMixture(family, k, **kw).fit(t, d)


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
def test_one_component_is_the_censored_mle(family):
    p, loglik = _numerical_mle(family, TIME, EVENT)
    model = _fit(family)
    assert model.converged_
    if family == "exponential":
        np.testing.assert_allclose(model.rate_, [np.exp(p[0])], rtol=1e-6)
    elif family == "weibull":
        np.testing.assert_allclose([model.shape_[0], model.scale_[0]], np.exp(p), rtol=1e-6)
    else:
        np.testing.assert_allclose([model.meanlog_[0], model.sdlog_[0]],
                                   [p[0], np.exp(p[1])], rtol=1e-6)
    np.testing.assert_allclose(model.lower_bound_ * N, loglik, rtol=1e-9)
    np.testing.assert_allclose(model.score(TIME, EVENT), loglik / N, rtol=1e-9)
    np.testing.assert_allclose(model.weights_, [1.0])


def test_exponential_closed_form():
    model = _fit("exponential", tol=1e-3)
    np.testing.assert_allclose(model.rate_, [EVENT.sum() / TIME.sum()], rtol=1e-12)
    np.testing.assert_allclose(model.median_survival_, np.log(2.0) * TIME.sum() / EVENT.sum(),
                               rtol=1e-12)


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
def test_weighted_one_component_is_the_weighted_mle(family):
    w = RNG.integers(1, 4, N).astype(float)
    _, loglik = _numerical_mle(family, TIME, EVENT, w)
    model = emkit.SurvivalMixture(family, tol=1e-12, max_iter=5000).fit(
        TIME, EVENT, sample_weight=w)
    np.testing.assert_allclose(model.lower_bound_ * w.sum(), loglik, rtol=1e-9)
    repeated = _fit(family, t=np.repeat(TIME, w.astype(int)), d=np.repeat(EVENT, w.astype(int)))
    for name in ("rate_", "shape_", "scale_", "meanlog_", "sdlog_"):
        if hasattr(model, name):
            np.testing.assert_allclose(getattr(model, name), getattr(repeated, name),
                                       rtol=1e-7)


def _two_groups(n, rng):
    group = rng.random(n) < 0.35
    fail = np.where(group, 1.0 * rng.weibull(2.5, n), 8.0 * rng.weibull(3.0, n))
    censor = rng.uniform(0.0, 14.0, n)
    return np.minimum(fail, censor), (fail <= censor).astype(int), group


def test_two_component_weibull_recovery():
    t, d, group = _two_groups(3000, np.random.default_rng(3))
    model = emkit.SurvivalMixture("weibull", 2, tol=1e-8, max_iter=2000, n_init=3,
                                  random_state=0).fit(t, d)
    np.testing.assert_allclose(model.weights_, [0.35, 0.65], atol=0.03)
    np.testing.assert_allclose(model.shape_, [2.5, 3.0], rtol=0.12)
    np.testing.assert_allclose(model.scale_, [1.0, 8.0], rtol=0.05)
    labels = model.predict_proba(t, d).argmax(axis=1)
    assert np.mean(labels == (~group).astype(int)) > 0.95


@pytest.mark.parametrize("family", ["exponential", "lognormal"])
def test_two_component_recovery(family):
    rng = np.random.default_rng(11)
    n = 3000
    group = rng.random(n) < 0.4
    if family == "exponential":
        fail = np.where(group, rng.exponential(0.5, n), rng.exponential(10.0, n))
    else:
        fail = np.exp(np.where(group, rng.normal(0.0, 0.4, n), rng.normal(2.5, 0.5, n)))
    censor = rng.uniform(0.0, 40.0, n)
    t, d = np.minimum(fail, censor), (fail <= censor).astype(int)
    model = emkit.SurvivalMixture(family, 2, tol=1e-8, max_iter=3000, n_init=3,
                                  random_state=0).fit(t, d)
    np.testing.assert_allclose(model.weights_, [0.4, 0.6], atol=0.03)
    if family == "exponential":
        np.testing.assert_allclose(model.rate_, [2.0, 0.1], rtol=0.1)
    else:
        np.testing.assert_allclose(model.meanlog_, [0.0, 2.5], atol=0.05)
        np.testing.assert_allclose(model.sdlog_, [0.4, 0.5], rtol=0.1)


def _cure_data(n, rng):
    cured = rng.random(n) < 0.3
    fail = np.where(cured, np.inf, 2.0 * rng.weibull(1.8, n))
    censor = rng.uniform(0.0, 10.0, n)
    return np.minimum(fail, censor), (fail <= censor).astype(int)


def test_cure_model_against_direct_maximization():
    t, d = _cure_data(1500, np.random.default_rng(5))

    def negloglik(p):
        c = 1.0 / (1.0 + np.exp(-p[2]))
        dist = stats.weibull_min(np.exp(p[0]), scale=np.exp(p[1]))
        ev = np.log1p(-c) + dist.logpdf(t)
        cens = np.logaddexp(np.log(c), np.log1p(-c) + dist.logsf(t))
        return -float(np.where(d == 1, ev, cens).sum())

    res = optimize.minimize(negloglik, [0.0, 0.0, 0.0], method="Nelder-Mead",
                            options={"xatol": 1e-12, "fatol": 1e-13, "maxiter": 40000,
                                     "maxfev": 80000})
    res = optimize.minimize(negloglik, res.x, method="Nelder-Mead",
                            options={"xatol": 1e-12, "fatol": 1e-13, "maxiter": 40000,
                                     "maxfev": 80000})
    model = emkit.SurvivalMixture("weibull", cure=True, tol=1e-13, max_iter=20000,
                                  accelerate="squarem").fit(t, d)
    cure = 1.0 / (1.0 + np.exp(-res.x[2]))
    np.testing.assert_allclose(model.cure_fraction_, cure, rtol=1e-5)
    np.testing.assert_allclose([model.shape_[0], model.scale_[0]], np.exp(res.x[:2]), rtol=1e-5)
    np.testing.assert_allclose(model.lower_bound_ * t.size, -res.fun, rtol=1e-10)
    np.testing.assert_allclose(model.weights_.sum() + model.cure_fraction_, 1.0)
    assert abs(model.cure_fraction_ - 0.3) < 0.05
    # the survival function levels off at the cure fraction
    np.testing.assert_allclose(model.survival_function([1e6]), [model.cure_fraction_])


def test_cure_posteriors():
    t, d = _cure_data(600, np.random.default_rng(6))
    model = emkit.SurvivalMixture("weibull", cure=True, random_state=0).fit(t, d)
    proba = model.predict_proba(t, d)
    assert proba.shape == (600, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba[d == 1, 1], 0.0)
    # a censored row's posterior of cure: c / (c + (1 - c) S(t)) by hand
    c = model.cure_fraction_
    s = stats.weibull_min(model.shape_[0], scale=model.scale_[0]).sf(t[d == 0])
    np.testing.assert_allclose(proba[d == 0, 1], c / (c + model.weights_[0] * s), rtol=1e-10)


def test_median_is_infinite_when_half_are_cured():
    rng = np.random.default_rng(8)
    cured = rng.random(1000) < 0.7
    fail = np.where(cured, np.inf, rng.exponential(1.0, 1000))
    t, d = np.minimum(fail, 20.0), (fail <= 20.0).astype(int)
    model = emkit.SurvivalMixture("exponential", cure=True).fit(t, d)
    assert model.cure_fraction_ > 0.5
    assert model.median_survival_ == np.inf


def test_curves_against_scipy():
    t, d, _ = _two_groups(1000, np.random.default_rng(9))
    model = emkit.SurvivalMixture("lognormal", 2, random_state=0, n_init=2).fit(t, d)
    grid = np.linspace(0.1, 15.0, 40)
    parts = [stats.lognorm(s, scale=np.exp(m))
             for m, s in zip(model.meanlog_, model.sdlog_, strict=True)]
    pairs = list(zip(model.weights_, parts, strict=True))
    sf = sum(w * p.sf(grid) for w, p in pairs)
    pdf = sum(w * p.pdf(grid) for w, p in pairs)
    np.testing.assert_allclose(model.survival_function(grid), sf, rtol=1e-10)
    np.testing.assert_allclose(model.hazard(grid), pdf / sf, rtol=1e-8)
    assert model.survival_function(grid).shape == (40,)
    np.testing.assert_allclose(sum(w * p.sf(model.median_survival_)
                                   for w, p in pairs), 0.5, atol=1e-12)
    mix = sum(w * np.where(d == 1, p.pdf(t), p.sf(t)) for w, p in pairs)
    np.testing.assert_allclose(model.score_samples(t, d), np.log(mix), rtol=1e-10, atol=1e-14)
    k = model.n_parameters()
    assert k == 5
    np.testing.assert_allclose(model.bic(t, d), -2 * np.log(mix).sum() + k * np.log(t.size))
    np.testing.assert_allclose(model.aic(t, d), -2 * np.log(mix).sum() + 2 * k)


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
@pytest.mark.parametrize("cure", [False, True])
def test_log_likelihood_never_decreases(family, cure):
    t, d, _ = _two_groups(700, np.random.default_rng(10))
    with warnings.catch_warnings():
        warnings.simplefilter("error", emkit.MonotonicityWarning)
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        model = emkit.SurvivalMixture(family, 2, cure=cure, tol=0.0, max_iter=150,
                                      random_state=1).fit(t, d)
    steps = np.diff(model.lower_bounds_)
    assert np.all(steps >= -1e-12 * np.abs(model.lower_bounds_[1:])), steps.min()
    assert steps.sum() > 0


def test_sample_matches_the_fitted_mixture():
    t, d = _cure_data(800, np.random.default_rng(12))
    model = emkit.SurvivalMixture("weibull", cure=True).fit(t, d)
    draws, labels = model.sample(40000, random_state=0)
    np.testing.assert_allclose(np.mean(np.isinf(draws)), model.cure_fraction_, atol=0.01)
    np.testing.assert_array_equal(np.isinf(draws), labels == 1)
    for q in (1.0, 2.0, 4.0):
        np.testing.assert_allclose(np.mean(draws > q), model.survival_function([q])[0],
                                   atol=0.01)


def test_save_and_load(tmp_path):
    t, d = _cure_data(400, np.random.default_rng(13))
    model = emkit.SurvivalMixture("lognormal", 2, cure=True, random_state=0).fit(t, d)
    path = model.save(tmp_path / "survival.npz")
    loaded = emkit.load(path)
    assert type(loaded) is emkit.SurvivalMixture
    assert loaded.get_params() == model.get_params()
    for name in ("weights_", "meanlog_", "sdlog_", "cure_fraction_", "median_survival_",
                 "lower_bound_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    np.testing.assert_array_equal(loaded.predict_proba(t, d), model.predict_proba(t, d))


BAD = [
    ({"time": [1.0, 0.0, 2.0]}, "time must be strictly positive"),
    ({"time": [1.0, -1.0, 2.0]}, "time must be strictly positive"),
    ({"time": [1.0, np.nan, 2.0]}, "time contains NaN"),
    ({"time": [1.0, np.inf, 2.0]}, "time contains NaN"),
    ({"event": [1, 2, 0]}, "event must be 0"),
    ({"event": [1, 0.5, 0]}, "event must be 0"),
    ({"event": [1, 0]}, "event has 2 rows but time has 3"),
    ({"event": [0, 0, 0]}, "event: every row is censored"),
    ({"sample_weight": [1.0, -1.0, 1.0]}, "sample_weight must be finite"),
    ({"sample_weight": [1.0, 1.0]}, "sample_weight has 2 rows"),
    ({"time": [[1.0, 2.0, 3.0]]}, "time must be 1-D"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_input_is_refused(change, message):
    args = {"time": [1.0, 2.0, 3.0], "event": [1, 0, 1], "sample_weight": None, **change}
    with pytest.raises(ValueError, match=message):
        emkit.SurvivalMixture("exponential").fit(args["time"], args["event"],
                                                 sample_weight=args["sample_weight"])


def test_too_few_failures_for_the_components():
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    d = np.array([1, 1, 0, 0, 1])
    with pytest.raises(ValueError, match="event: 3 distinct observed failure"):
        emkit.SurvivalMixture("weibull", 2).fit(t, d)


@pytest.mark.parametrize(("kw", "name"), [
    ({"distribution": "gamma"}, "distribution"), ({"n_components": 0}, "n_components"),
    ({"cure": "yes"}, "cure"), ({"tol": -1.0}, "tol"), ({"max_iter": 0}, "max_iter"),
    ({"init_params": "kmeans++"}, "init_params"), ({"shape_bounds": (2.0, 1.0)}, "shape_bounds"),
])
def test_bad_settings_are_named(kw, name):
    with pytest.raises(ValueError, match=name):
        emkit.SurvivalMixture(**kw).fit(TIME, EVENT)


def test_prediction_inputs_are_checked():
    model = _fit("exponential", tol=1e-3)
    with pytest.raises(ValueError, match="t must be finite and strictly positive"):
        model.survival_function([1.0, -2.0])
    with pytest.raises(ValueError, match="event must be 0"):
        model.predict_proba([1.0], [3])
    with pytest.raises(NotFittedError):
        emkit.SurvivalMixture().survival_function([1.0])


def test_heart_transplant_data_and_its_weibull_mle():
    heart = emkit.datasets.load_heart_transplant()
    assert list(heart.columns) == ["time", "event", "age"]
    assert heart.shape == (69, 3)
    assert int(heart["event"].sum()) == 45
    t, d = heart["time"].to_numpy(dtype=float), heart["event"].to_numpy()
    p, loglik = _numerical_mle("weibull", t, d)
    model = _fit("weibull", t=t, d=d)
    np.testing.assert_allclose([model.shape_[0], model.scale_[0]], np.exp(p), rtol=1e-6)
    np.testing.assert_allclose(model.lower_bound_ * t.size, loglik, rtol=1e-10)


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
def test_changing_the_time_unit_rescales_the_fit(family):
    """Times in other units give the same fit in those units (an invariance, no reference)."""
    t, d, _ = _two_groups(600, np.random.default_rng(14))
    a = emkit.SurvivalMixture(family, 2, random_state=0, tol=1e-10, max_iter=3000).fit(t, d)
    b = emkit.SurvivalMixture(family, 2, random_state=0, tol=1e-10,
                              max_iter=3000).fit(1000.0 * t, d)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-5)
    if family == "exponential":
        np.testing.assert_allclose(a.rate_, 1000.0 * b.rate_, rtol=1e-5)
    elif family == "weibull":
        np.testing.assert_allclose(a.shape_, b.shape_, rtol=1e-5)
        np.testing.assert_allclose(1000.0 * a.scale_, b.scale_, rtol=1e-5)
    else:
        np.testing.assert_allclose(a.meanlog_ + np.log(1000.0), b.meanlog_, rtol=1e-6)
        np.testing.assert_allclose(a.sdlog_, b.sdlog_, rtol=1e-5)
    # only the events' densities change units: log L moves by the events' log 1000
    np.testing.assert_allclose(a.lower_bound_ - b.lower_bound_, d.mean() * np.log(1000.0),
                               rtol=1e-8)
