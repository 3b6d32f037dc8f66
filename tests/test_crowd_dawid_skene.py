"""DawidSkene's three structures, gold labels and item weights.

Checked against crowd-kit 1.4.2 (its outputs stored in
tests/fixtures/crowd/crowdkit_reference.json by make_crowdkit_fixtures.py), against
a reference EM for the one-coin and class-conditional models written here, and
against the supervised maximum-likelihood estimate.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import emkit
from emkit import DawidSkene
from emkit.engine import observe
from emkit.exceptions import ConvergenceWarning
from emkit.models.crowd.dawid_skene import DawidSkeneEM, Ratings

FIXTURE = Path(__file__).parent / "fixtures" / "crowd" / "crowdkit_reference.json"


@pytest.fixture(scope="module")
def ref():
    out = json.loads(FIXTURE.read_text())
    out["R"] = np.array([[np.nan if v is None else v for v in row] for row in out["ratings"]])
    return out


def fit_n(est, ratings, *args, **kwargs):
    """A fit of exactly est.max_iter iterations (tol=0), without the cap's warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(ratings, *args, **kwargs)


# ------------------------------------------------------------------ crowd-kit
# crowd-kit starts from majority-vote posteriors, as emkit; after N iterations its
# probas_ come from the E-step before the last M-step (emkit's posteriors_ after N - 1
# iterations) and its errors_ from the last M-step (emkit's after N).
@pytest.mark.parametrize("case, model, gold", [
    ("ds", "full", False), ("ds_gold", "full", True), ("onecoin", "one_coin", False)])
def test_same_probabilities_and_confusions_as_crowdkit(ref, case, model, gold):
    n = ref["n_iter"]
    y = np.array(ref["gold"]) if gold else None
    est = DawidSkene(model=model, smoothing=0.0, tol=0.0)
    before = fit_n(est.set_params(max_iter=n - 1), ref["R"], y)
    proba = np.array(ref[f"{case}_probas"])
    np.testing.assert_allclose(before.posteriors_, proba, atol=1e-6)
    assert np.array_equal(before.posteriors_.argmax(axis=1), proba.argmax(axis=1))
    after = fit_n(DawidSkene(model=model, smoothing=0.0, tol=0.0, max_iter=n), ref["R"], y)
    np.testing.assert_allclose(after.confusion_matrices_, np.array(ref[f"{case}_errors"]),
                               atol=1e-6)
    if model == "one_coin":
        np.testing.assert_allclose(after.accuracies_, ref["onecoin_skills"], atol=1e-6)


# ------------------------------------------------------------ reference EM
def reference_em(R, structure, n_iter, alpha=0.0):
    """Plain loops over raters and items: the textbook EM for the constrained models."""
    n, m = R.shape
    C = int(np.nanmax(R)) + 1
    T = np.zeros((n, C))
    for i in range(n):
        for r in range(m):
            if not np.isnan(R[i, r]):
                T[i, int(R[i, r])] += 1
        T[i] /= T[i].sum()
    for it in range(n_iter + 1):
        prior = (T.sum(axis=0) + alpha) / (n + C * alpha)
        acc = np.zeros((m, C))
        for r in range(m):
            right, total = np.zeros(C), np.zeros(C)
            for i in range(n):
                if not np.isnan(R[i, r]):
                    lab = int(R[i, r])
                    right[lab] += T[i, lab]
                    total += T[i]
            if structure == "one_coin":
                acc[r] = (right.sum() + C * alpha) / (total.sum() + C * C * alpha)
            else:
                acc[r] = (right + alpha) / (total + C * alpha)
        if it == n_iter:
            return prior, acc, T
        logT = np.tile(np.log(prior), (n, 1))
        for i in range(n):
            for r in range(m):
                if not np.isnan(R[i, r]):
                    lab = int(R[i, r])
                    for c in range(C):
                        p = acc[r, c] if lab == c else (1 - acc[r, c]) / (C - 1)
                        logT[i, c] += np.log(p)
        logT -= logT.max(axis=1, keepdims=True)
        T = np.exp(logT)
        T /= T.sum(axis=1, keepdims=True)
    raise AssertionError


