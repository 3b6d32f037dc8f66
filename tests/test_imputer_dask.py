"""EMImputer on Dask input: the same fit, lazy transform, summed standard errors."""

from __future__ import annotations

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from emkit import EMImputer


@pytest.fixture(scope="module")
def incomplete() -> np.ndarray:
    rng = np.random.default_rng(11)
    cov = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.5], [0.3, 0.5, 1.0]])
    X = rng.multivariate_normal([10.0, -2.0, 5.0], cov, size=900)
    X[rng.random(X.shape) < 0.2] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 10.0
    return X


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_dask_fit_matches_numpy_fit(incomplete, covariance_type):
    local = EMImputer(covariance_type=covariance_type).fit(incomplete)
    with dask.config.set(scheduler="synchronous"):
        remote = EMImputer(covariance_type=covariance_type).fit(
            da.from_array(incomplete, chunks=200))
        filled = remote.transform(da.from_array(incomplete, chunks=200))
        assert isinstance(filled, da.Array)
        filled = filled.compute()
    np.testing.assert_allclose(remote.mean_, local.mean_, rtol=1e-8)
    np.testing.assert_allclose(remote.covariance_, local.covariance_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(remote.standard_errors_, local.standard_errors_, rtol=1e-6)
    assert remote.loglik_ == pytest.approx(local.loglik_, rel=1e-10)
    np.testing.assert_allclose(filled, local.transform(incomplete), rtol=1e-7)


def test_dask_dataframe_keeps_feature_names(incomplete):
    frame = pd.DataFrame(incomplete, columns=["a", "b", "c"])
    with dask.config.set(scheduler="synchronous"):
        imputer = EMImputer().fit(dd.from_pandas(frame, npartitions=3))
        out = imputer.transform(dd.from_pandas(frame, npartitions=3)).compute()
    assert list(imputer.feature_names_in_) == ["a", "b", "c"]
    assert not np.isnan(out).any()


def test_dask_input_with_an_empty_column_is_refused(incomplete):
    bad = incomplete.copy()
    bad[:, 1] = np.nan
    bad[:, 0] = np.nan_to_num(bad[:, 0], nan=10.0)
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError,
                                                                  match="entirely missing"):
        EMImputer().fit(da.from_array(bad, chunks=300))
