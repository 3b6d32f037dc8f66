"""User starts (``init=``) and partial supervision (``labels=``, ``priors=``) of mclust fits.

Starts are checked against R's mclust 6.0.0 (``tests/fixtures/mclust_start``, made
by its ``make_fixtures.R``): ``me()`` from a k-means partition and from soft
responsibilities, for five models on Old Faithful. Supervision is checked against
a semi-supervised EM written here (SciPy densities, closed-form M-steps).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from emkit.datasets import load_faithful
from emkit.estimators.mclust_mixture import MclustMixture
from emkit.estimators.selection import select_model

FIXTURES = Path(__file__).parent / "fixtures" / "mclust_start"
MODELS = ("EEE", "VVV", "VEV", "EVI", "VII")


@pytest.fixture(scope="module")
def faithful():
    return load_faithful().to_numpy(float)


@pytest.fixture(scope="module")
def starts():
    return pd.read_csv(FIXTURES / "faithful_start.csv")


@pytest.fixture(scope="module")
def fits():
    return pd.read_csv(FIXTURES / "faithful_fits.csv", dtype={"class_of_fit": str})


def _mclust_params(cell: pd.DataFrame) -> dict:
    return {"weights": cell["weight"].to_numpy(),
            "means": cell[["mean1", "mean2"]].to_numpy(),
            "covariances": cell[["cov11", "cov12", "cov21", "cov22"]].to_numpy().reshape(3, 2, 2)}


def _assert_same_fit(est: MclustMixture, cell: pd.DataFrame, rtol: float) -> None:
    ref = _mclust_params(cell)
    assert est.loglik_ == pytest.approx(cell["loglik"].iloc[0], abs=1e-6)
    # the same start fixes the component order: no matching needed
    np.testing.assert_allclose(est.weights_, ref["weights"], rtol=rtol)
    np.testing.assert_allclose(est.means_, ref["means"], rtol=rtol)
    np.testing.assert_allclose(est.covariances_, ref["covariances"], rtol=rtol,
                               atol=rtol * np.abs(ref["covariances"]).max())


@pytest.mark.parametrize("model", MODELS)
def test_partition_and_soft_starts_reproduce_mclusts_me(model, faithful, starts, fits):
    part = starts["partition"].to_numpy() - 1
    soft = starts[["z1", "z2", "z3"]].to_numpy()
    for kind, init in (("partition", part), ("soft", soft)):
        cell = fits[(fits["start"] == kind) & (fits["model"] == model)]
        est = MclustMixture(model, 3, tol=1e-12, max_iter=5000).fit(faithful, init=init)
        assert est.init_used_ == "user" and est.converged_
        _assert_same_fit(est, cell, rtol=1e-4)


def test_a_fit_is_reproduced_from_its_classification(faithful, fits):
    """mclust's classification of its own fit, given back, lands on that fit."""
    for model in ("EEE", "VVV"):
        cell = fits[(fits["start"] == "partition") & (fits["model"] == model)]
        labels = np.array([int(c) - 1 for c in cell["class_of_fit"].iloc[0]])
        est = MclustMixture(model, 3, tol=1e-12, max_iter=5000).fit(faithful, init=labels)
        _assert_same_fit(est, cell, rtol=1e-4)
        # and from its parameters EM stays there (within the flat direction that
        # mclust's tol=1e-12 leaves: parameters to 1e-4, the log-likelihood to 1e-6)
        again = MclustMixture(model, 3, tol=1e-12).fit(faithful, init=_mclust_params(cell))
        _assert_same_fit(again, cell, rtol=1e-4)
        np.testing.assert_allclose(again.means_, est.means_, rtol=1e-6)


