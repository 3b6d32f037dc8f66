"""The compiled E-step of a regression mixture against SciPy's densities, written here.

The reference below forms the scaled design, the linear predictors, the
log-densities (scipy.stats), log-sum-exp and the weighted sums directly; the
kernel (:mod:`emkit.models.regression.kernel`) must give the same row
log-likelihoods, responsibilities and statistics for every family, with constant
or per-row mixing weights, with and without row weights, for row counts that are
and are not a multiple of its row group, and with rows of zero density.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st
from scipy.special import expit, logsumexp

from emkit.models.regression.design import Design
from emkit.models.regression.kernel import regression_e_step
from emkit.models.regression.model import RegressionMixtureEM

RNG = np.random.default_rng(5)
K = 3


def _data(family: str, n: int):
    X = np.column_stack([RNG.uniform(2.0, 9.0, n), RNG.normal(size=n), RNG.normal(5, 3, n)])
    design = Design.from_range(np.array([2.0, -4.0, -7.0]), np.array([9.0, 4.0, 17.0]))
    coef = RNG.normal(0.0, 0.4, (K, 4))
    if family == "gaussian":
        y = RNG.normal(1.0, 2.0, n)
    elif family == "poisson":
        y = RNG.poisson(3.0, n).astype(float)
    else:
        m = RNG.integers(1, 6, n).astype(float)
        y = np.column_stack([RNG.binomial(m.astype(int), 0.4).astype(float), m])
    return X, y, design, coef


def _reference(family, X, y, design, coef, scale, log_pi, w):
    Xt = np.column_stack([np.ones(len(X)), (X - design.centre) / design.half_range])
    eta = Xt @ coef.T
    if family == "gaussian":
        logf = st.norm.logpdf(y[:, None], eta, scale)
        u, v = y[:, None] - eta, np.ones_like(eta)
    elif family == "poisson":
        mu = np.exp(eta)
        logf = st.poisson.logpmf(y[:, None], mu)
        u, v = y[:, None] - mu, mu
    else:
        p = expit(eta)
        logf = st.binom.logpmf(y[:, :1], y[:, 1:], p)
        u, v = y[:, :1] - y[:, 1:] * p, y[:, 1:] * p * (1.0 - p)
    joint = logf + log_pi
    ll = logsumexp(joint, axis=1)
    resp = np.exp(joint - ll[:, None])
    ww = np.ones(len(X)) if w is None else w
    r = resp * ww[:, None]
    out = {"n": r.sum(axis=0), "grad": (r * u).T @ Xt,
           "hess": np.stack([(Xt * (r[:, j] * v[:, j])[:, None]).T @ Xt for j in range(K)])}
    if family == "gaussian":
        out["rss"] = (r * u * u).sum(axis=0)
    if family == "binomial":
        out["bohning"] = np.stack([(Xt * (0.25 * r[:, j] * y[:, 1])[:, None]).T @ Xt
                                   for j in range(K)])
    return float(ww @ ll), resp, out


@pytest.mark.parametrize("family", ["gaussian", "poisson", "binomial"])
@pytest.mark.parametrize("n", [1, 7, 400])
@pytest.mark.parametrize("varying", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_kernel_equals_the_scipy_reference(family, n, varying, weighted):
    X, y, design, coef = _data(family, n)
    scale = np.array([0.8, 1.5, 3.0]) if family == "gaussian" else None
    if varying:
        log_pi = np.log(RNG.dirichlet(np.ones(K), n))
    else:
        log_pi = np.log(np.array([0.2, 0.3, 0.5]))
    w = RNG.uniform(0.1, 3.0, n) if weighted else None
    want_ll, want_resp, want = _reference(family, X, y, design, coef, scale,
                                          np.atleast_2d(log_pi), w)
    ll, n_bad, resp, got = regression_e_step(X, design.centre, design.half_range, y, family,
                                             coef, scale, log_pi, w, keep_resp=True)
    assert n_bad == 0
    np.testing.assert_allclose(ll, want_ll, rtol=1e-12)
    np.testing.assert_allclose(resp, want_resp, rtol=1e-11, atol=1e-14)
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-11, atol=1e-12, err_msg=key)
    # without keep_resp no responsibilities come back, and nothing else changes
    ll2, _, empty, got2 = regression_e_step(X, design.centre, design.half_range, y, family,
                                            coef, scale, log_pi, w)
    assert empty.shape == (0, K) and ll2 == ll
    for key in want:
        np.testing.assert_array_equal(got2[key], got[key])


def test_rows_of_zero_density_get_no_responsibility_and_the_fit_reports_minus_infinity():
    X, y, design, coef = _data("gaussian", 50)
    y = y.copy()
    y[[3, 17]] = 1e200  # the density underflows to 0 under every component
    scale = np.array([0.8, 1.5, 3.0])
    log_pi = np.log(np.array([0.2, 0.3, 0.5]))
    ll, n_bad, resp, got = regression_e_step(X, design.centre, design.half_range, y,
                                             "gaussian", coef, scale, log_pi, keep_resp=True)
    assert n_bad == 2
    np.testing.assert_array_equal(resp[[3, 17]], 0.0)
    keep = np.setdiff1d(np.arange(50), [3, 17])
    want_ll, want_resp, want = _reference("gaussian", X[keep], y[keep], design, coef, scale,
                                          log_pi[None, :], None)
    np.testing.assert_allclose(ll, want_ll, rtol=1e-12)
    np.testing.assert_allclose(resp[keep], want_resp, rtol=1e-11, atol=1e-14)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-11, atol=1e-12, err_msg=key)
    model = RegressionMixtureEM("gaussian", K, design)
    _, loglik = model.e_step((X, y), {"coef": coef, "scale": scale,
                                      "weights": np.exp(log_pi)})
    assert loglik == -np.inf


def test_a_component_of_zero_weight_takes_no_rows():
    X, y, design, coef = _data("poisson", 30)
    with np.errstate(divide="ignore"):
        log_pi = np.log(np.array([0.5, 0.0, 0.5]))  # -inf for component 1
    _, n_bad, resp, got = regression_e_step(X, design.centre, design.half_range, y, "poisson",
                                            coef, None, log_pi, keep_resp=True)
    assert n_bad == 0
    np.testing.assert_array_equal(resp[:, 1], 0.0)
    assert got["n"][1] == 0.0 and np.all(got["hess"][1] == 0.0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-14)


def test_chunks_add_up_to_the_whole():
    X, y, design, coef = _data("binomial", 103)
    log_pi = np.log(np.array([0.2, 0.3, 0.5]))
    whole = regression_e_step(X, design.centre, design.half_range, y, "binomial", coef, None,
                              log_pi)
    parts = [regression_e_step(X[a:b], design.centre, design.half_range, y[a:b], "binomial",
                               coef, None, log_pi) for a, b in ((0, 0), (0, 41), (41, 103))]
    np.testing.assert_allclose(sum(p[0] for p in parts), whole[0], rtol=1e-13)
    for key in whole[3]:
        np.testing.assert_allclose(sum(p[3][key] for p in parts), whole[3][key], rtol=1e-12,
                                   atol=1e-13, err_msg=key)
