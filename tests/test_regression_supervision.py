"""RegressionMixture: known labels, soft evidence, given starts and frozen parameters.

Each fit is compared with a semi-supervised, constrained EM written here in NumPy
and SciPy (closed-form weighted least squares with the frozen columns moved to the
offset for the Gaussian; the constrained Q maximized by Newton's method to
convergence for the Poisson and binomial), not with the estimator's own code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, gammaln, logsumexp
from scipy.stats import norm
from sklearn.base import clone

import emkit
from emkit import RegressionMixture

K = 2


def _data(family: str, n: int = 500, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(0, 10, n), rng.normal(3.0, 2.0, n)])
    g = (rng.random(n) < 0.4).astype(int)
    if family == "gaussian":
        eta = np.where(g == 0, 1 + 2 * X[:, 0] - 0.5 * X[:, 1], 12 - X[:, 0] + 0.3 * X[:, 1])
        y = eta + rng.normal(0, np.where(g == 0, 0.6, 1.0))
    elif family == "poisson":
        eta = np.where(g == 0, 0.3 + 0.15 * X[:, 0], 2.2 - 0.2 * X[:, 0] + 0.05 * X[:, 1])
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        eta = np.where(g == 0, -2 + 0.6 * X[:, 0], 3 - 0.7 * X[:, 0] + 0.2 * X[:, 1])
        y = rng.binomial(1, expit(eta)).astype(float)
    labels = np.where(rng.random(n) < 0.25, g, -1)
    return X, y, g, labels


def _start(family: str):
    start = {"intercept": np.array([0.5, 10.0]), "coef": np.array([[1.5, -0.3], [-0.8, 0.1]]),
             "weights": np.array([0.45, 0.55]), "scale": np.array([1.0, 1.5])}
    if family == "poisson":
        start.update(intercept=np.array([0.2, 2.0]),
                     coef=np.array([[0.1, 0.0], [-0.15, 0.0]]))
    if family == "binomial":
        start.update(intercept=np.array([-1.5, 2.0]),
                     coef=np.array([[0.4, 0.0], [-0.5, 0.1]]))
    return start


def _estimator(family: str, start: dict, **kw) -> RegressionMixture:
    extra = {"scale_init": start["scale"]} if family == "gaussian" else {}
    kw = {"tol": 1e-15, "max_iter": 3000, **extra, **kw}
    return RegressionMixture(K, family=family, weights_init=start["weights"],
                             coef_init=start["coef"], intercept_init=start["intercept"], **kw)


# ----------------------------------------------------------------- the reference
def _log_f(family, A, y, theta, scale):
    eta = A @ theta.T
    if family == "gaussian":
        return norm.logpdf(y[:, None], eta, scale)
    if family == "poisson":
        return y[:, None] * eta - np.exp(eta) - gammaln(y + 1)[:, None]
    return y[:, None] * eta - np.logaddexp(0, eta)


def _newton(family, A, y, r, theta, free, iters=100):
    """Maximize sum r log f over the free coordinates (the others fixed) by Newton."""
    theta = theta.copy()
    for _ in range(iters):
        eta = A @ theta
        mu = np.exp(eta) if family == "poisson" else expit(eta)
        v = mu if family == "poisson" else mu * (1 - mu)
        Af = A[:, free]
        g = Af.T @ (r * (y - mu))
        H = (Af * (r * v)[:, None]).T @ Af
        step = np.linalg.solve(H, g)
        theta[free] += step
        if np.max(np.abs(step)) < 1e-14:
            break
    return theta


def reference_em(family, X, y, start, evidence=None, masks=None, iters=20000, tol=1e-12):
    """Semi-supervised EM with frozen entries, in the covariates' own units."""
    masks = masks or {}
    n = len(y)
    A = np.column_stack([np.ones(n), X])
    theta = np.column_stack([start["intercept"], start["coef"]]).astype(float)
    scale = np.array(start["scale"], dtype=float)
    w = np.array(start["weights"], dtype=float)
    cmask = masks.get("coef", np.zeros(theta.shape, dtype=bool))
    smask = masks.get("scale", np.zeros(K, dtype=bool))
    wmask = masks.get("weights", np.zeros(K, dtype=bool))
    ev = np.zeros((n, K)) if evidence is None else evidence
    for _ in range(iters):
        before = np.concatenate([theta.ravel(), scale, w])
        lj = _log_f(family, A, y, theta, scale) + np.log(w) + ev
        ll = logsumexp(lj, axis=1)
        r = np.exp(lj - ll[:, None])
        for k in range(K):
            free = np.flatnonzero(~cmask[k])
            if family == "gaussian":
                offset = A[:, cmask[k]] @ theta[k, cmask[k]]
                Af = A[:, free]
                sw = np.sqrt(r[:, k])
                sol, *_ = np.linalg.lstsq(Af * sw[:, None], (y - offset) * sw, rcond=None)
                theta[k, free] = sol
                if not smask[k]:
                    res = y - A @ theta[k]
                    scale[k] = np.sqrt(r[:, k] @ res ** 2 / r[:, k].sum())
            elif free.size:
                theta[k] = _newton(family, A, y, r[:, k], theta[k], free)
        nk = r.sum(axis=0)
        free_w = ~wmask
        w = w.copy()
        w[free_w] = (1 - w[wmask].sum()) * nk[free_w] / nk[free_w].sum()
        if np.max(np.abs(np.concatenate([theta.ravel(), scale, w]) - before)) < tol:
            break
    lj = _log_f(family, A, y, theta, scale) + np.log(w) + ev
    return theta, scale, w, logsumexp(lj, axis=1).sum() / n


