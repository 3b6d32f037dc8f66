"""Item weights (``sample_weight``) and known classes (``y``) for GLAD, MACE and DawidSkene.

An integer weight must be the same as repeating the item under new item ids, and a
weight of 0 the same as leaving the item out. The repeated data sets are built
here and fitted without weights; MACE's weighted, gold-label EM is also checked
against an EM written out item by item below, and GLAD's weighted objective and
gradient against their formulas (and finite differences).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit import GLAD, MACE, DawidSkene
from emkit.engine import observe
from emkit.estimators._ratings import parse_ratings
from emkit.exceptions import ConvergenceWarning
from emkit.models.crowd.dawid_skene import Ratings
from emkit.models.crowd.glad import GladEM

FIXTURE = Path(__file__).parent / "fixtures" / "crowd" / "crowdkit_reference.json"


@pytest.fixture(scope="module")
def ref():
    out = json.loads(FIXTURE.read_text())
    R = np.array([[np.nan if v is None else v for v in row] for row in out["ratings"]])
    w = np.random.default_rng(3).integers(0, 4, 120)  # weights 0..3, some items dropped
    return {"R": R[:120], "gold": np.array(out["gold"][:120]), "w": w,
            "rep": np.repeat(np.arange(120), w)}


def fit_n(est, *args, **kwargs):
    """A fit of est.max_iter iterations (tol=0), without the cap's warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def weighted_data(R, w, gold=None):
    data, _, _ = parse_ratings(R, None, None)
    return Ratings(data.item, data.rater, data.label, data.n_items, data.n_raters,
                   data.n_classes, None if w is None else np.asarray(w, float), gold)


# ------------------------------------------------------------------ MACE
def mace_reference(R, w, known, spam, theta, n_iter, eps):
    """MACE's EM written item by item: weighted counts, known items one-hot."""
    n, r = R.shape
    c = theta.shape[1]
    spam, theta = np.array(spam, float), np.array(theta, float)

    def e_step():
        T = np.zeros((n, c))
        for i in range(n):
            p = np.full(c, 1.0 / c)
            for j in np.flatnonzero(~np.isnan(R[i])):
                lab = int(R[i, j])
                p = p * (spam[j, 0] * theta[j, lab] + spam[j, 1] * (np.arange(c) == lab))
            T[i] = p / p.sum()
            if known[i] >= 0:
                T[i] = np.eye(c)[known[i]]
        return T

    for _ in range(n_iter):
        T = e_step()
        knowing, strategy = np.zeros((r, 2)), np.zeros((r, c))
        for i in range(n):
            for j in np.flatnonzero(~np.isnan(R[i])):
                lab = int(R[i, j])
                p_known = T[i, lab] * spam[j, 1] / (spam[j, 0] * theta[j, lab] + spam[j, 1])
                knowing[j] += w[i] * np.array([1.0 - p_known, p_known])
                strategy[j, lab] += w[i] * (1.0 - p_known)
        spam = (knowing + eps) / (knowing + eps).sum(axis=1, keepdims=True)
        theta = (strategy + eps) / (strategy + eps).sum(axis=1, keepdims=True)
    return spam, theta, e_step()


def mace_start(seed=0, r=7, c=3):
    rng = np.random.default_rng(seed)
    s, t = rng.uniform(1, 2.5, (r, 2)), rng.uniform(1, 2.5, (r, c))
    return {"spamming_init": s / s.sum(axis=1, keepdims=True),
            "thetas_init": t / t.sum(axis=1, keepdims=True)}


def test_mace_weighted_gold_em_equals_the_reference(ref):
    R, w, gold = ref["R"], ref["w"] + 0.5, ref["gold"]
    start = mace_start()
    est = fit_n(MACE(tol=0.0, max_iter=6, **start), R, gold, sample_weight=w)
    spam, theta, post = mace_reference(R, w, gold, start["spamming_init"],
                                       start["thetas_init"], 6, 0.01 / 3)
    np.testing.assert_allclose(est.spamming_, spam, rtol=1e-10)
    np.testing.assert_allclose(est.thetas_, theta, rtol=1e-10)
    np.testing.assert_allclose(est.posteriors_, post, rtol=1e-10, atol=1e-14)
    known = gold >= 0
    assert known.any() and np.all(est.posteriors_[known].max(axis=1) == 1.0)


