"""EMImputer: closed-form MLEs, imputation accuracy, standard errors, input checks, CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import emkit
from emkit import EMImputer
from emkit.datasets import load_gradebook
from emkit.exceptions import RegularizationWarning


def correlated_data(n: int = 400, d: int = 5, frac: float = 0.25, seed: int = 0):
    """Gaussian data with strong correlations and MCAR holes; returns (X, X_missing, mask)."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(d, 2))
    cov = loadings @ loadings.T + 0.2 * np.eye(d)
    X = rng.multivariate_normal(np.linspace(-2.0, 5.0, d), cov, size=n)
    mask = rng.uniform(size=X.shape) < frac
    mask[mask.all(axis=1), 0] = False
    return X, np.where(mask, np.nan, X), mask


def observed_loglik(X: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    total = 0.0
    for x in X:
        o = ~np.isnan(x)
        total += multivariate_normal(mean[o], cov[np.ix_(o, o)]).logpdf(x[o])
    return total


# ----------------------------------------------------------------- closed forms
def test_monotone_bivariate_pattern_gives_the_closed_form_mle():
    # y1 always observed, y2 missing for some rows: the MLE factorizes into the
    # marginal of y1 (all rows) and the regression of y2 on y1 (complete rows).
    rng = np.random.default_rng(1)
    n = 120
    y1 = rng.normal(10.0, 2.0, n)
    y2 = 3.0 + 0.8 * y1 + rng.normal(0.0, 1.0, n)
    X = np.c_[y1, y2]
    X[rng.uniform(size=n) < 0.4, 1] = np.nan
    cc = ~np.isnan(X[:, 1])
    mu1, s11 = y1.mean(), y1.var()
    slope = np.cov(y1[cc], y2[cc], bias=True)[0, 1] / y1[cc].var()
    intercept = y2[cc].mean() - slope * y1[cc].mean()
    resid = (y2[cc] - intercept - slope * y1[cc]).var()
    mean = np.array([mu1, intercept + slope * mu1])
    cov = np.array([[s11, slope * s11], [slope * s11, resid + slope**2 * s11]])

    imp = EMImputer(reg_covar=0.0, tol=1e-14, accelerate="squarem").fit(X)
    assert imp.converged_
    np.testing.assert_allclose(imp.mean_, mean, rtol=1e-9)
    np.testing.assert_allclose(imp.covariance_, cov, rtol=1e-8)
    np.testing.assert_allclose(imp.loglik_, observed_loglik(X, mean, cov), rtol=1e-12)
    # the imputed y2 is the fitted regression line
    filled = imp.transform(X)
    np.testing.assert_allclose(filled[~cc, 1], intercept + slope * y1[~cc], rtol=1e-8)


def anderson_monotone_bivariate(seed: int = 1, n: int = 120):
    """Data with y1 always observed and y2 missing in about 40 % of the rows, and the
    MLE in closed form (Anderson 1957), with every moment divided by its row count:

    * ``mu1``, ``s11``: mean and variance of y1 over **all** rows;
    * ``b1``, ``b0``, ``s22.1``: regression of y2 on y1 over the **complete** rows
      (``b1 = s12 / s11`` and ``s22.1`` the residual variance, both from them);
    * ``mu2 = b0 + b1 mu1``, ``sigma12 = b1 s11``, ``sigma22 = s22.1 + b1**2 s11``.
    """
    rng = np.random.default_rng(seed)
    y1 = rng.normal(10.0, 2.0, n)
    y2 = 3.0 + 0.8 * y1 + rng.normal(0.0, 1.0, n)
    X = np.c_[y1, y2]
    X[rng.uniform(size=n) < 0.4, 1] = np.nan
    cc = ~np.isnan(X[:, 1])
    mu1 = y1.sum() / n
    s11 = ((y1 - mu1) ** 2).sum() / n
    m1, m2 = y1[cc].mean(), y2[cc].mean()
    b1 = ((y1[cc] - m1) * (y2[cc] - m2)).sum() / ((y1[cc] - m1) ** 2).sum()
    b0 = m2 - b1 * m1
    s22_1 = ((y2[cc] - b0 - b1 * y1[cc]) ** 2).sum() / cc.sum()
    mean = np.array([mu1, b0 + b1 * mu1])
    cov = np.array([[s11, b1 * s11], [b1 * s11, s22_1 + b1**2 * s11]])
    return X, mean, cov, (b0, b1)


def test_default_regularization_gives_anderson_closed_form_mle():
    """The default reg_covar leaves a non-singular fit at the MLE (it moved it by
    1.8e-6 relative when it added 1e-6 of each variance)."""
    X, mean, cov, (b0, b1) = anderson_monotone_bivariate()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no regularization warning: none was needed
        imp = EMImputer(tol=1e-18, accelerate="squarem").fit(X)
    assert imp.converged_
    np.testing.assert_allclose(imp.mean_, mean, rtol=1e-10)
    np.testing.assert_allclose(imp.covariance_, cov, rtol=1e-10)
    assert imp.reg_covar_ == 0.0
    np.testing.assert_allclose(imp.loglik_, observed_loglik(X, mean, cov), rtol=1e-12)
    missing = np.isnan(X[:, 1])
    np.testing.assert_allclose(imp.transform(X)[missing, 1], b0 + b1 * X[missing, 0],
                               rtol=1e-10)


def test_monotone_trivariate_pattern_gives_the_sequential_regression_mle():
    # y1 complete; y2 missing in some rows; y3 missing wherever y2 is and more:
    # the MLE is the marginal of y1, the regression of y2 on y1 (rows with y2),
    # and the regression of y3 on (y1, y2) (rows with y3), chained.
    rng = np.random.default_rng(11)
    n = 200
    cov = np.array([[2.0, 1.2, 0.8], [1.2, 1.5, 0.9], [0.8, 0.9, 1.3]])
    X = rng.multivariate_normal([1.0, 2.0, 3.0], cov, size=n)
    u = rng.uniform(size=n)
    X[u < 0.25, 1] = np.nan
    X[u < 0.5, 2] = np.nan

    mean = np.array([X[:, 0].mean(), 0.0, 0.0])
    sigma = np.zeros((3, 3))
    sigma[0, 0] = X[:, 0].var()
    for j in (1, 2):
        rows = ~np.isnan(X[:, j])
        design = np.c_[np.ones(rows.sum()), X[rows, :j]]
        coef, *_ = np.linalg.lstsq(design, X[rows, j], rcond=None)
        resid = np.mean((X[rows, j] - design @ coef) ** 2)
        beta = coef[1:]
        mean[j] = coef[0] + beta @ mean[:j]
        sigma[j, :j] = sigma[:j, j] = sigma[:j, :j] @ beta
        sigma[j, j] = resid + beta @ sigma[:j, :j] @ beta

    imp = EMImputer(reg_covar=0.0, tol=1e-14, accelerate="squarem").fit(X)
    np.testing.assert_allclose(imp.mean_, mean, rtol=1e-8)
    np.testing.assert_allclose(imp.covariance_, sigma, rtol=1e-7)
    np.testing.assert_allclose(imp.loglik_, observed_loglik(X, mean, sigma), rtol=1e-12)


@pytest.mark.parametrize("case", ["few rows", "constant column", "collinear columns",
                                  "no maximum"])
def test_default_regularizes_only_a_singular_covariance_and_says_so(case):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 3))
    X[5, 0] = np.nan
    if case == "few rows":
        X = X[:3]  # complete: the sample covariance of 3 points in 3-D is singular
        match = "3 rows for 3 columns"
    elif case == "constant column":
        X[:, 2] = 7.0
        match = "column 2 is constant"
    elif case == "collinear columns":
        X[:, 2] = X[:, 0] - 2.0 * X[:, 1]
        match = "singular covariance"
    else:  # 3 complete rows for 3 columns: the likelihood grows without bound
        X = X[:4].copy()
        X[0, 1] = np.nan
        match = "singular covariance"
    with pytest.warns(emkit.exceptions.RegularizationWarning, match=match):
        imp = EMImputer(accelerate="squarem").fit(X)
    assert imp.reg_covar_ == 1e-6
    # the same fit as asking for that regularization, which warns of nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asked = EMImputer(reg_covar=1e-6, accelerate="squarem").fit(X)
    assert asked.reg_covar_ == 1e-6
    np.testing.assert_allclose(imp.covariance_, asked.covariance_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(imp.transform(X), asked.transform(X), rtol=1e-12)
    with pytest.raises(ValueError):  # reg_covar=0 asks for the MLE, which does not exist
        EMImputer(reg_covar=0.0).fit(X)


def test_complete_data_gives_the_sample_mean_and_covariance():
    X = np.random.default_rng(2).normal(size=(50, 3)) * [1.0, 2.0, 3.0]
    imp = EMImputer(reg_covar=0.0).fit(X)
    np.testing.assert_allclose(imp.mean_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(imp.covariance_, np.cov(X, rowvar=False, bias=True), rtol=1e-12)
    np.testing.assert_allclose(imp.standard_errors_, np.sqrt(np.diag(imp.covariance_) / 50),
                               rtol=1e-10)
    assert np.array_equal(imp.transform(X), X)


def test_fit_maximizes_the_observed_data_likelihood():
    _, Xm, _ = correlated_data(n=150, d=3, seed=3)
    imp = EMImputer(reg_covar=0.0, tol=1e-12, accelerate="squarem").fit(Xm)
    best = observed_loglik(Xm, imp.mean_, imp.covariance_)
    np.testing.assert_allclose(imp.loglik_, best, rtol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(5):  # any small perturbation of the MLE is worse
        step = rng.normal(size=3) * 0.02
        assert observed_loglik(Xm, imp.mean_ + step, imp.covariance_) < best


# ----------------------------------------------------------------- accuracy
def rmse(filled: np.ndarray, X: np.ndarray, mask: np.ndarray) -> float:
    return float(np.sqrt(np.mean((filled[mask] - X[mask]) ** 2)))


def test_beats_mean_imputation_and_iterative_imputer_on_correlated_gaussian_data():
    X, Xm, mask = correlated_data(n=400, d=6, frac=0.3, seed=4)
    em_rmse = rmse(EMImputer().fit_transform(Xm), X, mask)
    mean_rmse = rmse(SimpleImputer().fit_transform(Xm), X, mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        iter_rmse = rmse(IterativeImputer(random_state=0).fit_transform(Xm), X, mask)
    assert em_rmse < iter_rmse < mean_rmse
    assert em_rmse < 0.7 * mean_rmse


def test_mixture_imputation_uses_the_cluster():
    rng = np.random.default_rng(5)
    cov = np.array([[1.0, 0.0], [0.0, 1.0]])
    X = np.r_[rng.multivariate_normal([0, 0], cov, 200), rng.multivariate_normal([8, 8], cov, 200)]
    mask = np.zeros_like(X, dtype=bool)
    mask[rng.choice(400, 80, replace=False), 1] = True
    Xm = np.where(mask, np.nan, X)
    mix = EMImputer(n_components=2, random_state=0).fit(Xm)
    single = EMImputer().fit(Xm)
    assert mix.weights_.shape == (2,) and mix.means_.shape == (2, 2)
    assert mix.covariances_.shape == (2, 2, 2) and mix.standard_errors_ is None
    assert mix.loglik_ > single.loglik_
    # within a cluster the columns are independent: the mixture imputes the
    # cluster's mean, which is about as good as the single normal's regression here
    assert rmse(mix.transform(Xm), X, mask) < 1.2
    np.testing.assert_allclose(np.sort(mix.means_[:, 0]), [0.0, 8.0], atol=0.3)
    assert mix.history_["means"].shape == (mix.n_iter_ + 1, 2)


@pytest.mark.parametrize("ctype", ["tied", "diag", "spherical"])
def test_other_covariance_types(ctype):
    _, Xm, mask = correlated_data(n=200, d=4, seed=6)
    imp = EMImputer(covariance_type=ctype).fit(Xm)
    assert imp.covariance_.shape == (4, 4)
    filled = imp.transform(Xm)
    assert not np.isnan(filled).any()
    if ctype == "tied":  # one component: same as full
        full = EMImputer().fit(Xm)
        np.testing.assert_allclose(imp.mean_, full.mean_, rtol=1e-10)
    else:  # independent columns: impute each observed-column mean
        np.testing.assert_allclose(imp.mean_, np.nanmean(Xm, axis=0), rtol=1e-10)
        np.testing.assert_allclose(filled[mask], np.broadcast_to(imp.mean_, Xm.shape)[mask],
                                   rtol=1e-10)
    assert np.all(imp.standard_errors_ > 0)


def test_default_fit_does_not_depend_on_the_units_of_each_column():
    _, Xm, _ = correlated_data(n=150, d=3, seed=12)
    a, b = np.array([1e-6, 1.0, 1e5]), np.array([3.0, -1e4, 0.0])  # per-column units
    base = EMImputer().fit(Xm)
    moved = EMImputer().fit(Xm * a + b)
    np.testing.assert_allclose(moved.mean_, base.mean_ * a + b, rtol=1e-9)
    np.testing.assert_allclose(moved.covariance_, base.covariance_ * np.outer(a, a), rtol=1e-8)
    np.testing.assert_allclose(moved.standard_errors_, base.standard_errors_ * a, rtol=1e-8)
    np.testing.assert_allclose(moved.transform(Xm * a + b), base.transform(Xm) * a + b,
                               rtol=1e-9)
    # the log-likelihood changes by the log-Jacobian of the change of units
    n_obs = (~np.isnan(Xm)).sum(axis=0)
    np.testing.assert_allclose(moved.loglik_, base.loglik_ - n_obs @ np.log(a), rtol=1e-10)
    assert moved.n_iter_ == base.n_iter_


# ----------------------------------------------------------------- transform
def test_transform_leaves_observed_entries_bit_for_bit():
    _, Xm, mask = correlated_data(seed=7)
    Xm = Xm * (1 / 3)  # no short decimal form
    for imp in (EMImputer(), EMImputer(n_components=2, random_state=0, tol=1e-6),
                EMImputer(sample_posterior=True, random_state=1)):
        filled = imp.fit(Xm).transform(Xm)
        assert np.array_equal(filled[~mask].view(np.uint64), Xm[~mask].view(np.uint64))
        assert not np.isnan(filled).any()
    assert np.isnan(Xm).sum() == mask.sum()  # input untouched


def test_sample_posterior_is_reproducible_and_centred_on_the_conditional_mean():
    _, Xm, mask = correlated_data(n=300, d=4, seed=8)
    a = EMImputer(sample_posterior=True, random_state=0).fit_transform(Xm)
    b = EMImputer(sample_posterior=True, random_state=0).fit_transform(Xm)
    c = EMImputer(sample_posterior=True, random_state=1).fit_transform(Xm)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[mask], c[mask])
    imp = EMImputer().fit(Xm)
    expected = imp.transform(Xm)
    draws = np.mean([imp.set_params(sample_posterior=True, random_state=s).transform(Xm)
                     for s in range(100)], axis=0)
    # 100 draws: the average is within a few conditional sds / sqrt(100) of the mean
    assert np.max(np.abs(draws - expected)[mask]) < 5 * np.sqrt(np.max(imp.covariance_)) / 10


def test_pandas_output_feature_names_and_pipeline():
    book = load_gradebook()
    marks = book.drop(columns="student")
    imp = EMImputer().set_output(transform="pandas")
    out = imp.fit_transform(marks)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(marks.columns)
    assert list(imp.get_feature_names_out()) == list(marks.columns)
    assert out.notna().all().all()
    observed = marks.notna().to_numpy()
    assert np.array_equal(out.to_numpy()[observed], marks.to_numpy()[observed])
    pipe = make_pipeline(EMImputer(), StandardScaler()).fit(marks)
    assert pipe.transform(marks).shape == marks.shape
    assert clone(imp).get_params()["reg_covar"] == imp.reg_covar


def test_passes_scikit_learns_estimator_checks():
    from sklearn.exceptions import SkipTestWarning
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkipTestWarning)
        # the weight-equivalence check fits 15 distinct rows of 30 columns: the default
        # reg_covar says it regularizes (both fits alike), which is right, not a failure
        warnings.simplefilter("ignore", RegularizationWarning)
        results = check_estimator(EMImputer(), on_fail=None)
    failed = {r["check_name"]: str(r["exception"]) for r in results if r["status"] == "failed"}
    assert not failed


# ----------------------------------------------------------------- standard errors
def test_standard_errors_match_a_simulation():
    rng = np.random.default_rng(2)
    n = 100
    mean = np.array([1.0, -1.0, 2.0])
    cov = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    estimates, errors = [], []
    for _ in range(200):
        X = rng.multivariate_normal(mean, cov, size=n)
        # missing at random: column 1 is hidden more often when column 0 is large
        X[rng.uniform(size=n) < np.where(X[:, 0] > mean[0], 0.75, 0.25), 1] = np.nan
        X[rng.uniform(size=n) < 0.3, 2] = np.nan
        imp = EMImputer(tol=1e-8).fit(X)
        estimates.append(imp.mean_)
        errors.append(imp.standard_errors_)
    empirical = np.std(estimates, axis=0, ddof=1)
    # 200 replicates: the empirical sd is itself uncertain by about 5 %
    np.testing.assert_allclose(np.mean(errors, axis=0), empirical, rtol=0.15)
    # half of column 1 is missing and only weakly predictable: its mean is far less
    # precise than complete data would give (sd 1 / sqrt(n) = 0.1), and both the
    # simulation and the standard errors see it
    assert empirical[1] > 0.125 and np.mean(errors, axis=0)[1] > 0.125


# ----------------------------------------------------------------- history
def test_history_is_the_teachers_loop():
    marks = load_gradebook().drop(columns="student").to_numpy()
    imp = EMImputer().fit(marks)
    h = imp.history_
    assert h["means"].shape == (imp.n_iter_ + 1, 5)
    np.testing.assert_allclose(h["means"][0], np.nanmean(marks, axis=0), rtol=1e-12)
    np.testing.assert_allclose(h["means"][-1], imp.mean_, rtol=1e-12)
    assert np.isnan(h["change"][0])
    np.testing.assert_allclose(h["change"][1:], np.abs(np.diff(h["means"], axis=0)).max(axis=1))
    assert np.all(np.diff(h["loglik"]) > -1e-9)
    np.testing.assert_allclose(h["loglik"][-1], imp.loglik_, rtol=1e-12)
    assert imp.converged_ and h["change"][-1] < h["change"][1]


def test_mean_variances_are_the_inverse_information_diagonal():
    from emkit.estimators._imputer_units import ImputerUnits

    rng = np.random.default_rng(12)
    a = rng.normal(size=(6, 6))
    info = a @ a.T + 0.5 * np.eye(6)
    np.testing.assert_allclose(ImputerUnits._mean_variances(info, 3),
                               np.diag(np.linalg.inv(info))[:3], rtol=1e-12)
    # indefinite (EM stopped short): NaN where the variance is not positive, with a warning
    bent = info.copy()
    bent[:2, :] = bent[:, :2] = 0.0
    bent[:2, :2] = [[1.0, 2.0], [2.0, 1.0]]  # its inverse's diagonal: -1/3, -1/3
    reference = np.diag(np.linalg.inv(bent))[:3]
    with pytest.warns(emkit.ConvergenceWarning, match="not positive definite"):
        got = ImputerUnits._mean_variances(bent, 3)
    assert np.any(reference <= 0) and np.any(reference > 0)
    np.testing.assert_array_equal(np.isnan(got), reference <= 0)
    np.testing.assert_allclose(got[reference > 0], reference[reference > 0], rtol=1e-10)


def test_verbose_prints_each_iteration(capsys):
    _, Xm, _ = correlated_data(n=50, d=2, seed=10)
    with pytest.warns(emkit.ConvergenceWarning):
        EMImputer(verbose=1, max_iter=3, tol=0.0).fit(Xm)
    assert capsys.readouterr().out.count("EMImputer iteration") == 3


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.nan]]), "entirely missing"),
        (np.array([[1.0, 2.0], [np.nan, np.nan], [3.0, 1.0]]), "every entry missing"),
        (np.array([[1.0, 2.0], [2.0, np.nan], [3.0, np.nan]]), "only one observed"),
        (np.array([[1.0, 2.0]]), "at least 2 rows .n_samples = 1"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), "infinite"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric"),
        (pd.DataFrame({"x": [1.0, 2.0, 3.0], "name": ["a", "b", "c"]}), "numeric"),
    ],
)
def test_bad_input_raises_a_clear_value_error(X, message):
    with pytest.raises(ValueError, match=message):
        EMImputer().fit(X)


