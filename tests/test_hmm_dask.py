"""HMM estimators on Dask input: sequences as partitions."""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest

import emkit
from emkit import CategoricalHMM, GaussianHMM


def quiet_fit(model, X, lengths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return model.fit(X, lengths)


@pytest.fixture(scope="module")
def sequences():
    truth = GaussianHMM(3, covariance_type="diag", random_state=0)
    truth.startprob_ = np.array([0.6, 0.3, 0.1])
    truth.transmat_ = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    truth.means_ = np.array([[0.0, 0.0], [4.0, 1.0], [-3.0, 5.0]])
    truth.covars_ = np.ones((3, 2))
    lengths = [150, 90, 200, 60, 100]
    parts = [truth.sample(n, random_state=i)[0] for i, n in enumerate(lengths)]
    return np.vstack(parts), np.array(lengths)


def test_gaussian_hmm_on_dask_partitions_matches_in_memory(sequences):
    X, lengths = sequences
    kw = {"n_components": 3, "covariance_type": "diag", "n_iter": 15, "tol": 0.0,
          "random_state": 0}
    local = quiet_fit(GaussianHMM(**kw), X, lengths)
    chunks = (240, 260, 100)  # whole sequences per partition
    with dask.config.set(scheduler="synchronous"):
        remote = quiet_fit(GaussianHMM(**kw), da.from_array(X, chunks=(chunks, 2)), lengths)
    np.testing.assert_allclose(remote.means_, local.means_, rtol=1e-8)
    np.testing.assert_allclose(remote.transmat_, local.transmat_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(remote.monitor_.history, local.monitor_.history, rtol=1e-10)


def test_partitions_that_cut_a_sequence_are_refused(sequences):
    X, lengths = sequences
    with pytest.raises(ValueError, match="whole sequences"):
        GaussianHMM(3).fit(da.from_array(X, chunks=(100, 2)), lengths)


def test_categorical_hmm_on_dask_needs_the_alphabet_size():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, size=(300, 1))
    with pytest.raises(ValueError, match="n_features"):
        CategoricalHMM(2).fit(da.from_array(X, chunks=(150, 1)), [150, 150])
    with dask.config.set(scheduler="synchronous"):
        model = quiet_fit(CategoricalHMM(2, n_features=4, random_state=0),
                          da.from_array(X, chunks=(150, 1)), [150, 150])
    local = quiet_fit(CategoricalHMM(2, n_features=4, random_state=0), X, [150, 150])
    np.testing.assert_allclose(model.emissionprob_, local.emissionprob_, rtol=1e-8)
