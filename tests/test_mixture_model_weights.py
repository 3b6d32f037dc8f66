"""Row weights in MixtureModel.fit: integer weights equal repeated rows.

The references are the same fit on the rows repeated ``w`` times (the definition
of an integer weight) and a weighted EM loop for a Poisson mixture written here.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from scipy.stats import poisson

from emkit.distributions import Categorical, Gaussian, Independent, Poisson
from emkit.estimators.mixture_model import MixtureModel

CAPPED = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")


def _poisson_rows(seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.poisson(2.0, 120), rng.poisson(9.0, 80)])[:, None].astype(float)
    w = rng.integers(0, 4, len(X)).astype(float)
    return X, w


def _given_poisson():
    return [Poisson(rate=[1.0]), Poisson(rate=[6.0])]


@CAPPED
def test_integer_weights_equal_repeated_rows_poisson():
    X, w = _poisson_rows()
    rep = np.repeat(X, w.astype(int), axis=0)
    kw = dict(init_params="given", tol=0.0, max_iter=7)
    a = MixtureModel(_given_poisson(), **kw).fit(X, sample_weight=w)
    b = MixtureModel(_given_poisson(), **kw).fit(rep)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-12)
    np.testing.assert_allclose([c.rate for c in a.components_],
                               [c.rate for c in b.components_], rtol=1e-12)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-12)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-12)


@CAPPED
def test_weighted_fit_matches_a_weighted_em_loop():
    X, w = _poisson_rows(1)
    w = w + np.random.default_rng(2).random(len(w))  # non-integer weights too
    x = X[:, 0]
    pi, lam = np.array([0.5, 0.5]), np.array([1.0, 6.0])
    for _ in range(5):
        logp = np.log(pi) + poisson.logpmf(x[:, None], lam)
        r = np.exp(logp - logp.max(axis=1, keepdims=True))
        r = r / r.sum(axis=1, keepdims=True) * w[:, None]
        pi, lam = r.sum(0) / r.sum(), (r * x[:, None]).sum(0) / r.sum(0)
    got = MixtureModel(_given_poisson(), init_params="given", tol=0.0, max_iter=5).fit(
        X, sample_weight=w)
    np.testing.assert_allclose(got.weights_, pi, rtol=1e-12)
    np.testing.assert_allclose(np.concatenate([c.rate for c in got.components_]), lam,
                               rtol=1e-12)


@CAPPED
def test_weights_of_two_equal_duplicated_rows_mixed_columns():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.r_[rng.normal(0, 1, 60), rng.normal(3, 0.5, 40)],
                         rng.integers(0, 3, 100)]).astype(float)
    templates = [Independent([Gaussian(mean=[0.0], covariance=[[1.0]]),
                              Categorical(probs=[[0.5, 0.3, 0.2]])]),
                 Independent([Gaussian(mean=[2.0], covariance=[[1.0]]),
                              Categorical(probs=[[0.2, 0.3, 0.5]])])]
    kw = dict(init_params="given", tol=0.0, max_iter=6)
    a = MixtureModel(templates, **kw).fit(X, sample_weight=np.full(100, 2.0))
    b = MixtureModel(templates, **kw).fit(np.vstack([X, X]))
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-12)
    for ca, cb in zip(a.components_, b.components_, strict=True):
        for pa, pb in zip(ca.distributions, cb.distributions, strict=True):
            for key, value in pa.parameters().items():
                np.testing.assert_allclose(value, pb.parameters()[key], rtol=1e-10,
                                           atol=1e-12)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-12)


@CAPPED
def test_weights_combine_with_labels_and_chunks():
    X, w = _poisson_rows(4)
    labels = np.full(len(X), -1)
    labels[:5], labels[-5:] = 0, 1
    rep_idx = np.repeat(np.arange(len(X)), w.astype(int))
    kw = dict(init_params="given", tol=0.0, max_iter=5)
    a = MixtureModel(_given_poisson(), chunk_size=17, **kw).fit(X, sample_weight=w,
                                                                labels=labels)
    b = MixtureModel(_given_poisson(), **kw).fit(X[rep_idx], labels=labels[rep_idx])
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-12)
    np.testing.assert_allclose([c.rate for c in a.components_],
                               [c.rate for c in b.components_], rtol=1e-12)


@CAPPED
@pytest.mark.parametrize("dask_weights", [False, True])
def test_dask_carries_the_weights(dask_weights):
    X, w = _poisson_rows(5)
    kw = dict(init_params="given", tol=0.0, max_iter=6)
    ref = MixtureModel(_given_poisson(), **kw).fit(X, sample_weight=w)
    Xd = da.from_array(X, chunks=(37, 1))
    wd = da.from_array(w, chunks=50) if dask_weights else w
    with dask.config.set(scheduler="synchronous"):
        got = MixtureModel(_given_poisson(), **kw).fit(Xd, sample_weight=wd)
    np.testing.assert_allclose(got.weights_, ref.weights_, rtol=1e-10)
    np.testing.assert_allclose([c.rate for c in got.components_],
                               [c.rate for c in ref.components_], rtol=1e-10)
    np.testing.assert_allclose(got.lower_bound_, ref.lower_bound_, rtol=1e-10)


def test_weighted_kmeans_start_fits():
    X, w = _poisson_rows(6)
    model = MixtureModel(Poisson(), n_components=2, random_state=0).fit(X, sample_weight=w)
    rates = np.sort(np.concatenate([c.rate for c in model.components_]))
    assert abs(rates[0] - 2.0) < 0.6 and abs(rates[1] - 9.0) < 1.5


def test_bad_weights():
    X, _ = _poisson_rows(7)
    est = MixtureModel(Poisson(), n_components=2)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        est.fit(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        est.fit(X, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="zero for every row"):
        est.fit(X, sample_weight=np.zeros(len(X)))
    with pytest.raises(ValueError, match="concomitant"):
        est.fit(X, sample_weight=np.ones(len(X)), concomitant=np.ones((len(X), 1)))
    with pytest.raises(ValueError, match="sample_weight must have shape"), \
            dask.config.set(scheduler="synchronous"):
        est.fit(da.from_array(X, chunks=50), sample_weight=np.ones(3))


@CAPPED
@pytest.mark.parametrize("init_params", ["given", "kmeans"])
def test_dask_labels_priors_and_weights_equal_in_memory(init_params):
    X, w = _poisson_rows(8)
    rng = np.random.default_rng(9)
    y = (np.arange(len(X)) >= 120).astype(int)
    labels = np.where(rng.random(len(X)) < 0.2, y, -1)
    priors = rng.uniform(0.2, 1.0, (len(X), 2))
    dist = _given_poisson() if init_params == "given" else Poisson()
    kw = dict(n_components=1 if init_params == "given" else 2, init_params=init_params,
              tol=0.0, max_iter=6, random_state=0)
    ref = MixtureModel(dist, **kw).fit(X, sample_weight=w, labels=labels, priors=priors)
    with dask.config.set(scheduler="synchronous"):
        got = MixtureModel(dist, **kw).fit(da.from_array(X, chunks=(45, 1)),
                                           sample_weight=da.from_array(w, chunks=60),
                                           labels=da.from_array(labels, chunks=70),
                                           priors=priors)
    np.testing.assert_allclose(got.weights_, ref.weights_, rtol=1e-10)
    np.testing.assert_allclose([c.rate for c in got.components_],
                               [c.rate for c in ref.components_], rtol=1e-10)
    np.testing.assert_allclose(got.lower_bound_, ref.lower_bound_, rtol=1e-10)