def test_bad_input_more_cases():
    with pytest.raises(ValueError, match="reg_covar > 0"):
        EMImputer(reg_covar=0.0).fit(np.array([[1.0, 2.0, 3.0], [2.0, 1.0, np.nan],
                                               [0.0, 1.0, 2.0]]))
    with pytest.raises(ValueError, match="constant"):
        EMImputer(reg_covar=0.0).fit(np.array([[1.0, 2.0], [1.0, np.nan], [1.0, 5.0],
                                               [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="n_components"):
        EMImputer(n_components=0).fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="covariance_type"):
        EMImputer(covariance_type="round").fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="accelerate"):
        EMImputer(accelerate="fast").fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="needs at least 4 rows"):
        EMImputer(n_components=3).fit(np.array([[1.0, 2.0], [2.0, 1.0], [0.0, 3.0]]))
    with pytest.warns(emkit.exceptions.RegularizationWarning, match="singular covariance"):
        imp = EMImputer().fit(np.array([[1.0, 2.0], [2.0, 1.0], [0.0, 3.0]]))  # collinear
    with pytest.raises(ValueError, match="every entry missing"):
        imp.transform(np.array([[np.nan, np.nan]]))
    with pytest.raises(ValueError, match="features"):
        imp.transform(np.ones((2, 3)))


