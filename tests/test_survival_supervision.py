"""SurvivalMixture: known labels, soft evidence, given starts and frozen parameters.

Each fit is compared with a semi-supervised, constrained EM written here with
NumPy and SciPy (each component's weighted censored log-likelihood maximized over
its free parameters by scipy.optimize, the closed forms for the exponential rate
and the weights), not with the estimator's own code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_ndtr, logsumexp
from sklearn.base import clone

import emkit
from emkit import SurvivalMixture

K = 2
NAMES = {"exponential": ("rate",), "weibull": ("shape", "scale"),
         "lognormal": ("meanlog", "sdlog")}


def _data(family: str, n: int = 700, seed: int = 0, cure: bool = False):
    rng = np.random.default_rng(seed)
    g = (rng.random(n) < 0.4).astype(int)
    if family == "exponential":
        T = rng.exponential(np.where(g == 0, 0.5, 6.0))
    elif family == "weibull":
        T = np.where(g == 0, 1.0, 6.0) * rng.weibull(np.where(g == 0, 2.5, 1.3))
    else:
        T = np.exp(rng.normal(np.where(g == 0, 0.0, 2.0), np.where(g == 0, 0.4, 0.7)))
    if cure:
        cured = rng.random(n) < 0.2
        T = np.where(cured, np.inf, T)
        g = np.where(cured, K, g)
    C = rng.exponential(12.0, n)
    t, d = np.minimum(T, C), (T <= C).astype(int)
    labels = np.where(rng.random(n) < 0.25, g, -1)
    if cure:  # a cured label only where the row is censored
        labels = np.where((labels == K) & (d == 1), -1, labels)
    return t, d, g, labels


def _start(family):
    return {"exponential": {"rate": np.array([1.5, 0.2])},
            "weibull": {"shape": np.array([2.0, 1.0]), "scale": np.array([1.2, 5.0])},
            "lognormal": {"meanlog": np.array([0.2, 1.7]),
                          "sdlog": np.array([0.5, 0.9])}}[family]


def _estimator(family, start, weights, cure_fraction=None, **kw):
    kw = {"tol": 1e-15, "max_iter": 3000, "accelerate": "squarem", **kw}
    inits = {f"{name}_init": value for name, value in start.items()}
    return SurvivalMixture(family, K, cure=cure_fraction is not None, weights_init=weights,
                           cure_fraction_init=cure_fraction, **inits, **kw)


# ----------------------------------------------------------------- the reference
def _terms(family, p, t, d):
    """log f (events) or log S (censored), shape (n,), for one component's parameters."""
    if family == "exponential":
        return np.where(d > 0, np.log(p[0]) - p[0] * t, -p[0] * t)
    if family == "weibull":
        k, lam = p
        z = np.log(t) - np.log(lam)
        cum = np.exp(k * z)
        return np.where(d > 0, np.log(k) - np.log(lam) + (k - 1) * z - cum, -cum)
    mu, sigma = p
    a = (np.log(t) - mu) / sigma
    return np.where(d > 0, -np.log(t) - np.log(sigma) - 0.5 * np.log(2 * np.pi) - 0.5 * a * a,
                    log_ndtr(-a))


