"""mclust's conjugate prior (``prior="default"`` = ``priorControl()``) against mclust 6.0.0.

``tests/fixtures/mclust_prior`` (made by its ``make_fixtures.R``) holds mclust's
``defaultPrior`` values, its BIC tables with ``prior = priorControl()`` (fits by
``me()`` from ``hclass(hc(x), G)``, as ``mclustBIC()``), a few MAP fits run to
convergence and ``Mclust()``'s choice. emkit starts from the same hc partitions
(``tests/test_mclust_hc.py``), so a converged cell is the same MAP estimate.
mclust's BIC with a prior is ``2 loglik - npar log n`` with the log-likelihood at
the MAP estimate, no log-prior term (``faithful_mclust.json``: ``bic`` equals
``bic_from_loglik``); emkit's ``bic`` is its negative.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emkit.datasets import load_faithful
from emkit.estimators.mclust_mixture import MclustMixture
from emkit.estimators.selection import select_model
from emkit.gaussian.conjugate_prior import default_prior
from emkit.gaussian.constrained import MCLUST_MODELS
from emkit.persistence import load as load_model

FIXTURES = Path(__file__).parent / "fixtures" / "mclust_prior"
NO_PRIOR_IN_MCLUST = ("VEE", "EVE", "VVE", "EVV")


def data(name: str) -> np.ndarray:
    if name == "faithful":
        return load_faithful().to_numpy(float)
    path = Path(__file__).parent / "fixtures" / "mclust" / "thyroid.csv"
    return pd.read_csv(path).select_dtypes("number").to_numpy(float)


def mclust_cells(name: str, tol: str = "tight") -> pd.DataFrame:
    table = pd.read_csv(FIXTURES / f"{name}_prior_bic.csv")
    return table[table["tol"] == tol].set_index(["model", "G"])


def test_default_prior_is_mclusts():
    X = data("faithful")
    ref = pd.read_csv(FIXTURES / "faithful_default_prior.csv", dtype={"mean": str, "scale": str})
    assert len(ref) == 14 * 3
    for row in ref.itertuples(index=False):
        mine = default_prior(X, int(row.G), row.model)
        assert mine.shrinkage == pytest.approx(row.shrinkage, rel=1e-15)
        assert mine.dof == pytest.approx(row.dof, rel=1e-15)
        np.testing.assert_allclose(mine.mean, np.array(row.mean.split(), float), rtol=1e-13)
        scale = np.array(row.scale.split(), float)
        expected = scale[0] * np.eye(2) if scale.size == 1 else scale.reshape(2, 2)
        np.testing.assert_allclose(mine.scale, expected, rtol=1e-12)


@pytest.fixture(scope="module")
def faithful_table():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of slow cells
        return select_model(data("faithful"), range(1, 7), prior="default", tol=1e-10,
                            max_iter=2000)


def test_faithful_bic_table_matches_mclust(faithful_table):
    """Every cell where mclust's converged run fits and emkit's converged fit started
    from the hc partition: |BIC difference| <= 1e-2 (emkit at tol=1e-10 per row,
    mclust at 1e-12), EEI included (mclust's EEI step keeps the means unshrunk:
    see test_eei_fixed_points_are_mclusts)."""
    theirs = mclust_cells("faithful")
    compared, worst = 0, 0.0
    for row in faithful_table.table.itertuples(index=False):
        ref = theirs.loc[(row.model, row.n_components), "bic"]
        if row.model in NO_PRIOR_IN_MCLUST and row.n_components > 1:
            assert np.isnan(ref)
            assert pd.isna(row.error) and np.isfinite(row.bic), row  # emkit's VVV prior
            continue
        if np.isnan(ref):  # "mixing proportion fell below threshold" in mclust
            assert theirs.loc[(row.model, row.n_components), "return_code"] == -3
            continue
        if not row.converged:
            continue
        assert row.init == "hc", row
        assert -row.bic == pytest.approx(ref, abs=1e-2), row
        worst = max(worst, abs(-row.bic - ref))
        compared += 1
    assert compared >= 40, compared
    print(f"faithful: {compared} cells, max |BIC difference| {worst:.2e}")


def test_mclusts_choice(faithful_table):
    info = json.loads((FIXTURES / "faithful_mclust.json").read_text())
    best = faithful_table.best
    assert (best.model, best.n_components) == (info["model"], info["G"]) == ("EEE", 3)
    # Mclust stops at emControl()'s tolerance, 0.016 below the converged maximum
    assert best.loglik_ == pytest.approx(info["loglik"], abs=0.05)
    tight = mclust_cells("faithful").loc[("EEE", 3), "bic"]
    assert -best.bic(data("faithful")) == pytest.approx(tight, abs=2e-3)
    assert info["bic"] == info["bic_from_loglik"]  # no log-prior term in mclust's BIC


def _fit_cells(name: str):
    X = data(name)
    ref = pd.read_csv(FIXTURES / f"{name}_prior_params.csv")
    d = X.shape[1]
    for (model, g), cell in ref.groupby(["model", "G"], sort=False):
        yield X, d, model, int(g), cell


@pytest.mark.parametrize("name", ["faithful", "thyroid"])
def test_map_parameters_match_mclust(name):
    """MAP weights, means and covariances of the fixture's cells (mclust run to
    convergence) from mclust's hc start: within rtol=1e-3 of the largest entry."""
    for X, d, model, g, cell in _fit_cells(name):
        if np.isnan(cell["loglik"].iloc[0]):
            continue  # NA: mclust's run stopped (mixing proportion)
        est = MclustMixture(model, g, prior="default", tol=1e-11, max_iter=3000).fit(X)
        assert est.init_used_ == "hc" and est.converged_, (model, g)
        assert est.loglik_ == pytest.approx(cell["loglik"].iloc[0], abs=2e-3), (model, g)
        means = cell[[f"mean{j}" for j in range(1, d + 1)]].to_numpy()
        cov = cell[[c for c in cell.columns if c.startswith("cov")]].to_numpy().reshape(g, d, d)
        order = [int(np.argmin(((est.means_ - m) ** 2).sum(axis=1))) for m in means]
        assert sorted(order) == list(range(g))
        np.testing.assert_allclose(est.weights_[order], cell["weight"], atol=1e-3)
        np.testing.assert_allclose(est.means_[order], means, atol=1e-3 * np.abs(means).max())
        np.testing.assert_allclose(est.covariances_[order], cov, atol=1e-3 * np.abs(cov).max())


