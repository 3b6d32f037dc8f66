"""BIC/AIC under ``freeze=``: a frozen (not estimated) entry is not counted.

Every count is written out by hand here; with no freeze the counts are the
usual ones (compared with scikit-learn / mclust / hmmlearn elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

from emkit import GaussianMixture


def _blobs(n: int = 300, d: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0.0, 1.0, (n // 2, d)), rng.normal(4.0, 1.0, (n - n // 2, d))])


# K = 2 components, D = 3 features; unfrozen counts:
# full 2*6 + 2*3 + 1 = 19, diag 2*3 + 6 + 1 = 13, tied 6 + 6 + 1 = 13, spherical 2 + 6 + 1 = 9
@pytest.mark.parametrize("kind, freeze, expected", [
    ("full", {"means_": np.array([[True, False, False], [False, False, False]])}, 19 - 1),
    ("full", {"covariances_": np.array([True, False])[:, None, None] & np.ones((2, 3, 3), bool)},
     19 - 6),
    ("full", {"weights_": True}, 19 - 1),
    ("full", {"weights_": [True, False]}, 19 - 1),  # one free weight: nothing to estimate
    ("diag", {"covariances_": np.array([[True, True, False], [False, False, False]])}, 13 - 2),
    ("spherical", {"covariances_": [True, False], "means_": True}, 9 - 1 - 6),
])
def test_gaussian_mixture(kind, freeze, expected):
    X = _blobs()
    free = GaussianMixture(2, covariance_type=kind, random_state=0).fit(X)
    frozen = GaussianMixture(2, covariance_type=kind, random_state=0, freeze=freeze).fit(X)
    assert free._n_parameters() == {"full": 19, "diag": 13, "tied": 13, "spherical": 9}[kind]
    assert frozen._n_parameters() == expected
    n = len(X)
    assert frozen.bic(X) == pytest.approx(-2 * frozen.score(X) * n + expected * np.log(n))
    assert frozen.aic(X) == pytest.approx(-2 * frozen.score(X) * n + 2 * expected)


def test_gaussian_mixture_tied_frozen_covariance_counts_once():
    # K = 3, D = 3 tied: 6 covariance + 9 mean + 2 weight parameters; the frozen
    # shared covariance removes its 6 once
    X = np.vstack([_blobs(seed=1), _blobs(seed=2)[:100] - 8.0])
    frozen = GaussianMixture(3, covariance_type="tied", random_state=0,
                             freeze={"covariances_": True}).fit(X)
    assert frozen._n_parameters() == 17 - 6
