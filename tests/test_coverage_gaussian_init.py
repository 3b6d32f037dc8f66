"""GaussianMixture starts and the shared Gaussian math: the less travelled branches."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import emkit
from emkit.estimators._gaussian_mixture_init import _kmeans_labels
from emkit.gaussian.reference import (
    covariances_from_precision_cholesky,
    precision_cholesky,
)

rng = np.random.default_rng(8)
X = np.r_[rng.normal(0, 1, (120, 2)), rng.normal(6, 1, (80, 2))]


@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_on_a_subsample_labels_every_row_by_its_nearest_centre(weighted):
    weights = rng.uniform(0.5, 2.0, len(X)) if weighted else None
    labels = _kmeans_labels(X, 2, weights, np.random.RandomState(0), max_rows=50)
    assert labels.shape == (len(X),) and set(labels) == {0, 1}
    centres = np.stack([X[labels == j].mean(axis=0) for j in range(2)])
    # the two blobs are recovered, each row with the centre nearest to it
    assert abs(np.sort(centres[:, 0])[1] - 6.0) < 0.5
    np.testing.assert_array_equal(labels[:120], np.full(120, labels[0]))


def test_nearest_centre_matches_cdist():
    from emkit.estimators._gaussian_mixture_init import _nearest_centre

    centres = np.array([[0.0, 0.0], [6.0, 6.0], [0.0, 6.0]])
    np.testing.assert_array_equal(_nearest_centre(X, centres, 7),
                                  cdist(X, centres).argmin(axis=1))


@pytest.mark.parametrize("init", ["k-means++", "kmeans", "random"])
def test_unit_sample_weights_give_the_unweighted_tied_fit(init):
    kw = dict(covariance_type="tied", init_params=init, random_state=0, max_iter=5)
    plain = emkit.GaussianMixture(2, **kw).fit(X)
    weighted = emkit.GaussianMixture(2, **kw).fit(X, sample_weight=np.ones(len(X)))
    np.testing.assert_allclose(weighted.means_, plain.means_, rtol=1e-10)
    np.testing.assert_allclose(weighted.covariances_, plain.covariances_, rtol=1e-10)


def test_non_finite_user_means_are_refused():
    with pytest.raises(ValueError, match="non-finite"):
        emkit.GaussianMixture(2, means_init=[[0.0, np.nan], [1.0, 1.0]]).fit(X)


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_precision_cholesky_round_trips(cov_type):
    a = rng.normal(size=(3, 2, 2))
    covs = {"full": a @ a.transpose(0, 2, 1) + np.eye(2), "tied": a[0] @ a[0].T + np.eye(2),
            "diag": rng.uniform(0.5, 2, (3, 2)), "spherical": rng.uniform(0.5, 2, 3)}[cov_type]
    back = covariances_from_precision_cholesky(precision_cholesky(covs, cov_type), cov_type)
    np.testing.assert_allclose(back, covs, rtol=1e-12)


def test_gaussian_math_refuses_unknown_types_and_keeps_empty_inputs():
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        precision_cholesky(np.ones(2), "bogus")
    assert precision_cholesky(np.empty((0, 2, 2)), "full").shape == (0, 2, 2)
