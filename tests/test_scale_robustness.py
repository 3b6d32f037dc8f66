"""Scale robustness: data far from unit scale, duplicated, degenerate or barely enough.

For GaussianMixture (every covariance type, with and without missing values),
MixtureModel(Gaussian), EMImputer and GaussianHMM:

* data multiplied by 1e150 or 1e-150, or shifted by 1e8, fitted from the
  correspondingly transformed start (with scale-free regularization), give the
  fit on the unit-scale data transformed back;
* with default settings the same data fit, and give the peer's answer (scikit-learn's
  or hmmlearn's fit of the standardized data, with the regularization transformed
  along) or the unit-scale fit transformed back; no warning other than
  ConvergenceWarning reaches the user (pytest turns every other warning into an error);
* values whose squares overflow, and data spanning more orders of magnitude than
  float64 resolves, raise a ValueError saying so;
* duplicated rows, a constant column and N barely above the number of free
  parameters are handled as stated per case.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hmmlearn.hmm import GaussianHMM as HmmlearnGaussianHMM
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import emkit
from emkit.distributions import Gaussian

COV_TYPES = ("full", "tied", "diag", "spherical")
TRANSFORMS = {  # name -> (scale, shift)
    "times 1e150": (1e150, 0.0),
    "times 1e-150": (1e-150, 0.0),
    "plus 1e8": (1.0, 1e8),
}
RTOL = 1e-6


def base_data(missing: bool = False) -> np.ndarray:
    rng = np.random.default_rng(12)
    X = np.r_[rng.normal(0.0, 1.0, (40, 2)), rng.normal(6.0, 1.0, (40, 2)) * [1.0, 0.5]]
    X[:, 1] += 0.3 * X[:, 0]
    if missing:
        X[::7, 0] = np.nan
        X[2::7, 1] = np.nan
    return X


def quietly(fn, *args, **kwargs):
    """ConvergenceWarning is a legitimate message; every other warning stays an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return fn(*args, **kwargs)


def close(got, want, scale: float, power: int = 1, atol: float = 1e-6) -> None:
    """``got`` (fitted on transformed data, mapped back) equals ``want``."""
    np.testing.assert_allclose(np.asarray(got) / scale**power, want, rtol=RTOL, atol=atol)


def all_finite(*arrays) -> None:
    for a in arrays:
        assert np.all(np.isfinite(np.asarray(a, dtype=float)))


# ------------------------------------------------------------------ GaussianMixture
def _precisions(cov_type: str, s: float) -> np.ndarray:
    p = {"full": np.stack([np.eye(2), np.eye(2)]), "tied": np.eye(2),
         "diag": np.ones((2, 2)), "spherical": np.ones(2)}[cov_type]
    return p / s**2


def _gm(X, cov_type, s, shift, **kw):
    gm = emkit.GaussianMixture(2, covariance_type=cov_type, reg_covar=0.0, tol=1e-12,
                               max_iter=300, weights_init=[0.5, 0.5],
                               means_init=np.array([[0.0, 0.0], [6.0, 3.0]]) * s + shift,
                               precisions_init=_precisions(cov_type, s), **kw)
    return quietly(gm.fit, X)


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gaussian_mixture_is_equivariant_under_scale_and_shift(cov_type, transform, missing):
    s, shift = TRANSFORMS[transform]
    X = base_data(missing)
    base = _gm(X, cov_type, 1.0, 0.0)
    moved = _gm(X * s + shift, cov_type, s, shift)
    all_finite(moved.weights_, moved.means_, moved.covariances_, moved.precisions_cholesky_)
    np.testing.assert_allclose(moved.weights_, base.weights_, rtol=RTOL, atol=1e-9)
    close(moved.means_ - shift, base.means_, s)
    close(moved.covariances_, base.covariances_, s, power=2)
    np.testing.assert_array_equal(moved.predict(X * s + shift), base.predict(X))


