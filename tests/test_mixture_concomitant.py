"""MixtureModel.fit(X, concomitant=Z): mixing weights as a multinomial logit of Z.

The fixed point is checked against an EM written here in plain NumPy/SciPy (closed
form component updates, the logit's M-step by ``scipy.optimize`` on the expected
complete-data log-likelihood, in Z's own units) from the same start; the
intercept-only logit against the plain mixture; recovery of known coefficients
on simulated data; chunked, Dask, SQUAREM, save/load and refused input.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import log_softmax, logsumexp

import emkit
from emkit.distributions import Categorical, Gaussian

TRUE_COEF = np.array([[0.0, 0.0, 0.0], [0.5, 1.2, -0.8], [-0.4, -0.9, 1.5]])
MEANS = np.array([-4.0, 0.0, 4.0])


def simulate(n: int, seed: int, coef: np.ndarray = TRUE_COEF):
    """Z (n, 2) with offsets and units, labels from the logit, X (n, 1) Gaussian."""
    rng = np.random.default_rng(seed)
    Z = np.column_stack([rng.normal(5.0, 2.0, n), rng.uniform(-10.0, 10.0, n) / 10.0])
    Zs = np.column_stack([(Z[:, 0] - 5.0) / 2.0, Z[:, 1]])
    pi = np.exp(log_softmax(np.column_stack([np.ones(n), Zs]) @ coef.T, axis=1))
    labels = (rng.random(n)[:, None] > np.cumsum(pi, axis=1)).sum(axis=1)
    X = rng.normal(MEANS[labels], 1.0)[:, None]
    return X, Z, Zs, labels


def simulate_categorical(n: int, seed: int):
    """Three classes, four items of three categories each (a StepMix-like LCA)."""
    _, _, Zs, labels = simulate(n, seed)
    rng = np.random.default_rng(seed + 100)
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    items = np.column_stack([(rng.random(n)[:, None] > np.cumsum(probs[(labels + j) % 3],
                                                                 axis=1)).sum(axis=1)
                             for j in range(4)]).astype(float)
    return items, Zs, labels


# ------------------------------------------------------------ the reference EM
def logit_m_step(Zt: np.ndarray, resp: np.ndarray, G0: np.ndarray) -> np.ndarray:
    """argmax_G sum_ik r_ik log softmax(Zt G')_ik, G[0] = 0, by scipy.optimize."""
    k, q1 = G0.shape

    def neg_q(flat):
        G = np.vstack([np.zeros(q1), flat.reshape(k - 1, q1)])
        lp = log_softmax(Zt @ G.T, axis=1)
        grad = ((resp - np.exp(lp)) * resp.sum(axis=1, keepdims=True))[:, 1:].T @ Zt
        return -np.sum(resp * lp), -grad.ravel()

    res = optimize.minimize(neg_q, G0[1:].ravel(), jac=True, method="BFGS",
                            options={"gtol": 1e-10, "maxiter": 1000})
    return np.vstack([np.zeros(q1), res.x.reshape(k - 1, q1)])


def reference_em(X, Z, log_density, m_step, comps, G, iters=3000):
    """EM with any component family: log_density(X, comps) (n, K), m_step(X, resp)."""
    Zt = np.column_stack([np.ones(len(Z)), Z])
    ll_old = -np.inf
    for _ in range(iters):
        lj = log_density(X, comps) + log_softmax(Zt @ G.T, axis=1)
        ll = logsumexp(lj, axis=1)
        resp = np.exp(lj - ll[:, None])
        comps, G = m_step(X, resp), logit_m_step(Zt, resp, G)
        if abs(ll.sum() - ll_old) < 1e-11:
            break
        ll_old = ll.sum()
    lj = log_density(X, comps) + log_softmax(Zt @ G.T, axis=1)
    return comps, G, float(logsumexp(lj, axis=1).sum())


def gaussian_density(X, comps):
    mu, sd = comps
    return stats.norm.logpdf(X[:, :1], mu, sd)


def gaussian_m_step(X, resp):
    nk = resp.sum(axis=0)
    mu = resp.T @ X[:, 0] / nk
    var = (resp * (X[:, :1] - mu) ** 2).sum(axis=0) / nk
    return mu, np.sqrt(var)


def categorical_density(X, probs):  # probs (K, items, categories)
    codes = X.astype(int)
    return sum(np.log(probs[:, j, codes[:, j]]).T for j in range(X.shape[1]))


def categorical_m_step(X, resp):
    codes = X.astype(int)
    counts = np.stack([[resp[codes[:, j] == c].sum(axis=0) for c in range(3)]
                       for j in range(X.shape[1])])  # (items, C, K)
    return np.transpose(counts / counts.sum(axis=1, keepdims=True), (2, 0, 1))


@pytest.fixture(scope="module")
def gaussian_data():
    return simulate(3000, 0)


def test_fixed_point_equals_a_scipy_reference_em_gaussian(gaussian_data):
    X, Z, _, _ = gaussian_data
    mu0, sd0 = np.array([-3.0, 0.5, 3.0]), np.array([1.5, 1.5, 1.5])
    start = [Gaussian([m], [[s * s]], reg_covar=0.0) for m, s in zip(mu0, sd0, strict=True)]
    model = emkit.MixtureModel(start, init_params="given", tol=1e-14, max_iter=5000).fit(
        X, concomitant=Z)
    (mu, sd), G, ll = reference_em(X, Z, gaussian_density, gaussian_m_step, (mu0, sd0),
                                   np.zeros((3, 3)))
    assert model.converged_
    np.testing.assert_allclose(model.concomitant_coef_, G, atol=1e-6)
    np.testing.assert_allclose([c.mean[0] for c in model.components_], mu, atol=1e-6)
    np.testing.assert_allclose([np.sqrt(c.covariance[0, 0]) for c in model.components_], sd,
                               atol=1e-6)
    assert model.lower_bound_ * len(X) == pytest.approx(ll, abs=1e-6)
    assert model.score(X, concomitant=Z) * len(X) == pytest.approx(ll, abs=1e-6)


def test_fixed_point_equals_a_scipy_reference_em_categorical():
    items, Zs, _ = simulate_categorical(3000, 1)
    rng = np.random.default_rng(2)
    p0 = rng.dirichlet(np.ones(3), size=(3, 4))
    start = [Categorical(p0[k]) for k in range(3)]
    model = emkit.MixtureModel(start, init_params="given", tol=1e-14, max_iter=5000).fit(
        items, concomitant=Zs)
    probs, G, ll = reference_em(items, Zs, categorical_density, categorical_m_step, p0,
                                np.zeros((3, 3)))
    np.testing.assert_allclose(model.concomitant_coef_, G, atol=1e-6)
    np.testing.assert_allclose(np.stack([c.probs for c in model.components_]), probs,
                               atol=1e-6)
    assert model.lower_bound_ * len(items) == pytest.approx(ll, abs=1e-6)


def test_intercept_only_logit_equals_the_plain_mixture(gaussian_data):
    X = gaussian_data[0]
    kw = dict(n_components=3, tol=1e-10, max_iter=1000, random_state=0)
    plain = emkit.MixtureModel(Gaussian(), **kw).fit(X)
    intercept = emkit.MixtureModel(Gaussian(), **kw).fit(X, concomitant=np.empty((len(X), 0)))
    assert intercept.concomitant_coef_.shape == (3, 1)
    assert intercept.n_iter_ == plain.n_iter_
    np.testing.assert_allclose(np.exp(log_softmax(intercept.concomitant_coef_[:, 0])),
                               plain.weights_, rtol=1e-10)
    np.testing.assert_allclose([c.mean for c in intercept.components_],
                               [c.mean for c in plain.components_], rtol=1e-10)
    assert intercept.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(intercept.predict_proba(X, concomitant=np.empty((len(X), 0))),
                               plain.predict_proba(X), atol=1e-10)
    assert intercept.n_parameters() == plain.n_parameters()


def test_a_constant_concomitant_column_is_refused(gaussian_data):
    X = gaussian_data[0]
    with pytest.raises(ValueError, match="concomitant column 0 is constant"):
        emkit.MixtureModel(Gaussian(), 2).fit(X, concomitant=np.ones((len(X), 1)))


@pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")
def test_log_likelihood_never_decreases_from_random_starts(gaussian_data):
    X, Z, _, _ = gaussian_data
    for seed in range(3):
        model = emkit.MixtureModel(Gaussian(), 3, init_params="random", tol=0.0,
                                   max_iter=150, random_state=seed).fit(X, concomitant=Z)
        steps = np.diff(model.lower_bounds_)
        assert steps.min() >= -1e-12 * abs(model.lower_bound_)
        assert model.lower_bounds_[-1] > model.lower_bounds_[0]


def test_recovers_known_coefficients():
    # 20,000 rows: over 20 simulated data sets the coefficients' standard deviation
    # is at most 0.031 (intercepts) and 0.051 (slopes); 0.2 is about four of them.
    X, Z, Zs, _ = simulate(20000, 7)
    model = emkit.MixtureModel(Gaussian(), 3, tol=1e-8, max_iter=1000, n_init=2,
                               random_state=0).fit(X, concomitant=Zs)
    order = np.argsort([c.mean[0] for c in model.components_])
    coef = model.concomitant_coef_[order]
    coef = coef - coef[0]  # the true model's reference is the lowest mean
    np.testing.assert_allclose(coef, TRUE_COEF, atol=0.2)
    np.testing.assert_allclose(np.sort([c.mean[0] for c in model.components_]), MEANS,
                               atol=0.1)
    # Z in its own units: slopes rescale by the column's unit, the intercept shifts
    raw = emkit.MixtureModel(Gaussian(), 3, tol=1e-8, max_iter=1000, n_init=2,
                             random_state=0).fit(X, concomitant=Z)
    back = raw.concomitant_coef_[order].copy()
    back[:, 0] += back[:, 1] * 5.0
    back[:, 1] *= 2.0
    np.testing.assert_allclose(back, model.concomitant_coef_[order], atol=1e-5)


def fit(X, Z, tol=1e-10, **kw):
    return emkit.MixtureModel(Gaussian(covariance_type="diag"), 3, tol=tol, max_iter=2000,
                              random_state=0, **kw).fit(X, concomitant=Z)


def test_chunked_fit_equals_in_memory_fit(gaussian_data):
    X, Z, _, _ = gaussian_data
    whole, chunked = fit(X, Z), fit(X, Z, chunk_size=701)
    assert chunked.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(chunked.concomitant_coef_, whole.concomitant_coef_, atol=1e-8)
    np.testing.assert_allclose([c.mean for c in chunked.components_],
                               [c.mean for c in whole.components_], atol=1e-8)
    assert chunked.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-12)