def test_select_model_starts_one_k_from_the_users_partition(faithful, starts, fits):
    part = starts["partition"].to_numpy() - 1
    result = select_model(faithful, n_components=[2, 3], covariance_models=MODELS,
                          init=part, tol=1e-12, max_iter=5000)
    table = result.table.set_index(["model", "n_components"])
    for model in MODELS:
        assert table.loc[(model, 3), "init"] == "user"
        assert table.loc[(model, 2), "init"] == "hc"
        ref = fits[(fits["start"] == "partition") & (fits["model"] == model)]
        assert table.loc[(model, 3), "loglik"] == pytest.approx(ref["loglik"].iloc[0], abs=1e-6)
    by_k = select_model(faithful, n_components=[2, 3], covariance_models="EEE",
                        init={3: part}, tol=1e-12, max_iter=5000).table
    assert list(by_k["init"]) == ["hc", "user"]
    np.testing.assert_allclose(by_k["loglik"].iloc[1], table.loc[("EEE", 3), "loglik"],
                               rtol=1e-12)


@pytest.mark.parametrize("init, match", [
    (np.zeros(5, dtype=int), r"shape \(272,\)"),
    (np.full(272, 3), r"0\.\.2"),
    (np.full(272, 0.5), "integers"),
    (np.zeros((272, 3)), "row of zeros"),
    (-np.ones((272, 3)), "non-negative"),
    (np.ones((272, 4)), r"shape \(272, 3\)"),
    ({"weights": np.ones(3)}, "missing"),
    ({"weights": np.ones(3), "means": np.zeros((3, 2)),
      "covariances": -np.ones((3, 2, 2)) * np.eye(2)}, "positive definite"),
    (np.zeros((2, 2, 2)), "labels"),
])
def test_bad_starts_are_refused_naming_init(faithful, init, match):
    with pytest.raises(ValueError, match="init") as info:
        MclustMixture("EEE", 3).fit(faithful, init=init)
    assert info.match(match)


# --------------------------------------------------------------------------- supervision


def _reference_em(X, params, evidence, model, steps):
    """Semi-supervised EM written out: SciPy densities, evidence, closed-form M-steps."""
    w, mu, cov = params["weights"], params["means"], params["covariances"]
    k, d = mu.shape
    for _ in range(steps):
        logp = np.column_stack([np.log(w[j]) + multivariate_normal(mu[j], cov[j]).logpdf(X)
                                for j in range(k)]) + evidence
        r = np.exp(logp - logsumexp(logp, axis=1, keepdims=True))
        nk = r.sum(axis=0)
        w = nk / nk.sum()
        mu = (r.T @ X) / nk[:, None]
        scat = np.stack([(r[:, [j]] * (X - mu[j])).T @ (X - mu[j]) for j in range(k)])
        if model == "VVV":
            cov = scat / nk[:, None, None]
        elif model == "EEE":
            cov = np.broadcast_to(scat.sum(axis=0) / nk.sum(), scat.shape).copy()
        else:  # VII: lambda_k = tr(W_k) / (d n_k)
            cov = (np.trace(scat, axis1=1, axis2=2) / (d * nk))[:, None, None] * np.eye(d)
    logp = np.column_stack([np.log(w[j]) + multivariate_normal(mu[j], cov[j]).logpdf(X)
                            for j in range(k)]) + evidence
    return {"weights": w, "means": mu, "covariances": cov}, float(logsumexp(logp, axis=1).sum())


def _evidence(labels, priors, k):
    out = np.log(priors) if priors is not None else np.zeros((len(labels), k))
    known = labels >= 0
    out[known] = -np.inf
    out[known, labels[known]] = (np.log(priors[known, labels[known]]) if priors is not None
                                 else 0.0)
    return out


