"""emkit.select_model from mclust's start against R's mclust 6.0.0 tables.

``tests/fixtures/mclust/<name>_bic.csv`` (made by ``make_fixtures.R``) holds
mclust's log-likelihood and BIC of every (model, G) cell, fitted by ``me()``
from ``hclass(hc(x), G)`` as ``mclustBIC()`` does, once with mclust's default
tolerances and once run to convergence (``tol = c(1e-12, 1e-12)``, "tight").
emkit starts from the same partitions (``tests/test_mclust_hc.py``), so a
converged cell is the same maximum: the BICs agree to 1e-3, except VVE, whose
M-step in mclust rotates the common orientation by an objective that leaves the
volumes out, so that mclust's VVE fits are not maxima of the likelihood.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emkit.datasets import load_faithful
from emkit.engine import em
from emkit.estimators.mclust_mixture import MclustMixture
from emkit.estimators.selection import select_model
from emkit.models.mixture.mclust import MclustModel
from emkit.models.mixture.mclust_init import hc_partitions

FIXTURES = Path(__file__).parent / "fixtures" / "mclust"


def load(name: str) -> np.ndarray:
    if name == "faithful":
        return load_faithful().to_numpy(float)
    return pd.read_csv(FIXTURES / f"{name}.csv").select_dtypes("number").to_numpy(float)


def mclust_cells(name: str, tol: str = "tight") -> pd.DataFrame:
    table = pd.read_csv(FIXTURES / f"{name}_bic.csv")
    return table[table["tol"] == tol].set_index(["model", "G"])


@pytest.fixture(scope="module")
def thyroid_table():
    return select_model(load("thyroid"), n_components=range(1, 5), max_iter=5000).table


def test_thyroid_cells_match_mclust_run_to_convergence(thyroid_table):
    theirs = mclust_cells("thyroid")
    agree = 0
    for row in thyroid_table.itertuples(index=False):
        assert pd.isna(row.error) and row.init == "hc", row
        mine, ref = -row.bic, theirs.loc[(row.model, row.n_components), "bic"]
        if row.model == "VVE" and row.n_components > 1:
            assert abs(mine - ref) > 1.0, row  # different fits (see the module docstring)
            continue
        assert mine == pytest.approx(ref, abs=1e-3), row
        agree += 1
    assert agree == 14 * 4 - 3


@pytest.mark.parametrize("name", ["faithful", "thyroid"])
def test_exact_em_climbs_from_mclusts_vve_fit(name):
    """mclust's converged VVE, G = 2 fit is no fixed point of the VVE EM: the
    exact M-step (rotations that weigh each component by its volume) raises the
    log-likelihood from there, by 0.075 on Old Faithful and 11 on thyroid."""
    X = load(name)
    d = X.shape[1]
    fit = pd.read_csv(FIXTURES / f"{name}_vve2.csv")
    params = {"weights": fit["weight"].to_numpy(),
              "means": fit[[f"mean{j}" for j in range(1, d + 1)]].to_numpy(),
              "covariances": fit[[c for c in fit.columns if c.startswith("cov")]]
              .to_numpy().reshape(2, d, d)}
    model = MclustModel("VVE")
    _, loglik = model.e_step(X, params)
    assert loglik == pytest.approx(fit["loglik"].iloc[0], abs=1e-8)  # the same point
    climbed = em(model, X, params, tol=1e-6, max_iter=200)
    assert climbed.loglik > loglik + {"faithful": 0.07, "thyroid": 10.0}[name]


@pytest.mark.parametrize(("model", "k", "loglik"), [
    # EVE: rotations carried from one M-step to the next, starting at the identity
    # as mclust's do (restarted from the pooled eigenvectors each step, EM stopped
    # at -6532.88 instead)
    ("EVE", 8, -6433.691692),
    # EEV: a one-point component's zero scatter keeps the identity's axes in
    # order, as mclust's SVD does (reversed, the fit ended at -5234.2043)
    ("EEV", 20, -5234.044575),
])
def test_wreath_cells_that_reach_mclusts_maximum(model, k, loglik):
    X = load("wreath")
    assert mclust_cells("wreath").loc[(model, k), "loglik"] == pytest.approx(loglik, abs=1e-6)
    rows, parts = hc_partitions(X, [k])
    est = MclustMixture(model, k, tol=1e-10)
    est._store(X, est._run(X, est._start_from(X, rows, parts[k])), "hc")
    assert est.converged_
    assert est.loglik_ == pytest.approx(loglik, abs=5e-4)


def test_thyroid_cells_that_cannot_be_fitted_say_why():
    """Where a converged mclust run fails (singular covariance), so does emkit's fit
    from the same start, and the table says why; EVE and VVE at G = 9 fit in
    emkit, while mclust refuses them because a cluster's scatter matrix has an
    eigenvalue below sqrt(eps) in absolute terms."""
    table = select_model(load("thyroid"), n_components=[5, 7, 9],
                         covariance_models="EVE,VVE,EVV,VVV", random_state=0).table
    theirs = mclust_cells("thyroid")
    cells = {(r.model, r.n_components): r for r in table.itertuples(index=False)}
    for key in [("EVV", 5), ("EVV", 7), ("EVV", 9), ("VVV", 9)]:
        assert np.isnan(theirs.loc[key, "bic"]) and theirs.loc[key, "warning"] == \
            "singular covariance"
        row = cells[key]
        if pd.isna(row.error):  # the hc start failed, a k-means start fitted
            assert row.init == "kmeans", row
        else:
            assert row.error.startswith("hc start: singular covariance: component "), row
            assert "; k-means start: " in row.error
    for key in [("EVE", 9), ("VVE", 9)]:
        assert np.isnan(theirs.loc[key, "bic"])
        assert pd.isna(cells[key].error) and cells[key].init == "hc"
    for key in [("EVE", 5), ("EVE", 7), ("VVV", 5), ("VVV", 7)]:
        assert pd.isna(cells[key].error) and cells[key].init == "hc"
        assert -cells[key].bic == pytest.approx(theirs.loc[key, "bic"], abs=1e-3)