def sklearn_reference(X, cov_type, s, shift, n_iter, reg_covar=1e-6):
    """scikit-learn's fit of ``(X - shift) / s`` with ``reg_covar / s**2``, mapped back.

    That is the same problem as fitting ``X`` with ``reg_covar``; k-means (the
    start) is scale- and shift-equivariant. scikit-learn runs ``n_iter`` M-steps,
    as many as emkit (which stops one M-step earlier at convergence, documented).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        ref = SklearnGaussianMixture(2, covariance_type=cov_type, random_state=0,
                                     reg_covar=reg_covar / s**2,
                                     max_iter=n_iter).fit((X - shift) / s)
    return ref.weights_, ref.means_ * s + shift, ref.covariances_ * s**2, ref.predict(
        (X - shift) / s)


# Measured agreement with scikit-learn: 2e-15 relative at 1e+-150 and 2e-9 with the 1e8
# shift, where the data themselves carry only ~1e-8 absolute (7e-17 relative) precision.
PEER_RTOL = 1e-7


def assert_close_to(got, want, shift=0.0, rtol=PEER_RTOL):
    """Equal relative to the largest entry of ``want - shift`` (zeros are then exact)."""
    got, want = np.asarray(got, dtype=float) - shift, np.asarray(want, dtype=float) - shift
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gaussian_mixture_defaults_fit_extreme_scales_as_scikit_learn(cov_type, transform):
    # squares of 1e150 (1e300) are still finite and 1e-150 is far from the subnormals:
    # every case is a well-posed problem, so it must fit (no ValueError)
    s, shift = TRANSFORMS[transform]
    X = base_data() * s + shift
    gm = quietly(emkit.GaussianMixture(2, covariance_type=cov_type, random_state=0).fit, X)
    all_finite(gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_,
               gm.score_samples(X))
    weights, means, covariances, labels = sklearn_reference(X, cov_type, s, shift, gm.n_iter_)
    assert_close_to(gm.weights_, weights)
    assert_close_to(gm.means_, means, shift)
    assert_close_to(gm.covariances_, covariances)
    np.testing.assert_array_equal(gm.predict(X), labels)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gaussian_mixture_duplicated_rows_give_the_same_fit(cov_type):
    X = base_data()
    base = _gm(X, cov_type, 1.0, 0.0)
    tripled = _gm(np.repeat(X, 3, axis=0), cov_type, 1.0, 0.0)
    np.testing.assert_allclose(tripled.means_, base.means_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(tripled.covariances_, base.covariances_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(tripled.weights_, base.weights_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gaussian_mixture_constant_column(cov_type):
    X = base_data()
    Xc = np.c_[X, np.full(len(X), 7.25)]
    with pytest.raises(ValueError, match="constant"):
        emkit.GaussianMixture(2, covariance_type=cov_type, reg_covar=0.0).fit(Xc)
    if cov_type in ("spherical", "tied"):
        # the shared variance mixes the constant column in: the fit is scikit-learn's
        gm = quietly(emkit.GaussianMixture(2, covariance_type=cov_type, random_state=0).fit, Xc)
        all_finite(gm.means_, gm.covariances_, gm.score_samples(Xc))
        weights, means, covariances, _ = sklearn_reference(Xc, cov_type, 1.0, 0.0, gm.n_iter_)
        assert_close_to(gm.weights_, weights)
        assert_close_to(gm.means_, means)
        assert_close_to(gm.covariances_, covariances)
        return
    kw = dict(covariance_type=cov_type, weights_init=[0.5, 0.5], tol=1e-12, max_iter=300)
    base = quietly(emkit.GaussianMixture(2, means_init=[[0, 0], [6, 3]], **kw).fit, X)
    gm = quietly(emkit.GaussianMixture(2, means_init=[[0, 0, 7.25], [6, 3, 7.25]], **kw).fit, Xc)
    # the constant column adds the same density to every component: nothing else moves
    np.testing.assert_allclose(gm.means_[:, 2], 7.25, rtol=1e-12)
    np.testing.assert_allclose(gm.means_[:, :2], base.means_, rtol=1e-5, atol=1e-6)
    var = gm.covariances_[:, 2, 2] if cov_type == "full" else gm.covariances_[:, 2]
    np.testing.assert_allclose(var, gm.reg_covar, rtol=1e-6)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gaussian_mixture_with_barely_enough_rows(cov_type):
    rng = np.random.default_rng(3)
    probe = emkit.GaussianMixture(2, covariance_type=cov_type)
    probe.means_ = np.zeros((2, 2))
    n = probe._n_parameters() + 1
    X = np.r_[rng.normal(0, 1, (n // 2, 2)), rng.normal(5, 1, (n - n // 2, 2))]
    gm = quietly(emkit.GaussianMixture(2, covariance_type=cov_type, random_state=0).fit, X)
    all_finite(gm.weights_, gm.means_, gm.covariances_, gm.score_samples(X))
    weights, means, covariances, _ = sklearn_reference(X, cov_type, 1.0, 0.0, gm.n_iter_)
    assert_close_to(gm.weights_, weights)
    assert_close_to(gm.means_, means)
    assert_close_to(gm.covariances_, covariances)
    lowest = (np.linalg.eigvalsh(np.atleast_2d(gm.covariances_)).min()
              if cov_type in ("full", "tied") else gm.covariances_.min())
    assert lowest >= gm.reg_covar
    with pytest.raises(ValueError, match="n_components"):
        emkit.GaussianMixture(3, covariance_type=cov_type).fit(X[:2])


# --------------------------------------------------------------------- MixtureModel
def _mm(X, cov_type, s, shift):
    cov = {"full": np.eye(2), "tied": np.eye(2), "diag": np.ones(2), "spherical": 1.0}[cov_type]
    comps = [Gaussian(mean=np.array(m) * s + shift, covariance=np.asarray(cov) * s**2,
                      covariance_type=cov_type, reg_covar=0.0)
             for m in ([0.0, 0.0], [6.0, 3.0])]
    mm = emkit.MixtureModel(comps, init_params="given", tol=1e-12, max_iter=300)
    return quietly(mm.fit, X)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_mixture_model_gaussian_is_equivariant_under_scale_and_shift(cov_type, transform):
    s, shift = TRANSFORMS[transform]
    X = base_data()
    base = _mm(X, cov_type, 1.0, 0.0)
    moved = _mm(X * s + shift, cov_type, s, shift)
    np.testing.assert_allclose(moved.weights_, base.weights_, rtol=RTOL, atol=1e-9)
    for got, want in zip(moved.components_, base.components_, strict=True):
        all_finite(got.mean, got.covariance)
        close(got.mean - shift, want.mean, s)
        close(got.covariance, want.covariance, s, power=2)


def transformed(transform: str, constant: float, missing: bool = False):
    """The case's data and the (scale, shift) that maps the unit-scale data onto it."""
    X = base_data(missing)
    if transform == "duplicated":
        return np.repeat(X, 3, axis=0), 1.0, 0.0
    if transform == "constant column":
        return np.c_[X, np.full(len(X), constant)], 1.0, 0.0
    s, shift = TRANSFORMS[transform]
    return X * s + shift, s, shift