@pytest.mark.parametrize("structure", ["one_coin", "class_conditional"])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_constrained_models_match_a_reference_em(ref, structure, alpha):
    R = ref["R"][:80]
    prior, acc, _ = reference_em(R, structure, 6, alpha)
    est = fit_n(DawidSkene(model=structure, smoothing=alpha, tol=0.0, max_iter=6), R)
    np.testing.assert_allclose(est.class_priors_, prior, rtol=1e-10)
    want = acc[:, 0] if structure == "one_coin" else acc
    np.testing.assert_allclose(est.accuracies_, want, rtol=1e-10)
    conf = est.confusion_matrices_
    np.testing.assert_allclose(conf.sum(axis=2), 1.0, rtol=1e-12)
    off = (1 - acc) / 2
    np.testing.assert_allclose(conf[:, 0, 1], off[:, 0], rtol=1e-10)
    np.testing.assert_allclose(conf[:, 2, 0], off[:, 2], rtol=1e-10)


@pytest.mark.parametrize("structure", ["full", "class_conditional", "one_coin"])
def test_every_structure_climbs_and_recovers_the_truth(ref, structure):
    steps = []
    R = ref["R"]
    est = DawidSkene(model=structure, tol=1e-10, max_iter=500)
    with observe(steps.append):
        est.fit(R)
    lls = [s.loglik for s in steps]
    assert np.all(np.diff(lls) >= -1e-9 * abs(lls[0]))
    assert np.mean(est.predict(R) == np.array(ref["truth"])) > 0.8
    # the most accurate rater (0) is found as such, the worst (6) as the worst
    acc = est.accuracies_ if est.accuracies_.ndim == 1 else est.accuracies_.mean(axis=1)
    assert acc.argmax() == 0 and acc.argmin() == 6


# ------------------------------------------------------------- gold labels
def supervised_mle(R, y, C, alpha):
    counts = np.zeros((R.shape[1], C, C))
    item, rater = np.nonzero(~np.isnan(R))
    np.add.at(counts, (rater, y[item], R[item, rater].astype(int)), 1.0)
    conf = (counts + alpha) / (counts + alpha).sum(axis=2, keepdims=True)
    prior = (np.bincount(y, minlength=C) + alpha) / (len(y) + C * alpha)
    return prior, conf


@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_labels_for_every_item_give_the_supervised_mle_in_one_iteration(ref, alpha):
    R, y = ref["R"], np.array(ref["truth"])
    prior, conf = supervised_mle(R, y, 3, alpha)
    one = fit_n(DawidSkene(smoothing=alpha, max_iter=1, tol=0.0), R, y)
    np.testing.assert_allclose(one.confusion_matrices_, conf, rtol=1e-12)
    np.testing.assert_allclose(one.class_priors_, prior, rtol=1e-12)
    np.testing.assert_array_equal(one.posteriors_, np.eye(3)[y])
    # and it stays there
    many = DawidSkene(smoothing=alpha, max_iter=50).fit(R, y)
    assert many.converged_ and many.n_iter_ <= 2
    np.testing.assert_allclose(many.confusion_matrices_, conf, rtol=1e-12)


def test_known_items_stay_one_hot_and_pull_the_others(ref):
    R, gold = ref["R"], np.array(ref["gold"])
    est = DawidSkene(tol=1e-10, max_iter=500).fit(R, gold)
    rows = gold >= 0
    np.testing.assert_array_equal(est.posteriors_[rows], np.eye(3)[gold[rows]])
    free = DawidSkene(tol=1e-10, max_iter=500).fit(R)
    assert not np.allclose(est.posteriors_[~rows], free.posteriors_[~rows], atol=1e-3)
    # the log-likelihood reported is log P(ratings, known classes) at the fit
    item, rater = np.nonzero(~np.isnan(R))
    data = Ratings(item, rater, R[item, rater].astype(np.intp), R.shape[0], R.shape[1], 3)
    lj = DawidSkeneEM(R.shape[1], 3).log_joint(
        data, {"priors": est.class_priors_, "confusion": est.confusion_matrices_})
    mx = lj.max(axis=1)
    marg = mx + np.log(np.exp(lj - mx[:, None]).sum(axis=1))
    want = np.where(rows, lj[np.arange(len(gold)), np.maximum(gold, 0)], marg).sum()
    want += 0.01 * (np.log(est.class_priors_).sum() + np.log(est.confusion_matrices_).sum())
    assert est.lower_bound_ * len(gold) == pytest.approx(want, rel=1e-9)