@pytest.mark.parametrize("model", ["VVV", "EEE", "VII"])
def test_labels_and_priors_match_a_semi_supervised_em(model, faithful):
    rng = np.random.default_rng(4)
    start = MclustMixture(model, 3, tol=1e-3).fit(faithful)
    params = {"weights": np.full(3, 1 / 3), "means": start.means_ + rng.normal(size=(3, 2)),
              "covariances": start.covariances_ * 1.5}
    labels = np.full(272, -1)
    chosen = rng.choice(272, 40, replace=False)
    labels[chosen] = start.predict(faithful)[chosen]
    priors = rng.uniform(0.2, 1.0, size=(272, 3))
    for steps in (1, 6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tol=0 runs to max_iter
            est = MclustMixture(model, 3, tol=0.0, max_iter=steps).fit(
                faithful, init=params, labels=labels, priors=priors)
        ref, loglik = _reference_em(faithful, params, _evidence(labels, priors, 3), model, steps)
        np.testing.assert_allclose(est.weights_, ref["weights"], rtol=1e-8)
        np.testing.assert_allclose(est.means_, ref["means"], rtol=1e-8)
        np.testing.assert_allclose(est.covariances_, ref["covariances"], rtol=1e-8)
        assert est.loglik_ == pytest.approx(loglik, rel=1e-10)


def test_every_row_labelled_gives_the_supervised_mle_in_one_step(faithful):
    truth = MclustMixture("VVV", 2).fit(faithful).predict(faithful)
    est = MclustMixture("VVV", 2).fit(faithful, labels=truth)
    assert est.n_iter_ == 1
    for j in range(2):
        rows = faithful[truth == j]
        np.testing.assert_allclose(est.means_[j], rows.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(est.covariances_[j], np.cov(rows.T, bias=True), rtol=1e-10)
        assert est.weights_[j] == pytest.approx(np.mean(truth == j), rel=1e-12)


def test_priors_of_ones_change_nothing_and_labels_rename_the_start(faithful):
    plain = MclustMixture("EEE", 3).fit(faithful)
    ones = MclustMixture("EEE", 3).fit(faithful, priors=np.ones((272, 3)))
    np.testing.assert_allclose(ones.means_, plain.means_, rtol=1e-12)
    assert ones.loglik_ == pytest.approx(plain.loglik_, rel=1e-12)
    # two labelled rows per component, in another order than the hc start's
    lab = plain.predict(faithful)
    perm = np.array([2, 0, 1])
    labels = np.full(272, -1)
    for j in range(3):
        labels[np.flatnonzero(lab == j)[:2]] = perm[j]
    est = MclustMixture("EEE", 3).fit(faithful, labels=labels)
    # the same clusters, renamed (the six one-hot rows move the fit a little)
    np.testing.assert_allclose(est.means_[perm], plain.means_, rtol=1e-3)
    known = labels >= 0
    assert np.all(est.predict_proba(faithful)[known].argmax(axis=1) == labels[known])


def test_bad_labels_and_priors(faithful):
    with pytest.raises(ValueError, match="labels"):
        MclustMixture("EEE", 3).fit(faithful, labels=np.full(272, 5))
    with pytest.raises(ValueError, match="priors"):
        MclustMixture("EEE", 3).fit(faithful, priors=np.ones((272, 2)))


def test_grid_in_parallel_equals_the_serial_grid(faithful):
    serial = select_model(faithful, n_components=[1, 2, 3], covariance_models="EII,VEV,EVE",
                          random_state=0)
    parallel = select_model(faithful, n_components=[1, 2, 3], covariance_models="EII,VEV,EVE",
                            random_state=0, n_jobs=2)
    pd.testing.assert_frame_equal(parallel.table, serial.table, rtol=1e-12)
    assert (parallel.best_model, parallel.best_n_components) == (serial.best_model,
                                                                serial.best_n_components)
    np.testing.assert_allclose(parallel.best.means_, serial.best.means_, rtol=1e-12)
    with pytest.raises(ValueError, match="n_jobs"):
        select_model(faithful, n_components=2, covariance_models="EII", n_jobs=0)


def test_a_failing_user_start_is_a_failed_cell_not_a_kmeans_fit(faithful):
    labels = np.zeros(272, dtype=int)
    labels[:150] = 1
    labels[200] = 2  # a one-point component: VVV's covariance is singular from this start
    result = select_model(faithful, n_components=[3], covariance_models="EII,VVV", init=labels)
    table = result.table.set_index("model")
    assert table.loc["EII", "init"] == "user" and pd.isna(table.loc["EII", "error"])
    assert "singular" in table.loc["VVV", "error"] and pd.isna(table.loc["VVV", "init"])
    with pytest.raises(ValueError, match="singular"):
        MclustMixture("VVV", 3).fit(faithful, init=labels)
