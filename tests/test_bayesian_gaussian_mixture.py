"""emkit's BayesianGaussianMixture against scikit-learn's, step by step.

From the same initial state (the same ``init_params`` and ``random_state``, whose
draws the estimator reproduces), ``max_iter`` iterations at ``tol=0`` must give
scikit-learn's parameters and lower bound to ``rtol=1e-7``, for every covariance
type and both weight priors. Also: predictions, convergence counts, warm starts,
chunked E-steps, save/load, and scikit-learn's estimator checks.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.mixture import BayesianGaussianMixture as SkBGM
from sklearn.utils.estimator_checks import parametrize_with_checks

import emkit
from emkit.estimators.bayesian_gaussian_mixture import BayesianGaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_",
              "lower_bound_", "weight_concentration_", "mean_precision_",
              "degrees_of_freedom_")


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    rng = np.random.RandomState(0)
    return np.vstack([rng.randn(120, 3), rng.randn(80, 3) * 0.5 + [4, 1, -2],
                      rng.randn(60, 3) * [1, 2, 0.3] + [-3, 5, 1]])


def _fit_quiet(est: Any, X: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at tol=0 is the point
        return est.fit(X)


def _assert_same(ours: Any, theirs: Any) -> None:
    for name in ATTRIBUTES:
        # scikit-learn's tied lower_bound_ is a (1,) array; ours a float
        got = np.asarray(getattr(ours, name), dtype=float)
        want = np.asarray(getattr(theirs, name), dtype=float).reshape(got.shape)
        assert_allclose(got, want, rtol=1e-7, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("init_params", ["random_from_data", "random", "kmeans", "k-means++"])
def test_trajectory_matches_sklearn(X: np.ndarray, covariance_type: str, prior_type: str,
                                    init_params: str) -> None:
    for max_iter in (1, 2, 6):
        kw = dict(n_components=4, covariance_type=covariance_type, tol=0.0,
                  weight_concentration_prior_type=prior_type, init_params=init_params,
                  random_state=1, max_iter=max_iter)
        theirs = _fit_quiet(SkBGM(**kw), X)
        ours = _fit_quiet(BayesianGaussianMixture(**kw), X)
        _assert_same(ours, theirs)
        assert ours.n_iter_ == theirs.n_iter_ == max_iter
        assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-7, atol=1e-10)
        assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-7)
        assert_array_equal(ours.predict(X), theirs.predict(X))
        assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_convergence_and_restarts_match_sklearn(X: np.ndarray, covariance_type: str,
                                                prior_type: str) -> None:
    kw = dict(n_components=5, covariance_type=covariance_type, random_state=3, n_init=2,
              weight_concentration_prior_type=prior_type, init_params="random",
              tol=1e-3, max_iter=300)
    theirs = _fit_quiet(SkBGM(**kw), X)
    ours = _fit_quiet(BayesianGaussianMixture(**kw), X)
    assert (ours.n_iter_, ours.converged_) == (theirs.n_iter_, theirs.converged_)
    _assert_same(ours, theirs)
    assert_allclose(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_matches_sklearn(X: np.ndarray, covariance_type: str) -> None:
    kw = dict(n_components=3, covariance_type=covariance_type, random_state=0,
              warm_start=True, max_iter=2, tol=0.0)
    theirs, ours = SkBGM(**kw), BayesianGaussianMixture(**kw)
    for _ in range(3):
        _fit_quiet(theirs, X)
        _fit_quiet(ours, X)
    _assert_same(ours, theirs)


def test_priors_given_match_sklearn(X: np.ndarray) -> None:
    kw = dict(n_components=3, covariance_type="full", random_state=0, max_iter=4, tol=0.0,
              weight_concentration_prior=0.5, mean_precision_prior=2.0,
              mean_prior=[1.0, 0.0, 0.5], degrees_of_freedom_prior=5.0,
              covariance_prior=np.eye(3) * 2.0)
    theirs = _fit_quiet(SkBGM(**kw), X)
    ours = _fit_quiet(BayesianGaussianMixture(**kw), X)
    _assert_same(ours, theirs)
    for name in ("weight_concentration_prior_", "mean_precision_prior_", "mean_prior_",
                 "degrees_of_freedom_prior_", "covariance_prior_"):
        assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-12, err_msg=name)


def test_bad_prior_message(X: np.ndarray) -> None:
    with pytest.raises(ValueError, match="degrees_of_freedom_prior"):
        BayesianGaussianMixture(degrees_of_freedom_prior=1.0).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_chunked_equals_in_memory(X: np.ndarray, covariance_type: str, prior_type: str) -> None:
    kw = dict(n_components=4, covariance_type=covariance_type, random_state=2, max_iter=8,
              tol=0.0, weight_concentration_prior_type=prior_type)
    whole = _fit_quiet(BayesianGaussianMixture(**kw), X)
    chunked = _fit_quiet(BayesianGaussianMixture(chunk_size=37, **kw), X)
    for name in ATTRIBUTES:
        assert_allclose(np.asarray(getattr(chunked, name), dtype=float),
                        np.asarray(getattr(whole, name), dtype=float),
                        rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_save_load_round_trip(X: np.ndarray, tmp_path: Any, prior_type: str) -> None:
    est = _fit_quiet(BayesianGaussianMixture(n_components=3, random_state=0, max_iter=20,
                                             weight_concentration_prior_type=prior_type), X)
    path = est.save(tmp_path / "bgm.npz")
    back = emkit.load(path)
    assert type(back) is BayesianGaussianMixture
    assert back.get_params() == est.get_params()
    assert_allclose(back.score_samples(X), est.score_samples(X), rtol=1e-12)
    assert_allclose(back.predict_proba(X), est.predict_proba(X), rtol=1e-12)
    assert_allclose(np.asarray(back.weight_concentration_), np.asarray(est.weight_concentration_))


_ESTIMATORS = [BayesianGaussianMixture(n_components=2, max_iter=200, tol=1e-2)]

#: Checks this estimator fails on purpose, with the reason (none so far).
EXPECTED_FAILURES: dict[str, str] = {}


@parametrize_with_checks(_ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILURES,
                         xfail_strict=True)
def test_sklearn_check_estimator(estimator: Any, check: Any) -> None:
    check(estimator)