def reference_fit(family, t, d, start, weights, evidence=None, masks=None, cure=False):
    """The semi-supervised log-likelihood maximized directly over the free entries.

    Not EM: scipy.optimize on the observed log-likelihood (positive parameters on
    the log scale, the free weights a softmax sharing the free mass), from the same
    start, so it ends at the maximum EM's fixed point is.
    """
    masks = masks or {}
    names = NAMES[family]
    P0 = np.column_stack([start[name] for name in names]).astype(float)  # (K, parameters)
    frozen = np.column_stack([masks.get(name, np.zeros(K, bool)) for name in names])
    w0 = np.array(weights, dtype=float)
    wmask = masks.get("weights", np.zeros(w0.size, bool))
    free_w = np.flatnonzero(~wmask)
    positive = np.ones(P0.shape, bool)
    if family == "lognormal":
        positive[:, 0] = False
    n = len(t)
    ev = np.zeros((n, w0.size)) if evidence is None else evidence
    mass = 1 - w0[wmask].sum()
    m = int((~frozen).sum())

    def unpack(x):
        P = P0.copy()
        P[~frozen] = np.where(positive[~frozen], np.exp(x[:m]), x[:m])
        w = w0.copy()
        if free_w.size:
            logits = np.concatenate([[0.0], x[m:]])
            w[free_w] = mass * np.exp(logits - logsumexp(logits))
        return P, w

    def loglik(x):
        P, w = unpack(x)
        terms = np.column_stack([_terms(family, P[k], t, d) for k in range(K)])
        if cure:
            terms = np.column_stack([terms, np.where(d > 0, -np.inf, 0.0)])
        with np.errstate(divide="ignore"):
            return logsumexp(terms + np.log(w) + ev, axis=1).mean()

    x0 = np.where(positive[~frozen], np.log(P0[~frozen]), P0[~frozen])
    if free_w.size > 1:
        x0 = np.concatenate([x0, np.log(w0[free_w[1:]] / w0[free_w[0]])])
    res = minimize(lambda x: -loglik(x), x0, method="BFGS",
                   options={"gtol": 1e-10, "maxiter": 2000})
    res = minimize(lambda x: -loglik(x), res.x, method="BFGS",
                   options={"gtol": 1e-10, "maxiter": 2000})
    P, w = unpack(res.x)
    return P, w, loglik(res.x)


def _evidence(labels, m, priors=None):
    ev = np.zeros((len(labels), m)) if priors is None else np.log(priors)
    known = labels >= 0
    own = ev[known, labels[known]]
    ev[known] = -np.inf
    ev[known, labels[known]] = own
    return ev


def _check(model, ref, family, cure=False, atol=1e-6):
    P, w, ll = ref
    for j, name in enumerate(NAMES[family]):
        np.testing.assert_allclose(getattr(model, name + "_"), P[:, j], atol=atol, rtol=0)
    np.testing.assert_allclose(model.weights_, w[:K], atol=atol, rtol=0)
    if cure:
        assert model.cure_fraction_ == pytest.approx(w[K], abs=atol)
    assert model.lower_bound_ == pytest.approx(ll, abs=1e-8, rel=0)


# ------------------------------------------------------------------- the tests
@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
def test_labels_and_priors_match_semi_supervised_reference(family):
    t, d, _, labels = _data(family)
    start, weights = _start(family), np.array([0.45, 0.55])
    priors = np.random.default_rng(3).uniform(0.3, 1.0, (len(t), K))
    model = _estimator(family, start, weights).fit(t, d, labels=labels, priors=priors)
    _check(model, reference_fit(family, t, d, start, weights, _evidence(labels, K, priors)),
           family)


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
@pytest.mark.parametrize("which", [0, 1])
def test_partial_freeze_with_cure_matches_constrained_reference(family, which):
    t, d, _, labels = _data(family, seed=1, cure=True)
    start, weights = _start(family), np.array([0.35, 0.45, 0.2])
    names = NAMES[family]
    name = names[min(which, len(names) - 1)]
    mask = np.array([True, False]) if which == 0 else np.array([False, True])
    freeze = {name + "_": mask, "weights_": np.array([False, True])}
    masks = {name: mask, "weights": np.array([False, True, False])}
    if which == 1:
        freeze["cure_fraction_"] = True
        masks["weights"] = np.array([False, False, True])
        del freeze["weights_"]
    model = _estimator(family, start, weights[:K], weights[K], freeze=freeze).fit(
        t, d, labels=labels)
    ref = reference_fit(family, t, d, start, weights, _evidence(labels, K + 1), masks, cure=True)
    _check(model, ref, family, cure=True)
    assert np.array_equal(getattr(model, name + "_")[mask], start[name][mask])
    if which == 1:
        assert model.cure_fraction_ == weights[K]
    else:
        assert model.weights_[1] == weights[1]