@pytest.mark.parametrize("transform", [*TRANSFORMS, "duplicated", "constant column"])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_mixture_model_gaussian_defaults_fit_as_scikit_learn(cov_type, transform):
    # every case is well posed (a constant column gets variance reg_covar): it must fit,
    # with scikit-learn's answer (the same start: k-means with the same seed)
    X, s, shift = transformed(transform, -2.0)
    mm = quietly(emkit.MixtureModel(Gaussian(covariance_type=cov_type), 2,
                                    random_state=0).fit, X)
    all_finite(mm.weights_, mm.score_samples(X))
    weights, means, covariances, labels = sklearn_reference(X, cov_type, s, shift, mm.n_iter_)
    assert_close_to(mm.weights_, weights)
    assert_close_to([c.mean for c in mm.components_], means, shift)
    got = np.array([c.covariance for c in mm.components_])
    assert_close_to(got[0] if cov_type == "tied" else got, covariances)
    if cov_type == "tied":
        np.testing.assert_array_equal(got[1], got[0])
    np.testing.assert_array_equal(mm.predict(X), labels)


# ------------------------------------------------------------------------ EMImputer
@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_imputer_is_equivariant_under_scale_and_shift(cov_type, transform):
    s, shift = TRANSFORMS[transform]
    X = base_data(missing=True)
    kw = dict(covariance_type=cov_type, reg_covar=0.0, tol=1e-13, max_iter=2000)
    base = quietly(emkit.EMImputer(**kw).fit, X)
    moved = quietly(emkit.EMImputer(**kw).fit, X * s + shift)
    all_finite(moved.mean_, moved.covariance_, moved.standard_errors_)
    close(moved.mean_ - shift, base.mean_, s)
    close(moved.covariance_, base.covariance_, s, power=2)
    close(moved.standard_errors_, base.standard_errors_, s)
    close(moved.transform(X * s + shift) - shift, base.transform(X), s)


