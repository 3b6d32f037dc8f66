"""emkit.MixtureModel: recovery, agreement with scikit-learn, likelihood, robustness, saving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

import emkit
from emkit import MixtureModel
from emkit.datasets import load_faithful
from emkit.distributions import (
    Bernoulli,
    Categorical,
    Exponential,
    Gamma,
    Gaussian,
    Independent,
    Poisson,
    StudentT,
)
from emkit.engine.stats import tree_add, tree_leaves
from emkit.models.mixture.any_distribution import MixtureEM


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny BLAS calls are slowed badly by thread hand-offs on a shared, loaded machine."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _order(model, key):
    """Component indices sorted by a scalar summary, to compare with the truth."""
    return np.argsort([key(c) for c in model.components_])


def test_poisson_mixture_recovers_rates_and_weights():
    rng = np.random.default_rng(0)
    z = rng.random(4000) < 0.3
    X = rng.poisson(np.where(z[:, None], [9.0, 1.0], [2.0, 4.0]))
    model = MixtureModel(Poisson(), n_components=2, random_state=0).fit(X)
    idx = _order(model, lambda c: c.rate[0])
    rates = np.stack([model.components_[k].rate for k in idx])
    # about 4 standard errors of a rate estimated from ~n * weight rows
    np.testing.assert_allclose(rates, [[2.0, 4.0], [9.0, 1.0]], atol=4 * np.sqrt(9.0 / 1200))
    np.testing.assert_allclose(model.weights_[idx], [0.7, 0.3], atol=0.03)
    assert model.converged_


def test_bernoulli_mixture_recovers_profiles():
    rng = np.random.default_rng(1)
    profiles = np.array([[0.9, 0.8, 0.1, 0.2, 0.7, 0.1], [0.1, 0.3, 0.9, 0.8, 0.2, 0.6]])
    z = rng.random(3000) < 0.4
    X = (rng.random((3000, 6)) < profiles[z.astype(int)]).astype(float)
    model = MixtureModel(Bernoulli(), n_components=2, n_init=2, random_state=1).fit(X)
    idx = _order(model, lambda c: c.probs[2])
    found = np.stack([model.components_[k].probs for k in idx])
    np.testing.assert_allclose(found, profiles, atol=0.05)
    np.testing.assert_allclose(model.weights_[idx], [0.6, 0.4], atol=0.03)


def test_mixed_type_rows_with_independent_parts():
    rng = np.random.default_rng(2)
    n = 3000
    z = (rng.random(n) < 0.5).astype(int)
    X = np.column_stack([
        rng.poisson(np.array([2.0, 8.0])[z]),
        rng.random(n) < np.array([0.2, 0.8])[z],
        np.array([rng.choice(3, p=p) for p in np.array([[0.7, 0.2, 0.1],
                                                       [0.1, 0.3, 0.6]])[z]]),
        rng.normal(np.array([0.0, 3.0])[z], 1.0),
    ]).astype(float)
    template = Independent([Poisson(), Bernoulli(), Categorical(), Gaussian()])
    model = MixtureModel(template, n_components=2, random_state=0).fit(X)
    idx = _order(model, lambda c: c.distributions[0].rate[0])
    lo, hi = (model.components_[k].distributions for k in idx)
    np.testing.assert_allclose([lo[0].rate[0], hi[0].rate[0]], [2.0, 8.0], atol=0.2)
    np.testing.assert_allclose([lo[1].probs[0], hi[1].probs[0]], [0.2, 0.8], atol=0.04)
    np.testing.assert_allclose(lo[2].probs[0], [0.7, 0.2, 0.1], atol=0.04)
    np.testing.assert_allclose(hi[2].probs[0], [0.1, 0.3, 0.6], atol=0.04)
    np.testing.assert_allclose([lo[3].mean[0], hi[3].mean[0]], [0.0, 3.0], atol=0.1)
    agreement = np.mean(model.predict(X) == (z if idx[0] == 0 else 1 - z))
    assert agreement > 0.95


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_gaussian_mixture_equals_scikit_learn_from_identical_init(covariance_type, init_params):
    X = load_faithful().to_numpy()
    kwargs = {"tol": 0.0, "max_iter": 15, "random_state": 3, "init_params": init_params}
    with pytest.warns(SklearnConvergenceWarning):  # tol=0: both run exactly max_iter steps
        ours = MixtureModel(Gaussian(covariance_type=covariance_type), 3, **kwargs).fit(X)
    with pytest.warns(SklearnConvergenceWarning):
        ref = GaussianMixture(3, covariance_type=covariance_type, **kwargs).fit(X)
    np.testing.assert_allclose(ours.weights_, ref.weights_, rtol=1e-7)
    np.testing.assert_allclose([c.mean for c in ours.components_], ref.means_, rtol=1e-8)
    covs = np.array([c.covariance for c in ours.components_])
    ref_covs = np.broadcast_to(ref.covariances_, covs.shape)
    np.testing.assert_allclose(covs, ref_covs, rtol=1e-7)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    np.testing.assert_allclose(ours.score(X), ref.score(X), rtol=1e-10)
    np.testing.assert_allclose(ours.bic(X), ref.bic(X), rtol=1e-10)
    np.testing.assert_allclose(ours.aic(X), ref.aic(X), rtol=1e-10)


def test_likelihood_recomputed_directly():
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.poisson(3, 200), rng.poisson(10, 100)])[:, None].astype(float)
    model = MixtureModel(Poisson(), 2, random_state=0).fit(X)
    direct = np.log(sum(w * ss.poisson.pmf(X[:, 0], c.rate[0])
                        for w, c in zip(model.weights_, model.components_, strict=True)))
    np.testing.assert_allclose(model.score_samples(X), direct, rtol=1e-12)
    np.testing.assert_allclose(model.lower_bound_, direct.mean(), rtol=1e-12)
    Y = np.concatenate([rng.gamma(2.0, 1.0, 200), rng.exponential(8.0, 100)])[:, None]
    het = MixtureModel([Gamma(), Exponential()], random_state=0).fit(Y)
    g, e = het.components_
    direct = np.log(het.weights_[0] * ss.gamma.pdf(Y[:, 0], g.shape[0], scale=1 / g.rate[0])
                    + het.weights_[1] * ss.expon.pdf(Y[:, 0], scale=1 / e.rate[0]))
    np.testing.assert_allclose(het.score_samples(Y), direct, rtol=1e-12)


def test_mixture_e_step_is_additive_over_chunks():
    rng = np.random.default_rng(10)
    X = np.column_stack([rng.poisson(3, 90), rng.integers(0, 2, 90), rng.normal(size=90)])
    templates = [Independent([Poisson(), Bernoulli(), Gaussian()]),
                 Independent([Poisson(), Bernoulli(), Gaussian()])]
    model = MixtureEM(templates)
    params = MixtureModel(templates, init_params="random", max_iter=2, tol=0.0,
                          random_state=0)._initialize(X, model, np.random.RandomState(0))
    whole, ll = model.e_step(X, params)
    (a, la), (b, lb) = model.e_step(X[:40], params), model.e_step(X[40:], params)
    for x, y in zip(tree_leaves(tree_add(a, b)), tree_leaves(whole), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(la + lb, ll, rtol=1e-12)


def test_tolerance_is_per_row():
    # the same rows twice: the same path, the same stopping iteration
    X = load_faithful().to_numpy()
    once = MixtureModel(Gaussian(), 2, tol=1e-4, random_state=0).fit(X)
    twice = MixtureModel(Gaussian(), 2, tol=1e-4, random_state=0).fit(np.vstack([X, X]))
    assert once.n_iter_ == twice.n_iter_
    np.testing.assert_allclose(once.lower_bound_, twice.lower_bound_, rtol=1e-9)


def test_student_t_mixture_resists_outliers():
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [6.0, 6.0]])
    X = np.concatenate([rng.normal(centres[0], 1.0, (300, 2)), rng.normal(centres[1], 1.0,
                                                                          (300, 2))])
    outliers = rng.uniform(-40, 40, size=(40, 2))
    data = np.concatenate([X, outliers])

    def mean_error(model):
        means = np.array([c.mean for c in model.components_])
        means = means[np.argsort(means[:, 0])]
        return np.abs(means - centres).max()

    # k-means starts are themselves thrown by the outliers: several starts for both
    t = MixtureModel(StudentT(), 2, n_init=4, random_state=0).fit(data)
    g = MixtureModel(Gaussian(), 2, n_init=4, random_state=0).fit(data)
    assert mean_error(t) < 0.2
    assert mean_error(t) < mean_error(g)
    assert all(c.dof < 10 for c in t.components_)  # heavy tails found
    assert t.score(data) > g.score(data)


def test_tied_components_share_one_covariance_counted_once():
    X = load_faithful().to_numpy()
    model = MixtureModel(Gaussian(covariance_type="tied"), 2, random_state=0).fit(X)
    a, b = model.components_
    np.testing.assert_array_equal(a.covariance, b.covariance)
    assert model.n_parameters() == 1 + 2 * 2 + 3


def test_squarem_reaches_the_same_optimum():
    X = load_faithful().to_numpy()
    plain = MixtureModel(Gaussian(), 2, tol=1e-8, max_iter=500, random_state=0).fit(X)
    fast = MixtureModel(Gaussian(), 2, tol=1e-8, max_iter=500, accelerate="squarem",
                        random_state=0).fit(X)
    assert fast.converged_ and plain.converged_
    np.testing.assert_allclose(fast.lower_bound_, plain.lower_bound_, rtol=1e-7)


def test_restarts_keep_the_best_start():
    X = load_faithful().to_numpy()
    one = MixtureModel(Gaussian(), 3, init_params="random", random_state=7).fit(X)
    many = MixtureModel(Gaussian(), 3, init_params="random", n_init=4, random_state=7).fit(X)
    assert many.lower_bound_ >= one.lower_bound_ - 1e-12  # the first start is the same


def test_given_start_and_predictions_are_consistent():
    rng = np.random.default_rng(6)
    X = np.concatenate([rng.poisson(1, 150), rng.poisson(6, 150)])[:, None]
    start = [Poisson(rate=[0.5]), Poisson(rate=[10.0])]
    model = MixtureModel(start, init_params="given", random_state=0)
    labels = model.fit_predict(X)
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_array_equal(labels, model.predict_proba(X).argmax(axis=1))
    assert model.components_[0].rate[0] < model.components_[1].rate[0]
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_priors_keep_em_monotone_and_dataframes_are_accepted():
    rng = np.random.default_rng(8)
    X = pd.DataFrame({"a": rng.integers(0, 2, 200), "b": rng.integers(0, 2, 200)})
    model = MixtureModel(Bernoulli(prior=(2.0, 2.0)), 3, tol=0.0, max_iter=30,
                         random_state=0)
    with pytest.warns(emkit.ConvergenceWarning):
        model.fit(X)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12)
    assert all(np.all((c.probs > 0) & (c.probs < 1)) for c in model.components_)


def test_sample_draws_from_the_fitted_mixture():
    model = MixtureModel([Poisson(rate=[1.0]), Poisson(rate=[20.0])], init_params="given",
                         random_state=0).fit(np.array([[0.0], [1.0], [19.0], [22.0]]))
    X, labels = model.sample(2000)
    assert X.shape == (2000, 1) and labels.shape == (2000,)
    np.testing.assert_allclose(np.mean(labels == 1), model.weights_[1], atol=0.04)
    np.testing.assert_array_equal(model.sample(5)[0], model.sample(5)[0])


@pytest.mark.parametrize(
    ("kwargs", "X", "match"),
    [
        ({"distribution": Poisson(), "n_components": 0}, [[1.0]], "n_components"),
        ({"distribution": [Poisson(), Poisson()], "n_components": 3}, [[1.0]], "n_components=3"),
        ({"distribution": "poisson"}, [[1.0]], "emkit.distributions instance"),
        ({"distribution": Poisson(), "init_params": "median"}, [[1.0]], "init_params"),
        ({"distribution": Poisson(), "tol": -1.0}, [[1.0]], "tol"),
        ({"distribution": Poisson(), "max_iter": 0}, [[1.0]], "max_iter"),
        ({"distribution": Poisson(), "accelerate": "fast"}, [[1.0]], "accelerate"),
        ({"distribution": Poisson(), "n_components": 3}, [[1.0], [2.0]], "n_samples=2"),
        ({"distribution": Poisson()}, [[1.0], [-2.0]], "non-negative integer"),
        ({"distribution": Gaussian()}, [[1.0], [np.nan]], "NaN"),
        ({"distribution": [Poisson(), Poisson()], "init_params": "given"}, [[1.0], [2.0]],
         "given"),
    ],
)
def test_bad_arguments_and_data_are_refused(kwargs, X, match):
    with pytest.raises(ValueError, match=match):
        MixtureModel(**kwargs).fit(X)


def test_unfitted_model_and_bad_new_data_are_refused():
    with pytest.raises(NotFittedError):
        MixtureModel(Poisson()).predict([[1.0]])
    model = MixtureModel(Poisson(), 2, random_state=0).fit([[0.0], [1.0], [5.0], [6.0]])
    with pytest.raises(ValueError, match="has 2 features"):
        model.predict([[1.0, 2.0]])
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0)


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    X = np.column_stack([rng.poisson(4, 100), rng.integers(0, 3, 100),
                         rng.normal(size=100)]).astype(float)
    template = Independent([Poisson(), Categorical(), Gaussian()])
    model = MixtureModel(template, 2, random_state=0).fit(X)
    loaded = emkit.load(model.save(tmp_path / "mixture.npz"))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.n_iter_ == model.n_iter_ and loaded.converged_ == model.converged_
    tied = MixtureModel(Gaussian(covariance_type="tied"), 2, random_state=0).fit(X[:, 2:])
    again = emkit.load(tied.save(tmp_path / "tied.npz"))
    assert again.bic(X[:, 2:]) == tied.bic(X[:, 2:])


def test_lower_bounds_hold_one_value_per_iteration():
    # As GaussianMixture.lower_bounds_ (and scikit-learn's): the mean
    # log-likelihood after each iteration, the last one lower_bound_; each
    # value is the score of the fit stopped after that iteration.
    from emkit.distributions import Poisson

    rng = np.random.default_rng(12)
    X = np.concatenate([rng.poisson(2, 150), rng.poisson(9, 100)])[:, None]
    kw = dict(n_components=2, random_state=0, tol=0.0)
    with pytest.warns(emkit.ConvergenceWarning):
        full = MixtureModel(Poisson(), max_iter=4, **kw).fit(X)
    assert len(full.lower_bounds_) == full.n_iter_ == 4
    assert full.lower_bounds_[-1] == full.lower_bound_
    for i in range(1, 5):
        with pytest.warns(emkit.ConvergenceWarning):
            part = MixtureModel(Poisson(), max_iter=i, **kw).fit(X)
        assert full.lower_bounds_[i - 1] == pytest.approx(part.score(X), rel=1e-12)
