"""Stepwise (online) EM: step sizes, exactness on one batch, one-pass accuracy."""

from __future__ import annotations

import numpy as np
import pytest

import emkit
from emkit.engine.online import StepwiseEM
from emkit.engine.rows import iter_batches
from emkit.examples.textbook import NormalMixture1D
from emkit.models.mixture.gaussian import GaussianMixtureModel


def gaussian_blobs(n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 1.0], [2.0, 7.0]])
    X = centres[rng.choice(3, size=n, p=[0.5, 0.3, 0.2])] + rng.normal(size=(n, 2))
    init = {"weights": np.full(3, 1 / 3), "means": X[[0, 1, 2]].copy(),
            "covariances": np.stack([np.eye(2) * 4.0] * 3)}
    return X, init


def batch_fit(model, X, init):
    return emkit.em(model, X, init, tol=1e-6 * len(X), max_iter=1000, accelerate="squarem")


def test_alpha_and_batches_are_validated():
    model = NormalMixture1D()
    init = {"weights": np.array([1.0]), "means": np.zeros(1), "variances": np.ones(1)}
    for alpha in (0.5, 1.01, "0.6"):
        with pytest.raises(ValueError, match="alpha"):
            StepwiseEM(model, init, alpha=alpha)
    with pytest.raises(ValueError, match="e_step"):
        StepwiseEM(object(), init)
    online = StepwiseEM(model, init, alpha=1.0)
    assert online.step_size(0) == 0.5 and online.step_size(2) == 0.25
    with pytest.raises(ValueError, match="at least one row"):
        online.partial_fit(np.zeros(0))
    with pytest.raises(ValueError, match="batch_size"):
        list(iter_batches(np.zeros(3), 0))


def test_one_batch_update_is_one_batch_em_iteration():
    X, init = gaussian_blobs(n=3000)
    model = GaussianMixtureModel("full")
    online = StepwiseEM(model, init).partial_fit(X)
    expected = model.m_step(model.e_step(X, init)[0])
    for key in expected:
        np.testing.assert_allclose(online.params[key], expected[key], rtol=1e-12)
    assert online.n_batches == 1 and online.n_rows_seen == 3000
    np.testing.assert_allclose(online.loglik_per_row, model.e_step(X, init)[1] / 3000,
                               rtol=1e-12)


def test_running_average_follows_the_step_sizes():
    model = NormalMixture1D()
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-1.0, 1.0]),
            "variances": np.array([1.0, 1.0])}
    a, b = np.array([-1.0, 0.5, 2.0]), np.array([0.0, 3.0])
    online = StepwiseEM(model, init, alpha=0.75).partial_fit(a)
    params_after_a = online.params
    online.partial_fit(b)
    gamma = 2.0 ** -0.75
    sa = model.e_step(a, init)[0]
    sb = model.e_step(b, params_after_a)[0]
    for key in sa:
        np.testing.assert_allclose(online.stats[key],
                                   (1 - gamma) * sa[key] / 3 + gamma * sb[key] / 2, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_one_pass_reaches_the_batch_loglik_within_one_percent(covariance_type):
    X, init = gaussian_blobs()
    if covariance_type == "diag":
        init = dict(init, covariances=np.full((3, 2), 4.0))
    model = GaussianMixtureModel(covariance_type)
    batch = batch_fit(model, X, init)
    online = StepwiseEM(model, init, alpha=0.6)
    online.fit(iter_batches(X, 100, shuffle=True, random_state=0))
    assert online.n_batches == 100
    online_loglik = model.e_step(X, online.params)[1]
    assert online_loglik <= batch.loglik + 1e-6 * abs(batch.loglik)
    assert abs(online_loglik - batch.loglik) < 0.01 * abs(batch.loglik)
    np.testing.assert_allclose(np.sort(online.params["weights"]),
                               np.sort(batch.params["weights"]), atol=0.02)


def test_works_for_any_additive_model_and_row_sliceable_batches():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-2, 1, 6000), rng.normal(2, 0.5, 4000)])
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-0.5, 0.5]),
            "variances": np.array([2.0, 2.0])}
    model = NormalMixture1D()
    batch = emkit.em(model, x, init, tol=1e-8)
    online = StepwiseEM(model, init).fit(iter_batches(x, 100, shuffle=True, random_state=2))
    assert abs(model.loglik(x, online.params) - batch.loglik) < 0.01 * abs(batch.loglik)
    # weighted rows as a tuple: integer weights equal repeated rows
    X, init = gaussian_blobs(n=600)
    w = np.full(600, 2.0)
    model = GaussianMixtureModel("full")
    weighted = StepwiseEM(model, init).fit(iter_batches((X, w), 300))
    repeated = StepwiseEM(model, init).fit(iter_batches(np.repeat(X, 2, axis=0), 600))
    assert weighted.n_batches == repeated.n_batches == 2
    for key in ("weights", "means", "covariances"):
        np.testing.assert_allclose(weighted.params[key], repeated.params[key], rtol=1e-10)


def test_shuffled_batches_cover_every_row_once():
    X = np.arange(23.0)
    seen = np.concatenate(list(iter_batches(X, 5, shuffle=True, random_state=0)))
    np.testing.assert_array_equal(np.sort(seen), X)
    pairs = list(iter_batches((X, -X), 10, shuffle=True, random_state=1))
    assert all(np.array_equal(a, -b) for a, b in pairs)


def test_mixture_of_distributions_one_pass():
    from emkit.distributions import Poisson
    from emkit.models.mixture.any_distribution import MixtureEM

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.poisson(2, (6000, 1)), rng.poisson(9, (4000, 1))]).astype(float)
    model = MixtureEM([Poisson(), Poisson()])
    init = model.pack(np.array([0.5, 0.5]),
                      [Poisson(rate=np.array([1.0])), Poisson(rate=np.array([5.0]))])
    batch = emkit.em(model, X, init, tol=1e-8)
    online = StepwiseEM(model, init).fit(iter_batches(X, 100, shuffle=True, random_state=0))
    assert abs(model.e_step(X, online.params)[1] - batch.loglik) < 0.01 * abs(batch.loglik)
