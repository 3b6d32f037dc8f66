"""Known labels and soft evidence with missing values (NaN), for GaussianMixture and
EMImputer's mixture, against a semi-supervised EM loop with missing entries written
here (observed-block marginals, conditional expectations and covariances by hand)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from emkit.estimators.gaussian_mixture import GaussianMixture
from emkit.estimators.imputer import EMImputer
from emkit.exceptions import ConvergenceWarning

CAPPED = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")


def _data(seed=0, n=120, frac=0.2):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.multivariate_normal([0, 0, 0], [[1, .5, .2], [.5, 1, .3], [.2, .3, 1]], n),
                   rng.multivariate_normal([3, 2, -2], [[1, -.3, 0], [-.3, .8, .1], [0, .1, .6]],
                                           n)])
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    miss = rng.random(X.shape) < frac
    miss[miss.all(axis=1), 0] = False
    X[miss] = np.nan
    return X, y


def _ref_em(X, ev, sw, w, mu, S, reg, n_iter):
    """Semi-supervised EM with missing values, full covariances."""
    n, d = X.shape
    k = len(w)
    w, mu, S = (np.array(a, dtype=float) for a in (w, mu, S))
    for _ in range(n_iter):
        logp = np.zeros((n, k))
        xhat = np.zeros((n, k, d))
        cond = np.zeros((n, k, d, d))
        for i in range(n):
            o = ~np.isnan(X[i])
            m = ~o
            for j in range(k):
                logp[i, j] = np.log(w[j]) + multivariate_normal(mu[j][o], S[j][np.ix_(o, o)]
                                                                ).logpdf(X[i, o])
                xh = X[i].copy()
                if m.any():
                    reg_m = S[j][np.ix_(m, o)] @ np.linalg.inv(S[j][np.ix_(o, o)])
                    xh[m] = mu[j][m] + reg_m @ (X[i, o] - mu[j][o])
                    cond[i, j][np.ix_(m, m)] = S[j][np.ix_(m, m)] - reg_m @ S[j][np.ix_(o, m)]
                xhat[i, j] = xh
        p = np.exp(logp - logp.max(axis=1, keepdims=True)) * ev
        r = p / p.sum(axis=1, keepdims=True) * sw[:, None]
        nk = r.sum(axis=0)
        w = nk / nk.sum()
        mu = np.einsum("ik,ikd->kd", r, xhat) / nk[:, None]
        dev = xhat - mu[None]
        S = (np.einsum("ik,ikd,ike->kde", r, dev, dev) + np.einsum("ik,ikde->kde", r, cond)
             ) / nk[:, None, None] + reg * np.eye(d)
    return w, mu, S


START = dict(weights=[0.5, 0.5], means=[[0.2, 0.1, 0.3], [2.5, 2.2, -1.5]],
             covs=np.array([np.eye(3), np.eye(3)]))


def _evidence(labels, priors, n, k):
    ev = np.ones((n, k)) if priors is None else np.array(priors, dtype=float)
    known = labels >= 0
    ev[known] = np.eye(k)[labels[known]] * ev[known]
    return ev


@CAPPED
@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_mixture_labels_and_priors_with_nan_match_reference(weighted):
    X, y = _data()
    rng = np.random.default_rng(1)
    labels = np.where(rng.random(len(X)) < 0.3, y, -1)
    priors = rng.uniform(0.2, 1.0, (len(X), 2))
    sw = rng.integers(1, 4, len(X)).astype(float) if weighted else np.ones(len(X))
    gm = GaussianMixture(2, weights_init=START["weights"], means_init=START["means"],
                         precisions_init=np.linalg.inv(START["covs"]), max_iter=5, tol=0.0)
    gm.fit(X, sample_weight=sw if weighted else None, labels=labels, priors=priors)
    w, mu, S = _ref_em(X, _evidence(labels, priors, len(X), 2), sw, START["weights"],
                       START["means"], START["covs"], gm.reg_covar, 5)
    np.testing.assert_allclose(gm.weights_, w, rtol=1e-8)
    np.testing.assert_allclose(gm.means_, mu, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gm.covariances_, S, rtol=1e-8, atol=1e-10)


@CAPPED
def test_gaussian_mixture_nan_labels_for_every_row_give_the_supervised_fit():
    X, y = _data(2)
    gm = GaussianMixture(2, weights_init=START["weights"], means_init=START["means"],
                         precisions_init=np.linalg.inv(START["covs"]), max_iter=1, tol=0.0)
    gm.fit(X, labels=y)
    w, mu, S = _ref_em(X, np.eye(2)[y], np.ones(len(X)), START["weights"], START["means"],
                       START["covs"], gm.reg_covar, 1)
    np.testing.assert_allclose(gm.weights_, [0.5, 0.5], rtol=1e-12)
    np.testing.assert_allclose(w, [0.5, 0.5], rtol=1e-12)
    np.testing.assert_allclose(gm.means_, mu, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gm.covariances_, S, rtol=1e-8, atol=1e-10)


@CAPPED
@pytest.mark.parametrize("with_nan", [False, True])
def test_gaussian_mixture_dask_labels_and_priors_equal_in_memory(with_nan):
    import dask
    import dask.array as da

    X, y = _data(3, frac=0.2 if with_nan else 0.0)
    rng = np.random.default_rng(4)
    labels = np.where(rng.random(len(X)) < 0.3, y, -1)
    priors = rng.uniform(0.2, 1.0, (len(X), 2))
    kw = dict(means_init=START["means"], max_iter=8, tol=0.0, random_state=1)
    ref = GaussianMixture(2, **kw).fit(X, labels=labels, priors=priors)
    with dask.config.set(scheduler="synchronous"):
        got = GaussianMixture(2, **kw).fit(da.from_array(X, chunks=(70, 3)),
                                           labels=da.from_array(labels, chunks=50),
                                           priors=priors)
    np.testing.assert_allclose(got.weights_, ref.weights_, rtol=1e-8)
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got.covariances_, ref.covariances_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got.lower_bound_, ref.lower_bound_, rtol=1e-10)
    # and a kmeans start on the labelled rows: the same start from the same rows
    ref2 = GaussianMixture(2, random_state=0, max_iter=8, tol=0.0).fit(X, labels=labels)
    with dask.config.set(scheduler="synchronous"):
        got2 = GaussianMixture(2, random_state=0, max_iter=8, tol=0.0).fit(
            da.from_array(X, chunks=(70, 3)), labels=labels)
    np.testing.assert_allclose(got2.means_, ref2.means_, rtol=1e-8, atol=1e-10)


def _imputer_data(seed=5):
    X, y = _data(seed, n=90, frac=0.15)
    return X, y


@CAPPED
def test_imputer_integer_weights_equal_repeated_rows():
    X, _ = _imputer_data()
    w = np.random.default_rng(6).integers(0, 4, len(X)).astype(float)
    a = EMImputer(tol=1e-14).fit(X, sample_weight=w)
    b = EMImputer(tol=1e-14).fit(np.repeat(X, w.astype(int), axis=0))
    np.testing.assert_allclose(a.mean_, b.mean_, rtol=1e-9)
    np.testing.assert_allclose(a.covariance_, b.covariance_, rtol=1e-9)
    np.testing.assert_allclose(a.loglik_, b.loglik_, rtol=1e-10)
    np.testing.assert_allclose(a.standard_errors_, b.standard_errors_, rtol=1e-7)
    np.testing.assert_allclose(a.transform(X), b.transform(X), rtol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_imputer_mixture_with_labels_is_a_fixed_point_of_the_reference(weighted):
    X, y = _imputer_data(7)
    rng = np.random.default_rng(8)
    labels = np.where(rng.random(len(X)) < 0.3, y, -1)
    priors = rng.uniform(0.3, 1.0, (len(X), 2))
    sw = rng.integers(1, 4, len(X)).astype(float) if weighted else np.ones(len(X))
    imp = EMImputer(2, tol=1e-14, max_iter=5000, random_state=0).fit(
        X, labels=labels, priors=priors, sample_weight=sw if weighted else None)
    assert imp.reg_covar_ == 0.0
    ev = _evidence(labels, priors, len(X), 2)
    w, mu, S = _ref_em(X, ev, sw, imp.weights_, imp.means_, imp.covariances_, 0.0, 1)
    np.testing.assert_allclose(w, imp.weights_, rtol=1e-7)
    np.testing.assert_allclose(mu, imp.means_, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(S, imp.covariances_, rtol=1e-6, atol=1e-7)
    # the evidence mattered: the unsupervised fit is not a fixed point of this map
    free = EMImputer(2, tol=1e-14, max_iter=5000, random_state=0).fit(X)
    assert not np.allclose(free.means_, imp.means_, rtol=1e-4)


def test_imputer_supervision_bad_input():
    X, _ = _imputer_data()
    with pytest.raises(ValueError, match="labels"):
        EMImputer(2).fit(X, labels=np.full(len(X), 5))
    with pytest.raises(ValueError, match="priors"):
        EMImputer(2).fit(X, priors=np.ones((len(X), 3)))
    with pytest.raises(ValueError, match="sample_weight"):
        EMImputer().fit(X, sample_weight=np.ones(2))


@CAPPED
@pytest.mark.parametrize("with_nan", [False, True])
def test_gaussian_mixture_dask_sample_weight_equals_in_memory(with_nan):
    import dask
    import dask.array as da

    X, y = _data(9, frac=0.2 if with_nan else 0.0)
    rng = np.random.default_rng(10)
    w = rng.integers(0, 4, len(X)).astype(float)
    labels = np.where(rng.random(len(X)) < 0.3, y, -1)
    kw = dict(max_iter=8, tol=0.0, random_state=2)
    for extra in ({}, {"labels": labels}):
        ref = GaussianMixture(2, **kw).fit(X, sample_weight=w, **extra)
        with dask.config.set(scheduler="synchronous"):
            got = GaussianMixture(2, **kw).fit(da.from_array(X, chunks=(70, 3)),
                                               sample_weight=da.from_array(w, chunks=100),
                                               **extra)
        np.testing.assert_allclose(got.weights_, ref.weights_, rtol=1e-8)
        np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(got.covariances_, ref.covariances_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(got.lower_bound_, ref.lower_bound_, rtol=1e-10)


@pytest.mark.parametrize("n_components", [1, 2])
def test_imputer_dask_weights_and_labels_equal_in_memory(n_components):
    import dask
    import dask.array as da

    X, y = _imputer_data(11)
    rng = np.random.default_rng(12)
    w = rng.integers(1, 4, len(X)).astype(float)
    extra = {} if n_components == 1 else {
        "labels": np.where(rng.random(len(X)) < 0.3, y, -1),
        "priors": rng.uniform(0.3, 1.0, (len(X), 2))}
    kw = dict(n_components=n_components, tol=0.0, max_iter=10, random_state=0)
    with pytest.warns(ConvergenceWarning):
        ref = EMImputer(**kw).fit(X, sample_weight=w, **extra)
    with dask.config.set(scheduler="synchronous"), pytest.warns(ConvergenceWarning):
        got = EMImputer(**kw).fit(da.from_array(X, chunks=(50, 3)),
                                  sample_weight=da.from_array(w, chunks=64), **extra)
    for name in (("mean_", "covariance_", "standard_errors_") if n_components == 1
                 else ("weights_", "means_", "covariances_")):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-8,
                                   atol=1e-10)
    np.testing.assert_allclose(got.loglik_, ref.loglik_, rtol=1e-10)