@pytest.mark.parametrize("start", ["given", "random"])
def test_mace_integer_weights_equal_repeated_items(ref, start):
    R, gold, w, rep = ref["R"], ref["gold"], ref["w"], ref["rep"]
    kw = mace_start() if start == "given" else {"random_state": 4, "n_restarts": 3}
    a = fit_n(MACE(tol=0.0, max_iter=30, **kw), R, gold, sample_weight=w)
    b = fit_n(MACE(tol=0.0, max_iter=30, **kw), R[rep], gold[rep])
    np.testing.assert_allclose(a.spamming_, b.spamming_, rtol=1e-10)
    np.testing.assert_allclose(a.thetas_, b.thetas_, rtol=1e-10)
    np.testing.assert_allclose(a.posteriors_[rep], b.posteriors_, rtol=1e-10, atol=1e-13)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)


def test_mace_zero_weights_drop_items_and_ones_change_nothing(ref):
    R, gold = ref["R"], ref["gold"]
    keep = ref["w"] > 0
    start = mace_start(1)
    a = fit_n(MACE(tol=0.0, max_iter=20, **start), R, gold, sample_weight=keep * 1.0)
    b = fit_n(MACE(tol=0.0, max_iter=20, **start), R[keep], gold[keep])
    np.testing.assert_allclose(a.spamming_, b.spamming_, rtol=1e-12)
    np.testing.assert_allclose(a.posteriors_[keep], b.posteriors_, rtol=1e-12, atol=1e-15)
    assert a.posteriors_.shape == (120, 3)
    ones = fit_n(MACE(tol=0.0, max_iter=20, **start), R, sample_weight=np.ones(120))
    plain = fit_n(MACE(tol=0.0, max_iter=20, **start), R)
    np.testing.assert_array_equal(ones.spamming_, plain.spamming_)
    none_known = fit_n(MACE(tol=0.0, max_iter=20, **start), R, np.full(120, -1))
    np.testing.assert_array_equal(none_known.posteriors_, plain.posteriors_)


# ------------------------------------------------------------------ GLAD
def glad_log_posterior(R, a, b, w, known, c=3):
    """GLAD's log-posterior with item weights and known classes, item by item."""
    total = 0.0
    for i in range(R.shape[0]):
        joint = np.log(np.full(c, 1.0 / c))
        for r in np.flatnonzero(~np.isnan(R[i])):
            p = 1.0 / (1.0 + np.exp(-a[r] * np.exp(b[i])))
            joint = joint + np.where(np.arange(c) == R[i, r], np.log(p),
                                     np.log((1 - p) / (c - 1)))
        ll = joint[known[i]] if known[i] >= 0 else np.log(np.exp(joint).sum())
        total += w[i] * (ll - 0.5 * (b[i] - 1.0) ** 2 - 0.5 * np.log(2 * np.pi))
    return total - 0.5 * ((a - 1.0) ** 2).sum() - 0.5 * np.log(2 * np.pi) * a.size


def test_glad_weighted_objective_is_the_weighted_log_posterior(ref):
    R, w, gold = ref["R"], ref["w"] * 0.75, ref["gold"]
    est = fit_n(GLAD(tol=0.0, max_iter=3), R, gold, sample_weight=w)
    total = glad_log_posterior(R, est.alphas_, est.betas_, w, gold)
    assert est.lower_bound_ * w.sum() == pytest.approx(total, rel=1e-10)
    known = gold >= 0
    assert np.all(est.posteriors_[known].max(axis=1) == 1.0)
    # items of weight 0 took no part: their beta is the prior mean
    assert np.all(est.betas_[w == 0] == 1.0) and not np.all(est.betas_[w > 0] == 1.0)


def test_glad_weighted_e_and_m_objectives_equal_the_repeated_items(ref):
    # the E-step's log-posterior, the M-step's Q and its gradient at the same point
    R, gold, w, rep = ref["R"], ref["gold"], ref["w"], ref["rep"]
    keep = np.flatnonzero(w > 0)
    wd = weighted_data(R[keep], w[keep], gold[keep])
    dd = weighted_data(R[rep], None, gold[rep])
    copies = np.repeat(np.arange(keep.size), w[keep])  # dup item -> kept item
    rng = np.random.default_rng(0)
    alpha, beta = rng.normal(1, 0.5, 7), rng.normal(1, 0.5, keep.size)
    priors = np.full(3, 1 / 3)
    wm = GladEM(wd, priors, np.ones(7), np.ones(keep.size))
    dm = GladEM(dd, priors, np.ones(7), np.ones(rep.size))
    (ws, wll), (ds, dll) = (wm.e_step(wd, {"alpha": alpha, "beta": beta}),
                            dm.e_step(dd, {"alpha": alpha, "beta": beta[copies]}))
    assert wll == pytest.approx(dll, rel=1e-12)
    wf, wg = wm.q_and_gradient(np.r_[alpha, beta * np.sqrt(w[keep])], ws["correct"])
    df, dg = dm.q_and_gradient(np.r_[alpha, beta[copies]], ds["correct"])
    assert wf == pytest.approx(df, rel=1e-12)
    np.testing.assert_allclose(wg[:7], dg[:7], rtol=1e-11)
    # dQ/du = dQ/dbeta / sqrt(w): the sum over the copies' gradients, over sqrt(w)
    per_item = np.bincount(copies, weights=dg[7:])
    np.testing.assert_allclose(wg[7:], per_item / np.sqrt(w[keep]), rtol=1e-10, atol=1e-12)
    assert wm.gradient_norm(wg) == pytest.approx(dm.gradient_norm(dg), rel=1e-10)


