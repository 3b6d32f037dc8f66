"""Every fitted estimator survives ``save`` / ``emkit.load`` exactly.

The loaded object is of the same class, has the same parameters and fitted
attributes bit for bit, and gives the same predictions and scores.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.distributions import Bernoulli, Categorical, Gaussian, Independent, Poisson, StudentT
from emkit.estimators.mclust_mixture import MclustMixture

rng = np.random.default_rng(4)
X = np.r_[rng.normal(0, 1, (30, 2)), rng.normal(5, 1, (30, 2))]
X_NAN = X.copy()
X_NAN[::5, 1] = np.nan
COUNTS = np.r_[rng.poisson(2, (30, 2)), rng.poisson(9, (30, 2))].astype(float)
SYMBOLS = rng.integers(0, 3, (60, 1))
MIXED = np.c_[X[:, :1], rng.integers(0, 2, 60), rng.integers(0, 3, 60)].astype(float)
RATINGS = np.where(rng.random((40, 4)) < 0.2, np.nan, rng.integers(0, 3, (40, 4)))
RATINGS[0] = [0, 1, 2, 0]
X_REG = rng.uniform(0, 10, (60, 2))
Z_REG = rng.normal(0, 1, (60, 1))
Y_GAUSS = np.where(np.arange(60) < 30, 1 + 2 * X_REG[:, 0], 12 - X_REG[:, 1]) + rng.normal(
    0, 0.5, 60)
Y_COUNT = rng.poisson(np.exp(0.1 * X_REG[:, 0] + np.where(np.arange(60) < 30, 0.0, 1.5)))
Y_BINARY = (rng.random(60) < 1 / (1 + np.exp(-(X_REG[:, 0] - 5)))).astype(float)
SURV_FAIL = np.r_[rng.exponential(1.0, 30), rng.exponential(8.0, 30)]
SURV_CENSOR = rng.exponential(10.0, 60)
SURV_TIME = np.minimum(SURV_FAIL, SURV_CENSOR)
SURV_EVENT = (SURV_FAIL <= SURV_CENSOR).astype(float)


def _fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return est.fit(*args, **kwargs)


def _case(name):
    """``(make, args, kwargs)``: one data argument, or a tuple of them (X, y / time, event)."""
    make, data, *rest = CASES[name]
    args = data if isinstance(data, tuple) else (data,)
    return make, args, (rest[0] if rest else {})


CASES = {
    "GaussianMixture full": (lambda: emkit.GaussianMixture(2, random_state=0), X),
    "GaussianMixture spherical, missing": (
        lambda: emkit.GaussianMixture(2, covariance_type="spherical", random_state=0), X_NAN),
    "MixtureModel Poisson": (lambda: emkit.MixtureModel(Poisson(), 2, random_state=0), COUNTS),
    "MixtureModel tied Gaussian": (
        lambda: emkit.MixtureModel(Gaussian(covariance_type="tied"), 2, random_state=0), X),
    "MixtureModel Student-t": (lambda: emkit.MixtureModel(StudentT(), 2, random_state=0,
                                                          max_iter=20), X),
    "MixtureModel Independent": (lambda: emkit.MixtureModel(
        Independent([Gaussian(), Bernoulli(), Categorical()], columns=[[0], [1], [2]]), 2,
        random_state=0), MIXED),
    "EMImputer": (lambda: emkit.EMImputer(), X_NAN),
    "EMImputer mixture": (lambda: emkit.EMImputer(2, random_state=0), X_NAN),
    "GaussianHMM full": (lambda: emkit.GaussianHMM(2, covariance_type="full", random_state=0),
                         X),
    "GMMHMM": (lambda: emkit.GMMHMM(2, n_mix=2, random_state=0), X),
    "CategoricalHMM": (lambda: emkit.CategoricalHMM(2, random_state=0), SYMBOLS),
    "PoissonHMM": (lambda: emkit.PoissonHMM(2, random_state=0), COUNTS),
    "DawidSkene": (lambda: emkit.DawidSkene(), RATINGS),
    "MclustMixture": (lambda: MclustMixture("VEV", 2, random_state=0), X),
    "RegressionMixture gaussian": (lambda: emkit.RegressionMixture(2, random_state=0),
                                   (X_REG, Y_GAUSS)),
    "RegressionMixture poisson, concomitant": (
        lambda: emkit.RegressionMixture(2, family="poisson", random_state=0),
        (X_REG, Y_COUNT), {"concomitant": Z_REG}),
    "RegressionMixture binomial": (
        lambda: emkit.RegressionMixture(2, family="binomial", random_state=0),
        (X_REG, Y_BINARY)),
    "SurvivalMixture weibull": (lambda: emkit.SurvivalMixture("weibull", 2, random_state=0),
                                (SURV_TIME, SURV_EVENT)),
    "SurvivalMixture lognormal, cure": (
        lambda: emkit.SurvivalMixture("lognormal", 1, cure=True, random_state=0),
        (SURV_TIME, SURV_EVENT)),
    "SurvivalMixture exponential": (
        lambda: emkit.SurvivalMixture("exponential", 2, random_state=0),
        (SURV_TIME, SURV_EVENT)),
}


#: Methods compared after loading, and the fit arguments each takes: estimators of
#: ``(X, y)`` predict from ``X`` alone but score and give posteriors of ``(X, y)``.
_METHODS = {"predict": 1, "predict_proba": None, "score_samples": None, "score": None,
            "transform": 1, "bic": None, "aic": None, "survival_function": 1, "hazard": 1,
            "median_survival_": 0}


def _outputs(est, args, kwargs) -> list[np.ndarray]:
    out = []
    two_part = len(args) > 1
    for name, n_args in _METHODS.items():
        if not two_part and name in ("bic", "aic", "survival_function", "hazard"):
            continue  # one-argument estimators: bic/aic checked through score
        fn = getattr(est, name, None)
        if fn is None:
            continue
        if n_args == 0:
            value = fn
        else:
            used = args if n_args is None else args[:n_args]
            value = fn(*used, **kwargs) if name not in ("survival_function", "hazard") \
                else fn(np.linspace(0.1, 5.0, 7))
        out.append(np.asarray(value[0] if isinstance(value, tuple) else value, dtype=float))
    return out


def _fitted_attrs(est) -> dict:
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("__")}


def _same(a, b) -> None:
    """Bit-for-bit equality through arrays, lists, dicts and distributions."""
    if hasattr(a, "get_params") and hasattr(a, "parameters"):
        assert type(a) is type(b)
        _same(a.parameters(), b.parameters())
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, (list, tuple)) or (isinstance(a, np.ndarray) and a.dtype == object):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, (np.ndarray, np.generic, int, float, bool)):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    elif isinstance(a, str) or a is None:
        assert a == b
    # other helper objects (monitors, internal models) are checked through the outputs


@pytest.mark.parametrize("name", CASES)
def test_save_then_load_gives_the_same_estimator(tmp_path, name):
    make, args, kwargs = _case(name)
    est = _fit(make(), *args, **kwargs)
    path = tmp_path / "model.emkit"
    est.save(path)
    loaded = emkit.load(path)
    assert type(loaded) is type(est)
    assert set(loaded.get_params()) == set(est.get_params())
    for key, value in _fitted_attrs(est).items():
        assert hasattr(loaded, key), key
        _same(value, getattr(loaded, key))
    got_all, want_all = _outputs(loaded, args, kwargs), _outputs(est, args, kwargs)
    assert len(want_all) >= (4 if len(args) > 1 else 1)
    for got, want in zip(got_all, want_all, strict=True):
        np.testing.assert_array_equal(got, want)


def test_dawid_skene_table_round_trip_keeps_rater_names(tmp_path):
    table = pd.DataFrame({"item": [0, 0, 1, 1, 2, 2], "rater": ["ann", "bob"] * 3,
                          "label": [0, 0, 1, 1, 1, 0]})
    est = _fit(emkit.DawidSkene(), table)
    est.save(tmp_path / "ds.emkit")
    loaded = emkit.load(tmp_path / "ds.emkit")
    assert loaded.raters_ == est.raters_
    np.testing.assert_array_equal(loaded.predict_proba(table), est.predict_proba(table))
