"""Known labels and soft evidence for MixtureModel (and row weights in its EM model).

Each fit is compared with a semi-supervised EM loop written here in plain
NumPy/SciPy (a Poisson mixture, and a mixture of Independent(Gaussian,
Categorical) rows), or with closed-form supervised estimates; never with the
model's own code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm, poisson
from sklearn.cluster import KMeans

from emkit.backends import ChunkedModel
from emkit.distributions import Categorical, Gaussian, Independent, Poisson
from emkit.engine import em
from emkit.estimators.mixture_model import MixtureModel
from emkit.models.mixture.any_distribution import MixtureEM

# tests that stop EM after a set number of iterations expect the engine's warning
CAPPED = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")
REG = 1e-6  # Gaussian's default reg_covar, added to each variance in the M-step


def _poisson_data(seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(200, int), np.ones(150, int), np.full(100, 2)]
    X = rng.poisson(np.array([1.5, 6.0, 14.0])[y])[:, None].astype(float)
    return X, y


def _mixed_data(seed=1):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(180, int), np.ones(120, int)]
    g = rng.normal(np.array([0.0, 2.0])[y], np.array([1.0, 0.7])[y])
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]])
    c = np.array([rng.choice(3, p=probs[j]) for j in y])
    return np.column_stack([g, c]).astype(float), y


def _evidence(labels, priors, n, k):
    ev = np.ones((n, k)) if priors is None else np.array(priors, dtype=float)
    if labels is not None:
        known = labels >= 0
        ev[known] = np.eye(k)[labels[known]] * ev[known]
    return ev


def _posterior(logp, ev):
    p = np.exp(logp - logp.max(axis=1, keepdims=True)) * ev
    return p / p.sum(axis=1, keepdims=True)


def _ref_poisson(X, labels, priors, sw, rates, n_iter, weights=None):
    """Semi-supervised EM for a Poisson mixture from ``weights`` (default equal) and ``rates``."""
    x = X[:, 0]
    k = len(rates)
    w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=float)
    lam = np.array(rates, dtype=float)
    ev = _evidence(labels, priors, len(x), k)
    sw = np.ones(len(x)) if sw is None else sw
    for _ in range(n_iter):
        logp = np.log(w) + poisson.logpmf(x[:, None], lam)
        r = _posterior(logp, ev) * sw[:, None]
        nk = r.sum(axis=0)
        w, lam = nk / nk.sum(), (r * x[:, None]).sum(axis=0) / nk
    return w, lam


def _ref_mixed(X, labels, priors, sw, init, n_iter):
    """Semi-supervised EM for Independent(Gaussian, Categorical) components."""
    g, c = X[:, 0], X[:, 1].astype(int)
    mu, var, probs = (np.array(a, dtype=float) for a in init)
    k = len(mu)
    w = np.full(k, 1.0 / k)
    ev = _evidence(labels, priors, len(g), k)
    sw = np.ones(len(g)) if sw is None else sw
    onehot = np.eye(probs.shape[1])[c]
    for _ in range(n_iter):
        logp = (np.log(w) + norm.logpdf(g[:, None], mu, np.sqrt(var))
                + np.log(probs[:, c].T))
        r = _posterior(logp, ev) * sw[:, None]
        nk = r.sum(axis=0)
        w = nk / nk.sum()
        mu = (r * g[:, None]).sum(axis=0) / nk
        var = (r * (g[:, None] - mu) ** 2).sum(axis=0) / nk + REG
        probs = (r.T @ onehot) / nk[:, None]
    return w, mu, var, probs


def _mixed_templates(init):
    mu, var, probs = init
    return [Independent([Gaussian(mean=[m], covariance=[v], covariance_type="diag"),
                         Categorical(probs=[p])]) for m, v, p in zip(mu, var, probs, strict=True)]


def _mixed_params(model):
    parts = [c.distributions for c in model.components_]
    return (model.weights_, np.array([float(np.ravel(g.mean)[0]) for g, _ in parts]),
            np.array([float(np.ravel(g.covariance)[0]) for g, _ in parts]),
            np.array([np.ravel(c.probs) for _, c in parts]))


def _partial(y, rng, share=0.3):
    return np.where(rng.random(len(y)) < share, y, -1)


@CAPPED
@pytest.mark.parametrize("n_iter", [1, 6])
@pytest.mark.parametrize("case", ["labels", "priors", "both"])
def test_poisson_matches_semi_supervised_em(case, n_iter):
    X, y = _poisson_data()
    rng = np.random.default_rng(3)
    n, k = len(X), 3
    labels = _partial(y, rng) if case != "priors" else None
    priors = rng.uniform(0.2, 3.0, size=(n, k)) if case != "labels" else None
    rates = [3.0, 5.0, 9.0]
    model = MixtureModel([Poisson(rate=[r]) for r in rates], init_params="given",
                         max_iter=n_iter, tol=0.0).fit(X, labels=labels, priors=priors)
    w, lam = _ref_poisson(X, labels, priors, None, rates, n_iter)
    np.testing.assert_allclose(model.weights_, w, rtol=1e-8, atol=0)
    np.testing.assert_allclose([float(c.rate[0]) for c in model.components_], lam,
                               rtol=1e-8, atol=0)


@CAPPED
def test_mixed_matches_semi_supervised_em():
    X, y = _mixed_data()
    rng = np.random.default_rng(4)
    labels = _partial(y, rng, 0.2)
    priors = rng.uniform(0.5, 2.0, size=(len(X), 2))
    init = ([-0.5, 1.0], [2.0, 2.0], [[0.4, 0.3, 0.3], [0.3, 0.3, 0.4]])
    model = MixtureModel(_mixed_templates(init), init_params="given", max_iter=5,
                         tol=0.0).fit(X, labels=labels, priors=priors)
    ref = _ref_mixed(X, labels, priors, None, init, 5)
    for got, want in zip(_mixed_params(model), ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)


def test_priors_of_ones_change_nothing():
    X, _ = _poisson_data()
    plain = MixtureModel(Poisson(), 3, random_state=0).fit(X)
    ones = MixtureModel(Poisson(), 3, random_state=0).fit(X, priors=np.ones((len(X), 3)))
    np.testing.assert_allclose(ones.weights_, plain.weights_, rtol=1e-12, atol=0)
    np.testing.assert_allclose([c.rate for c in ones.components_],
                               [c.rate for c in plain.components_], rtol=1e-12, atol=0)
    assert ones.n_iter_ == plain.n_iter_
    np.testing.assert_allclose(ones.lower_bound_, plain.lower_bound_, rtol=1e-12, atol=0)


@CAPPED
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_all_labels_give_supervised_mle_in_one_iteration(init_params):
    X, y = _mixed_data()
    model = MixtureModel(Independent([Gaussian(covariance_type="diag"), Categorical()]), 2,
                         init_params=init_params, random_state=0, max_iter=1,
                         tol=0.0).fit(X, labels=y)
    g, c = X[:, 0], X[:, 1].astype(int)
    w, mu, var, probs = _mixed_params(model)
    for j in range(2):
        rows = y == j
        assert w[j] == pytest.approx(rows.mean(), rel=1e-12)
        assert mu[j] == pytest.approx(g[rows].mean(), rel=1e-10)
        assert var[j] == pytest.approx(g[rows].var() + REG, rel=1e-10)
        np.testing.assert_allclose(probs[j], np.bincount(c[rows], minlength=3) / rows.sum(),
                                   rtol=1e-10, atol=1e-14)


@CAPPED
def test_start_uses_labelled_rows():
    """k-means clusters renamed to agree with the labels, labelled rows one-hot."""
    X, y = _poisson_data()
    rng = np.random.default_rng(5)
    labels = _partial(y, rng, 0.2)
    priors = rng.uniform(0.5, 2.0, size=(len(X), 3))
    model = MixtureModel(Poisson(), 3, random_state=0, max_iter=2, tol=0.0).fit(
        X, labels=labels, priors=priors)
    clusters = KMeans(n_clusters=3, n_init=1, random_state=np.random.RandomState(0)).fit(
        X).labels_
    ev = _evidence(labels, priors, len(X), 3)
    table = np.zeros((3, 3))
    np.add.at(table, clusters, ev / ev.sum(axis=1, keepdims=True))
    rows, cols = linear_sum_assignment(-table)
    rename = np.empty(3, int)
    rename[rows] = cols
    r = np.eye(3)[rename[clusters]] * ev
    empty = r.sum(axis=1) == 0  # labelled into another cluster: the evidence alone
    r[empty] = ev[empty]
    r /= r.sum(axis=1, keepdims=True)
    known = labels >= 0
    np.testing.assert_array_equal(r[known], np.eye(3)[labels[known]])
    nk = r.sum(axis=0)
    w, lam = _ref_poisson(X, labels, priors, None, (r * X).sum(axis=0) / nk, 2, nk / nk.sum())
    np.testing.assert_allclose(model.weights_, w, rtol=1e-8, atol=0)
    np.testing.assert_allclose([float(c.rate[0]) for c in model.components_], lam,
                               rtol=1e-8, atol=0)


@CAPPED
@pytest.mark.parametrize("chunk_size", [None, 41])
def test_weighted_model_data_match_reference_and_repeated_rows(chunk_size):
    """The model's (X, sample_weight, log_evidence) data: weighted semi-supervised EM."""
    X, y = _poisson_data()
    rng = np.random.default_rng(6)
    labels = _partial(y, rng)
    priors = rng.uniform(0.5, 2.0, size=(len(X), 3))
    reps = rng.integers(1, 4, size=len(X)).astype(float)
    rates = [2.0, 5.0, 12.0]
    with np.errstate(divide="ignore"):
        ev = np.log(_evidence(labels, priors, len(X), 3))
    model = MixtureEM([Poisson()] * 3)
    init = MixtureEM.pack(np.full(3, 1 / 3), [Poisson(rate=[r]) for r in rates])
    runner = model if chunk_size is None else ChunkedModel(model, chunk_size)
    weighted = em(runner, (X, reps, ev), init, tol=0.0, max_iter=4)
    repeated = em(model, (np.repeat(X, reps.astype(int), axis=0), None,
                          np.repeat(ev, reps.astype(int), axis=0)), init, tol=0.0, max_iter=4)
    w, lam = _ref_poisson(X, labels, priors, reps, rates, 4)
    np.testing.assert_allclose(weighted.params["weights"], w, rtol=1e-8, atol=0)
    np.testing.assert_allclose(np.ravel([c["rate"] for c in weighted.params["components"]]),
                               lam, rtol=1e-8, atol=0)
    np.testing.assert_allclose(weighted.loglik, repeated.loglik, rtol=1e-10, atol=0)
    np.testing.assert_allclose(weighted.params["weights"], repeated.params["weights"],
                               rtol=1e-10, atol=0)