# ----------------------------------------------------------------- persistence
def test_save_and_load_round_trip(tmp_path):
    book = load_gradebook().drop(columns="student")
    mixture = EMImputer(n_components=2, random_state=0, tol=1e-6)
    for imp in (EMImputer().fit(book), mixture.fit(book)):
        path = imp.save(tmp_path / "imputer.emkit")
        loaded = emkit.load(path)
        assert isinstance(loaded, EMImputer)
        assert loaded.get_params() == imp.get_params()
        pd.testing.assert_frame_equal(
            pd.DataFrame(loaded.transform(book)), pd.DataFrame(imp.transform(book))
        )
        assert list(loaded.feature_names_in_) == list(book.columns)
        np.testing.assert_array_equal(loaded.history_["means"], imp.history_["means"])


# ----------------------------------------------------------------- gradebook and CLI
def test_gradebook_shape():
    book = load_gradebook()
    assert list(book.columns) == ["student", "math", "physics", "chemistry", "biology",
                                  "english"]
    marks = book.drop(columns="student")
    assert book.shape == (30, 6)
    assert 0.1 < marks.isna().to_numpy().mean() < 0.2
    assert not marks.isna().all(axis=1).any() and not marks.isna().all(axis=0).any()
    assert marks.corr().loc["math", "physics"] > 0.7


