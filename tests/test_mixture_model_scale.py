"""MixtureModel on the chunked and Dask backends, and online (partial_fit)."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from emkit import MixtureModel
from emkit.distributions import Gaussian, Poisson


@pytest.fixture(scope="module")
def counts() -> np.ndarray:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.poisson(2.0, 4000), rng.poisson(9.0, 3000), rng.poisson(20.0, 3000)])
    rng.shuffle(x)
    return x[:, None].astype(float)


def fitted(X, **kw) -> MixtureModel:
    return MixtureModel(Poisson(), n_components=3, tol=1e-8, max_iter=500, random_state=0,
                        **kw).fit(X)


def test_chunked_fit_equals_in_memory_fit(counts):
    whole, chunked = fitted(counts), fitted(counts, chunk_size=777)
    np.testing.assert_allclose(chunked.weights_, whole.weights_, rtol=1e-10)
    np.testing.assert_allclose(np.concatenate([c.rate for c in chunked.components_]),
                               np.concatenate([c.rate for c in whole.components_]), rtol=1e-10)
    assert chunked.n_iter_ == whole.n_iter_


def test_dask_fit_and_lazy_predict_agree_with_numpy():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal([0, 0], 1, (600, 2)), rng.normal([4, 1], 0.7, (400, 2))])
    # with fewer rows than the initialization sample, both fits start identically
    mm = MixtureModel(Gaussian(covariance_type="diag"), n_components=2, tol=1e-8,
                      max_iter=300, random_state=1)
    local = mm.fit(X)
    local_means = np.array([c.mean for c in local.components_])
    with dask.config.set(scheduler="synchronous"):
        remote = MixtureModel(Gaussian(covariance_type="diag"), n_components=2, tol=1e-8,
                              max_iter=300, random_state=1).fit(da.from_array(X, chunks=150))
        np.testing.assert_allclose(np.array([c.mean for c in remote.components_]),
                                   local_means, rtol=1e-8)
        np.testing.assert_allclose(remote.weights_, local.weights_, rtol=1e-8)
        labels = remote.predict(da.from_array(X, chunks=150))
        assert isinstance(labels, da.Array)
        np.testing.assert_array_equal(labels.compute(), local.predict(X))
        proba = remote.predict_proba(da.from_array(X, chunks=150))
        assert proba.shape == (1000, 2)
        np.testing.assert_allclose(proba.compute(), local.predict_proba(X), atol=1e-8)
        assert remote.score(da.from_array(X, chunks=150)) == pytest.approx(local.score(X),
                                                                           rel=1e-10)


def test_partial_fit_one_pass_lands_within_one_percent_of_batch(counts):
    batch = fitted(counts)
    online = MixtureModel(Poisson(), n_components=3, random_state=0)
    for start in range(0, counts.shape[0], 500):
        online.partial_fit(counts[start:start + 500])
    assert online.n_iter_ == 20 and not online.converged_
    gap = (batch.score(counts) - online.score(counts)) / abs(batch.score(counts))
    assert 0 <= gap < 0.01
    assert np.allclose(np.sort(np.concatenate([c.rate for c in online.components_])),
                       [2.0, 9.0, 20.0], atol=0.6)


def test_partial_fit_refuses_a_batch_of_another_width(counts):
    online = MixtureModel(Poisson(), n_components=2, random_state=0).partial_fit(counts[:100])
    with pytest.raises(ValueError, match="features"):
        online.partial_fit(np.ones((10, 2)))
