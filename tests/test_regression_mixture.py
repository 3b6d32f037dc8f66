"""emkit.RegressionMixture against peers: scikit-learn's GLMs (K = 1), an independent
EM written here (K = 2), and recovery of simulated segments."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as ss
from scipy.special import expit, gammaln
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor

import emkit
from emkit.models.regression.design import Design
from emkit.models.regression.model import RegressionMixtureEM

RNG = np.random.default_rng(11)
N = 500
# columns with offsets and units far apart: the scaled design must undo them exactly
X3 = RNG.normal(size=(N, 3)) * [1.0, 10.0, 100.0] + [0.0, 50.0, 1000.0]


# ------------------------------------------------------------------- K = 1: GLMs
def test_one_gaussian_component_is_ordinary_least_squares():
    y = 1.0 + X3 @ [1.0, -0.2, 0.01] + RNG.normal(0.0, 1.0, N)
    model = emkit.RegressionMixture(1).fit(X3, y)
    ols = LinearRegression().fit(X3, y)
    np.testing.assert_allclose(model.coef_[0], ols.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.intercept_[0], ols.intercept_, rtol=1e-9)
    rss = np.sum((y - ols.predict(X3)) ** 2)
    np.testing.assert_allclose(model.scale_[0], np.sqrt(rss / N), rtol=1e-9)
    np.testing.assert_allclose(model.weights_, [1.0])
    # the log-likelihood of the OLS fit at the ML scale, in closed form
    expected = -0.5 * N * (np.log(2 * np.pi * rss / N) + 1.0)
    np.testing.assert_allclose(model.lower_bound_ * N, expected, rtol=1e-10)
    np.testing.assert_allclose(model.predict(X3), ols.predict(X3), rtol=1e-9)


def test_one_gaussian_component_with_sample_weights_is_weighted_least_squares():
    y = 2.0 - X3[:, 0] + RNG.normal(0.0, 1.0, N)
    w = RNG.integers(0, 4, N).astype(float)
    model = emkit.RegressionMixture(1).fit(X3, y, sample_weight=w)
    wls = LinearRegression().fit(X3, y, sample_weight=w)
    np.testing.assert_allclose(model.coef_[0], wls.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.intercept_[0], wls.intercept_, rtol=1e-8)
    rss = np.sum(w * (y - wls.predict(X3)) ** 2)
    np.testing.assert_allclose(model.scale_[0], np.sqrt(rss / w.sum()), rtol=1e-9)
    # integer weights are repeated rows
    rows = np.repeat(np.arange(N), w.astype(int))
    repeated = emkit.RegressionMixture(1).fit(X3[rows], y[rows])
    np.testing.assert_allclose(repeated.coef_, model.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(repeated.scale_, model.scale_, rtol=1e-9)


def test_one_poisson_component_is_poisson_regression():
    y = RNG.poisson(np.exp(0.3 + X3 @ [0.2, 0.01, -0.001])).astype(float)
    model = emkit.RegressionMixture(1, family="poisson", tol=1e-12, max_iter=200).fit(X3, y)
    peer = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000,
                            solver="newton-cholesky").fit(X3, y)
    np.testing.assert_allclose(model.coef_[0], peer.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.intercept_[0], peer.intercept_, rtol=1e-6)
    assert model.converged_
    mu = peer.predict(X3)
    np.testing.assert_allclose(model.lower_bound_ * N,
                               np.sum(ss.poisson.logpmf(y, mu)), rtol=1e-10)


def test_one_binomial_component_is_logistic_regression():
    y = (RNG.random(N) < expit(0.3 + X3 @ [0.5, 0.05, -0.002])).astype(float)
    model = emkit.RegressionMixture(1, family="binomial", tol=1e-12, max_iter=200).fit(X3, y)
    peer = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000,
                              solver="newton-cholesky").fit(X3, y)
    np.testing.assert_allclose(model.coef_[0], peer.coef_[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.intercept_[0], peer.intercept_[0], rtol=1e-6)
    np.testing.assert_allclose(model.predict(X3), peer.predict_proba(X3)[:, 1], rtol=1e-6)


def test_binomial_successes_and_failures_equal_the_expanded_outcomes():
    m = RNG.integers(1, 6, N)
    s = RNG.binomial(m, expit(-0.5 + 0.8 * X3[:, 0]))
    model = emkit.RegressionMixture(1, family="binomial", tol=1e-12, max_iter=200).fit(
        X3, np.column_stack([s, m - s]))
    # the same data as weighted 0/1 rows, fitted by scikit-learn
    Xe = np.r_[X3, X3]
    ye = np.r_[np.ones(N), np.zeros(N)]
    we = np.r_[s, m - s].astype(float)
    peer = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000,
                              solver="newton-cholesky").fit(Xe, ye, sample_weight=we)
    np.testing.assert_allclose(model.coef_[0], peer.coef_[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.intercept_[0], peer.intercept_[0], rtol=1e-6)
    # the binomial coefficients are part of the log-likelihood
    p = expit(peer.intercept_[0] + X3 @ peer.coef_[0])
    np.testing.assert_allclose(model.score(X3, np.column_stack([s, m - s])),
                               np.mean(ss.binom.logpmf(s, m, p)), rtol=1e-8)


# -------------------------------------------------- K = 2: an independent EM here
def _two_lines(n=800, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 10.0, n)
    z = rng.random(n) < 0.4
    y = np.where(z, 1.0 + 2.0 * x, 8.0 - 0.5 * x) + rng.normal(0.0, 1.0, n)
    return x[:, None] + 100.0, y, z  # an offset the scaled design has to undo


def _numpy_em_gaussian(x, y, coef, scale, weights, n_iter):
    """Textbook EM for a mixture of linear regressions: weighted least squares."""
    A = np.column_stack([np.ones_like(x), x])
    coef, scale, weights = coef.copy(), scale.copy(), weights.copy()
    for _ in range(n_iter):
        logp = np.log(weights) + ss.norm.logpdf(y[:, None], A @ coef.T, scale)
        r = np.exp(logp - np.logaddexp.reduce(logp, axis=1)[:, None])
        for k in range(len(weights)):
            Aw = A * r[:, k : k + 1]
            coef[k] = np.linalg.solve(Aw.T @ A, Aw.T @ y)
            scale[k] = np.sqrt(r[:, k] @ (y - A @ coef[k]) ** 2 / r[:, k].sum())
        weights = r.mean(axis=0)
    return coef, scale, weights


def test_two_gaussian_components_follow_an_independent_em_step_for_step():
    X, y, _ = _two_lines()
    coef0 = np.array([[-195.0, 1.8], [55.0, -0.3]])  # near y = -199 + 2x and 58 - x/2
    init_orig = (coef0, np.array([2.0, 3.0]), np.array([0.5, 0.5]))
    design = Design.from_range(X.min(axis=0), X.max(axis=0))
    model = RegressionMixtureEM("gaussian", 2, design)
    init = {"coef": design.to_scaled(coef0[:, 0], coef0[:, 1:]), "scale": init_orig[1],
            "weights": init_orig[2]}
    for n_iter in (1, 7, 40):
        with pytest.warns(emkit.ConvergenceWarning):
            result = emkit.em(model, (X, y), init, tol=0.0, max_iter=n_iter)
        coef, scale, weights = _numpy_em_gaussian(X[:, 0], y, *init_orig, n_iter)
        a, b = design.to_original(result.params["coef"])
        np.testing.assert_allclose(np.column_stack([a, b]), coef, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(result.params["scale"], scale, rtol=1e-8)
        np.testing.assert_allclose(result.params["weights"], weights, rtol=1e-8)


def test_two_gaussian_components_recover_the_segments():
    X, y, z = _two_lines(n=2000, seed=1)
    model = emkit.RegressionMixture(2, n_init=3, random_state=0, tol=1e-8,
                                    max_iter=500).fit(X, y)
    order = np.argsort(model.coef_[:, 0])  # falling line first
    np.testing.assert_allclose(model.coef_[order, 0], [-0.5, 2.0], atol=0.05)
    np.testing.assert_allclose(model.scale_[order], [1.0, 1.0], atol=0.08)
    np.testing.assert_allclose(model.weights_[order], [0.6, 0.4], atol=0.03)
    labels = model.predict_proba(X, y).argmax(axis=1)
    assert np.mean((labels == order[1]) == z) > 0.9
    # the fit is a maximum the independent EM does not leave
    coef = np.column_stack([model.intercept_, model.coef_])
    again = _numpy_em_gaussian(X[:, 0], y, coef, model.scale_, model.weights_, 1)
    np.testing.assert_allclose(again[0], coef, rtol=1e-5, atol=1e-5)


def _numpy_em_poisson(x, y, coef, weights, n_iter):
    """Exact EM for a Poisson regression mixture: each M-step is a full weighted fit."""
    A = np.column_stack([np.ones_like(x), x])
    coef, weights = coef.copy(), weights.copy()
    for _ in range(n_iter):
        eta = A @ coef.T
        logp = np.log(weights) + y[:, None] * eta - np.exp(eta) - gammaln(y + 1)[:, None]
        r = np.exp(logp - np.logaddexp.reduce(logp, axis=1)[:, None])
        for k in range(len(weights)):
            def nll(b, rk=r[:, k]):
                e = A @ b
                return -(rk @ (y * e - np.exp(e))), -(A.T @ (rk * (y - np.exp(e))))
            coef[k] = optimize.minimize(nll, coef[k], jac=True, method="BFGS",
                                        options={"gtol": 1e-11}).x
        weights = r.mean(axis=0)
    return coef, weights


def test_two_poisson_components_reach_the_independent_exact_em_maximum():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 2.0, 1500)
    z = rng.random(1500) < 0.5
    y = rng.poisson(np.exp(np.where(z, 0.5 + 1.0 * x, 2.5 - 0.8 * x))).astype(float)
    model = emkit.RegressionMixture(2, family="poisson", tol=1e-14, max_iter=2000,
                                    accelerate="squarem", random_state=0).fit(x[:, None], y)
    assert model.converged_
    order = np.argsort(model.coef_[:, 0])
    np.testing.assert_allclose(model.coef_[order, 0], [-0.8, 1.0], atol=0.1)
    # exact EM (each M-step a full weighted Poisson fit by BFGS) does not leave the fit
    coef = np.column_stack([model.intercept_, model.coef_])
    ref_coef, ref_w = _numpy_em_poisson(x, y, coef, model.weights_, 10)
    np.testing.assert_allclose(ref_coef, coef, atol=1e-6)
    np.testing.assert_allclose(ref_w, model.weights_, atol=1e-6)
    # and each component is scikit-learn's Poisson regression on its posterior weights
    post = model.predict_proba(x[:, None], y)
    for k in range(2):
        peer = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000, solver="newton-cholesky")
        peer.fit(x[:, None], y, sample_weight=post[:, k])
        np.testing.assert_allclose([peer.intercept_, peer.coef_[0]], coef[k], atol=1e-6)


def test_concomitant_weights_reach_the_independent_maximum_and_recover_the_logit():
    rng = np.random.default_rng(5)
    n = 3000
    x = rng.uniform(0.0, 10.0, n)
    zc = rng.normal(size=n)
    first = rng.random(n) < expit(-0.3 + 1.5 * zc)  # component 1 more likely for high z
    y = np.where(first, 1.0 + 2.0 * x, 8.0 - 0.5 * x) + rng.normal(0.0, 1.0, n)
    model = emkit.RegressionMixture(2, random_state=0, tol=1e-11, max_iter=2000,
                                    n_init=2).fit(x[:, None], y, concomitant=zc)
    assert model.concomitant_coef_.shape == (2, 2)
    np.testing.assert_array_equal(model.concomitant_coef_[0], [0.0, 0.0])
    steep = int(np.argmax(model.coef_[:, 0]))
    sign = 1.0 if steep == 1 else -1.0  # the logit of component 1 against 0
    np.testing.assert_allclose(sign * model.concomitant_coef_[1], [-0.3, 1.5], atol=0.2)
    # the independent check: at the fit, the weighted multinomial logit of the
    # posteriors is at its own maximum (scipy), and so are the regressions
    post = model.predict_proba(x[:, None], y, concomitant=zc)
    Zt = np.column_stack([np.ones(n), zc])

    def nll(g):
        eta = Zt @ g
        return -(post[:, 1] @ eta - np.logaddexp(0.0, eta).sum())

    g = optimize.minimize(nll, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(model.concomitant_coef_[1], g, atol=1e-5)
    for k in range(2):
        wls = LinearRegression().fit(x[:, None], y, sample_weight=post[:, k])
        np.testing.assert_allclose(model.coef_[k], wls.coef_, atol=1e-6)
    np.testing.assert_allclose(model.weights_, post.mean(axis=0), atol=1e-6)
