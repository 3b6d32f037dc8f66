"""The unweighted compiled pass (one log per run of rows) against SciPy's densities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from emkit.gaussian.blocked import StatsAccumulator
from emkit.gaussian.kernels import FULL, LOG_RUN, quadratic_pass
from emkit.gaussian.prepared import prepare_gaussians


@pytest.mark.parametrize(("n", "d", "k"), [(1, 2, 3), (LOG_RUN + 5, 1, 40), (1000, 2, 3),
                                           (777, 4, 6)])
def test_unweighted_loglik_and_moments(n: int, d: int, k: int) -> None:
    rng = np.random.default_rng(n + k)
    X = rng.standard_normal((n, d)) * 3.0
    means = rng.standard_normal((k, d)) * 2.0
    a = rng.standard_normal((k, d, d))
    cov = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(d)
    weights = rng.dirichlet(np.ones(k))
    prep = prepare_gaussians(weights, means, cov, "full")
    assert prep.coef is not None
    plain, ones = StatsAccumulator(prep), StatsAccumulator(prep)
    ll = quadratic_pass(X, None, prep.centres, prep.coef, FULL, plain.moments,
                        prep.members, prep.bounds)
    ll_ones = quadratic_pass(X, np.ones(n), prep.centres, prep.coef, FULL, ones.moments,
                             prep.members, prep.bounds)
    log_joint = np.column_stack([np.log(weights[c]) + multivariate_normal(means[c], cov[c])
                                 .logpdf(X).reshape(n) for c in range(k)])
    assert ll == pytest.approx(float(logsumexp(log_joint, axis=1).sum()), rel=1e-12)
    assert ll == pytest.approx(ll_ones, rel=1e-13)
    np.testing.assert_allclose(plain.moments, ones.moments, rtol=1e-13, atol=1e-12)
    resp = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    np.testing.assert_allclose(plain.result()["n"], resp.sum(axis=0), rtol=1e-10)