@pytest.mark.parametrize("family", ["weibull", "lognormal"])
def test_freeze_all_but_one_entry_keeps_the_rest_exactly(family):
    t, d, _, _ = _data(family, seed=2)
    start, weights = _start(family), np.array([0.45, 0.55])
    first, second = NAMES[family]
    freeze = {first + "_": True, second + "_": np.array([True, False]), "weights_": True}
    model = _estimator(family, start, weights, freeze=freeze, max_iter=300).fit(t, d)
    assert np.array_equal(getattr(model, first + "_"), start[first])
    assert getattr(model, second + "_")[0] == start[second][0]
    assert getattr(model, second + "_")[1] != start[second][1]
    assert np.array_equal(model.weights_, weights)
    masks = {first: np.ones(K, bool), second: np.array([True, False]),
             "weights": np.ones(K, bool)}
    _check(model, reference_fit(family, t, d, start, weights, None, masks), family)


def test_every_row_labelled_gives_the_supervised_mle_in_one_iteration():
    t, d, g, _ = _data("exponential", seed=3, cure=True)
    w = np.random.default_rng(3).integers(1, 4, len(t)).astype(float)
    model = SurvivalMixture("exponential", K, cure=True, max_iter=1).fit(
        t, d, labels=g, sample_weight=w)
    for k in range(K):
        rows = g == k
        assert model.rate_[k] == pytest.approx(w[rows] @ d[rows] / (w[rows] @ t[rows]),
                                               rel=1e-12)
        assert model.weights_[k] == pytest.approx(w[rows].sum() / w.sum(), rel=1e-12)
    assert model.cure_fraction_ == pytest.approx(w[g == K].sum() / w.sum(), rel=1e-12)


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
def test_priors_of_ones_change_nothing(family):
    t, d, _, _ = _data(family, seed=4)
    start, weights = _start(family), np.array([0.45, 0.55])
    a = _estimator(family, start, weights, tol=1e-8).fit(t, d)
    b = _estimator(family, start, weights, tol=1e-8).fit(t, d, priors=np.ones((len(t), K)))
    for name in NAMES[family]:
        np.testing.assert_allclose(getattr(b, name + "_"), getattr(a, name + "_"), rtol=1e-12)
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-12)
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-13)
    assert b.n_iter_ == a.n_iter_


@pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")
def test_labels_travel_with_their_rows_in_chunks_and_on_dask():
    t, d, _, labels = _data("weibull", seed=5, cure=True)
    start, weights = _start("weibull"), np.array([0.35, 0.45])
    kw = {"freeze": {"shape_": np.array([False, True])}, "max_iter": 40, "tol": 0.0,
          "accelerate": None}
    whole = _estimator("weibull", start, weights, 0.2, **kw).fit(t, d, labels=labels)
    chunked = _estimator("weibull", start, weights, 0.2, chunk_size=100, **kw).fit(
        t, d, labels=labels)
    np.testing.assert_allclose(chunked.scale_, whole.scale_, rtol=1e-10)
    np.testing.assert_allclose(chunked.shape_, whole.shape_, rtol=1e-10)
    assert chunked.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-12)
    da = pytest.importorskip("dask.array")
    on_dask = _estimator("weibull", start, weights, 0.2, **kw).fit(
        da.from_array(t, chunks=150), da.from_array(d, chunks=150),
        labels=da.from_array(labels, chunks=150))
    np.testing.assert_allclose(on_dask.scale_, whole.scale_, rtol=1e-10)
    assert on_dask.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-12)


def test_labelled_start_and_order_follow_the_labels():
    t, d, _, labels = _data("lognormal", seed=6)
    flipped = np.where(labels >= 0, 1 - labels, -1)
    for seed in range(3):
        model = SurvivalMixture("lognormal", K, random_state=seed).fit(t, d, labels=flipped)
        # component 1 is the one labelled 1: the short times (meanlog near 0)
        assert model.meanlog_[1] == pytest.approx(0.0, abs=0.1)
        assert model.meanlog_[0] == pytest.approx(2.0, abs=0.2)


