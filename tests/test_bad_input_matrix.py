"""Bad input x every public entry point -> the error a user should see.

One table, ``CASES``: each row names an entry point, the bad input, the call,
the exception type expected and a pattern its message must match (the
pattern says *what* is wrong, so a bare numpy/scikit-learn internals message
fails). The command line gets its own table, ``CLI_CASES``: a non-zero exit
code and one line on stderr that starts with ``emkit: error:``, never a
traceback.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.cli import main
from emkit.distributions import Categorical, Exponential, Gaussian, Independent, Poisson
from emkit.estimators.mclust_mixture import MclustMixture
from emkit.examples.textbook import NormalMixture1D

rng = np.random.default_rng(0)
X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(5, 1, (20, 2))]
X_NAN = X.copy()
X_NAN[3, 1] = np.nan
X_ALLNAN_ROW = X.copy()
X_ALLNAN_ROW[4] = np.nan
X_INF = X.copy()
X_INF[2, 0] = np.inf
X_1D = X[:, 0]
X_3D = X.reshape(4, 10, 2)
X_EMPTY = np.empty((0, 2))
X_STR = np.array([["a", "b"]] * 10, dtype=object)
X_3COLS = np.c_[X, X[:, :1]]
COUNTS = rng.poisson(3, (40, 2)).astype(float)
COUNTS_NEG = COUNTS.copy()
COUNTS_NEG[5, 0] = -1
SYMBOLS = rng.integers(0, 3, (40, 1))
SYMBOLS_NEG = SYMBOLS.copy()
SYMBOLS_NEG[0, 0] = -2
RATINGS = np.array([[0, 0, 1], [1, 1, 1], [0, np.nan, 0], [1, 0, 1], [2, 2, 1.0]])


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return fn(*args, **kwargs)


@functools.cache
def fitted(name: str):
    """A small fitted estimator of each kind, for predict/score cases."""
    if name == "gm":
        return quietly(emkit.GaussianMixture(2, random_state=0).fit, X)
    if name == "mm":
        return quietly(emkit.MixtureModel(Gaussian(), 2, random_state=0).fit, X)
    if name == "mm_poisson":
        return quietly(emkit.MixtureModel(Poisson(), 2, random_state=0).fit, COUNTS)
    if name == "imputer":
        return quietly(emkit.EMImputer().fit, X_NAN)
    if name == "ghmm":
        return quietly(emkit.GaussianHMM(2, random_state=0).fit, X)
    if name == "gmmhmm":
        return quietly(emkit.GMMHMM(2, n_mix=2, random_state=0).fit, X)
    if name == "chmm":
        return quietly(emkit.CategoricalHMM(2, random_state=0).fit, SYMBOLS)
    if name == "phmm":
        return quietly(emkit.PoissonHMM(2, random_state=0).fit, COUNTS)
    if name == "ds":
        return quietly(emkit.DawidSkene().fit, RATINGS)
    if name == "mclust":
        return quietly(MclustMixture("VVV", 2, random_state=0).fit, X)
    raise KeyError(name)


def hmm_with(cls, **attrs):
    """An HMM that starts from user-given parameters (init_params="")."""
    est = cls(2, init_params="", n_iter=3)
    for key, value in attrs.items():
        setattr(est, key, np.asarray(value, dtype=float))
    return est


GOOD_HMM = dict(startprob_=[0.5, 0.5], transmat_=[[0.9, 0.1], [0.1, 0.9]],
                means_=[[0, 0], [5, 5]], covars_=[[1, 1], [1, 1]])


@dataclass(frozen=True)
class Case:
    entry: str
    bad: str
    call: Callable[[], object]
    error: type[BaseException] | tuple[type[BaseException], ...]
    match: str

    @property
    def id(self) -> str:
        return f"{self.entry}: {self.bad}"


def _cases() -> list[Case]:
    c: list[Case] = []

    def add(entry, bad, call, error, match):
        c.append(Case(entry, bad, call, error, match))

    V = ValueError
    # ---- emkit.em ------------------------------------------------------------
    m, x1 = NormalMixture1D(), rng.normal(size=30)
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-1.0, 1.0]),
            "variances": np.array([1.0, 1.0])}
    add("em", "negative tol", lambda: emkit.em(m, x1, init, tol=-1), V, "tol")
    add("em", "NaN tol", lambda: emkit.em(m, x1, init, tol=np.nan), V, "tol")
    add("em", "max_iter=0", lambda: emkit.em(m, x1, init, max_iter=0), V, "max_iter")
    add("em", "max_iter=1.5", lambda: emkit.em(m, x1, init, max_iter=1.5), V, "max_iter")
    add("em", "accelerate='bogus'", lambda: emkit.em(m, x1, init, accelerate="bogus"), V,
        "accelerate")
    add("em", "callback not callable", lambda: emkit.em(m, x1, init, callback=5), V, "callback")
    add("em", "negative param_tol", lambda: emkit.em(m, x1, init, param_tol=-1.0), V,
        "param_tol")
    add("em", "NaN in init", lambda: emkit.em(m, x1, {**init, "means": np.array([np.nan, 1.0])}),
        V, "initial parameters")
    add("em", "variance <= 0 in init",
        lambda: emkit.em(m, x1, {**init, "variances": np.array([-1.0, 1.0])}), V,
        "initial parameters")

    # ---- GaussianMixture ---------------------------------------------------------
    GM = emkit.GaussianMixture
    for meth in ("fit", "fit_predict"):
        add(f"GaussianMixture.{meth}", "inf", lambda meth=meth: getattr(GM(2), meth)(X_INF),
            V, "infinity")
        add(f"GaussianMixture.{meth}", "all-NaN row",
            lambda meth=meth: getattr(GM(2), meth)(X_ALLNAN_ROW), V, "no observed value")
    add("GaussianMixture.fit", "1-D X", lambda: GM(2).fit(X_1D), V, "2D array")
    add("GaussianMixture.fit", "3-D X", lambda: GM(2).fit(X_3D), V, "dim")
    add("GaussianMixture.fit", "empty X", lambda: GM(2).fit(X_EMPTY), V, "sample")
    add("GaussianMixture.fit", "string X", lambda: GM(2).fit(X_STR), V, "convert")
    add("GaussianMixture.fit", "n_components=0", lambda: GM(0).fit(X), V, "n_components")
    add("GaussianMixture.fit", "n_components=-1", lambda: GM(-1).fit(X), V, "n_components")
    add("GaussianMixture.fit", "n_components > n_samples", lambda: GM(50).fit(X), V,
        "n_samples")
    add("GaussianMixture.fit", "covariance_type='bogus'",
        lambda: GM(2, covariance_type="bogus").fit(X), V, "covariance_type")
    add("GaussianMixture.fit", "init_params='bogus'", lambda: GM(2, init_params="bogus").fit(X),
        V, "init_params")
    add("GaussianMixture.fit", "accelerate='bogus'", lambda: GM(2, accelerate="bogus").fit(X),
        V, "accelerate")
    add("GaussianMixture.fit", "weights_init sums to 0.9",
        lambda: GM(2, weights_init=[0.5, 0.4]).fit(X), V, "normalized")
    add("GaussianMixture.fit", "negative weights_init",
        lambda: GM(2, weights_init=[1.5, -0.5]).fit(X), V, "weights")
    add("GaussianMixture.fit", "means_init wrong shape",
        lambda: GM(2, means_init=[[0, 0, 0], [1, 1, 1]]).fit(X), V, "means")
    add("GaussianMixture.fit", "precisions_init not SPD",
        lambda: GM(2, precisions_init=[[[1, 2], [2, 1]]] * 2).fit(X), V, "positive-definite")
    add("GaussianMixture.fit", "negative reg_covar", lambda: GM(2, reg_covar=-1).fit(X), V,
        "reg_covar")
    add("GaussianMixture.fit", "sample_weight wrong length",
        lambda: GM(2).fit(X, sample_weight=np.ones(3)), V, "sample_weight")
    add("GaussianMixture.fit", "negative sample_weight",
        lambda: GM(2).fit(X, sample_weight=-np.ones(len(X))), V, "negative")
    for meth in ("predict", "predict_proba", "score", "score_samples"):
        add(f"GaussianMixture.{meth}", "wrong n_features",
            lambda meth=meth: getattr(fitted("gm"), meth)(X_3COLS), V, "features")
        add(f"GaussianMixture.{meth}", "inf", lambda meth=meth: getattr(fitted("gm"), meth)(X_INF),
            V, "infinity")
        add(f"GaussianMixture.{meth}", "string X",
            lambda meth=meth: getattr(fitted("gm"), meth)(X_STR), V, "convert")
        add(f"GaussianMixture.{meth}", "empty X",
            lambda meth=meth: getattr(fitted("gm"), meth)(X_EMPTY), V, "sample")
    add("GaussianMixture.predict", "not fitted", lambda: GM(2).predict(X), Exception, "fitted")

    # ---- MixtureModel --------------------------------------------------------------
    MM = emkit.MixtureModel
    add("MixtureModel.fit", "NaN", lambda: MM(Gaussian(), 2).fit(X_NAN), V, "NaN")
    add("MixtureModel.fit", "inf", lambda: MM(Gaussian(), 2).fit(X_INF), V, "infinite")
    add("MixtureModel.fit", "3-D X", lambda: MM(Gaussian(), 2).fit(X_3D), V, "2-D")
    add("MixtureModel.fit", "empty X", lambda: MM(Gaussian(), 2).fit(X_EMPTY), V, "empty")
    add("MixtureModel.fit", "string X", lambda: MM(Gaussian(), 2).fit(X_STR), V, "numeric")
    add("MixtureModel.fit", "negative counts", lambda: MM(Poisson(), 2).fit(COUNTS_NEG), V,
        "negative")
    add("MixtureModel.fit", "n_components=0", lambda: MM(Gaussian(), 0).fit(X), V,
        "n_components")
    add("MixtureModel.fit", "n_components > n_samples", lambda: MM(Gaussian(), 50).fit(X), V,
        "n_samples")
    add("MixtureModel.fit", "not a distribution", lambda: MM("gaussian", 2).fit(X), V,
        "distribution")
    add("MixtureModel.fit", "covariance_type='bogus'",
        lambda: MM(Gaussian(covariance_type="bogus"), 2).fit(X), V, "covariance_type")
    add("MixtureModel.fit", "init_params='bogus'",
        lambda: MM(Gaussian(), 2, init_params="bogus").fit(X), V, "init_params")
    add("MixtureModel.fit", "accelerate='bogus'",
        lambda: MM(Gaussian(), 2, accelerate="bogus").fit(X), V, "accelerate")
    add("MixtureModel.fit", "init_params='given' without parameters",
        lambda: MM([Gaussian(), Gaussian()], init_params="given").fit(X), V, "given")
    for meth in ("predict", "predict_proba", "score", "score_samples"):
        add(f"MixtureModel.{meth}", "wrong n_features",
            lambda meth=meth: getattr(fitted("mm"), meth)(X_3COLS), V, "feature")
        add(f"MixtureModel.{meth}", "NaN", lambda meth=meth: getattr(fitted("mm"), meth)(X_NAN),
            V, "NaN")
        add(f"MixtureModel.{meth}", "string X",
            lambda meth=meth: getattr(fitted("mm"), meth)(X_STR), V, "numeric")
    add("MixtureModel.score", "negative counts",
        lambda: fitted("mm_poisson").score(COUNTS_NEG), V, "negative")

    # ---- EMImputer -------------------------------------------------------------------
    IMP = emkit.EMImputer
    add("EMImputer.fit", "inf", lambda: IMP().fit(X_INF), V, "infinite")
    add("EMImputer.fit", "all-NaN row", lambda: IMP().fit(X_ALLNAN_ROW), V, "missing")
    add("EMImputer.fit", "all-NaN column", lambda: IMP().fit(np.c_[X, np.full(len(X), np.nan)]),
        V, "entirely missing")
    add("EMImputer.fit", "1-D X", lambda: IMP().fit(X_1D), V, "2D array")
    add("EMImputer.fit", "empty X", lambda: IMP().fit(X_EMPTY), V, "sample")
    add("EMImputer.fit", "string X", lambda: IMP().fit(X_STR), V, "numeric")
    add("EMImputer.fit", "n_components=0", lambda: IMP(0).fit(X_NAN), V, "n_components")
    add("EMImputer.fit", "covariance_type='bogus'",
        lambda: IMP(covariance_type="bogus").fit(X_NAN), V, "covariance_type")
    add("EMImputer.fit", "accelerate='bogus'", lambda: IMP(accelerate="bogus").fit(X_NAN), V,
        "accelerate")
    add("EMImputer.fit", "max_iter=0", lambda: IMP(max_iter=0).fit(X_NAN), V, "max_iter")
    add("EMImputer.transform", "wrong n_features",
        lambda: fitted("imputer").transform(X_3COLS), V, "features")
    add("EMImputer.transform", "inf", lambda: fitted("imputer").transform(X_INF), V, "infinite")
    add("EMImputer.transform", "string X", lambda: fitted("imputer").transform(X_STR), V,
        "numeric")

    # ---- HMMs ---------------------------------------------------------------------------
    GH, GMMH, CH, PH = emkit.GaussianHMM, emkit.GMMHMM, emkit.CategoricalHMM, emkit.PoissonHMM
    for name, cls, data, key in (("GaussianHMM", GH, X, "ghmm"), ("GMMHMM", GMMH, X, "gmmhmm"),
                                 ("CategoricalHMM", CH, SYMBOLS, "chmm"),
                                 ("PoissonHMM", PH, COUNTS, "phmm")):
        n = len(data)
        add(f"{name}.fit", "n_components=0", lambda cls=cls, d=data: cls(0).fit(d), V,
            "n_components")
        add(f"{name}.fit", "n_components=-2", lambda cls=cls, d=data: cls(-2).fit(d), V,
            "n_components")
        add(f"{name}.fit", "lengths do not sum to n",
            lambda cls=cls, d=data, n=n: cls(2).fit(d, lengths=[n - 5, 3]), V, "lengths")
        add(f"{name}.fit", "zero length", lambda cls=cls, d=data, n=n: cls(2).fit(
            d, lengths=[n, 0]), V, "positive")
        add(f"{name}.fit", "negative length", lambda cls=cls, d=data, n=n: cls(2).fit(
            d, lengths=[n + 5, -5]), V, "positive")
        add(f"{name}.fit", "fractional lengths", lambda cls=cls, d=data, n=n: cls(2).fit(
            d, lengths=[n / 2, n / 2 + 0.0] if n % 2 else [n / 2 + 0.5, n / 2 - 0.5]), V,
            "integers")
        symbols = name == "CategoricalHMM"
        add(f"{name}.fit", "empty X", lambda cls=cls: cls(2).fit(np.empty((0, 1))), V,
            "sample|empty|no rows")
        add(f"{name}.fit", "string X", lambda cls=cls: cls(2).fit(X_STR[:, :1]), V,
            "integers" if symbols else "convert")
        add(f"{name}.fit", "inf", lambda cls=cls, d=data: cls(2).fit(
            np.where(np.arange(len(d))[:, None] == 1, np.inf, d)), V,
            "integers" if symbols else "infinit")
        if name in ("GaussianHMM", "GMMHMM"):  # NaN is a missing entry; a column of it is not
            add(f"{name}.fit", "all-NaN column", lambda cls=cls, d=data: cls(2).fit(
                np.c_[d, np.full(len(d), np.nan)]), V, "no observed value")
        else:
            add(f"{name}.fit", "NaN", lambda cls=cls, d=data: cls(2).fit(
                np.where(np.arange(len(d))[:, None] == 1, np.nan, d)), V,
                "integers" if symbols else "NaN")
        add(f"{name}.fit", "algorithm='bogus'", lambda cls=cls, d=data: cls(
            2, algorithm="bogus").fit(d), V, "algorithm")
        add(f"{name}.fit", "params='xyz'", lambda cls=cls, d=data: cls(2, params="xyz").fit(d),
            V, "params")
        add(f"{name}.fit", "init_params='bogus'", lambda cls=cls, d=data: cls(
            2, init_params="bogus").fit(d), V, "init_params")
        add(f"{name}.fit", "accelerate='bogus'", lambda cls=cls, d=data: cls(
            2, accelerate="bogus").fit(d), V, "accelerate")
        add(f"{name}.fit", "n_init=0", lambda cls=cls, d=data: cls(2, n_init=0).fit(d), V,
            "n_init")
        for meth in ("score", "predict", "predict_proba", "decode", "score_samples"):
            add(f"{name}.{meth}", "lengths do not sum to n",
                lambda meth=meth, key=key, d=data, n=n: getattr(fitted(key), meth)(
                    d, lengths=[n, 1]), V, "lengths")
        add(f"{name}.decode", "algorithm='bogus'", lambda key=key, d=data: fitted(key).decode(
            d, algorithm="bogus"), V, "algorithm")
    add("GaussianHMM.score", "wrong n_features", lambda: fitted("ghmm").score(X_3COLS), V,
        "features")
    add("GMMHMM.score", "wrong n_features", lambda: fitted("gmmhmm").score(X_3COLS), V,
        "features")
    add("PoissonHMM.score", "wrong n_features", lambda: fitted("phmm").score(COUNTS[:, :1]), V,
        "features")
    add("GaussianHMM.fit", "3-D X", lambda: GH(2).fit(X_1D.reshape(1, 2, -1)), V, "dim")
    add("GaussianHMM.fit", "covariance_type='bogus'", lambda: GH(
        2, covariance_type="bogus").fit(X), V, "covariance_type")
    add("GMMHMM.fit", "covariance_type='bogus'", lambda: GMMH(
        2, covariance_type="bogus").fit(X), V, "covariance_type")
    add("GMMHMM.fit", "n_mix=0", lambda: GMMH(2, n_mix=0).fit(X), V, "n_mix")
    add("PoissonHMM.fit", "negative counts", lambda: PH(2).fit(COUNTS_NEG), V, "negative")
    add("PoissonHMM.fit", "non-integer counts", lambda: PH(2).fit(COUNTS + 0.5), V, "integer")
    add("CategoricalHMM.fit", "negative symbols", lambda: CH(2).fit(SYMBOLS_NEG), V,
        "non-negative")
    add("CategoricalHMM.fit", "two columns", lambda: CH(2).fit(np.c_[SYMBOLS, SYMBOLS]), V,
        "shape")
    add("CategoricalHMM.score", "symbol outside the alphabet",
        lambda: fitted("chmm").score(SYMBOLS + 5), V, "alphabet")
    add("GaussianHMM.fit", "startprob_ sums to 0.9", lambda: hmm_with(
        GH, **{**GOOD_HMM, "startprob_": [0.5, 0.4]}).fit(X), V, "startprob_")
    add("GaussianHMM.fit", "negative startprob_", lambda: hmm_with(
        GH, **{**GOOD_HMM, "startprob_": [1.5, -0.5]}).fit(X), V, "startprob_")
    add("GaussianHMM.fit", "transmat_ row sums to 1.2", lambda: hmm_with(
        GH, **{**GOOD_HMM, "transmat_": [[0.9, 0.3], [0.1, 0.9]]}).fit(X), V, "transmat_")
    add("GaussianHMM.fit", "transmat_ wrong shape", lambda: hmm_with(
        GH, **{**GOOD_HMM, "transmat_": [[1.0]]}).fit(X), V, "transmat_")
    add("GaussianHMM.fit", "startprob_ of the wrong length", lambda: hmm_with(
        GH, **{**GOOD_HMM, "startprob_": [0.2, 0.3, 0.5]}).fit(X), V, "startprob_")
    add("GaussianHMM.fit", "covars_ not positive", lambda: hmm_with(
        GH, **{**GOOD_HMM, "covars_": [[1, -1], [1, 1]]}).fit(X), V, "covar")
    add("CategoricalHMM.fit", "emissionprob_ rows sum to 0.5", lambda: hmm_with(
        CH, startprob_=[0.5, 0.5], transmat_=[[0.5, 0.5]] * 2,
        emissionprob_=[[0.2, 0.2, 0.1]] * 2).fit(SYMBOLS), V, "emissionprob")
    add("GMMHMM.fit", "weights_ rows sum to 2", lambda: hmm_with(
        GMMH, startprob_=[0.5, 0.5], transmat_=[[0.5, 0.5]] * 2, weights_=[[1.0], [2.0]],
        means_=[[[0, 0]], [[5, 5]]], covars_=[[[1, 1]], [[1, 1]]]).fit(X), V, "weights")
    add("PoissonHMM.fit", "negative lambdas_", lambda: hmm_with(
        PH, startprob_=[0.5, 0.5], transmat_=[[0.5, 0.5]] * 2,
        lambdas_=[[-1, 2], [3, 4]]).fit(COUNTS), V, "lambda")
    add("GaussianHMM.score", "not fitted", lambda: GH(2).score(X), Exception, "fit")

    # ---- DawidSkene --------------------------------------------------------------------
    DS = emkit.DawidSkene
    add("DawidSkene.fit", "negative label", lambda: DS().fit(np.array([[0, -1], [1, 1.0]])), V,
        "labels")
    add("DawidSkene.fit", "fractional label", lambda: DS().fit(np.array([[0, 0.5], [1, 1.0]])),
        V, "labels")
    add("DawidSkene.fit", "label >= n_classes", lambda: DS(n_classes=2).fit(RATINGS), V,
        "n_classes")
    add("DawidSkene.fit", "n_classes=1", lambda: DS(n_classes=1).fit(RATINGS), V, "n_classes")
    add("DawidSkene.fit", "n_classes=0", lambda: DS(n_classes=0).fit(RATINGS), V, "n_classes")
    add("DawidSkene.fit", "inf", lambda: DS().fit(np.array([[0, np.inf], [1, 1.0]])), V,
        "infinite")
    add("DawidSkene.fit", "1-D ratings", lambda: DS().fit(np.array([0, 1, 1.0])), V, "2-D")
    add("DawidSkene.fit", "empty ratings", lambda: DS().fit(np.empty((0, 3))), V, "2-D")
    add("DawidSkene.fit", "no rating at all", lambda: DS().fit(np.full((3, 2), np.nan)), V,
        "no rating")
    add("DawidSkene.fit", "text labels", lambda: DS().fit(np.array([["yes", "no"]] * 3)), V,
        "numeric")
    add("DawidSkene.fit", "text labels in a table", lambda: DS().fit(pd.DataFrame(
        {"item": [0, 0, 1], "rater": ["a", "b", "a"], "label": ["yes", "no", "no"]})), V,
        "label")
    add("DawidSkene.fit", "init='bogus'", lambda: DS(init="bogus").fit(RATINGS), V, "init")
    add("DawidSkene.fit", "init posteriors not summing to 1",
        lambda: DS(init=np.full((5, 3), 0.5)).fit(RATINGS), V, "summing to one")
    add("DawidSkene.fit", "max_iter=0", lambda: DS(max_iter=0).fit(RATINGS), V, "max_iter")
    add("DawidSkene.predict", "wrong number of raters",
        lambda: fitted("ds").predict(RATINGS[:, :2]), V, "raters")
    add("DawidSkene.predict_proba", "label >= n_classes",
        lambda: fitted("ds").predict_proba(RATINGS + 3), V, "n_classes")
    add("DawidSkene.predict", "unknown rater in a table", lambda: fitted("ds").predict(
        pd.DataFrame({"item": [0], "rater": ["zz"], "label": [0]})), V, "rater")

    # ---- select_model / MclustMixture ----------------------------------------------------
    SM = emkit.select_model
    add("select_model", "n_components=[0]", lambda: SM(X, n_components=[0]), V, "n_components")
    add("select_model", "n_components=[]", lambda: SM(X, n_components=[]), V, "n_components")
    add("select_model", "covariance_models=['XYZ']",
        lambda: SM(X, n_components=[1], covariance_models=["XYZ"]), V, "XYZ")
    add("select_model", "criterion='bogus'", lambda: SM(X, n_components=[1], criterion="bogus"),
        V, "criterion")
    add("select_model", "init_params='bogus'",
        lambda: SM(X, n_components=[1], init_params="bogus"), V, "init_params")
    add("select_model", "NaN", lambda: SM(X_NAN, n_components=[1]), V, "NaN")
    add("select_model", "string X", lambda: SM(X_STR, n_components=[1]), V,
        "numeric|convert")
    add("select_model", "empty X", lambda: SM(X_EMPTY, n_components=[1]), V, "empty")
    add("MclustMixture.fit", "model='XYZ'", lambda: MclustMixture("XYZ", 2).fit(X), V, "XYZ")
    add("MclustMixture.fit", "n_components=0", lambda: MclustMixture("VVV", 0).fit(X), V,
        "n_components")
    add("MclustMixture.fit", "inf", lambda: MclustMixture("VVV", 2).fit(X_INF), V, "infinite")
    add("MclustMixture.fit", "1-D X", lambda: MclustMixture("VVV", 2).fit(X_3D), V, "2-D")
    add("MclustMixture.fit", "empty X", lambda: MclustMixture("VVV", 1).fit(X_EMPTY), V,
        "empty")
    add("MclustMixture.fit", "negative reg_covar",
        lambda: MclustMixture("VVV", 2, reg_covar=-1.0).fit(X), V, "reg_covar")
    add("MclustMixture.predict", "wrong n_features",
        lambda: fitted("mclust").predict(X_3COLS), V, "feature")

    # ---- user-given starting parameters and settings found unchecked ----------------
    add("MixtureModel.fit", "given Poisson rate < 0", lambda: MM(
        [Poisson(rate=[-1.0]), Poisson(rate=[2.0])], init_params="given").fit(COUNTS[:, :1]), V,
        "rate")
    add("MixtureModel.fit", "given Categorical probs not summing to 1", lambda: MM(
        [Categorical(probs=[[0.2] * 3]), Categorical(probs=[[1 / 3] * 3])],
        init_params="given").fit(SYMBOLS.astype(float)), V, "probs|sum")
    add("GaussianHMM.fit", "means_ wrong shape", lambda: hmm_with(
        GH, **{**GOOD_HMM, "means_": np.zeros((3, 2))}).fit(X), V, "means_")
    add("GaussianHMM.fit", "negative min_covar", lambda: GH(2, min_covar=-1.0).fit(X), V,
        "min_covar")
    add("GaussianHMM.fit", "n_iter=-1", lambda: GH(2, n_iter=-1).fit(X), V, "n_iter")
    add("GaussianHMM.fit", "negative tol", lambda: GH(2, tol=-1.0).fit(X), V, "tol")
    add("DawidSkene.fit", "table without a rater column", lambda: DS().fit(
        pd.DataFrame({"item": [0, 1, 2], "label": [1, 0, 1]})), V, "rater")
    add("GaussianMixture.sample", "n_samples=0", lambda: fitted("gm").sample(0), V, "n_samples")
    add("EMImputer.transform", "all-NaN row",
        lambda: fitted("imputer").transform(np.array([[np.nan, np.nan]])), V, "missing")
    add("select_model", "n_components > n_samples", lambda: SM(X[:3], n_components=[5]), V,
        "exceeds")
    add("emkit.load", "no such file", lambda: emkit.load("/nonexistent/model.emkit"),
        emkit.ModelFileError, "no model file")

    # ---- sampling, complex and ragged input ---------------------------------------------
    for key, name in (("ghmm", "GaussianHMM"), ("chmm", "CategoricalHMM"), ("phmm", "PoissonHMM")):
        add(f"{name}.sample", "n_samples=0", lambda key=key: fitted(key).sample(0), V,
            "n_samples")
        add(f"{name}.sample", "n_samples=-3", lambda key=key: fitted(key).sample(-3), V,
            "n_samples")
    add("MixtureModel.sample", "n_samples=0", lambda: fitted("mm").sample(0), V, "n_samples")
    add("GaussianMixture.sample", "n_samples=-1", lambda: fitted("gm").sample(-1), V,
        "n_samples")
    complex_X = X + 1j
    add("GaussianMixture.fit", "complex X", lambda: GM(2).fit(complex_X), V, "complex")
    add("MixtureModel.fit", "complex X", lambda: MM(Gaussian(), 2).fit(complex_X), V, "complex")
    add("EMImputer.fit", "complex X", lambda: IMP().fit(complex_X), V, "complex")
    add("GaussianHMM.fit", "complex X", lambda: GH(2).fit(complex_X), V, "complex")
    ragged = [[1.0, 2.0], [3.0]]
    for name, call in (("GaussianMixture.fit", lambda: GM(1).fit(ragged)),
                       ("MixtureModel.fit", lambda: MM(Gaussian(), 1).fit(ragged)),
                       ("EMImputer.fit", lambda: IMP().fit(ragged)),
                       ("GaussianHMM.fit", lambda: GH(1).fit(ragged)),
                       ("DawidSkene.fit", lambda: DS().fit(ragged)),
                       ("select_model", lambda: SM(ragged, n_components=[1]))):
        add(name, "ragged rows", call, V, "inhomogeneous|ragged|numeric|shape")
    add("em", "model without e_step", lambda: emkit.em(object(), x1, init),
        (ValueError, TypeError, AttributeError), "e_step")

    # ---- mclust settings -----------------------------------------------------------------
    MC = MclustMixture
    for bad, kwargs, word in (("tol=-1", {"tol": -1.0}, "tol"),
                              ("max_iter=0", {"max_iter": 0}, "max_iter"),
                              ("init_params='bogus'", {"init_params": "bogus"}, "init_params"),
                              ("hc_model='XYZ'", {"hc_model": "XYZ"}, "hc_model"),
                              ("hc_sample_size=1", {"hc_sample_size": 1}, "hc_sample_size"),
                              ("n_components > n_samples", {"n_components": 50}, "exceeds")):
        add("MclustMixture.fit", bad, lambda kwargs=kwargs: MC(**{"n_components": 2, **kwargs}
                                                               ).fit(X), V, word)
    add("select_model", "n_components='three'", lambda: SM(X, n_components="three"), V,
        "n_components")
    add("select_model", "covariance_models=''", lambda: SM(X, n_components=[1],
                                                           covariance_models=""), V, "empty")
    add("select_model", "hc_model='XYZ'", lambda: SM(X, n_components=[1], hc_model="XYZ"), V,
        "hc_model")
    add("MclustMixture.predict", "not fitted", lambda: MC("VVV", 2).predict(X), V, "not fitted")

    # ---- distributions' own checks, through MixtureModel ----------------------------------
    mixed = np.c_[X[:, :1], (X[:, 1] > 2).astype(float)]
    add("MixtureModel.fit", "Independent of no distributions",
        lambda: MM(Independent([]), 2).fit(mixed), V, "non-empty list")
    add("MixtureModel.fit", "Independent with a repeated column",
        lambda: MM(Independent([Gaussian(), Gaussian()], columns=[[0], [0]]), 2).fit(mixed),
        V, "not repeated")
    add("MixtureModel.fit", "Independent on text",
        lambda: MM(Independent([Gaussian(), Gaussian()]), 2).fit(X_STR), V, "numeric")
    add("MixtureModel.fit", "Exponential prior (0.5, 1)",
        lambda: MM(Exponential(prior=(0.5, 1.0)), 2).fit(COUNTS[:, :1] + 1), V, "prior")
    add("MixtureModel.fit", "Exponential on all-zero data",
        lambda: MM(Exponential(), 1).fit(np.zeros((5, 1))), V, "zero")
    return c


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_a_clear_error(case):
    with pytest.raises(case.error) as info:
        quietly(case.call)
    message = str(info.value)
    assert message.strip(), f"{case.id}: empty message"
    assert re.search(case.match, message, flags=re.IGNORECASE), (case.id, message)


# --------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    paths = {
        "good": d / "good.csv", "strings": d / "strings.csv", "empty": d / "empty.csv",
        "header": d / "header.csv", "inf": d / "inf.csv", "nan": d / "nan.csv",
        "counts_neg": d / "neg.csv", "garbage": d / "garbage.parquet", "bin": d / "bin.csv",
    }
    pd.DataFrame(X, columns=["a", "b"]).to_csv(paths["good"], index=False)
    pd.DataFrame({"a": ["x", "y", "z"], "b": ["u", "v", "w"]}).to_csv(paths["strings"],
                                                                       index=False)
    paths["empty"].write_text("")
    paths["header"].write_text("a,b\n")
    pd.DataFrame(X_INF, columns=["a", "b"]).to_csv(paths["inf"], index=False)
    pd.DataFrame(np.full((5, 2), np.nan), columns=["a", "b"]).to_csv(paths["nan"], index=False)
    paths["garbage"].write_bytes(b"PAR1 this is not parquet")
    paths["bin"].write_bytes(bytes(range(256)) * 4)
    return {k: str(v) for k, v in paths.items()}


CLI_CASES = [
    ("fit: missing file", ["fit", "{d}/nope.csv"], "nope.csv"),
    ("fit: string columns", ["fit", "{strings}", "-k", "2"], "not numeric"),
    ("fit: empty file", ["fit", "{empty}", "-k", "2"], "empty"),
    ("fit: header only", ["fit", "{header}", "-k", "2"], "no data"),
    ("fit: inf", ["fit", "{inf}", "-k", "2"], "infinite"),
    ("fit: all-NaN rows", ["fit", "{nan}", "-k", "2"], "NaN"),
    ("fit: not parquet", ["fit", "{garbage}", "-k", "2"], "cannot read"),
    ("fit: binary junk", ["fit", "{bin}", "-k", "2"], "not a valid table"),
    ("fit: k=0", ["fit", "{good}", "-k", "0"], "-k"),
    ("fit: k > n", ["fit", "{good}", "-k", "500"], "n_components"),
    ("fit: covariance bogus", ["fit", "{good}", "--covariance", "bogus"], "bogus"),
    ("fit: accelerate bogus", ["fit", "{good}", "--accelerate", "bogus"], "bogus"),
    ("fit: unknown option", ["fit", "{good}", "--frobnicate"], "frobnicate"),
    ("fit: negative tol", ["fit", "{good}", "--tol", "-1"], "tol"),
    ("predict: missing model", ["predict", "{d}/nope.emkit", "{good}"], "nope"),
    ("predict: model is junk", ["predict", "{bin}", "{good}"], "not an emkit model"),
    ("impute: missing file", ["impute", "{d}/nope.csv"], "nope.csv"),
    ("impute: string columns", ["impute", "{strings}"], "numeric"),
    ("impute: all-NaN rows", ["impute", "{nan}"], "missing"),
    ("impute: inf", ["impute", "{inf}"], "inf"),
    ("impute: n-components 0", ["impute", "{good}", "--n-components", "0"], "n-components"),
    ("select: bad k list", ["select", "{good}", "-k", "zero"], "zero"),
    ("select: k=0", ["select", "{good}", "-k", "0"], ">= 1"),
    ("select: model bogus", ["select", "{good}", "--models", "XYZ", "-k", "1"], "XYZ"),
    ("select: criterion bogus", ["select", "{good}", "--criterion", "bogus"], "bogus"),
    ("hmm fit: states 0", ["hmm", "fit", "{good}", "--states", "0"], "states"),
    ("hmm fit: covariance bogus", ["hmm", "fit", "{good}", "--covariance-type", "bogus"],
     "bogus"),
    ("hmm fit: string columns", ["hmm", "fit", "{strings}"], "numeric"),
    ("hmm fit: missing file", ["hmm", "fit", "{d}/nope.csv"], "nope.csv"),
    ("hmm decode: missing model", ["hmm", "decode", "{d}/nope.emkit", "{good}"], "nope"),
    ("unknown command", ["frobnicate"], "frobnicate"),
]


@pytest.mark.parametrize("args, fragment", [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line_on_stderr(capsys, files, tmp_path, args, fragment):
    argv = [a.format(d=tmp_path, **files) for a in args]
    code = quietly(main, argv)
    out, err = capsys.readouterr()
    assert code not in (0, None), (argv, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("emkit: error:"), lines[0]
    assert re.search(fragment, lines[0], flags=re.IGNORECASE), lines[0]
