"""The k-means start of GaussianMixture is scikit-learn's KMeans, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from emkit.estimators._gaussian_mixture_init import (
    KMEANS_ONE_THREAD_VALUES,
    _kmeans_labels,
    _lloyd_like_kmeans,
)


def _data(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(4, d))
    return centres[rng.integers(0, 4, n)] + rng.standard_normal((n, d)) + 5.0


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("n", "d", "k"), [(300, 2, 3), (1000, 5, 4), (40, 3, 6)])
def test_same_labels_centres_and_draws_as_kmeans(weighted: bool, n: int, d: int,
                                                 k: int) -> None:
    X = _data(n, d, n + d)
    assert X.size <= KMEANS_ONE_THREAD_VALUES  # one thread: KMeans under one thread
    w = np.random.default_rng(1).uniform(0.1, 3.0, n) if weighted else None
    for seed in range(5):
        ours_rs, ref_rs = np.random.RandomState(seed), np.random.RandomState(seed)
        labels, centres = _lloyd_like_kmeans(X, k, w, ours_rs)
        with threadpool_limits(1):
            ref = KMeans(n_clusters=k, n_init=1, random_state=ref_rs).fit(
                X, sample_weight=w)
        np.testing.assert_array_equal(labels, ref.labels_)
        np.testing.assert_array_equal(centres, ref.cluster_centers_)
        # the shared random state moved on by as many draws
        assert ours_rs.randint(2**30) == ref_rs.randint(2**30)


def test_larger_data_agree_with_kmeans_on_its_threads() -> None:
    X = _data(40_000, 2, 7)
    assert X.size > KMEANS_ONE_THREAD_VALUES
    labels, centres = _lloyd_like_kmeans(X, 4, None, np.random.RandomState(3))
    ref = KMeans(n_clusters=4, n_init=1, random_state=np.random.RandomState(3)).fit(X)
    # several threads add their partial sums in the order they finish: rounding only
    assert np.mean(labels == ref.labels_) > 0.999
    np.testing.assert_allclose(centres, ref.cluster_centers_, rtol=1e-9, atol=1e-9)


def test_input_is_not_modified_and_subsample_labels_every_row() -> None:
    X = _data(500, 2, 3)
    before = X.copy()
    labels = _kmeans_labels(X, 3, None, np.random.RandomState(0), max_rows=200)
    np.testing.assert_array_equal(X, before)
    assert labels.shape == (500,) and set(labels.tolist()) == {0, 1, 2}


def test_fewer_rows_than_clusters_is_kmeans_error() -> None:
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        _lloyd_like_kmeans(np.zeros((2, 2)), 3, None, np.random.RandomState(0))