@pytest.mark.parametrize("transform", [*TRANSFORMS, "duplicated", "constant column"])
@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_imputer_defaults_fit_as_on_unit_scale_data(cov_type, transform):
    # well-posed in every case: it must fit. The maximum-likelihood estimate is
    # equivariant (mean s*m + shift, covariance s^2*C) and unchanged by tripling every
    # row; a constant column is its own mean with no covariance with the others.
    X, s, shift = transformed(transform, 4.0, missing=True)
    if transform == "constant column":
        # no maximum-likelihood covariance exists (it is singular): the fit says so
        from emkit.exceptions import RegularizationWarning

        with pytest.warns(RegularizationWarning, match="constant"):
            imp = quietly(emkit.EMImputer(covariance_type=cov_type).fit, X)
    else:
        imp = quietly(emkit.EMImputer(covariance_type=cov_type).fit, X)
    all_finite(imp.mean_, imp.covariance_, imp.standard_errors_, imp.transform(X))
    base = quietly(emkit.EMImputer(covariance_type=cov_type).fit, base_data(missing=True))
    if transform == "constant column":
        # the warned-of regularization (1e-6 of each column's variance) applies to
        # every column: compare with the unit-scale fit under that regularization
        base = quietly(emkit.EMImputer(covariance_type=cov_type, reg_covar=1e-6).fit,
                       base_data(missing=True))
        np.testing.assert_allclose(imp.mean_[2], 4.0, rtol=1e-12)
        np.testing.assert_array_equal(imp.covariance_[2, :2], 0.0)
        mean, cov = imp.mean_[:2], imp.covariance_[:2, :2]
    else:
        mean, cov = imp.mean_, imp.covariance_
    close(mean - shift, base.mean_, s)
    close(cov, base.covariance_, s, power=2)


def test_imputer_constant_column_and_duplicates():
    X = base_data(missing=True)
    base = quietly(emkit.EMImputer(tol=1e-13).fit, X)
    tripled = quietly(emkit.EMImputer(tol=1e-13).fit, np.repeat(X, 3, axis=0))
    np.testing.assert_allclose(tripled.mean_, base.mean_, rtol=1e-7)
    np.testing.assert_allclose(tripled.covariance_, base.covariance_, rtol=1e-6)
    np.testing.assert_allclose(tripled.standard_errors_, base.standard_errors_ / np.sqrt(3),
                               rtol=1e-5)
    Xc = np.c_[X, np.full(len(X), 4.0)]
    with pytest.raises(ValueError, match="constant"):
        emkit.EMImputer(reg_covar=0.0).fit(Xc)
    with pytest.warns(emkit.exceptions.RegularizationWarning, match="constant"):
        imp = quietly(emkit.EMImputer(tol=1e-13).fit, Xc)
    np.testing.assert_allclose(imp.mean_[2], 4.0, rtol=1e-12)
    np.testing.assert_allclose(imp.mean_[:2], base.mean_, rtol=1e-6)


def test_imputer_with_barely_enough_rows():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(4, 3))
    X[0, 1] = np.nan
    with pytest.raises(ValueError, match="reg_covar"):
        emkit.EMImputer(reg_covar=0.0).fit(X[:3])
    with pytest.warns(emkit.exceptions.RegularizationWarning, match="singular covariance"):
        imp = quietly(emkit.EMImputer().fit, X)
    all_finite(imp.mean_, imp.covariance_, imp.transform(X))
    assert np.linalg.eigvalsh(imp.covariance_).min() > 0


