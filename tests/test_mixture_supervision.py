"""Known labels, soft evidence and frozen parameters for GaussianMixture.

Each fit is compared with a reference written here in plain NumPy/SciPy: a
semi-supervised EM loop, and constrained M-steps by hand (or by alternating the
conditional maximizations to convergence), never the model's own code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from emkit.backends import ChunkedModel
from emkit.estimators.gaussian_mixture import GaussianMixture
from emkit.models.mixture.constrained_m_step import constrained_gaussian_m_step
from emkit.persistence import load

CTYPES = ("full", "tied", "diag", "spherical")


def _data(seed=0, n=150):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.multivariate_normal([0, 0], [[1, .5], [.5, 1]], n),
                   rng.multivariate_normal([4, 3], [[1, -.3], [-.3, .6]], n)])
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    return X, y


def _ref_cov(X, r, means, ctype, reg):
    k, d = means.shape
    nk = r.sum(axis=0)
    covs = np.array([((X - means[j]).T * r[:, j]) @ (X - means[j]) / nk[j] for j in range(k)])
    if ctype == "full":
        return covs + reg * np.eye(d)
    if ctype == "tied":
        return (nk[:, None, None] * covs).sum(0) / nk.sum() + reg * np.eye(d)
    diag = np.diagonal(covs, axis1=1, axis2=2) + reg
    return diag if ctype == "diag" else diag.mean(axis=1)


def _ref_density(X, means, cov, ctype, j):
    c = {"full": lambda: cov[j], "tied": lambda: cov, "diag": lambda: np.diag(cov[j]),
         "spherical": lambda: cov[j] * np.eye(X.shape[1])}[ctype]()
    return multivariate_normal(means[j], c).logpdf(X)


def _ref_semi_supervised(X, labels, priors, init, ctype, reg, n_iter):
    """Plain semi-supervised EM: posteriors times evidence, known rows one-hot."""
    w, m, c = (np.array(init[key], dtype=float) for key in ("weights", "means", "covariances"))
    k = len(w)
    ev = np.ones((len(X), k)) if priors is None else np.array(priors, dtype=float)
    if labels is not None:
        known = labels >= 0
        ev[known] = np.eye(k)[labels[known]] * ev[known]
    for _ in range(n_iter):
        logp = np.column_stack([np.log(w[j]) + _ref_density(X, m, c, ctype, j)
                                for j in range(k)])
        p = np.exp(logp - logp.max(axis=1, keepdims=True)) * ev
        r = p / p.sum(axis=1, keepdims=True)
        nk = r.sum(axis=0)
        w = nk / nk.sum()
        m = (r.T @ X) / nk[:, None]
        c = _ref_cov(X, r, m, ctype, reg)
    return w, m, c


@pytest.mark.parametrize("ctype", CTYPES)
def test_labels_and_priors_match_reference_em(ctype):
    X, y = _data()
    rng = np.random.default_rng(1)
    labels = np.where(rng.random(len(X)) < 0.2, y, -1)
    priors = rng.uniform(0.2, 1.0, size=(len(X), 2))
    gm0 = GaussianMixture(2, covariance_type=ctype, random_state=0, max_iter=3).fit(X)
    init = gm0._fitted_params()
    gm = GaussianMixture(2, covariance_type=ctype, weights_init=init["weights"],
                         means_init=init["means"],
                         precisions_init=gm0.precisions_, max_iter=8, tol=0.0,
                         reg_covar=1e-6)
    with pytest.warns(Warning):  # the cap: not converged
        gm.fit(X, labels=labels, priors=priors)
    w, m, c = _ref_semi_supervised(X, labels, priors, init, ctype, 1e-6, 8)
    np.testing.assert_allclose(gm.weights_, w, rtol=1e-8)
    np.testing.assert_allclose(gm.means_, m, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gm.covariances_, c, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("ctype", CTYPES)
def test_labels_for_every_row_give_supervised_mle_in_one_iteration(ctype):
    X, y = _data(2)
    y = np.where(np.arange(len(X)) % 7 == 0, 1 - y, y)  # not the clusters exactly
    gm = GaussianMixture(2, covariance_type=ctype, max_iter=1, tol=0.0, reg_covar=0.0)
    with pytest.warns(Warning):
        gm.fit(X, labels=y)
    r = np.eye(2)[y]
    means = np.array([X[y == k].mean(axis=0) for k in range(2)])
    np.testing.assert_allclose(gm.weights_, np.bincount(y) / len(y), rtol=1e-12)
    np.testing.assert_allclose(gm.means_, means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gm.covariances_, _ref_cov(X, r, means, ctype, 0.0),
                               rtol=1e-9, atol=1e-12)
    with pytest.warns(Warning):
        np.testing.assert_array_equal(gm.fit_predict(X, labels=y), y)


@pytest.mark.parametrize("ctype", CTYPES)
def test_priors_of_ones_change_nothing(ctype):
    X, _ = _data(3)
    kw = dict(covariance_type=ctype, random_state=0, max_iter=20, tol=0.0)
    a = GaussianMixture(2, **kw)
    b = GaussianMixture(2, **kw)
    with pytest.warns(Warning):
        a.fit(X)
    with pytest.warns(Warning):
        b.fit(X, priors=np.ones((len(X), 2)))
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-12)


def test_rows_of_ones_leave_the_other_rows_evidence_alone():
    X, y = _data(4)
    labels = np.where(np.arange(len(X)) % 5 == 0, y, -1)
    priors = np.ones((len(X), 2))
    kw = dict(random_state=0, max_iter=30, tol=0.0)
    a = GaussianMixture(2, **kw)
    b = GaussianMixture(2, **kw)
    with pytest.warns(Warning):
        a.fit(X, labels=labels)
    with pytest.warns(Warning):
        b.fit(X, labels=labels, priors=priors)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)


def test_chunked_equals_in_memory_with_labels_and_priors():
    X, y = _data(5, n=400)
    labels = np.where(np.arange(len(X)) % 4 == 0, y, -1)
    priors = np.random.default_rng(0).uniform(0.5, 1.0, size=(len(X), 2))
    kw = dict(random_state=0, max_iter=10, tol=0.0)
    ref = GaussianMixture(2, **kw)
    chunked = GaussianMixture(2, chunk_size=37, **kw)
    with pytest.warns(Warning):
        ref.fit(X, labels=labels, priors=priors)
    with pytest.warns(Warning):
        chunked.fit(X, labels=labels, priors=priors)
    np.testing.assert_allclose(chunked.means_, ref.means_, rtol=1e-10)
    np.testing.assert_allclose(chunked.covariances_, ref.covariances_, rtol=1e-10)
    # the backend's chunks cut (X, weights, evidence) row by row
    model = ref._make_model(X)
    ev = ref._evidence(X, labels, priors)
    data = ref._model_data(model, X, None, ev)
    params = ref._fitted_params()
    s1, l1 = model.e_step(data, params)
    s2, l2 = ChunkedModel(model, 53).e_step(data, params)
    np.testing.assert_allclose(l2, l1, rtol=1e-12)
    for key in s1:
        np.testing.assert_allclose(s2[key], s1[key], rtol=1e-10, atol=1e-9)


def test_labels_conflicting_with_priors_and_bad_input():
    X, y = _data(6)
    gm = GaussianMixture(2)
    priors = np.ones((len(X), 2))
    priors[0, y[0]] = 0.0
    # y is scikit-learn's ignored target: a classification target there changes nothing
    plain = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_array_equal(GaussianMixture(2, random_state=0).fit(X, 1 - y).means_,
                                  plain.means_)
    with pytest.raises(ValueError, match="probability 0"):
        gm.fit(X, labels=y, priors=priors)
    with pytest.raises(ValueError, match="labels must have shape"):
        gm.fit(X, labels=y[:-1])
    with pytest.raises(ValueError, match=r"0\.\.1"):
        gm.fit(X, labels=np.full(len(X), 2))
    with pytest.raises(ValueError, match="priors must have shape"):
        gm.fit(X, priors=np.ones((len(X), 3)))
    with pytest.raises(ValueError, match="non-negative"):
        gm.fit(X, priors=-np.ones((len(X), 2)))


# ------------------------------------------------------------------- freezing
def _alternating_reference(stats_X, r, fixed, masks, ctype, reg, n_iter=3000):
    """Constrained M-step by coordinate ascent: means given covariances (the Gaussian
    conditional), covariances given means (scatter), repeated to convergence."""
    k = r.shape[1]
    nk = r.sum(axis=0)
    w = nk / nk.sum()
    wm = masks.get("weights")
    if wm is not None:
        w = np.where(wm, fixed["weights"], w)
        free = ~wm
        w[free] = (1 - fixed["weights"][wm].sum()) * nk[free] / nk[free].sum()
    xbar = (r.T @ stats_X) / nk[:, None]
    mm = masks.get("means", np.zeros_like(xbar, dtype=bool))
    m = np.where(mm, fixed["means"], xbar)
    cm = masks.get("covariances")
    for _ in range(n_iter):
        c = _ref_cov(stats_X, r, m, ctype, reg)
        if cm is not None:
            c = np.where(cm, fixed["covariances"], c)
        for j in range(k):
            F, C = ~mm[j], mm[j]
            if not C.any() or not F.any():
                continue
            S = c[j] if ctype == "full" else c if ctype == "tied" else np.diag(
                np.broadcast_to(c[j], (stats_X.shape[1],)))
            m[j, F] = xbar[j, F] + S[np.ix_(F, C)] @ np.linalg.solve(
                S[np.ix_(C, C)], m[j, C] - xbar[j, C])
    c = _ref_cov(stats_X, r, m, ctype, reg)
    if cm is not None:
        c = np.where(cm, fixed["covariances"], c)
    return w, m, c


@pytest.mark.parametrize("ctype", CTYPES)
@pytest.mark.parametrize("reg", [0.0, 1e-2])
def test_constrained_m_step_matches_coordinate_ascent(ctype, reg):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 3)) @ np.array([[1, .6, .2], [0, 1, .5], [0, 0, 1]])
    r = rng.dirichlet(np.ones(3), size=200)
    gm = GaussianMixture(3, covariance_type=ctype, random_state=0, max_iter=2)
    with pytest.warns(Warning):
        gm.fit(X)
    fixed = gm._fitted_params()
    masks = {"weights": np.array([True, False, False]),
             "means": np.array([[True, False, False], [False, True, True],
                                [False, False, False]])}
    if ctype in ("diag", "spherical"):
        masks["covariances"] = (np.array([True, False, False]) if ctype == "spherical"
                                else np.array([[True, False, True]] + [[False] * 3] * 2))
    elif ctype == "full":
        masks["covariances"] = np.zeros((3, 3, 3), dtype=bool)
        masks["covariances"][1] = True
    model = gm._make_model(X)
    centred_on = fixed["means"]
    stats = {"n": r.sum(0), "sum": r.T @ X,
             "centred_sum": np.array([r[:, j] @ (X - centred_on[j]) for j in range(3)])}
    if ctype in ("full", "tied"):
        stats["centred_outer"] = np.array([((X - centred_on[j]).T * r[:, j])
                                           @ (X - centred_on[j]) for j in range(3)])
    else:
        stats["centred_outer"] = np.array([r[:, j] @ (X - centred_on[j]) ** 2
                                           for j in range(3)])
    got = constrained_gaussian_m_step(stats, ctype, reg, fixed, masks)
    w, m, c = _alternating_reference(X, r, fixed, masks, ctype, reg)
    assert model.covariance_type == ctype
    np.testing.assert_allclose(got["weights"], w, rtol=1e-12)
    np.testing.assert_array_equal(got["weights"][0], fixed["weights"][0])
    np.testing.assert_allclose(got["means"], m, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(got["means"][masks["means"]], fixed["means"][masks["means"]])
    np.testing.assert_allclose(got["covariances"], c, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("ctype", CTYPES)
@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_frozen_means_stay_exactly_at_the_start(ctype, accelerate):
    X, _ = _data(8)
    start = np.array([[0.5, -0.2], [3.0, 3.5]])
    gm = GaussianMixture(2, covariance_type=ctype, means_init=start, freeze={"means_": True},
                         accelerate=accelerate, tol=1e-12, max_iter=5000).fit(X)
    np.testing.assert_array_equal(gm.means_, start)
    free = GaussianMixture(2, covariance_type=ctype, means_init=start,
                           accelerate=accelerate).fit(X)
    assert not np.array_equal(free.means_, start)
    # covariances and weights are those of the fixed means (a reference M-step)
    r = gm.predict_proba(X)
    ref_c = _ref_cov(X, r, start, ctype, gm.reg_covar)
    np.testing.assert_allclose(gm.covariances_, ref_c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_frozen_weights_mask_and_covariance(accelerate):
    rng = np.random.default_rng(9)
    X = np.vstack([rng.normal(c, 0.7, (120, 2)) for c in (0, 3, 6)])
    w0 = np.array([0.5, 0.25, 0.25])
    mask = np.array([True, False, False])
    gm = GaussianMixture(3, weights_init=w0, means_init=[[0, 0], [3, 3], [6, 6]],
                         freeze={"weights_": mask}, accelerate=accelerate, tol=1e-10,
                         max_iter=500).fit(X)
    assert gm.weights_[0] == 0.5
    np.testing.assert_allclose(gm.weights_[1:].sum(), 0.5, rtol=1e-12)
    prec = np.array([np.eye(2) * 4.0] * 3)
    gm2 = GaussianMixture(3, means_init=[[0, 0], [3, 3], [6, 6]], precisions_init=prec,
                          freeze={"covariances_": np.array([True, False, False])[:, None, None]
                                  & np.ones((3, 2, 2), bool)},
                          accelerate=accelerate).fit(X)
    np.testing.assert_allclose(gm2.covariances_[0], np.eye(2) / 4.0, rtol=1e-15)
    assert not np.allclose(gm2.covariances_[1], np.eye(2) / 4.0)


def test_freeze_errors():
    X, _ = _data(10)
    with pytest.raises(ValueError, match="nothing to fit"):
        GaussianMixture(2, freeze={"weights_": True, "means_": True,
                                   "covariances_": True}).fit(X)
    with pytest.raises(ValueError, match="nothing to fit"):
        GaussianMixture(1, freeze={"means_": True, "covariances_": True}).fit(X)
    with pytest.raises(ValueError, match="shape"):
        GaussianMixture(2, freeze={"means_": np.ones((3, 2), bool)}).fit(X)
    with pytest.raises(ValueError, match="unknown attribute"):
        GaussianMixture(2, freeze={"mean": True}).fit(X)
    with pytest.raises(ValueError, match="whole covariance"):
        GaussianMixture(2, freeze={"covariances_": np.eye(2, dtype=bool)[None].repeat(2, 0)}
                        ).fit(X)
    # freezing everything but one weight is still nothing to fit (it is the rest of 1)
    with pytest.raises(ValueError, match="nothing to fit"):
        GaussianMixture(2, freeze={"weights_": [True, False], "means_": True,
                                   "covariances_": True}).fit(X)


def test_save_load_keeps_supervised_fit(tmp_path):
    X, y = _data(11)
    labels = np.where(np.arange(len(X)) % 3 == 0, y, -1)
    gm = GaussianMixture(2, means_init=[[0, 0], [4, 3]],
                         freeze={"means_": np.array([[True, False], [False, False]])},
                         random_state=0).fit(X, labels=labels)
    path = gm.save(tmp_path / "gm.emkit")
    back = load(path)
    np.testing.assert_array_equal(back.means_, gm.means_)
    np.testing.assert_array_equal(back.covariances_, gm.covariances_)
    np.testing.assert_array_equal(back.freeze["means_"], gm.freeze["means_"])
    np.testing.assert_allclose(back.score(X), gm.score(X), rtol=1e-15)


def test_frozen_tied_covariance_when_k_does_not_divide_its_size():
    # K = 2, D = 3: a (3, 3) tied mask has 9 entries, which K rows cannot hold
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(c, 1.0, (150, 3)) for c in (0, 4)])
    cov = np.array([[1.0, 0.2, 0.0], [0.2, 1.0, 0.1], [0.0, 0.1, 1.0]])
    gm = GaussianMixture(2, covariance_type="tied", precisions_init=np.linalg.inv(cov),
                         means_init=[[0, 0, 0], [4, 4, 4]], tol=1e-12, max_iter=1000,
                         freeze={"covariances_": True}).fit(X)
    np.testing.assert_allclose(gm.covariances_, cov, rtol=1e-12, atol=1e-15)
    # the free means are the responsibility-weighted means (independent of the covariance)
    r = gm.predict_proba(X)
    np.testing.assert_allclose(gm.means_, (r.T @ X) / r.sum(axis=0)[:, None], atol=1e-6)
    with pytest.raises(ValueError, match="whole covariance"):
        GaussianMixture(2, covariance_type="tied",
                        freeze={"covariances_": np.eye(3, dtype=bool)}).fit(X)