def _evidence(labels, priors=None):
    n = len(labels)
    ev = np.zeros((n, K)) if priors is None else np.log(priors)
    known = labels >= 0
    ev[known] = -np.inf
    ev[known, labels[known]] = 0.0 if priors is None else np.log(priors[known, labels[known]])
    return ev


def _check(model, ref, family, atol=1e-6):
    theta, scale, w, ll = ref
    np.testing.assert_allclose(model.intercept_, theta[:, 0], atol=atol, rtol=0)
    np.testing.assert_allclose(model.coef_, theta[:, 1:], atol=atol, rtol=0)
    np.testing.assert_allclose(model.weights_, w, atol=atol, rtol=0)
    if family == "gaussian":
        np.testing.assert_allclose(model.scale_, scale, atol=atol, rtol=0)
    assert model.lower_bound_ == pytest.approx(ll, abs=1e-8, rel=0)


# ------------------------------------------------------------------- the tests
@pytest.mark.parametrize("family", ["gaussian", "poisson", "binomial"])
def test_labels_and_priors_match_semi_supervised_reference(family):
    X, y, _, labels = _data(family)
    start = _start(family)
    rng = np.random.default_rng(5)
    priors = rng.uniform(0.2, 1.0, (len(y), K))
    model = _estimator(family, start, accelerate="squarem").fit(X, y, labels=labels,
                                                                priors=priors)
    _check(model, reference_em(family, X, y, start, _evidence(labels, priors)), family)


@pytest.mark.parametrize("family", ["gaussian", "poisson", "binomial"])
def test_partial_freeze_matches_constrained_reference(family):
    X, y, _, labels = _data(family, seed=1)
    start = _start(family)
    cmask = np.array([[True, False, True], [False, False, False]])  # intercept_, coef_
    freeze = {"intercept_": cmask[:, 0], "coef_": cmask[:, 1:],
              "weights_": np.array([True, False])}
    masks = {"coef": cmask, "weights": np.array([True, False])}
    if family == "gaussian":
        freeze["scale_"] = np.array([False, True])
        masks["scale"] = np.array([False, True])
    model = _estimator(family, start, freeze=freeze).fit(X, y, labels=labels)
    _check(model, reference_em(family, X, y, start, _evidence(labels), masks), family)
    # the frozen entries are the start's, bit for bit
    assert model.intercept_[0] == start["intercept"][0]
    assert model.coef_[0, 1] == start["coef"][0, 1]
    assert model.weights_[0] == start["weights"][0]
    if family == "gaussian":
        assert model.scale_[1] == start["scale"][1]


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_freeze_all_but_one_entry_keeps_the_rest_exactly(accelerate):
    X, y, _, _ = _data("gaussian", seed=2)
    start = _start("gaussian")
    cmask = np.ones((K, 2), dtype=bool)
    cmask[1, 0] = False  # only component 1's first slope moves
    freeze = {"coef_": cmask, "intercept_": True, "scale_": True, "weights_": True}
    model = _estimator("gaussian", start, freeze=freeze, accelerate=accelerate,
                       max_iter=200).fit(X, y)
    assert np.array_equal(model.intercept_, start["intercept"])
    assert np.array_equal(model.coef_[cmask], start["coef"][cmask])
    assert np.array_equal(model.scale_, start["scale"])
    assert np.array_equal(model.weights_, start["weights"])
    assert model.coef_[1, 0] != start["coef"][1, 0]
    _check(model, reference_em("gaussian", X, y, start, None,
                               {"coef": np.column_stack([[True, True], cmask]),
                                "scale": np.ones(K, bool), "weights": np.ones(K, bool)}),
           "gaussian")


