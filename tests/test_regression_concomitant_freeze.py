"""``RegressionMixture(freeze={"concomitant_coef_": mask}, concomitant_coef_init=...)``.

The frozen logit entries keep the given start bit for bit, and the rest is the
constrained maximum likelihood: the reference is the observed-data log-likelihood of
the mixture written here (``sum_i log sum_k pi_k(z_i) N(y_i; a_k + b_k x_i, s_k)``,
``pi`` the softmax of ``[0, c_0 + c_1 z]``) maximized by SciPy over the free
parameters from the fit, which must find nothing better.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize
from scipy.special import logsumexp
from scipy.stats import norm

from emkit import RegressionMixture

FROZEN_SLOPE = 0.8


def _data(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    p1 = 1.0 / (1.0 + np.exp(-(0.3 + 1.5 * z)))
    second = rng.random(n) < p1
    y = np.where(second, 4.0 - x, 1.0 + 2.0 * x) + rng.normal(0.0, 0.6, n)
    return x[:, None], y, z[:, None]


X, Y, Z = _data()


def _loglik(theta: np.ndarray) -> float:
    a, b, log_s, c0 = theta[0:2], theta[2:4], theta[4:6], theta[6]
    logits = np.column_stack([np.zeros(len(Y)), c0 + FROZEN_SLOPE * Z[:, 0]])
    log_pi = logits - logsumexp(logits, axis=1, keepdims=True)
    mean = a[None, :] + b[None, :] * X[:, 0][:, None]
    dens = norm.logpdf(Y[:, None], mean, np.exp(log_s)[None, :])
    return float(logsumexp(log_pi + dens, axis=1).sum())


def _fit(**kw) -> RegressionMixture:
    mask = np.array([[False, False], [False, True]])  # the slope of component 1 on z
    start = np.array([[0.0, 0.0], [0.0, FROZEN_SLOPE]])
    est = RegressionMixture(2, random_state=1, tol=1e-12, max_iter=5000,
                            freeze={"concomitant_coef_": mask},
                            concomitant_coef_init=start, **kw)
    return est.fit(X, Y, concomitant=Z)


def test_frozen_logit_slope_keeps_its_start_and_the_rest_is_the_constrained_mle():
    est = _fit()
    assert est.concomitant_coef_[1, 1] == FROZEN_SLOPE
    assert (est.concomitant_coef_[0] == 0.0).all()
    theta = np.concatenate([est.intercept_, est.coef_[:, 0], np.log(est.scale_),
                            [est.concomitant_coef_[1, 0]]])
    assert _loglik(theta) == pytest.approx(est.lower_bound_ * len(Y), rel=1e-12)
    best = optimize.minimize(lambda t: -_loglik(t), theta, method="BFGS",
                             options={"gtol": 1e-9})
    assert -best.fun <= _loglik(theta) + 1e-7
    np.testing.assert_allclose(best.x, theta, atol=2e-4)


def test_blocks_of_rows_give_the_same_constrained_fit():
    a, b = _fit(), _fit(chunk_size=70)
    np.testing.assert_allclose(b.concomitant_coef_, a.concomitant_coef_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=0, atol=1e-9)
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-12)


def test_the_whole_logit_frozen_stays_at_its_start_and_counts_no_parameters():
    start = np.array([[0.0, 0.0], [0.2, 1.0]])
    est = RegressionMixture(2, random_state=1, freeze={"concomitant_coef_": True},
                            concomitant_coef_init=start).fit(X, Y, concomitant=Z)
    np.testing.assert_array_equal(est.concomitant_coef_, start)
    free = RegressionMixture(2, random_state=1).fit(X, Y, concomitant=Z)
    # 2 intercepts + 2 slopes + 2 scales, and the logit's 2 free coefficients
    assert free.n_parameters() == 8
    assert est.n_parameters() == 6
    assert _fit().n_parameters() == 7


def test_a_start_without_freeze_is_where_the_fit_begins():
    start = np.array([[0.0, 0.0], [0.3, 1.5]])
    one = RegressionMixture(2, random_state=1, max_iter=1, tol=0.0,
                            concomitant_coef_init=start)
    with pytest.warns(Warning):
        one.fit(X, Y, concomitant=Z)
    # one M-step from the start: the logit moved by one safeguarded Newton step only
    assert np.abs(one.concomitant_coef_ - start).max() < 1.0
    assert not np.array_equal(one.concomitant_coef_, start)


@pytest.mark.parametrize(("kwargs", "fit_kw", "match"), [
    ({"concomitant_coef_init": np.zeros((2, 2))}, {}, "has no concomitant variables"),
    ({"concomitant_coef_init": np.zeros((2, 3))}, {"concomitant": Z}, "concomitant_coef_init"),
    ({"concomitant_coef_init": np.ones((2, 2))}, {"concomitant": Z}, "must be zero"),
    ({"freeze": {"concomitant_coef_": np.ones((3, 2), dtype=bool)}}, {"concomitant": Z},
     "concomitant_coef_"),
    ({"freeze": {"concomitant_coef_": True, "coef_": True, "intercept_": True,
                 "scale_": True}}, {"concomitant": Z}, "nothing to fit"),
])
def test_bad_logit_starts_and_masks_are_refused_by_name(kwargs, fit_kw, match):
    with pytest.raises(ValueError, match=match):
        RegressionMixture(2, random_state=0, **kwargs).fit(X, Y, **fit_kw)
