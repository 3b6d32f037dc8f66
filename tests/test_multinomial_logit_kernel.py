"""The compiled concomitant E-step against SciPy, written here: block edges, NaN and -inf rows.

The kernel (:mod:`emkit.numerics.multinomial_logit_kernel`) takes its rows in
blocks whose exponentials it computes together; these tests use row counts
around the block size and rows that are impossible (all ``-inf``) or undefined
(a NaN) under some component, and hold it to SciPy's ``log_softmax`` /
``logsumexp`` and the multinomial logit's gradient and Hessian written out here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp

from emkit.numerics.multinomial_logit_kernel import _BLOCK, logit_mixture_e_step


def _reference(logf, Z, centre, half, gamma):
    n, k = logf.shape
    Zt = np.column_stack([np.ones(n), (Z - centre) / half])
    log_pi = log_softmax(Zt @ gamma.T, axis=1)
    with np.errstate(invalid="ignore"):
        joint = logf + log_pi
        ll = logsumexp(joint, axis=1)
        resp = np.exp(joint - ll[:, None])
    ok = np.isfinite(ll)
    resp[~ok] = 0.0
    pi = np.exp(log_pi)
    ww = ok.astype(float)
    q1 = Zt.shape[1]
    grad = ((resp - ww[:, None] * pi)[:, 1:]).T @ Zt
    hess = np.zeros(((k - 1) * q1, (k - 1) * q1))
    for c in range(1, k):
        for d in range(1, k):
            h = ww * pi[:, c] * ((c == d) - pi[:, d])
            hess[(c - 1) * q1:c * q1, (d - 1) * q1:d * q1] = (Zt * h[:, None]).T @ Zt
    gram = (Zt * ww[:, None]).T @ Zt
    return ll, resp, {"grad": grad, "hess": hess, "gram": gram, "n": resp.sum(axis=0)}


@pytest.mark.parametrize("n", [1, _BLOCK - 1, _BLOCK, _BLOCK + 1, 3 * _BLOCK + 17])
@pytest.mark.parametrize(("k", "q"), [(2, 1), (3, 2), (5, 0)])
def test_kernel_equals_scipy_across_block_edges(n, k, q):
    rng = np.random.default_rng(n * 10 + k)
    logf = rng.normal(-3.0, 4.0, size=(n, k))
    logf[::5, k - 1] = -np.inf  # a component impossible for some rows
    if n > 3:
        logf[2] = -np.inf  # a row impossible for every component
        logf[3, 0] = np.nan  # a row whose density is undefined
    Z = rng.normal(1.0, 2.0, size=(n, q))
    centre, half = rng.normal(size=q), rng.uniform(0.5, 3.0, q)
    gamma = rng.normal(size=(k, q + 1))
    gamma[0] = 0.0
    ll, resp, got = logit_mixture_e_step(logf, Z, centre, half, gamma)
    want_ll, want_resp, want = _reference(logf, Z, centre, half, gamma)
    np.testing.assert_array_equal(np.isnan(ll), np.isnan(want_ll))
    np.testing.assert_allclose(ll, want_ll, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(resp, want_resp, rtol=1e-12, atol=1e-15)
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-11, atol=1e-11, err_msg=key)
    if n > 3:
        assert ll[2] == -np.inf and np.isnan(ll[3])
        np.testing.assert_array_equal(resp[[2, 3]], 0.0)


def test_far_apart_logits_and_densities_keep_their_precision():
    # log-densities hundreds apart: the small responsibilities underflow to 0,
    # the large ones stay exact, the row log-likelihoods are those of the best component
    rng = np.random.default_rng(3)
    n, k = 300, 3
    logf = rng.normal(0.0, 1.0, (n, k)) + np.array([0.0, -400.0, -800.0])
    Z = rng.normal(size=(n, 1))
    gamma = np.array([[0.0, 0.0], [1.0, 30.0], [-2.0, 0.5]])
    ll, resp, got = logit_mixture_e_step(logf, Z, np.zeros(1), np.ones(1), gamma)
    want_ll, want_resp, want = _reference(logf, Z, np.zeros(1), np.ones(1), gamma)
    np.testing.assert_allclose(ll, want_ll, rtol=1e-13)
    np.testing.assert_allclose(resp, want_resp, rtol=1e-12, atol=1e-300)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-11, atol=1e-11, err_msg=key)


@pytest.mark.parametrize("n", [1, _BLOCK + 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("k", "q"), [(2, 1), (4, 2)])
def test_log_mixing_rows_and_logit_stats_equal_the_numpy_reference(n, weighted, k, q):
    from emkit.numerics.multinomial_logit import log_mixing, mixing_stats
    from emkit.numerics.multinomial_logit_kernel import log_mixing_rows, logit_stats

    rng = np.random.default_rng(7 * n + k)
    Z = rng.normal(1.0, 2.0, size=(n, q))
    centre, half = rng.normal(size=q), rng.uniform(0.5, 3.0, q)
    gamma = rng.normal(size=(k, q + 1))
    gamma[0] = 0.0
    Zt = np.column_stack([np.ones(n), (Z - centre) / half])
    want_log_pi = log_softmax(Zt @ gamma.T, axis=1)
    log_pi = log_mixing_rows(Z, centre, half, gamma)
    np.testing.assert_allclose(log_pi, want_log_pi, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(log_pi, log_mixing(Zt, gamma), rtol=1e-13, atol=1e-13)
    resp = rng.dirichlet(np.ones(k), n)
    resp[::3] = 0.0  # rows of zero density: no responsibility, no weight
    w = rng.uniform(0.1, 3.0, n) if weighted else None
    got = logit_stats(Z, centre, half, resp, w, log_pi)
    want = mixing_stats(Zt, resp, w, want_log_pi)
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-11, atol=1e-12, err_msg=key)