def test_glad_weighted_gradient_matches_finite_differences(ref):
    R, gold = ref["R"][:30], ref["gold"][:30]
    w = np.random.default_rng(5).uniform(0.2, 3.0, 30)
    data = weighted_data(R, w, gold)
    model = GladEM(data, np.full(3, 1 / 3), np.ones(7), np.ones(30))
    x = np.random.default_rng(6).normal(0.8, 0.4, 37)
    correct = model.e_step(data, {"alpha": x[:7], "beta": x[7:]})[0]["correct"]
    _, grad = model.q_and_gradient(x, correct)
    h, numeric = 1e-6, np.empty_like(x)
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        numeric[k] = (model.q_and_gradient(x + e, correct)[0]
                      - model.q_and_gradient(x - e, correct)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


def test_glad_integer_weights_equal_repeated_items(ref):
    R, gold, w, rep = ref["R"], ref["gold"], ref["w"], ref["rep"]

    def both(**kw):
        return (fit_n(GLAD(tol=0.0, **kw), R, gold, sample_weight=w),
                fit_n(GLAD(tol=0.0, **kw), R[rep], gold[rep]))

    # The same optimizer path: three EM iterations of three conjugate-gradient steps
    # agree to rounding (an optimizer on beta itself rather than sqrt(w) * beta, the
    # same weighted objective, is 0.08 off here).
    a, b = both(max_iter=3, m_step_max_iter=3)
    np.testing.assert_allclose(a.alphas_, b.alphas_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.betas_[rep], b.betas_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.posteriors_[rep], b.posteriors_, atol=1e-10)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-12)
    # The default M-step (up to 25 steps, stopped at gradient 1e-2) amplifies rounding:
    # ~5e-10 after one iteration, and after two or three merely reordering the repeated
    # items (no weights at all) moves the posteriors by up to 1e-6.
    a, b = both(max_iter=1)
    np.testing.assert_allclose(a.alphas_, b.alphas_, atol=1e-8)
    np.testing.assert_allclose(a.posteriors_[rep], b.posteriors_, atol=1e-8)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)
    # run to convergence: the same optimum (GLAD's objective is flat along
    # alpha * exp(beta), so the optimum is pinned far better than the parameters)
    kw = {"tol": 1e-12, "max_iter": 500, "m_step_max_iter": 200, "m_step_tol": 1e-8}
    a = GLAD(**kw).fit(R, gold, sample_weight=w)
    b = GLAD(**kw).fit(R[rep], gold[rep])
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(a.alphas_, b.alphas_, atol=1e-5)
    np.testing.assert_allclose(a.posteriors_[rep], b.posteriors_, atol=1e-5)


def test_glad_zero_weights_drop_items_and_ones_change_nothing(ref):
    R, gold = ref["R"], ref["gold"]
    keep = ref["w"] > 0
    a = fit_n(GLAD(tol=0.0, max_iter=8), R, gold, sample_weight=keep * 1.0)
    b = fit_n(GLAD(tol=0.0, max_iter=8), R[keep], gold[keep])
    np.testing.assert_array_equal(a.alphas_, b.alphas_)
    np.testing.assert_array_equal(a.betas_[keep], b.betas_)
    np.testing.assert_array_equal(a.posteriors_[keep], b.posteriors_)
    # the objective sums 120 rows (20 with weight 0) against 100: NumPy's pairwise
    # summation over different lengths (and alignments) may differ in the last bit
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=4e-16, abs=0.0)
    assert a.posteriors_.shape == (120, 3)
    ones = fit_n(GLAD(tol=0.0, max_iter=8), R, sample_weight=np.ones(120))
    plain = fit_n(GLAD(tol=0.0, max_iter=8), R)
    np.testing.assert_array_equal(ones.alphas_, plain.alphas_)
    none_known = fit_n(GLAD(tol=0.0, max_iter=8), R, np.full(120, -1))
    np.testing.assert_array_equal(none_known.posteriors_, plain.posteriors_)


def test_glad_weighted_fit_never_lowers_its_objective(ref):
    steps = []
    with observe(steps.append):
        GLAD(tol=1e-9, max_iter=100).fit(ref["R"], ref["gold"], sample_weight=ref["w"] * 1.5)
    lls = np.array([s.loglik for s in steps])
    assert np.all(np.diff(lls) >= -1e-9 * abs(lls[0]))