def test_eei_fixed_points_are_mclusts():
    """EEI, G = 2..9: mclust's Fortran (meeeip) leaves the means unshrunk; emkit's step
    does the same, and EM run long from mclust's hc start ends on mclust's converged
    fits (the fixture's tol = 1e-12 runs) to 1e-6, where the exact MAP step ended up
    to 0.67 log-likelihood units away (G = 9). A semi-direct check of the step: with a
    prior, the EEI means equal the weighted means of the E-step's responsibilities."""
    X = data("faithful")
    theirs = mclust_cells("faithful")
    for g in range(2, 10):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tol=0 runs to max_iter
            est = MclustMixture("EEI", g, prior="default", tol=0.0, max_iter=2500).fit(X)
        assert est.init_used_ == "hc"
        assert est.loglik_ == pytest.approx(theirs.loc[("EEI", g), "loglik"], abs=1e-6), g
        resp = est.predict_proba(X)
        xbar = (resp.T @ X) / resp.sum(axis=0)[:, None]
        np.testing.assert_allclose(est.means_, xbar, rtol=1e-8)
    # the other diagonal models do shrink their means towards the prior mean
    est = MclustMixture("VVI", 3, prior="default", tol=1e-10).fit(X)
    resp = est.predict_proba(X)
    xbar = (resp.T @ X) / resp.sum(axis=0)[:, None]
    assert not np.allclose(est.means_, xbar, rtol=1e-8)


def test_prior_makes_failing_fit_finite():
    """thyroid VVV, G = 9: without a prior the hc start collapses (mclust: singular
    covariance); with priorControl() both fit it, to the same BIC."""
    X = data("thyroid")
    plain = mclust_cells("thyroid").loc[("VVV", 9)]
    assert not np.isnan(plain["bic"])
    without = pd.read_csv(Path(__file__).parent / "fixtures" / "mclust" / "thyroid_bic.csv")
    without = without[without["tol"] == "tight"].set_index(["model", "G"])
    assert np.isnan(without.loc[("VVV", 9), "bic"])
    with pytest.raises(ValueError, match="singular covariance"):
        MclustMixture("VVV", 9, random_state=0).fit(X)
    est = MclustMixture("VVV", 9, prior="default", tol=1e-11, max_iter=3000).fit(X)
    assert est.init_used_ == "hc" and np.isfinite(est.bic(X))
    assert -est.bic(X) == pytest.approx(plain["bic"], abs=2e-3)


def test_loglik_excludes_the_prior_and_save_load(tmp_path):
    X = data("faithful")
    est = MclustMixture("VVV", 2, prior={"shrinkage": 0.05}).fit(X)
    assert est.loglik_ == pytest.approx(est.score(X) * X.shape[0], rel=1e-12)
    assert est.lower_bound_ == pytest.approx(est.score(X), rel=1e-12)
    assert est.log_prior_ != 0.0
    plain = MclustMixture("VVV", 2).fit(X)
    assert plain.log_prior_ == 0.0 and plain.loglik_ >= est.loglik_ - 1e-6
    back = load_model(est.save(tmp_path / "m.emkit"))
    assert back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.covariances_, est.covariances_)
    assert back.log_prior_ == est.log_prior_
    np.testing.assert_allclose(back.score_samples(X), est.score_samples(X), rtol=1e-15)


@pytest.mark.parametrize("prior", ["mclust", {"kappa": 1.0}, 3])
def test_bad_prior(prior):
    with pytest.raises(ValueError, match="prior"):
        MclustMixture("VVV", 2, prior=prior).fit(data("faithful"))


def test_all_fourteen_models_take_the_prior():
    X = data("faithful")[::3]
    table = select_model(X, [2], MCLUST_MODELS, prior="default").table
    assert table["error"].isna().all() and np.isfinite(table["bic"]).all()
