"""The log-normal survival component's Newton M-step: its gain bound holds, and it
converges in a few iterations where the data-augmentation step crawls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import log_ndtr

import emkit
from emkit.models.survival.lognormal import H_SLOPE, _newton_step, lognormal_stats


def _censored(n, seed, censor_scale, meanlog=1.0, sdlog=0.8):
    rng = np.random.default_rng(seed)
    fail = np.exp(rng.normal(meanlog, sdlog, n))
    censor = rng.exponential(censor_scale, n)
    return np.minimum(fail, censor), (fail <= censor).astype(float)


def test_curvature_of_log_phi_is_in_0_1_with_slope_below_h_slope():
    """h = -(log Phi)'' by finite differences of scipy's log_ndtr (not the module's formula)."""
    u = np.linspace(-12.0, 12.0, 24001)
    step = 1e-3
    h = -(log_ndtr(u + step) - 2.0 * log_ndtr(u) + log_ndtr(u - step)) / step ** 2
    assert h.min() > -1e-6 and h.max() < 1.0 + 1e-6
    slope = np.abs(np.diff(h) / np.diff(u))
    assert slope.max() <= H_SLOPE
    assert slope.max() > 0.29  # the bound is tight, not a loose constant


def _q(t, d, r, meanlog, sdlog):
    """One component's part of Q from the rows with scipy.stats."""
    dist = stats.lognorm(sdlog, scale=np.exp(meanlog))
    return float(r @ np.where(d == 1, dist.logpdf(t), dist.logsf(t)))


@pytest.mark.parametrize("seed", range(8))
def test_guaranteed_gain_is_a_lower_bound_of_q_gain(seed):
    rng = np.random.default_rng(seed)
    t, d = _censored(300, seed, censor_scale=rng.uniform(0.5, 4.0))
    r = rng.uniform(0.05, 1.0, t.size)
    mu0, sigma0 = rng.normal(1.0, 2.0), np.exp(rng.normal(0.0, 1.0))  # often far off
    s = lognormal_stats({"meanlog": [mu0], "sdlog": [sigma0]}, t, d, r[:, None])
    delta, gamma, gain = _newton_step(float(r @ d), float(s["ez1"][0]), float(s["ez2"][0]),
                                      float(s["cl"][0]), float(s["clz"][0]), s["ch"][0],
                                      s["cmom"][0])
    assert gain > 0.0
    sigma = sigma0 / gamma
    mu = mu0 + delta * sigma
    actual = _q(t, d, r, mu, sigma) - _q(t, d, r, mu0, sigma0)
    assert actual >= gain * (1.0 - 1e-9) - 1e-9


def _mle(t, d):
    y = np.log(t)

    def nll(p):
        dist = stats.norm(p[0], np.exp(p[1]))
        return -np.sum(np.where(d == 1, dist.logpdf(y) - y, dist.logsf(y)))

    res = optimize.minimize(nll, [y.mean(), np.log(y.std())], method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    return res.x[0], np.exp(res.x[1]), -res.fun


def _augmentation_iterations(t, d, mu, sigma, tol):
    """The data-augmentation EM (truncated-normal moments), written here: its iterations."""
    y = np.log(t)
    seen = d == 1
    previous = -np.inf
    for iteration in range(1, 100000):
        dist = stats.norm(mu, sigma)
        loglik = np.sum(np.where(seen, dist.logpdf(y) - y, dist.logsf(y)))
        if loglik - previous < tol:
            return iteration - 1, mu, sigma
        previous = loglik
        a = (y - mu) / sigma
        mills = stats.norm.pdf(a) / stats.norm.sf(a)
        e1 = np.where(seen, y, mu + sigma * mills)
        e2 = np.where(seen, y * y, mu * mu + sigma * sigma + sigma * (mu + y) * mills)
        mu = e1.mean()
        sigma = np.sqrt(e2.mean() - mu * mu)
    raise AssertionError("no convergence")


def test_heavy_censoring_converges_in_a_few_newton_iterations():
    t, d = _censored(2000, 0, censor_scale=2.0)
    assert 0.65 < 1.0 - d.mean() < 0.75
    mu, sigma, loglik = _mle(t, d)
    model = emkit.SurvivalMixture("lognormal", tol=1e-8, max_iter=500).fit(t, d)
    np.testing.assert_allclose([model.meanlog_[0], model.sdlog_[0]], [mu, sigma], rtol=1e-6)
    np.testing.assert_allclose(model.lower_bound_ * t.size, loglik, rtol=1e-10)
    assert model.n_iter_ <= 6
    # the same stopping rule on the data-augmentation step alone needs many more
    slow, _, _ = _augmentation_iterations(t, d, model.meanlog_[0] - 1.0, 1.5, 1e-8 * t.size)
    assert slow >= 4 * model.n_iter_


def test_extreme_censoring_reaches_the_mle():
    t, d = _censored(2000, 0, censor_scale=0.35)
    assert 1.0 - d.mean() > 0.95
    mu, sigma, _ = _mle(t, d)
    model = emkit.SurvivalMixture("lognormal", tol=1e-10, max_iter=500).fit(t, d)
    np.testing.assert_allclose([model.meanlog_[0], model.sdlog_[0]], [mu, sigma], rtol=1e-6)
    assert model.n_iter_ <= 10