def test_gold_class_above_every_rating_widens_the_classes():
    R = np.array([[0, 0, 1], [1, 1, 1], [0, 1, 0], [1, 0, 1.0]])
    for est in (GLAD(max_iter=5), MACE(random_state=0, n_restarts=2)):
        fit = fit_n(est, R, [-1, -1, 2, -1])
        assert fit.n_classes_ == 3 and fit.posteriors_[2, 2] == 1.0


# ------------------------------------------------------------ DawidSkene
@pytest.mark.parametrize("structure", ["full", "class_conditional", "one_coin"])
def test_dawid_skene_zero_weights_drop_items(ref, structure):
    R, gold = ref["R"], ref["gold"]
    keep = ref["w"] > 0
    a = fit_n(DawidSkene(model=structure, tol=0.0, max_iter=10), R, gold,
              sample_weight=keep * 2.0)
    b = fit_n(DawidSkene(model=structure, tol=0.0, max_iter=10), R[keep], gold[keep],
              sample_weight=np.full(keep.sum(), 2.0))
    np.testing.assert_allclose(a.confusion_matrices_, b.confusion_matrices_, rtol=1e-12)
    np.testing.assert_allclose(a.posteriors_[keep], b.posteriors_, rtol=1e-12, atol=1e-15)


def test_dawid_skene_unsmoothed_zero_weight_on_an_impossible_item():
    # with smoothing=0 an item can have log-likelihood -inf; weight 0 leaves it out
    R = np.array([[0, 0], [0, 0], [1, 1], [1, 1], [0, 1.0]])
    est = DawidSkene(smoothing=0.0, max_iter=20).fit(
        R, [0, 0, 1, 1, -1], sample_weight=[1, 1, 1, 1, 0])
    assert np.isfinite(est.lower_bound_)


# ------------------------------------------------------------ bad input, table, saving
R4 = np.array([[0, 0, 1], [1, 1, 1], [0, 1, 0], [1, 0, 1.0]])
BAD_WEIGHTS = [[1, 1, 1], [1, 1, -1, 1], [1, np.nan, 1, 1], [1, np.inf, 1, 1],
               [0, 0, 0, 0], [[1, 1, 1, 1]], ["a", "b", "c", "d"]]


@pytest.mark.parametrize("make", [lambda: GLAD(max_iter=3), lambda: MACE(n_restarts=1),
                                  lambda: DawidSkene(model="one_coin")])
@pytest.mark.parametrize("weights", BAD_WEIGHTS)
def test_bad_weights_are_a_value_error_naming_sample_weight(make, weights):
    with pytest.raises(ValueError, match="sample_weight"):
        make().fit(R4, sample_weight=weights)


@pytest.mark.parametrize("make", [lambda: GLAD(max_iter=3), lambda: MACE(n_restarts=1)])
@pytest.mark.parametrize("y", [[0, 1, 0], [0, 1, 0, -2], [0, 1, 0, 0.5], [0, 1, np.nan, 0]])
def test_bad_known_classes_are_a_value_error_naming_y(make, y):
    with pytest.raises(ValueError, match="y "):
        make().fit(R4, y)


def test_bad_known_class_for_n_classes():
    for est in (GLAD(n_classes=2), MACE(n_classes=2)):
        with pytest.raises(ValueError, match="n_classes"):
            est.fit(R4, [0, 1, 0, 2])


@pytest.mark.parametrize("make", [lambda: GLAD(max_iter=10),
                                  lambda: MACE(random_state=2, n_restarts=2)])
def test_long_table_with_weights_equals_matrix(ref, make):
    R, gold, w = ref["R"], ref["gold"], ref["w"]
    item, rater = np.nonzero(~np.isnan(R))
    table = pd.DataFrame({"item": item, "rater": rater, "label": R[item, rater]})
    a = fit_n(make(), R, gold, sample_weight=w)
    b = fit_n(make(), table, gold, sample_weight=w)
    np.testing.assert_allclose(a.posteriors_, b.posteriors_, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("make", [lambda: GLAD(max_iter=10), lambda: MACE(random_state=0)])
def test_save_and_load_after_a_weighted_gold_fit(ref, tmp_path, make):
    est = fit_n(make(), ref["R"], ref["gold"], sample_weight=ref["w"])
    back = emkit.load(est.save(tmp_path / "crowd.emkit"))
    np.testing.assert_array_equal(back.posteriors_, est.posteriors_)
    np.testing.assert_array_equal(back.predict_proba(ref["R"]), est.predict_proba(ref["R"]))
