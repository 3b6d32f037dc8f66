"""Degenerate inputs and user initial values for emkit.GaussianMixture.

(scikit-learn's estimator checks run in tests/peers/sklearn/test_check_estimator.py.)
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from scipy.linalg import cholesky
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import emkit
from emkit import GaussianMixture

TYPES = ["full", "tied", "diag", "spherical"]


def test_tags_declare_nan_support():
    tags = GaussianMixture().__sklearn_tags__()
    assert tags.input_tags.allow_nan
    assert tags.estimator_type == "density_estimator"


def test_empty_input_is_a_value_error():
    with pytest.raises(ValueError, match="0 sample"):
        GaussianMixture().fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match="0 feature"):
        GaussianMixture().fit(np.empty((5, 0)))


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_values_are_a_value_error(bad):
    X = np.random.default_rng(0).normal(size=(20, 2))
    X[3, 1] = bad
    with pytest.raises(ValueError, match="infinity"):
        GaussianMixture().fit(X)


def test_more_components_than_distinct_rows():
    X = np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 3.0], [2.0, 3.0], [2.0, 3.0]])
    # With reg_covar > 0 scikit-learn fits (extra components duplicate others,
    # with variance reg_covar); so does emkit, with the same result.
    with pytest.warns(SkConvergenceWarning, match="distinct clusters"):  # k-means's
        ours = GaussianMixture(3, random_state=0).fit(X)
    with pytest.warns(SkConvergenceWarning, match="distinct clusters"):
        theirs = SkGaussianMixture(3, random_state=0).fit(X)
    order_ours = np.lexsort((ours.weights_, ours.means_[:, 0]))
    order_theirs = np.lexsort((theirs.weights_, theirs.means_[:, 0]))
    np.testing.assert_allclose(ours.means_[order_ours], theirs.means_[order_theirs], atol=1e-6)
    np.testing.assert_allclose(ours.weights_[order_ours], theirs.weights_[order_theirs],
                               atol=1e-6)
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-6)
    # With reg_covar=0 some covariance must be singular: scikit-learn's error.
    with pytest.raises(ValueError, match=r"ill-defined empirical covariance.*only 2 distinct"):
        GaussianMixture(3, reg_covar=0.0).fit(X)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(6).fit(X)


def test_all_nan_row_is_a_value_error():
    X = np.random.default_rng(0).normal(size=(20, 2))
    X[4] = np.nan
    with pytest.raises(ValueError, match="no observed value"):
        GaussianMixture().fit(X)


def test_constant_column():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=100), np.full(100, 3.0)])
    gm = GaussianMixture(2, random_state=0).fit(X)
    # the constant column gets variance reg_covar, parameters stay finite
    assert np.all(np.isfinite(gm.covariances_))
    np.testing.assert_allclose(gm.covariances_[:, 1, 1], gm.reg_covar, rtol=1e-6)
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] of X are constant"):
        GaussianMixture(2, reg_covar=0.0).fit(X)


def test_component_losing_all_responsibility_stays_finite():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 2))
    means = np.array([[0.0, 0.0], [1e3, 1e3]])  # the second start is far from every row
    with pytest.warns(emkit.ConvergenceWarning):
        gm = GaussianMixture(2, means_init=means, max_iter=5, tol=0).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert gm.weights_.min() < 1e-10
    assert np.all(np.isfinite(gm.score_samples(X)))


def test_collapse_without_regularization_is_a_clear_error():
    # k-means puts the lone row at the origin in a cluster of its own, so the
    # initial covariance is singular: scikit-learn's ValueError with
    # degenerate="raise"; the default re-seeds that component and warns.
    X = np.vstack([np.zeros((1, 2)), np.random.default_rng(3).normal(size=(30, 2)) + 50])
    kw = dict(reg_covar=0.0, means_init=[[0.0, 0.0], [50.0, 50.0]], weights_init=[0.5, 0.5])
    message = re.escape(emkit.estimators._gaussian_mixture_checks.COLLAPSE_MESSAGE)
    with pytest.raises(ValueError, match=message):
        SkGaussianMixture(2, **kw).fit(X)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, degenerate="raise", **kw).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(2, **kw).fit(X)
    assert any(isinstance(w.message, emkit.exceptions.DegenerateComponentWarning)
               and "collapsed at the drawn start" in str(w.message) for w in caught)
    assert np.isfinite(gm.score(X))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"weights_init": [0.5, 0.6]}, "normalized"),
        ({"weights_init": [0.5, 0.5, 0.0]}, "shape"),
        ({"means_init": np.zeros((2, 3))}, "shape"),
        ({"precisions_init": np.ones((2, 2))}, "shape"),
        ({"precisions_init": -np.ones((2, 2)), "covariance_type": "diag"}, "positive"),
        ({"precisions_init": [[1.0, 2.0], [2.0, 1.0]], "covariance_type": "tied"},
         "positive-definite"),
        ({"dtype": "float16"}, "dtype"),
        ({"accelerate": "anderson"}, "accelerate"),
    ],
)
def test_bad_parameters(params, message):
    X = np.random.default_rng(4).normal(size=(30, 2))
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, **params).fit(X)


def test_weights_out_of_range_name_the_largest_and_smallest():
    X = np.random.default_rng(5).normal(size=(30, 2))
    with pytest.raises(ValueError, match=re.escape("max value 1.30000, min value -0.30000")):
        GaussianMixture(2, weights_init=[-0.3, 1.3]).fit(X)


def test_float32_weights_init_summing_to_one_in_float32():
    # normalized in float32, these sum to 1 to float32 rounding only (off by 6e-8
    # in float64); scikit-learn accepts float32 weights within 1e-6, float64 within 1e-8
    X = np.random.default_rng(6).normal(size=(60, 2)).astype(np.float32)
    weights = np.array([0.1908342, 0.3889071, 0.42025864], dtype=np.float32)
    assert abs(float(weights.astype(np.float64).sum()) - 1.0) > 1e-8
    kw = dict(weights_init=weights, max_iter=0, random_state=0)
    ours = GaussianMixture(3, **kw).fit(X)
    theirs = SkGaussianMixture(3, **kw).fit(X)
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=1e-6)
    off = weights + np.float32(5e-6)  # off by 1.5e-5: refused by both
    for cls in (GaussianMixture, SkGaussianMixture):
        with pytest.raises(ValueError, match="should be normalized"):
            cls(3, weights_init=off).fit(X)
    with pytest.raises(ValueError, match="should be normalized"):
        GaussianMixture(3, weights_init=weights.astype(np.float64) + 1e-7).fit(X)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_precisions_init_is_the_starting_precision(covariance_type):
    # max_iter=0 keeps the start: precisions_ is the precisions_init given and
    # precisions_cholesky_ its factor (scikit-learn's own test of this calls the
    # private _initialize; see docs/differences-from-scikit-learn.md)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(80, 3))
    a = rng.normal(size=(2, 3, 3))
    full = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(3)
    precisions = {"full": full, "tied": full[0], "diag": rng.uniform(0.5, 2.0, (2, 3)),
                  "spherical": np.array([0.7, 1.9])}[covariance_type]
    gm = GaussianMixture(2, covariance_type=covariance_type, precisions_init=precisions,
                         max_iter=0, random_state=0).fit(X)
    np.testing.assert_allclose(gm.precisions_, precisions, rtol=1e-12)
    u = gm.precisions_cholesky_
    if covariance_type == "full":
        np.testing.assert_allclose(u @ u.transpose(0, 2, 1), precisions, rtol=1e-12)
        for p, c in zip(precisions, gm.covariances_, strict=True):
            np.testing.assert_allclose(c @ p, np.eye(3), atol=1e-12)
    elif covariance_type == "tied":
        np.testing.assert_allclose(u @ u.T, precisions, rtol=1e-12)
        # the factor is upper triangular, as scikit-learn's from covariances
        np.testing.assert_allclose(u, np.linalg.inv(cholesky(gm.covariances_, lower=True)).T,
                                   rtol=1e-10)
    else:
        np.testing.assert_allclose(u**2, precisions, rtol=1e-12)