def test_cli_impute_writes_the_filled_table_and_shows_the_loop(tmp_path, capsys):
    from emkit.cli import main
    from emkit.datasets import path

    out = tmp_path / "filled.csv"
    assert main(["impute", path("gradebook.csv"), "-o", str(out), "--trace"]) == 0
    text = capsys.readouterr().out
    assert "first guess" in text and "converged" in text and "math" in text
    filled, book = pd.read_csv(out), load_gradebook()
    assert list(filled.columns) == list(book.columns)
    assert (filled["student"] == book["student"]).all()
    marks = book.drop(columns="student").to_numpy()
    values = filled.drop(columns="student").to_numpy()
    observed = ~np.isnan(marks)
    assert np.array_equal(values[observed], marks[observed]) and not np.isnan(values).any()
    expected = EMImputer().fit_transform(marks)
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_cli_impute_json_and_columns(tmp_path, capsys):
    from emkit.cli import main
    from emkit.datasets import path

    assert main(["impute", path("gradebook.csv"), "--json", "-c", "physics,english"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["columns"] == ["physics", "english"] and doc["converged"]
    assert doc["history"][0]["change"] is None
    assert len(doc["history"]) == doc["n_iter"] + 1
    assert len(doc["filled"]) == 30 and doc["output"] is None
    assert len(doc["standard_errors"]) == 2


def test_cli_impute_csv_to_stdout_and_errors(tmp_path, capsys):
    from emkit.cli import main

    data = tmp_path / "x.csv"
    pd.DataFrame({"a": [1.0, 2.0, None, 4.0], "b": [2.0, None, 5.0, 8.0],
                  "name": list("wxyz")}).to_csv(data, index=False)
    assert main(["impute", str(data)]) == 0  # its 4 rows fit a line: regularized
    captured = capsys.readouterr()
    assert "emkit: warning: no maximum-likelihood estimate" in captured.err
    table = pd.read_csv(__import__("io").StringIO(captured.out))
    assert table.shape == (4, 3) and table[["a", "b"]].notna().all().all()
    assert "Filled 2 missing" in captured.err
    assert main(["impute", str(data), "-c", "name"]) == 1
    assert "not numeric" in capsys.readouterr().err
    assert main(["impute", str(tmp_path / "nope.csv")]) == 1
    assert main(["impute", str(data), "-k", "2", "--seed", "0", "--max-iter", "5", "-o",
                 str(tmp_path / "y.parquet")]) == 0
    assert "did not converge" in capsys.readouterr().err
    assert pd.read_parquet(tmp_path / "y.parquet").shape == (4, 3)
