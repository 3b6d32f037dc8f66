"""HSMM on Dask partitions and in chunks, against the in-memory fit.

Partitions hold whole sequences with their weights; their statistics add up to
the whole data's, so the fits must agree step for step.
"""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest

import emkit
from emkit.backends import ChunkedModel
from emkit.distributions import Gaussian, Poisson
from emkit.estimators.hsmm import HSMM
from emkit.models.hmm.model import Sequences

LENGTHS = np.array([200, 150, 300, 250, 100])
CHUNKS = (350, 550, 100)


def simulate(seed: int = 0) -> np.ndarray:
    """Runs of 5 to 25 frames of three levels, one column."""
    rng = np.random.default_rng(seed)
    levels, out = np.array([0.0, 3.0, 6.0]), []
    state = 0
    while len(out) < LENGTHS.sum():
        state = (state + rng.integers(1, 3)) % 3
        out.extend([levels[state]] * int(rng.integers(5, 26)))
    return rng.normal(np.array(out[:LENGTHS.sum()]), 1.0)[:, None]


@pytest.fixture(scope="module")
def X():
    return simulate()


def fit(est, X, weights=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return est.fit(X, LENGTHS, sample_weight=weights)


@pytest.mark.parametrize("duration,max_duration,weighted", [
    ("poisson", 40, False), ("nonparametric", None, False), ("poisson", None, True),
    ("negative_binomial", 30, True)])
def test_dask_fit_equals_in_memory(X, duration, max_duration, weighted):
    # the negative binomial's numerical M-step stops where its flat (r, p) ridge lets it:
    # rounding-level differences in the summed statistics move that point by ~1e-7
    # relative over six steps, so it is held to 1e-5 (the other families to 1e-8)
    rtol = 1e-5 if duration == "negative_binomial" else 1e-8
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0]) if weighted else None
    kw = {"duration": duration, "max_duration": max_duration, "n_iter": 6, "tol": 0.0,
          "random_state": 0}
    local = fit(HSMM(Gaussian(), 3, **kw), X, w)
    with dask.config.set(scheduler="synchronous"):
        remote = fit(HSMM(Gaussian(), 3, **kw), da.from_array(X, chunks=(CHUNKS, 1)), w)
    assert remote.max_duration_ == local.max_duration_
    if max_duration is None:
        assert local.max_duration_ == LENGTHS.max()
    np.testing.assert_allclose(remote.duration_params_, local.duration_params_, rtol=rtol)
    np.testing.assert_allclose(remote.durations_, local.durations_, rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(remote.transmat_, local.transmat_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(remote.startprob_, local.startprob_, rtol=rtol, atol=1e-12)
    for a, b in zip(remote.emissions_, local.emissions_, strict=True):
        np.testing.assert_allclose(a.mean, b.mean, rtol=rtol)
    np.testing.assert_allclose(remote.monitor_.history, local.monitor_.history,
                               rtol=rtol * 1e-2)


def test_dask_count_emission_and_bad_partitions(X):
    counts = np.random.default_rng(1).poisson(np.repeat([1.0, 8.0], len(X) // 2))[:, None]
    kw = {"max_duration": 50, "n_iter": 4, "tol": 0.0, "random_state": 1}
    local = fit(HSMM(Poisson(), 2, **kw), counts)
    with dask.config.set(scheduler="synchronous"):
        remote = fit(HSMM(Poisson(), 2, **kw), da.from_array(counts, chunks=(CHUNKS, 1)))
    np.testing.assert_allclose(remote.duration_params_, local.duration_params_, rtol=1e-8)
    with pytest.raises(ValueError, match="whole sequences"):
        HSMM(Gaussian(), 3, max_duration=10).fit(da.from_array(X, chunks=(300, 1)), LENGTHS)


def test_chunks_keep_each_sequence_weight(X):
    """Integer weights over chunks equal the repeated sequences in one piece."""
    m = fit(HSMM(Gaussian(), 3, max_duration=30, n_iter=1, random_state=0), X)
    init = m._current_params()
    model = m._model(X, init)
    w = np.array([1, 2, 1, 3, 1])
    rows = np.split(np.arange(len(X)), np.cumsum(LENGTHS)[:-1])
    rep = np.concatenate([r for r, n in zip(rows, w, strict=True) for _ in range(n)])
    s_w, ll_w = ChunkedModel(model, 300).e_step(
        Sequences(X, LENGTHS, w.astype(float)), init)
    s_r, ll_r = model.e_step(Sequences(X[rep], np.repeat(LENGTHS, w)), init)
    np.testing.assert_allclose(ll_w, ll_r, rtol=1e-12)
    for key in ("start", "trans", "durations"):
        np.testing.assert_allclose(s_w[key], s_r[key], rtol=1e-10, atol=1e-12)