def test_freeze_is_a_parameter_kept_by_clone_and_save(tmp_path):
    t, d, _, _ = _data("weibull", seed=7)
    mask = np.array([True, False])
    model = SurvivalMixture("weibull", K, random_state=0, shape_init=[2.5, 1.3],
                            freeze={"shape_": mask}).fit(t, d)
    assert model.shape_[0] == 2.5
    model.save(tmp_path / "m.emkit")
    loaded = emkit.load(tmp_path / "m.emkit")
    np.testing.assert_array_equal(loaded.freeze["shape_"], mask)
    np.testing.assert_array_equal(loaded.survival_function([1.0, 2.0]),
                                  model.survival_function([1.0, 2.0]))
    again = clone(loaded).fit(t, d)
    np.testing.assert_array_equal(again.shape_, model.shape_)


@pytest.mark.parametrize("kwargs, fit_kw, match", [
    ({"freeze": {"shape_": np.ones(3, bool)}}, {}, r"shape \(2,\)"),
    ({"freeze": {"rate_": True}}, {}, "unknown attribute"),
    ({"freeze": {"cure_fraction_": True}}, {}, "unknown attribute"),
    ({"freeze": {"shape_": True, "scale_": True, "weights_": [True, False]}}, {},
     "nothing to fit"),
    ({"freeze": {"shape_": True, "scale_": True}, "cure": True,
      "weights_init": [0.3, 0.5], "cure_fraction_init": 0.2,
      }, {"freeze_weights": True}, "nothing to fit"),
    ({"rate_init": [1.0, 2.0]}, {}, "does not apply"),
    ({"shape_init": [1.0, -2.0]}, {}, "positive"),
    ({"shape_init": [1.0, 2e3]}, {}, "shape_bounds"),
    ({"cure_fraction_init": 0.2}, {}, "cure=True"),
    ({"cure": True, "cure_fraction_init": 1.5}, {}, r"\(0, 1\)"),
    ({"weights_init": [0.3, 0.3]}, {}, "sum to 1"),
    ({"cure": True, "weights_init": [0.5, 0.5]}, {}, "less than 1"),
    ({"cure": True, "weights_init": [0.5, 0.2], "cure_fraction_init": 0.2}, {},
     "1 - cure_fraction_init"),
    ({}, {"labels": "bad-range"}, "labels must be -1"),
    ({"cure": True}, {"labels": "cured-event"}, "labelled cured"),
    ({}, {"priors": "bad-shape"}, r"priors must have shape"),
])
def test_bad_inputs_are_clear_errors(kwargs, fit_kw, match):
    t, d, _, _ = _data("weibull", n=120, seed=8)
    n = len(t)
    kwargs = dict(kwargs)
    if fit_kw.pop("freeze_weights", False):
        kwargs["freeze"] = {**kwargs["freeze"], "weights_": [True, False],
                            "cure_fraction_": True}
    cured = np.full(n, -1)
    cured[int(np.flatnonzero(d == 1)[0])] = K
    values = {"bad-range": np.full(n, 3), "cured-event": cured,
              "bad-shape": np.ones((n, K + 1))}
    fit_kw = {key: values[v] for key, v in fit_kw.items()}
    with pytest.raises(ValueError, match=match):
        SurvivalMixture("weibull", K, random_state=0, **kwargs).fit(t, d, **fit_kw)


def test_frozen_entries_are_not_counted_as_parameters():
    t, d, _, _ = _data("weibull", n=300, seed=12)
    free = SurvivalMixture("weibull", K, cure=True, random_state=0).fit(t, d)
    assert free.n_parameters() == 4 + 2
    frozen = SurvivalMixture("weibull", K, cure=True, random_state=0,
                             freeze={"shape_": [True, False], "cure_fraction_": True}).fit(t, d)
    assert frozen.n_parameters() == 6 - 1 - 1
    only_one = SurvivalMixture("weibull", K, cure=True, random_state=0,
                               freeze={"weights_": [True, False], "cure_fraction_": True}
                               ).fit(t, d)
    assert only_one.n_parameters() == 4
