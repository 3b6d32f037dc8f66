"""BayesianGaussianMixture on Dask input equals the in-memory fit; constant columns refused."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

from emkit.estimators.bayesian_gaussian_mixture import BayesianGaussianMixture

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_",
              "lower_bound_", "weight_concentration_", "mean_precision_",
              "degrees_of_freedom_", "mean_prior_", "covariance_prior_")


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    rng = np.random.RandomState(3)
    return np.vstack([rng.randn(150, 3), rng.randn(90, 3) * 0.5 + [4, 1, -2],
                      rng.randn(70, 3) * [1, 2, 0.3] + [-3, 5, 1]])


def _quiet(fn: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)  # tol=0 runs to max_iter
        return fn()


def _same(ours: Any, want: Any, rtol: float) -> None:
    for name in ATTRIBUTES:
        got = np.asarray(getattr(ours, name), dtype=float)
        ref = np.asarray(getattr(want, name), dtype=float).reshape(got.shape)
        assert_allclose(got, ref, rtol=rtol, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_dask_fit_equals_in_memory(X, covariance_type, prior_type):
    kw = dict(n_components=4, covariance_type=covariance_type, tol=0.0, max_iter=8,
              weight_concentration_prior_type=prior_type, random_state=0)
    whole = _quiet(lambda: BayesianGaussianMixture(**kw).fit(X))
    with dask.config.set(scheduler="synchronous"):
        lazy = _quiet(lambda: BayesianGaussianMixture(**kw).fit(da.from_array(X, chunks=47)))
    _same(lazy, whole, rtol=1e-8)
    assert lazy.n_iter_ == whole.n_iter_ == 8
    assert_allclose(lazy.lower_bounds_, whole.lower_bounds_, rtol=1e-8)
    # and both are scikit-learn's fit
    _same(whole, _quiet(lambda: SkBGM(**kw).fit(X)), rtol=1e-7)


def test_dask_dataframe_and_chunk_size(X):
    kw = dict(n_components=3, random_state=1, max_iter=20)
    whole = _quiet(lambda: BayesianGaussianMixture(**kw).fit(X))
    frame = dd.from_array(X, chunksize=60, columns=["a", "b", "c"])
    with dask.config.set(scheduler="synchronous"):
        lazy = _quiet(lambda: BayesianGaussianMixture(chunk_size=25, **kw).fit(frame))
    _same(lazy, whole, rtol=1e-8)
    assert list(lazy.feature_names_in_) == ["a", "b", "c"]
    assert lazy.converged_ == whole.converged_


def test_dask_bad_input(X):
    bad = X.copy()
    bad[5, 1] = np.nan
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match="NaN"):
        BayesianGaussianMixture(n_components=2).fit(da.from_array(bad, chunks=100))
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match="n_samples"):
        BayesianGaussianMixture(n_components=5).fit(da.from_array(X[:3], chunks=2))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])
def test_constant_column_with_reg_covar_zero_is_refused(X, covariance_type):
    # scikit-learn raises "ill-defined empirical covariance" in the middle of the fit
    Xc = X.copy()
    Xc[:, 1] = 2.5
    kw = dict(n_components=3, covariance_type=covariance_type, reg_covar=0.0, random_state=0)
    if covariance_type != "tied":  # scikit-learn's tied run goes on with a singular matrix
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            _quiet(lambda: SkBGM(**kw).fit(Xc))
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] of X are constant.*reg_covar"):
        BayesianGaussianMixture(**kw).fit(Xc)
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match="constant"):
        BayesianGaussianMixture(**kw).fit(da.from_array(Xc, chunks=100))
    # the default reg_covar fits it (as scikit-learn does)
    fitted = _quiet(lambda: BayesianGaussianMixture(**{**kw, "reg_covar": 1e-6}).fit(Xc))
    assert np.isfinite(fitted.score(Xc))