# ---------------------------------------------------------------------- GaussianHMM
def _hmm(X, cov_type, s, shift, lengths=None):
    hmm = emkit.GaussianHMM(2, covariance_type=cov_type, init_params="", n_iter=200,
                            tol=1e-9, min_covar=1e-3 * s**2, covars_prior=1e-2 * s**2)
    hmm.startprob_ = np.array([0.6, 0.4])
    hmm.transmat_ = np.array([[0.9, 0.1], [0.2, 0.8]])
    hmm.means_ = np.array([[0.0, 0.0], [6.0, 3.0]]) * s + shift
    hmm.covars_ = {"full": np.stack([np.eye(2)] * 2), "tied": np.eye(2),
                   "diag": np.ones((2, 2)), "spherical": np.ones(2)}[cov_type] * s**2
    return quietly(hmm.fit, X, lengths)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gaussian_hmm_is_equivariant_under_scale_and_shift(cov_type, transform):
    s, shift = TRANSFORMS[transform]
    X = base_data()
    base = _hmm(X, cov_type, 1.0, 0.0)
    moved = _hmm(X * s + shift, cov_type, s, shift)
    all_finite(moved.startprob_, moved.transmat_, moved.means_, moved.covars_)
    np.testing.assert_allclose(moved.transmat_, base.transmat_, rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(moved.startprob_, base.startprob_, rtol=RTOL, atol=1e-9)
    close(moved.means_ - shift, base.means_, s)
    close(moved.covars_, base.covars_, s, power=2)
    np.testing.assert_array_equal(moved.predict(X * s + shift), base.predict(X))


def hmmlearn_reference(X, cov_type, s, shift, n_iter):
    """hmmlearn's fit of ``(X - shift) / s``, its floor and prior scaled by ``1 / s**2``."""
    ref = HmmlearnGaussianHMM(2, covariance_type=cov_type, random_state=0, n_iter=n_iter,
                              min_covar=1e-3 / s**2, covars_prior=1e-2 / s**2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref.fit((X - shift) / s)
    # hmmlearn 0.3's spherical covars_ repeats the matrices n_features times: use _covars_
    variances = np.asarray(ref._covars_).reshape(2, -1)[:, 0] if cov_type == "spherical" \
        else ref.covars_
    return ref, variances * s**2


@pytest.mark.parametrize("transform", [*TRANSFORMS, "duplicated", "constant column"])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gaussian_hmm_defaults_fit(cov_type, transform):
    # well-posed in every case: it must fit
    X, s, shift = transformed(transform, 1.5)
    hmm = quietly(emkit.GaussianHMM(2, covariance_type=cov_type, random_state=0,
                                    n_iter=30).fit, X)
    all_finite(hmm.startprob_, hmm.transmat_, hmm.means_, hmm.covars_, hmm.score(X))
    covars = hmm.covars_[:, 0, 0] if cov_type == "spherical" else hmm.covars_
    if transform == "times 1e-150":
        # every variance (1e-300) is far below the default floor min_covar = 1e-3
        # (absolute, as in hmmlearn): each state's covariance is the floor
        np.testing.assert_allclose(hmm.covars_, np.stack([np.eye(2)] * 2) * hmm.min_covar,
                                   rtol=1e-12, atol=1e-15)
        assert np.all(np.abs(hmm.means_) < 1e-148)
        return
    if transform == "constant column":
        # the constant column is its own mean; its variance is floored at min_covar
        # (emkit keeps min_covar as a floor while fitting, hmmlearn only at the start)
        np.testing.assert_allclose(hmm.means_[:, 2], 1.5, rtol=1e-12)
        assert np.all(hmm.covars_[:, 2, 2] >= hmm.min_covar * (1 - 1e-12))
        if cov_type != "spherical":
            return
    # hmmlearn runs as many iterations from the same k-means start; measured agreement
    # 7e-11 relative (times 1e150, duplicated rows) and 9e-10 in the means with the 1e8
    # shift, whose data carry ~1e-8 absolute precision only
    ref, variances = hmmlearn_reference(X, cov_type, s, shift, hmm.monitor_.iter)
    assert_close_to(hmm.transmat_, ref.transmat_, rtol=1e-8)
    assert_close_to(hmm.startprob_, ref.startprob_, rtol=1e-8)
    assert_close_to(hmm.means_, ref.means_ * s + shift, shift, rtol=1e-8)
    assert_close_to(covars, variances, rtol=1e-8)


def test_gaussian_hmm_repeated_sequences_and_few_rows():
    X = base_data()
    base = _hmm(X, "diag", 1.0, 0.0)
    # three copies of the sequence: the same fit up to the (weak) priors' weight
    again = _hmm(np.tile(X, (3, 1)), "diag", 1.0, 0.0, lengths=[len(X)] * 3)
    np.testing.assert_allclose(again.means_, base.means_, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(again.transmat_, base.transmat_, rtol=0, atol=2e-2)
    # 2 states, 2 diagonal features: 1 + 2 + 2*2 + 2*2 = 11 free parameters, 12 rows
    rng = np.random.default_rng(1)
    few = np.r_[rng.normal(0, 1, (6, 2)), rng.normal(5, 1, (6, 2))]
    hmm = quietly(emkit.GaussianHMM(2, random_state=0, n_iter=50).fit, few)
    all_finite(hmm.means_, hmm.covars_, hmm.transmat_, hmm.score(few))
    assert np.all(np.diagonal(hmm.covars_, axis1=1, axis2=2) > 0)
    with pytest.raises(ValueError, match="at least"):
        emkit.GaussianHMM(3).fit(few[:2])


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gaussian_hmm_defaults_on_data_measured_in_hundredths(cov_type):
    # an ordinary scale (e.g. metres recorded in kilometres): the default min_covar
    # floor is larger than the data's variance
    X = base_data() * 1e-2
    hmm = quietly(emkit.GaussianHMM(2, covariance_type=cov_type, random_state=0,
                                    n_iter=30).fit, X)
    all_finite(hmm.means_, hmm.covars_, hmm.score(X))


HUGE = np.array([[1e300, 1.0], [2.0, 3.0], [3.0, 4.0], [5.0, 1.0], [4.0, 2.0]])


@pytest.mark.parametrize("name", ["GaussianMixture", "MixtureModel", "EMImputer", "GaussianHMM",
                                  "MclustMixture", "select_model"])
def test_values_whose_squares_overflow_raise_a_clear_error(name):
    from emkit.estimators.mclust_mixture import MclustMixture

    fit = {
        "GaussianMixture": lambda: emkit.GaussianMixture(1).fit(HUGE),
        "MixtureModel": lambda: emkit.MixtureModel(Gaussian(), 1).fit(HUGE),
        "EMImputer": lambda: emkit.EMImputer().fit(np.where([[0, 0], [0, 1], [0, 0], [0, 0],
                                                             [0, 0]], np.nan, HUGE)),
        "GaussianHMM": lambda: emkit.GaussianHMM(1).fit(HUGE),
        "MclustMixture": lambda: MclustMixture("VVV", 1).fit(HUGE),
        "select_model": lambda: emkit.select_model(HUGE, n_components=[1]),
    }[name]
    # the first column's variance is about (1e300)^2 / 5 = 2e599, beyond float64's
    # 1.8e308: no fit can represent the covariance, so every estimator must refuse, and
    # no numpy overflow warning may escape
    with pytest.raises(ValueError, match=r"(?i)large|overflow"):
        quietly(fit)


def test_imputer_with_as_many_rows_as_columns():
    # 3 rows, 3 columns, one entry missing: the default falls back to reg_covar, which
    # keeps the covariance positive definite; the fit must not report a likelihood
    # decrease as an inconsistency
    X = np.array([[-11.945, 4.757, 15.571], [np.nan, 0.968, 8.934], [9.080, -6.923, -16.979]])
    with pytest.warns(emkit.exceptions.RegularizationWarning, match="3 rows for 3 columns"):
        imp = quietly(emkit.EMImputer().fit, X)
    all_finite(imp.mean_, imp.covariance_, imp.transform(X))


@pytest.mark.parametrize("X", [np.zeros((3, 1)), np.full((6, 2), 2.5)], ids=["zeros", "constant"])
@pytest.mark.parametrize("name", ["MclustMixture", "select_model"])
def test_mclust_on_identical_rows_raises_a_clear_error(name, X):
    from emkit.estimators.mclust_mixture import MclustMixture

    fit = {"MclustMixture": lambda: MclustMixture("EII", 1).fit(X),
           "select_model": lambda: emkit.select_model(X, n_components=[1, 2],
                                                      covariance_models=["EII", "VVV"])}[name]
    with pytest.raises(ValueError, match=r"constant|identical|singular|variance"):
        quietly(fit)


def test_imputer_standard_errors_with_an_outlier_and_a_tiny_value():
    # found by fuzzing the emkit command: 8 rows, a 1e6 outlier, a 1e-300 entry
    X = np.array([[-1.321, 6.404, 1.049], [-5.357, 3.616, 13.040], [9.471, 1e-300, -12.654],
                  [-6.233, 0.413, -23.250], [-2.188, -12.459, -7.323], [-5.443, -3.163, 4.116],
                  [10.425, -1.285, 13.665], [1e6, 3.515, np.nan]])
    imp = quietly(emkit.EMImputer(max_iter=50).fit, X)
    all_finite(imp.mean_, imp.covariance_, imp.transform(X), imp.standard_errors_)
    assert imp.standard_errors_.shape == (3,) and np.all(imp.standard_errors_ > 0)
    # the observed entries stay as given: only the missing one is filled in
    filled = imp.transform(X)
    np.testing.assert_array_equal(filled[~np.isnan(X)], X[~np.isnan(X)])


def test_mclust_vvv_with_fewer_rows_than_parameters_never_reports_a_decrease():
    # found by fuzzing `emkit select`: 10 rows, VVV with 2 components has 11 parameters
    from emkit.estimators.mclust_mixture import MclustMixture

    X = np.array([[-3.3820527447806197, -8.134123396910091],
                  [21.610795966179577, -10.041310508106342],
                  [8.974350015972648, 11.043125974838121], [7.0, -18.972252908543602],
                  [-17.806398972637048, 2.0], [2.226646687525109, -3.5],
                  [-1.8904657416632773, -1.0530658465079472],
                  [9.740473583799217, 7.681529784031764], [2.0, -6.169671181068717],
                  [-3.5, 1e-300]])
    # From mclust's own start (hc(x, "VVV", use = "SVD") cut at 2: six and four
    # points) R's mclust 6.0.0 fits it: mclustBIC gives -163.9385, and run to
    # convergence the log-likelihood is -69.30476. emkit starts there too and must
    # reach the same fit, never reporting a "log-likelihood decreased" error.
    fit = quietly(MclustMixture("VVV", 2).fit, X)
    assert fit.init_used_ == "hc" and fit.converged_
    assert fit.loglik_ == pytest.approx(-69.30476, abs=1e-4)
    assert -fit.bic(X) == pytest.approx(-163.9385, abs=1e-3)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gaussian_hmm_on_a_column_spanning_360_orders_of_magnitude(cov_type):
    # found by fuzzing `emkit hmm fit`: no false alarm. With one variance per state,
    # the state of the small values has a tiny share of the 1e150 rows, which moves its
    # mean by ~1e147 while its own spread is ~1e16: its variance is below the rounding
    # of the M-step's shifted sums, and the fit refuses, saying so. The tied covariance
    # pools both states' scatter (~1e299), which float64 resolves: that fit succeeds.
    X = np.array([[-6.578254411418579e149], [-1.5719641960132924e16], [346.5271893439017],
                  [7.299878730306209e-102], [3.74199618219461e16], [-799.6366594770241],
                  [-1e150], [-276.6084925939499], [4.7194082908362874e-210],
                  [115.83437064614373], [-3.0064459135288355e149]])
    hmm = emkit.GaussianHMM(2, covariance_type=cov_type, random_state=0, n_iter=5)
    if cov_type != "tied":
        with pytest.raises(emkit.NumericalError, match="lost to rounding"):
            quietly(hmm.fit, X)
        return
    quietly(hmm.fit, X)
    all_finite(hmm.means_, hmm.covars_, hmm.transmat_, hmm.score(X))
    np.testing.assert_allclose(hmm.transmat_.sum(axis=1), 1.0, rtol=1e-12)