def test_a_known_class_nobody_rated_widens_the_classes():
    R = np.array([[0, 0, 1], [1, 1, 1], [0, 1, 0], [1, 0, 1.0]])
    est = DawidSkene().fit(R, y=[-1, -1, -1, 2])
    assert est.n_classes_ == 3 and est.predict(R[:3]).max() <= 2
    assert est.posteriors_[3, 2] == 1.0


# --------------------------------------------------------------- weights
@pytest.mark.parametrize("structure", ["full", "class_conditional", "one_coin"])
def test_integer_weights_equal_repeated_items(ref, structure):
    R, gold = ref["R"][:120], np.array(ref["gold"][:120])
    w = np.random.default_rng(3).integers(0, 4, len(R))
    rep = np.repeat(np.arange(len(R)), w)
    a = fit_n(DawidSkene(model=structure, tol=0.0, max_iter=15), R, gold, sample_weight=w)
    b = fit_n(DawidSkene(model=structure, tol=0.0, max_iter=15), R[rep], gold[rep])
    np.testing.assert_allclose(a.confusion_matrices_, b.confusion_matrices_, rtol=1e-10)
    np.testing.assert_allclose(a.class_priors_, b.class_priors_, rtol=1e-10)
    np.testing.assert_allclose(a.posteriors_[rep], b.posteriors_, rtol=1e-9, atol=1e-12)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)
    ones = fit_n(DawidSkene(model=structure, tol=0.0, max_iter=15), R, sample_weight=np.ones(120))
    plain = fit_n(DawidSkene(model=structure, tol=0.0, max_iter=15), R)
    np.testing.assert_allclose(ones.confusion_matrices_, plain.confusion_matrices_, rtol=1e-13)


# ------------------------------------------------------------- bad input
R4 = np.array([[0, 0, 1], [1, 1, 1], [0, 1, 0], [1, 0, 1.0]])


@pytest.mark.parametrize("call, word", [
    (lambda: DawidSkene(model="two_coin").fit(R4), "model"),
    (lambda: DawidSkene(smoothing=-1.0).fit(R4), "smoothing"),
    (lambda: DawidSkene(smoothing=np.nan).fit(R4), "smoothing"),
    (lambda: DawidSkene().fit(np.array([[0, 3], [-1, 0.0]])), "labels"),
    (lambda: DawidSkene(n_classes=2).fit(np.array([[0, 2], [1, 0.0]])), "n_classes"),
    (lambda: DawidSkene().fit(R4, y=[0, 1, 0]), "y"),
    (lambda: DawidSkene().fit(R4, y=[0, 1, 0, -2]), "y"),
    (lambda: DawidSkene().fit(R4, y=[0, 1, 0, 0.5]), "y"),
    (lambda: DawidSkene(n_classes=2).fit(R4, y=[0, 1, 0, 2]), "y"),
    (lambda: DawidSkene().fit(R4, sample_weight=[1, 1, 1]), "sample_weight"),
    (lambda: DawidSkene().fit(R4, sample_weight=[1, 1, -1, 1]), "sample_weight"),
    (lambda: DawidSkene().fit(R4, sample_weight=[0, 0, 0, 0]), "sample_weight"),
    (lambda: DawidSkene().fit(R4, sample_weight=[1, np.inf, 1, 1]), "sample_weight"),
])
def test_bad_input_is_a_clear_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()


# --------------------------------------------------------------- saving
@pytest.mark.parametrize("structure", ["class_conditional", "one_coin"])
def test_save_and_load_keep_the_structure(ref, tmp_path, structure):
    est = DawidSkene(model=structure, smoothing=0.0).fit(ref["R"], np.array(ref["gold"]))
    back = emkit.load(est.save(tmp_path / "ds.emkit"))
    assert back.model == structure and back.smoothing == 0.0
    np.testing.assert_array_equal(back.accuracies_, est.accuracies_)
    np.testing.assert_array_equal(back.predict_proba(ref["R"]), est.predict_proba(ref["R"]))