@CAPPED
def test_chunked_equals_in_memory():
    X, y = _mixed_data()
    rng = np.random.default_rng(7)
    kw = dict(labels=_partial(y, rng), priors=rng.uniform(0.3, 2.0, size=(len(X), 2)))
    template = Independent([Gaussian(covariance_type="diag"), Categorical()])
    full = MixtureModel(template, 2, random_state=0, tol=1e-10, max_iter=30).fit(X, **kw)
    chunked = MixtureModel(template, 2, random_state=0, tol=1e-10, max_iter=30,
                           chunk_size=37).fit(X, **kw)
    assert chunked.n_iter_ == full.n_iter_
    for a, b in zip(_mixed_params(chunked), _mixed_params(full), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(chunked.lower_bound_, full.lower_bound_, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kw, match", [
    (dict(labels=np.zeros(10, int)), r"labels must have shape \(450,\)"),
    (dict(labels=np.full(450, 3)), r"labels must be -1 \(unknown\) or a component in 0..2"),
    (dict(labels=np.full(450, -2)), r"got -2 \(row 0\)"),
    (dict(labels=np.full(450, 0.5)), "non-integral"),
    (dict(priors=np.ones((450, 2))), r"priors must have shape \(450, 3\)"),
    (dict(priors=-np.ones((450, 3))), "finite and non-negative"),
    (dict(priors=np.zeros((450, 3))), "a row of zeros"),
    (dict(labels=np.r_[1, np.full(449, -1)],
          priors=np.r_[[[1.0, 0.0, 1.0]], np.ones((449, 3))]),
     "row 0 is labelled 1 .* probability 0"),
])
def test_clear_errors(kw, match):
    X, _ = _poisson_data()
    with pytest.raises(ValueError, match=match):
        MixtureModel(Poisson(), 3, random_state=0).fit(X, **kw)


def test_with_concomitant_a_constant_column_is_still_refused():
    # labels with concomitant variables: tests/test_concomitant_supervision.py
    X, y = _poisson_data()
    with pytest.raises(ValueError, match="concomitant column 0 is constant"):
        MixtureModel(Poisson(), 3, random_state=0).fit(
            X, concomitant=np.zeros((len(X), 1)), labels=y)
