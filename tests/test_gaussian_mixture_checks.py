"""scikit-learn's estimator checks and degenerate inputs for emkit.GaussianMixture."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import emkit
from emkit import GaussianMixture

# All checks pass; none is marked as an expected failure. (check_array_api_input
# skips itself unless SCIPY_ARRAY_API is set: emkit computes with NumPy.)


@parametrize_with_checks([GaussianMixture(n_init=2, max_iter=5)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


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
    with pytest.raises(ValueError, match="only 2 distinct rows"):
        GaussianMixture(3).fit(X)
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
    X = np.vstack([np.zeros((1, 2)), np.random.default_rng(3).normal(size=(30, 2)) + 50])
    gm = GaussianMixture(2, reg_covar=0.0, means_init=[[0.0, 0.0], [50.0, 50.0]],
                         weights_init=[0.5, 0.5])
    with pytest.raises(ValueError, match="reg_covar"):
        gm.fit(X)


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