def test_dask_fit_and_lazy_inference_equal_in_memory(gaussian_data):
    X, Z, _, _ = gaussian_data
    whole = fit(X, Z)
    with dask.config.set(scheduler="synchronous"):
        Xd, Zd = da.from_array(X, chunks=500), da.from_array(Z, chunks=(700, 2))
        remote = fit(Xd, Zd)
        assert remote.n_iter_ == whole.n_iter_
        np.testing.assert_allclose(remote.concomitant_coef_, whole.concomitant_coef_,
                                   atol=1e-8)
        np.testing.assert_allclose([c.mean for c in remote.components_],
                                   [c.mean for c in whole.components_], atol=1e-8)
        np.testing.assert_allclose(remote.weights_, whole.weights_, atol=1e-8)
        both = fit(Xd, Z)  # NumPy Z with Dask X
        np.testing.assert_allclose(both.concomitant_coef_, whole.concomitant_coef_, atol=1e-8)
        proba = remote.predict_proba(Xd, concomitant=Z)
        assert isinstance(proba, da.Array)
        np.testing.assert_allclose(proba.compute(), whole.predict_proba(X, concomitant=Z),
                                   atol=1e-8)
        np.testing.assert_array_equal(remote.predict(Xd, concomitant=Zd).compute(),
                                      whole.predict(X, concomitant=Z))
        assert remote.score(Xd, concomitant=Zd) == pytest.approx(
            whole.score(X, concomitant=Z), rel=1e-10)


