"""The safeguarded Newton step's gain bound: its integral in closed form, and ascent.

:func:`emkit.numerics.newton.curvature_integral` is compared with numerical
quadrature of its definition; then, for Poisson and binomial regressions and the
multinomial logit on designs scaled into [-1, 1] (what the models guarantee),
the step it chooses must raise the objective, computed here from the rows, from
starts near and far from the maximum.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import expit, gammaln, log_softmax

from emkit.numerics.multinomial_logit import mixing_m_step, mixing_stats
from emkit.numerics.newton import curvature_integral, safeguarded_step


@pytest.mark.parametrize("s", [1.0, 0.5, 0.125, 1e-6])
@pytest.mark.parametrize("rate", [0.0, 1e-7, 0.3, 4.0, 40.0])
@pytest.mark.parametrize("cap", [None, 1.0, 1.5, 20.0, 1e6])
def test_curvature_integral_equals_quadrature(s, rate, cap):
    gain = 1.0 if cap is None else min(1.0, cap)  # d'Bd >= d'Hd

    def curvature(t):
        grown = gain * np.exp(rate * t)
        return grown if cap is None else min(grown, cap)

    kink = [] if cap is None or rate == 0.0 else [np.log(cap / gain) / rate]
    points = [p for p in kink if 0.0 < p < s]
    want = quad(lambda t: (s - t) * curvature(t), 0.0, s, points=points or None,
                epsabs=0.0, epsrel=1e-12, limit=200)[0]
    got = curvature_integral(s, rate, gain, cap)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-300)


def _design(rng, n, p):
    return np.column_stack([np.ones(n), rng.uniform(-1.0, 1.0, (n, p))])


def _rho(d):
    return float(np.abs(d).sum())


@pytest.mark.parametrize("seed", range(40))
def test_poisson_step_raises_the_weighted_log_likelihood(seed):
    rng = np.random.default_rng(seed)
    A = _design(rng, 200, 3)
    y = rng.poisson(np.exp(A @ rng.normal(0.0, 1.0, 4))).astype(float)
    r = rng.uniform(0.0, 1.0, 200)  # responsibilities of one component
    beta = rng.normal(0.0, 2.0 if seed % 2 else 0.2, 4)

    def f(b):
        eta = A @ b
        return float(r @ (y * eta - np.exp(eta) - gammaln(y + 1.0)))

    mu = np.exp(A @ beta)
    grad = A.T @ (r * (y - mu))
    hess = (A * (r * mu)[:, None]).T @ A
    step = safeguarded_step(grad, hess, _rho, growth=1.0)
    assert f(beta + step) >= f(beta)


@pytest.mark.parametrize("seed", range(40))
def test_binomial_step_raises_the_weighted_log_likelihood(seed):
    rng = np.random.default_rng(100 + seed)
    A = _design(rng, 200, 2)
    m = rng.integers(1, 8, 200).astype(float)
    s = rng.binomial(m.astype(int), expit(A @ rng.normal(0.0, 1.5, 3))).astype(float)
    r = rng.uniform(0.0, 1.0, 200)
    beta = rng.normal(0.0, 3.0 if seed % 2 else 0.3, 3)

    def f(b):
        eta = A @ b
        return float(r @ (s * eta - m * np.logaddexp(0.0, eta)))

    p = expit(A @ beta)
    grad = A.T @ (r * (s - m * p))
    hess = (A * (r * m * p * (1.0 - p))[:, None]).T @ A
    bohning = (A * (0.25 * r * m)[:, None]).T @ A
    step = safeguarded_step(grad, hess, _rho, growth=1.0, bound=bohning)
    assert f(beta + step) >= f(beta)


@pytest.mark.parametrize("seed", range(40))
def test_logit_step_raises_the_multinomial_log_likelihood(seed):
    rng = np.random.default_rng(200 + seed)
    n, k = 300, 3 + seed % 2
    Zt = _design(rng, n, 2)
    resp = rng.dirichlet(np.full(k, 0.3), n)
    gamma = np.vstack([np.zeros(3), rng.normal(0.0, 3.0 if seed % 3 else 0.3, (k - 1, 3))])

    def q(g):
        return float(np.sum(resp * log_softmax(Zt @ g.T, axis=1)))

    log_pi = log_softmax(Zt @ gamma.T, axis=1)
    new = mixing_m_step(gamma, mixing_stats(Zt, resp, None, log_pi))
    assert q(new) >= q(gamma)
