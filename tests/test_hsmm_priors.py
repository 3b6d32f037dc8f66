"""MAP duration M-steps of the HSMM against closed forms and a direct maximization.

Gamma(a, b) on a Poisson rate lambda of d - 1: without truncation the MAP rate is
(sum_d w_d (d - 1) + a - 1) / (N + b); truncated at max_duration it maximizes
sum_d w_d log P_trunc(d) + (a - 1) log lambda - b lambda, found here by scipy's
bounded scalar search on that objective. Dirichlet(alpha) on a nonparametric row:
(w + alpha - 1) / sum.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import poisson

from emkit.distributions import Gaussian
from emkit.estimators.hsmm import HSMM
from emkit.models.hmm.semi_markov_durations import fit_durations


def counts(k, dmax, seed):
    rng = np.random.default_rng(seed)
    return rng.gamma(2.0, size=(k, dmax)) * (np.arange(dmax) < 12)


@pytest.mark.parametrize("prior", [(1.0, 0.0), (3.0, 0.5), (20.0, 4.0), (1.0, 2.0)])
def test_poisson_gamma_map_equals_the_closed_form_without_truncation(prior):
    w = counts(3, 150, 0)  # mass on d <= 12, far below max_duration 150
    a, b = prior
    out = fit_durations("poisson", w, np.ones((3, 1)), prior)
    x = np.arange(150)
    expected = (w @ x + a - 1.0) / (w.sum(axis=1) + b)
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-10)


@pytest.mark.parametrize("prior", [(1.0, 0.0), (4.0, 0.3), (30.0, 2.0)])
def test_poisson_gamma_map_under_truncation_maximizes_the_posterior(prior):
    dmax = 8
    w = counts(2, dmax, 1)
    a, b = prior
    out = fit_durations("poisson", w, np.ones((2, 1)), prior)
    x = np.arange(dmax)
    for j in range(2):
        def minus_posterior(lam, j=j):
            logp = poisson.logpmf(x, lam) - np.log(poisson.cdf(dmax - 1, lam))
            return -(w[j] @ logp + (a - 1.0) * np.log(lam) - b * lam)

        ref = optimize.minimize_scalar(minus_posterior, bounds=(1e-6, 100.0), method="bounded",
                                       options={"xatol": 1e-12})
        assert out[j, 0] == pytest.approx(ref.x, rel=1e-6)
        assert minus_posterior(out[j, 0]) <= ref.fun + 1e-10


def test_dirichlet_on_nonparametric_durations_is_the_closed_form():
    w = counts(3, 10, 2)
    alpha = 2.5
    out = fit_durations("nonparametric", w, None, alpha)
    expected = (w + alpha - 1.0) / (w + alpha - 1.0).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def simulate():
    truth = HSMM([Gaussian(mean=[m], covariance=[[1.0]]) for m in (0.0, 4.0)], 2,
                 duration="poisson", max_duration=40, init_params="")
    truth.startprob_ = np.array([0.5, 0.5])
    truth.transmat_ = np.array([[0.0, 1.0], [1.0, 0.0]])
    truth.duration_params_ = np.array([[5.0], [12.0]])
    truth.emissions_ = list(truth.emission)
    truth.n_features_in_ = 1
    truth._set_state(truth._get_state())
    return truth.sample(1500, random_state=3)[0]


def test_one_em_step_with_a_gamma_prior_is_the_map_of_its_expected_counts():
    X = simulate()
    prior = (6.0, 1.5)
    m = HSMM(Gaussian(), 2, duration="poisson", max_duration=40, duration_prior=prior,
             n_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X)
    params = m._current_params()
    model = m._model(X, params)
    stats, _ = model.e_step(m._sequences(X, None), params)
    new = model.m_step(stats)["duration"][:, 0]
    w, x = stats["durations"], np.arange(40)
    for j in range(2):  # the stationarity equation N m(lambda) + b lambda = N xbar + a - 1
        p = poisson.pmf(x, new[j]) / poisson.cdf(39, new[j])
        lhs = w[j].sum() * (p @ x) + prior[1] * new[j]
        assert lhs == pytest.approx(w[j] @ x + prior[0] - 1.0, rel=1e-9)


def test_a_strong_gamma_prior_pulls_the_rates_towards_its_mode():
    X = simulate()
    fits = {}
    for name, prior in (("none", 1.0), ("strong", (20001.0, 1000.0))):  # mode 20, 1000 segments
        m = HSMM(Gaussian(), 2, duration="poisson", max_duration=40, duration_prior=prior,
                 n_iter=30, tol=1e-8, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[name] = m.fit(X)
    free = np.sort(fits["none"].duration_params_[:, 0])
    pulled = np.sort(fits["strong"].duration_params_[:, 0])
    assert np.all(np.abs(pulled - 20.0) < np.abs(free - 20.0))
    assert np.all(np.abs(pulled - 20.0) < 2.0)
    assert fits["strong"].monitor_.iter > 1


@pytest.mark.parametrize("duration,prior", [
    ("poisson", (0.5, 1.0)), ("poisson", (2.0, -1.0)), ("poisson", 2.0),
    ("negative_binomial", (2.0, 1.0)), ("nonparametric", 0.0), ("nonparametric", "x"),
    ("poisson", None)])
def test_bad_duration_priors_are_named(duration, prior):
    with pytest.raises(ValueError, match="duration_prior"):
        HSMM(Gaussian(), 2, duration=duration, max_duration=10, duration_prior=prior).fit(
            np.zeros((20, 1)))