def test_squarem_reaches_the_same_fixed_point(gaussian_data):
    X, Z, _, _ = gaussian_data
    plain = fit(X, Z, tol=1e-14)
    fast = fit(X, Z, tol=1e-14, accelerate="squarem")
    np.testing.assert_allclose(fast.concomitant_coef_, plain.concomitant_coef_, atol=1e-6)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, abs=1e-9)


def test_save_and_load_keep_the_concomitant_model(gaussian_data, tmp_path):
    X, Z, _, _ = gaussian_data
    model = fit(X, Z)
    loaded = emkit.load(model.save(tmp_path / "lcr.emkit"))
    np.testing.assert_array_equal(loaded.concomitant_coef_, model.concomitant_coef_)
    np.testing.assert_array_equal(loaded.predict_proba(X, concomitant=Z),
                                  model.predict_proba(X, concomitant=Z))
    with pytest.raises(ValueError, match="concomitant is required"):
        loaded.predict(X)
    # a later fit without concomitants forgets the coefficients
    model.fit(X)
    assert not hasattr(model, "concomitant_coef_")
    model.predict(X)


def test_posteriors_weights_and_criteria(gaussian_data):
    X, Z, _, _ = gaussian_data
    model = fit(X, Z)
    proba = model.predict_proba(X, concomitant=Z)
    np.testing.assert_allclose(proba.mean(axis=0), model.weights_, atol=1e-8)
    # posterior by hand from the fitted attributes
    Zt = np.column_stack([np.ones(len(Z)), Z])
    lj = log_softmax(Zt @ model.concomitant_coef_.T, axis=1) + np.column_stack(
        [stats.norm.logpdf(X[:, 0], c.mean[0], np.sqrt(np.ravel(c.covariance)[0]))
         for c in model.components_])
    np.testing.assert_allclose(proba, np.exp(lj - logsumexp(lj, axis=1, keepdims=True)),
                               atol=1e-10)
    assert model.n_parameters() == 2 * 3 + 3 * 2  # logit (K-1)(q+1), means, variances
    n = len(X)
    assert model.bic(X, concomitant=Z) == pytest.approx(
        -2 * logsumexp(lj, axis=1).sum() + 12 * np.log(n), rel=1e-10)
    assert model.aic(X, concomitant=Z) == pytest.approx(
        -2 * logsumexp(lj, axis=1).sum() + 24, rel=1e-10)
    np.testing.assert_array_equal(model.fit_predict(X, concomitant=Z),
                                  model.predict(X, concomitant=Z))


