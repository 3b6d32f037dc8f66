"""GaussianMixture on Dask input and online (partial_fit)."""

from __future__ import annotations

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from emkit import GaussianMixture


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0, 0.0], [5.0, -3.0, 1.0], [-4.0, 4.0, 2.0]])
    X = centres[rng.integers(3, size=3000)] + rng.normal(size=(3000, 3))
    return X


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_dask_fit_matches_numpy_fit(blobs, covariance_type):
    kw = {"n_components": 3, "covariance_type": covariance_type, "tol": 1e-8,
          "max_iter": 200, "random_state": 0}
    local = GaussianMixture(**kw).fit(blobs)
    with dask.config.set(scheduler="synchronous"):
        remote = GaussianMixture(**kw).fit(da.from_array(blobs, chunks=700))
        labels = remote.predict(da.from_array(blobs, chunks=700))
        proba = remote.predict_proba(da.from_array(blobs, chunks=700))
        assert isinstance(labels, da.Array) and isinstance(proba, da.Array)
        np.testing.assert_array_equal(labels.compute(), local.predict(blobs))
        np.testing.assert_allclose(proba.compute(), local.predict_proba(blobs), atol=1e-8)
        score = remote.score_samples(da.from_array(blobs, chunks=700)).compute()
    np.testing.assert_allclose(remote.means_, local.means_, rtol=1e-8)
    np.testing.assert_allclose(remote.covariances_, local.covariances_, rtol=1e-7, atol=1e-10)
    assert remote.n_iter_ == local.n_iter_
    np.testing.assert_allclose(score, local.score_samples(blobs), rtol=1e-10)


def test_dask_dataframe_with_missing_values(blobs):
    X = blobs.copy()
    X[np.random.default_rng(1).random(X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    kw = {"n_components": 3, "tol": 1e-8, "max_iter": 200, "random_state": 0}
    local = GaussianMixture(**kw).fit(frame)
    with dask.config.set(scheduler="synchronous"):
        remote = GaussianMixture(**kw).fit(dd.from_pandas(frame, npartitions=4))
    assert list(remote.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_allclose(remote.means_, local.means_, rtol=1e-7)


def test_partial_fit_one_pass_lands_within_one_percent_of_batch(blobs):
    batch = GaussianMixture(3, random_state=0).fit(blobs)
    online = GaussianMixture(3, random_state=0)
    for start in range(0, len(blobs), 300):
        online.partial_fit(blobs[start:start + 300])
    assert online.n_iter_ == 10 and not online.converged_
    gap = (batch.score(blobs) - online.score(blobs)) / abs(batch.score(blobs))
    assert 0 <= gap < 0.01


def test_partial_fit_accepts_batches_with_missing_values_and_weights(blobs):
    X = blobs.copy()
    X[::7, 1] = np.nan
    online = GaussianMixture(3, random_state=0)
    online.partial_fit(blobs[:1000])
    online.partial_fit(X[1000:2000], sample_weight=np.full(1000, 2.0))
    online.partial_fit(X[2000:])
    assert np.isfinite(online.means_).all() and online.weights_.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="features"):
        online.partial_fit(np.ones((5, 2)))