def test_every_row_labelled_gives_the_supervised_mle_in_one_iteration():
    X, y, g, _ = _data("gaussian", seed=3)
    w = np.random.default_rng(3).integers(1, 4, len(y)).astype(float)
    model = RegressionMixture(K, max_iter=1, random_state=0).fit(X, y, labels=g,
                                                                 sample_weight=w)
    A = np.column_stack([np.ones(len(y)), X])
    for k in range(K):
        rows = g == k
        sw = np.sqrt(w[rows])
        theta, *_ = np.linalg.lstsq(A[rows] * sw[:, None], y[rows] * sw, rcond=None)
        res = y[rows] - A[rows] @ theta
        np.testing.assert_allclose(model.intercept_[k], theta[0], atol=1e-9)
        np.testing.assert_allclose(model.coef_[k], theta[1:], atol=1e-9)
        np.testing.assert_allclose(model.scale_[k], np.sqrt(w[rows] @ res ** 2 / w[rows].sum()),
                                   rtol=1e-9)
        assert model.weights_[k] == pytest.approx(w[rows].sum() / w.sum(), rel=1e-12)


@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_priors_of_ones_change_nothing(family):
    X, y, _, _ = _data(family, seed=4)
    a = RegressionMixture(K, family=family, random_state=0).fit(X, y)
    b = RegressionMixture(K, family=family, random_state=0).fit(X, y, priors=np.ones((len(y), K)))
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.intercept_, a.intercept_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-12)
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-13)
    assert b.n_iter_ == a.n_iter_


def test_priors_of_ones_with_concomitant_change_nothing():
    X, y, g, _ = _data("gaussian", seed=6)
    Z = X[:, 1:] + np.random.default_rng(6).normal(0, 1, len(y))[:, None]
    a = RegressionMixture(K, random_state=0).fit(X, y, concomitant=Z)
    b = RegressionMixture(K, random_state=0).fit(X, y, concomitant=Z,
                                                 priors=np.ones((len(y), K)))
    np.testing.assert_allclose(b.concomitant_coef_, a.concomitant_coef_, rtol=1e-10,
                               atol=1e-12)
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-13)
    c = RegressionMixture(K, random_state=0, freeze={"coef_": [[True, False], [False, False]]},
                          coef_init=[[2.0, -0.5], [-1.0, 0.3]]).fit(X, y, concomitant=Z,
                                                                    labels=np.where(
                                                                        g > 0, 1, -1))
    assert c.coef_[0, 0] == 2.0 and np.isfinite(c.lower_bound_)


def test_labels_travel_with_their_rows_in_chunks_and_on_dask():
    X, y, _, labels = _data("gaussian", seed=7)
    start = _start("gaussian")
    freeze = {"coef_": np.array([[False, True], [False, False]])}
    whole = _estimator("gaussian", start, freeze=freeze, max_iter=50).fit(X, y, labels=labels)
    chunked = _estimator("gaussian", start, freeze=freeze, max_iter=50,
                         chunk_size=64).fit(X, y, labels=labels)
    np.testing.assert_allclose(chunked.coef_, whole.coef_, rtol=1e-10)
    assert chunked.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-12)
    da = pytest.importorskip("dask.array")
    dX, dy = da.from_array(X, chunks=(120, 2)), da.from_array(y, chunks=120)
    on_dask = _estimator("gaussian", start, freeze=freeze, max_iter=50).fit(
        dX, dy, labels=da.from_array(labels, chunks=120))
    np.testing.assert_allclose(on_dask.coef_, whole.coef_, rtol=1e-10)
    assert on_dask.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-12)