def test_sample_draws_labels_from_the_logit(gaussian_data):
    X, Z, _, _ = gaussian_data
    model = fit(X, Z)
    z = np.repeat([[3.0, -0.5], [7.0, 0.5]], 20000, axis=0)
    Xs, labels = model.sample(concomitant=z)
    assert Xs.shape == (40000, 1)
    pi = np.exp(log_softmax(np.column_stack([np.ones(2), z[[0, -1]]])
                            @ model.concomitant_coef_.T, axis=1))
    for half, p in zip((labels[:20000], labels[20000:]), pi, strict=True):
        np.testing.assert_allclose(np.bincount(half, minlength=3) / 20000, p, atol=0.015)
    with pytest.raises(ValueError, match="concomitant is required"):
        model.sample(10)
    with pytest.raises(ValueError, match="n_samples=10 but concomitant has 40000 rows"):
        model.sample(10, concomitant=z)


def test_refused_input(gaussian_data):
    X, Z, _, _ = gaussian_data
    model = fit(X, Z)
    with pytest.raises(ValueError, match="concomitant is required"):
        model.predict_proba(X)
    with pytest.raises(ValueError, match="concomitant is required"):
        model.score(X)
    with pytest.raises(ValueError, match="concomitant has 10 rows but X has 3000"):
        model.predict(X, concomitant=Z[:10])
    with pytest.raises(ValueError, match="concomitant has 1 columns"):
        model.predict(X, concomitant=Z[:, :1])
    bad = Z.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="concomitant contains NaN"):
        model.predict(X, concomitant=bad)
    with pytest.raises(ValueError, match="concomitant contains NaN"):
        fit(X, bad)
    with pytest.raises(ValueError, match="concomitant has 10 rows but X has 3000"):
        fit(X, Z[:10])
    with pytest.raises(ValueError, match="collinear"):
        fit(X, np.column_stack([Z, 2 * Z[:, 0] + 1]))
    with pytest.raises(ValueError, match="Dask collection but X is not"):
        fit(X, da.from_array(Z))
    plain = emkit.MixtureModel(Gaussian(), 2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="fitted without concomitant"):
        plain.predict(X, concomitant=Z)


def test_compiled_e_step_equals_the_numpy_reference():
    from emkit.numerics.logsumexp import log_normalize
    from emkit.numerics.multinomial_logit import log_mixing, mixing_stats
    from emkit.numerics.multinomial_logit_kernel import logit_mixture_e_step

    rng = np.random.default_rng(4)
    for k, q in ((2, 1), (3, 2), (4, 3), (3, 0)):
        n = 500
        logf = rng.normal(size=(n, k)) * 3
        logf[:7, 1] = -np.inf  # a component impossible for some rows
        Z = rng.normal(2.0, 3.0, size=(n, q))
        centre, half = rng.normal(size=q), rng.uniform(0.5, 2.0, q)
        gamma = rng.normal(size=(k, q + 1))
        gamma[0] = 0.0
        ll, resp, got = logit_mixture_e_step(logf, Z, centre, half, gamma)
        Zt = np.column_stack([np.ones(n), (Z - centre) / half])
        log_pi = log_mixing(Zt, gamma)
        ll_ref, resp_ref = log_normalize(logf + log_pi)
        want = mixing_stats(Zt, resp_ref, None, log_pi)
        np.testing.assert_allclose(ll, ll_ref, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(resp, resp_ref, rtol=1e-12, atol=1e-15)
        for key in ("grad", "hess", "gram"):
            np.testing.assert_allclose(got[key], want[key], rtol=1e-11, atol=1e-10)
    # a row impossible under every component: -inf and no responsibility
    ll, resp, _ = logit_mixture_e_step(np.full((2, 3), -np.inf), np.zeros((2, 1)),
                                       np.zeros(1), np.ones(1), np.zeros((3, 2)))
    assert np.all(ll == -np.inf) and np.all(resp == 0.0)
