"""emkit.GLAD and emkit.MACE against crowd-kit 1.4.2 (stored outputs) and their own invariants.

crowd-kit's outputs are in tests/fixtures/crowd/crowdkit_reference.json, made by
make_crowdkit_fixtures.py beside it. After N iterations crowd-kit's ``probas_`` come
from the E-step before the last M-step (emkit's ``posteriors_`` after N - 1
iterations), its parameters from the last M-step.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit import GLAD, MACE
from emkit.engine import observe
from emkit.exceptions import ConvergenceWarning

FIXTURE = Path(__file__).parent / "fixtures" / "crowd" / "crowdkit_reference.json"


@pytest.fixture(scope="module")
def ref():
    out = json.loads(FIXTURE.read_text())
    out["R"] = np.array([[np.nan if v is None else v for v in row] for row in out["ratings"]])
    return out


def fit_n(est, ratings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(ratings)


# ------------------------------------------------------------------ GLAD
@pytest.mark.parametrize("n", [1, 2])
def test_glad_first_iterations_match_crowdkit(ref, n):
    # same start (alpha = beta = 1), same conjugate-gradient M-step (scipy's CG, 25
    # iterations, tol 1e-2): the same parameters up to rounding
    after = fit_n(GLAD(tol=0.0, max_iter=n), ref["R"])
    np.testing.assert_allclose(after.alphas_, ref[f"glad{n}_alphas"], atol=1e-6)
    np.testing.assert_allclose(after.betas_, ref[f"glad{n}_betas"], atol=1e-6)
    if n == 2:
        before = fit_n(GLAD(tol=0.0, max_iter=1), ref["R"])
        np.testing.assert_allclose(before.posteriors_, ref["glad2_probas"], atol=1e-6)


def test_glad_reaches_crowdkits_fixed_point(ref):
    # Conjugate gradients stopped after 25 iterations amplify rounding from one
    # M-step to the next (1e-10 after one, 1e-4 after twelve), so longer runs are
    # compared where both converge: full M-steps, 300 iterations.
    est = fit_n(GLAD(tol=0.0, max_iter=300, m_step_max_iter=200, m_step_tol=1e-10), ref["R"])
    np.testing.assert_allclose(est.posteriors_, ref["glad_long_probas"], atol=1e-6)
    np.testing.assert_allclose(est.alphas_, ref["glad_long_alphas"], atol=1e-6)
    np.testing.assert_allclose(est.betas_, ref["glad_long_betas"], atol=1e-6)
    assert np.array_equal(est.predict(ref["R"]), np.argmax(ref["glad_long_probas"], axis=1))


def test_glad_never_lowers_its_objective_and_ranks_the_raters(ref):
    steps = []
    with observe(steps.append):
        est = GLAD(tol=1e-9, max_iter=200).fit(ref["R"])
    lls = np.array([s.loglik for s in steps])
    assert np.all(np.diff(lls) >= -1e-9 * abs(lls[0]))
    assert np.mean(est.predict(ref["R"]) == np.array(ref["truth"])) > 0.8
    # simulated accuracies fall from rater 0 (0.9) to rater 6 (0.4, near chance for 3 classes)
    assert est.alphas_.argmax() == 0 and est.alphas_.argmin() == 6


def test_glad_objective_is_the_log_posterior(ref):
    est = fit_n(GLAD(tol=0.0, max_iter=3), ref["R"])
    R, a, b = ref["R"], est.alphas_, est.betas_
    total = 0.0
    for i in range(R.shape[0]):
        joint = np.log(np.full(3, 1 / 3))
        for r in np.flatnonzero(~np.isnan(R[i])):
            p = 1 / (1 + np.exp(-a[r] * np.exp(b[i])))
            joint = joint + np.where(np.arange(3) == R[i, r], np.log(p), np.log((1 - p) / 2))
        total += np.log(np.exp(joint).sum())
    total += -0.5 * (((a - 1) ** 2).sum() + ((b - 1) ** 2).sum()) \
        - 0.5 * np.log(2 * np.pi) * (a.size + b.size)
    assert est.lower_bound_ * R.shape[0] == pytest.approx(total, rel=1e-10)


# ------------------------------------------------------------------ MACE
def test_mace_matches_crowdkit_from_its_start(ref):
    n = ref["n_iter"]
    start = {"spamming_init": ref["mace_spamming_init"], "thetas_init": ref["mace_thetas_init"]}
    est = fit_n(MACE(tol=0.0, max_iter=n, **start), ref["R"])
    np.testing.assert_allclose(est.spamming_, ref["mace_spamming"], atol=1e-10)
    np.testing.assert_allclose(est.thetas_, ref["mace_thetas"], atol=1e-10)
    # crowd-kit's MACE decodes with a last E-step at the final parameters
    np.testing.assert_allclose(est.posteriors_, ref["mace_probas"], atol=1e-10)
    np.testing.assert_array_equal(est.competence_, est.spamming_[:, 1])


def test_mace_restarts_climb_and_find_the_competent_raters(ref):
    steps = []
    with observe(steps.append):
        est = MACE(random_state=0, n_restarts=3, max_iter=200, tol=1e-10).fit(ref["R"])
    lls = np.array([s.loglik for s in steps])
    # three runs, each monotone: the log-likelihood only drops where a new start begins
    drops = np.flatnonzero(np.diff(lls) < -1e-9 * abs(lls[0]))
    assert len(drops) <= 2
    assert np.mean(est.predict(ref["R"]) == np.array(ref["truth"])) > 0.8
    assert est.competence_.argmax() == 0 and est.competence_.argmin() == 6
    again = MACE(random_state=0, n_restarts=3, max_iter=200, tol=1e-10).fit(ref["R"])
    np.testing.assert_array_equal(again.spamming_, est.spamming_)


def test_mace_long_table_equals_matrix(ref):
    R = ref["R"]
    item, rater = np.nonzero(~np.isnan(R))
    table = pd.DataFrame({"item": item, "rater": rater, "label": R[item, rater]})
    a = fit_n(MACE(random_state=1, n_restarts=2), R)
    b = fit_n(MACE(random_state=1, n_restarts=2), table)
    np.testing.assert_allclose(a.posteriors_, b.posteriors_, rtol=1e-12)
    np.testing.assert_allclose(b.predict_proba(table), b.posteriors_, rtol=1e-12)


# ------------------------------------------------------------ bad input, saving
R4 = np.array([[0, 0, 1], [1, 1, 1], [0, 1, 0], [1, 0, 1.0]])


@pytest.mark.parametrize("call, word", [
    (lambda: GLAD(max_iter=0).fit(R4), "max_iter"),
    (lambda: GLAD(m_step_tol=-1).fit(R4), "m_step_tol"),
    (lambda: GLAD(class_priors=[0.2, 0.2]).fit(R4), "class_priors"),
    (lambda: GLAD(alpha_prior_mean=[1, 2]).fit(R4), "alpha_prior_mean"),
    (lambda: GLAD().fit(np.array([[0, 3], [-1, 0.0]])), "labels"),
    (lambda: GLAD(n_classes=2).fit(np.array([[0, 2], [1, 0.0]])), "n_classes"),
    (lambda: GLAD().fit(R4).predict(R4[:3]), "items"),
    (lambda: GLAD().fit(R4).predict(R4[:, :2]), "raters"),
    (lambda: MACE(n_restarts=0).fit(R4), "n_restarts"),
    (lambda: MACE(smoothing=0.0).fit(R4), "smoothing"),
    (lambda: MACE(spamming_init=[[0.5, 0.5]] * 3).fit(R4), "thetas_init"),
    (lambda: MACE(spamming_init=[[0.5, 0.5]] * 2, thetas_init=[[0.5, 0.5]] * 3).fit(R4),
     "spamming_init"),
    (lambda: MACE().fit(np.array([[0, 0.5], [1, 0.0]])), "labels"),
    (lambda: MACE(n_classes=2).fit(np.array([[0, 2], [1, 0.0]])), "n_classes"),
])
def test_bad_input_is_a_clear_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()


@pytest.mark.parametrize("make", [lambda: GLAD(max_iter=20), lambda: MACE(random_state=0)])
def test_save_and_load(ref, tmp_path, make):
    est = fit_n(make(), ref["R"])
    back = emkit.load(est.save(tmp_path / "crowd.emkit"))
    assert type(back) is type(est) and back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.predict_proba(ref["R"]), est.predict_proba(ref["R"]))
    np.testing.assert_array_equal(back.posteriors_, est.posteriors_)