def test_labelled_start_follows_the_labels():
    X, y, _, labels = _data("gaussian", seed=8)
    for seed in range(3):
        model = RegressionMixture(K, random_state=seed).fit(X, y, labels=labels)
        # component 0 is the one labelled 0: slope near 2 on the first covariate
        assert model.coef_[0, 0] == pytest.approx(2.0, abs=0.1)
        assert model.coef_[1, 0] == pytest.approx(-1.0, abs=0.1)


def test_freeze_is_a_parameter_kept_by_clone_and_save(tmp_path):
    X, y, _, _ = _data("gaussian", seed=9)
    mask = np.array([[True, False], [False, False]])
    model = RegressionMixture(K, random_state=0, coef_init=[[2.0, -0.5], [-1.0, 0.3]],
                              freeze={"coef_": mask}).fit(X, y)
    assert clone(model).get_params()["freeze"]["coef_"] is not None
    model.save(tmp_path / "m.emkit")
    loaded = emkit.load(tmp_path / "m.emkit")
    np.testing.assert_array_equal(loaded.freeze["coef_"], mask)
    np.testing.assert_array_equal(loaded.coef_init, [[2.0, -0.5], [-1.0, 0.3]])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    again = clone(loaded).fit(X, y)
    np.testing.assert_array_equal(again.coef_, model.coef_)


@pytest.mark.parametrize("kwargs, fit_kw, match", [
    ({"freeze": {"coef_": np.ones((K, 3), bool)}}, {}, r"shape \(2, 2\)"),
    ({"freeze": {"coef_": [[1, 0], [0, 0]]}}, {}, "boolean mask"),
    ({"freeze": {"means_": True}}, {}, "unknown attribute"),
    ({"freeze": {"coef_": True, "intercept_": True, "scale_": True,
                 "weights_": [True, False]}}, {}, "nothing to fit"),
    ({"freeze": {"weights_": True}}, {"concomitant": "Z"}, "concomitant"),
    ({"weights_init": [0.5, 0.5]}, {"concomitant": "Z"}, "concomitant"),
    ({"freeze": "coef_"}, {}, "dict"),
    ({"coef_init": np.ones(2)}, {}, "coef_init must have shape"),
    ({"intercept_init": [0, np.nan]}, {}, "intercept_init must be finite"),
    ({"scale_init": [1.0, 0.0]}, {}, "positive"),
    ({"weights_init": [0.3, 0.3]}, {}, "sum to 1"),
    ({}, {"labels": "bad-range"}, "labels must be -1"),
    ({}, {"labels": "bad-shape"}, r"labels must have shape"),
    ({}, {"priors": "bad-shape"}, r"priors must have shape"),
    ({}, {"priors": "negative"}, "non-negative"),
    ({}, {"priors": "zero-row"}, "row of zeros"),
])
def test_bad_inputs_are_clear_errors(kwargs, fit_kw, match):
    X, y, _, _ = _data("gaussian", n=80, seed=10)
    n = len(y)
    values = {"Z": X[:, 1:] ** 2, "bad-range": np.full(n, 2), "bad-shape": np.zeros(n - 1),
              "negative": -np.ones((n, K))}
    zero = np.ones((n, K))
    zero[3] = 0.0
    values["zero-row"] = zero
    if fit_kw.get("priors") == "bad-shape":
        values["bad-shape"] = np.ones((n, K + 1))
    fit_kw = {key: values[v] for key, v in fit_kw.items()}
    with pytest.raises(ValueError, match=match):
        RegressionMixture(K, random_state=0, **kwargs).fit(X, y, **fit_kw)


def test_scale_is_gaussian_only():
    X, y, _, _ = _data("poisson", n=80)
    with pytest.raises(ValueError, match="gaussian"):
        RegressionMixture(K, family="poisson", freeze={"scale_": True}).fit(X, y)
    with pytest.raises(ValueError, match="gaussian"):
        RegressionMixture(K, family="poisson", scale_init=[1.0, 1.0]).fit(X, y)


def test_frozen_entries_are_not_counted_as_parameters():
    X, y, _, _ = _data("gaussian", n=200, seed=11)
    free = RegressionMixture(K, random_state=0).fit(X, y)
    assert free.n_parameters() == 2 * 3 + 2 + 1
    mask = np.array([[True, False], [False, False]])
    frozen = RegressionMixture(K, random_state=0, freeze={"coef_": mask, "scale_": [True, False],
                                                          "weights_": True}).fit(X, y)
    assert frozen.n_parameters() == 9 - 1 - 1 - 1
