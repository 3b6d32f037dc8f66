"""emkit's own k-means (emkit.numerics.kmeans) is scikit-learn's KMeans, draw for draw."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.cluster import KMeans, kmeans_plusplus
from threadpoolctl import threadpool_limits

from emkit.estimators._gaussian_mixture_init import _lloyd_like_kmeans
from emkit.numerics.kmeans import kmeans_plusplus as emkit_kmeans_plusplus
from emkit.numerics.kmeans import lloyd


def _data(n: int, d: int, seed: int, clusters: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(clusters, d))
    return centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, d)) + 5.0


@pytest.mark.parametrize(("n", "d", "k"), [(1000, 2, 3), (1000, 5, 3), (300, 1, 2), (2000, 8, 5),
                                           (5000, 3, 8), (37, 4, 6), (800, 2, 12)])
def test_labels_centres_and_draws_equal_kmeans_on_many_seeds(n: int, d: int, k: int) -> None:
    for seed in range(12):
        X = _data(n, d, 100 * seed + n + d)
        w = np.random.default_rng(seed).uniform(0.1, 3.0, n) if seed % 2 else None
        ours_rs, ref_rs = np.random.RandomState(seed), np.random.RandomState(seed)
        labels, centres = _lloyd_like_kmeans(X, k, w, ours_rs)
        with threadpool_limits(1):
            ref = KMeans(n_clusters=k, n_init=1, random_state=ref_rs).fit(X, sample_weight=w)
        np.testing.assert_array_equal(labels, ref.labels_)
        np.testing.assert_array_equal(centres, ref.cluster_centers_)
        assert ours_rs.randint(2**30) == ref_rs.randint(2**30)


def test_kmeans_plusplus_picks_the_rows_scikit_learn_picks() -> None:
    for seed in range(20):
        X = _data(500, 3, seed)
        w = np.random.default_rng(seed).uniform(0.5, 2.0, 500)
        ref_centres, ref_rows = kmeans_plusplus(X, 5, sample_weight=w,
                                                random_state=np.random.RandomState(seed))
        centres, rows = emkit_kmeans_plusplus(X, 5, np.einsum("ij,ij->i", X, X), w,
                                              np.random.RandomState(seed))
        np.testing.assert_array_equal(rows, ref_rows)
        np.testing.assert_array_equal(centres, ref_centres)


def test_lloyd_hands_over_when_a_cluster_empties() -> None:
    X = np.array([[0.0], [0.1], [10.0], [10.1]])
    # a seed far beyond every row gets none of them
    assert lloyd(X, np.ones(4), np.array([[0.0], [10.0], [100.0]]), 0.0) is None
    # and the start then is scikit-learn's, which relocates a row into it
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 20, axis=0)
    X[::7] += 0.01
    labels, _ = _lloyd_like_kmeans(X, 3, None, np.random.RandomState(0))
    ref = KMeans(3, n_init=1, random_state=np.random.RandomState(0)).fit(X)
    np.testing.assert_array_equal(labels, ref.labels_)


def test_gaussian_mixture_fit_imports_no_sklearn_cluster() -> None:
    code = ("import sys, numpy as np, emkit\n"
            "X = np.random.default_rng(0).standard_normal((300, 2))\n"
            "emkit.GaussianMixture(3, random_state=0).fit(X)\n"
            "emkit.GaussianMixture(3, init_params='k-means++', random_state=0).fit(X)\n"
            "print('sklearn.cluster' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
