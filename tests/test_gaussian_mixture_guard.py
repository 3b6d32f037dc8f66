"""GaussianMixture runs that leave exact EM: a large reg_covar, collapsing components."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import emkit
from emkit import GaussianMixture
from emkit.estimators._gaussian_mixture_guard import collapse_reason


def test_large_reg_covar_is_no_monotonicity_warning():
    # scikit-learn's test_gaussian_mixture_attributes: reg_covar=0.1 on data whose
    # variances are about 0.02, where a step may lower the likelihood by ~1e-3
    X = np.random.RandomState(0).rand(10, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", emkit.MonotonicityWarning)
        GaussianMixture(2, tol=1e-4, n_init=3, max_iter=30, reg_covar=0.1,
                        init_params="random").fit(X)


def _diverging_start():
    """scikit-learn's test_gaussian_mixture_setting_best_params (gh-18216)."""
    X = np.random.RandomState(0).uniform(size=(30, 3))
    means = np.array([
        [0.670637869618158, 0.21038256107384043, 0.12892629765485303],
        [0.09394051075844147, 0.5759464955561779, 0.929296197576212],
        [0.5033230372781258, 0.9569852381759425, 0.08654043447295741],
        [0.18578301420435747, 0.5531158970919143, 0.19388943970532435],
        [0.4548589928173794, 0.35182513658825276, 0.568146063202464],
        [0.609279894978321, 0.7929063819678847, 0.9620097270828052]])
    precisions = np.array([999999.999604483, 999999.9990869573, 553.7603944542167,
                           204.78596008931834, 15.867423501783637, 85.4595728389735])
    weights = np.array([1, 1, 2, 2, 21, 3]) / 30.0
    return X, dict(covariance_type="spherical", reg_covar=0.0, means_init=means,
                   weights_init=weights, precisions_init=precisions, n_components=6)


@pytest.mark.parametrize("max_iter", [1, 50])
def test_collapse_mid_run_keeps_the_last_defined_parameters(max_iter):
    # The first M-step gives components 0 and 1 one row each (variance ~1e-45
    # or ~1e-16 by rounding): EM stops and keeps the start, whose
    # log-likelihood scikit-learn reports as its lower bound after one iteration.
    X, kw = _diverging_start()
    with pytest.warns(emkit.ConvergenceWarning, match="covariance singular"):
        gm = GaussianMixture(max_iter=max_iter, **kw).fit(X)
    assert not gm.converged_
    assert gm.n_iter_ == 0 and gm.lower_bounds_ == []
    np.testing.assert_array_equal(gm.means_, kw["means_init"])
    np.testing.assert_allclose(gm.precisions_, kw["precisions_init"], rtol=1e-12)
    with pytest.warns(SkConvergenceWarning):
        sk = SkGaussianMixture(max_iter=1, **kw).fit(X)
    assert gm.lower_bound_ == pytest.approx(sk.lower_bounds_[0], rel=1e-12)
    assert gm.score(X) == pytest.approx(gm.lower_bound_, rel=1e-12)


def test_collapse_reason():
    eps = np.finfo(float).eps
    means = np.full((2, 2), 0.5)
    ok = {"means": means, "covariances": np.array([[0.1, 0.2], [0.3, 0.4]])}
    assert collapse_reason(ok, "diag", eps) is None
    tiny = {"means": means, "covariances": np.array([[0.1, 1e-45], [0.3, 0.4]])}
    assert "component 0" in collapse_reason(tiny, "diag", eps)
    negative = {"means": means, "covariances": np.array([0.1, -3e-17])}
    assert "zero or negative" in collapse_reason(negative, "spherical", eps)
    singular = {"means": means, "covariances": np.stack([np.eye(2), np.ones((2, 2))])}
    assert collapse_reason(singular, "full", eps) is not None
    # scale-relative: data of scale 1e-150 with variance 1e-302 are fine
    small = {"means": means * 1e-150, "covariances": np.array([1e-302, 1e-302])}
    assert collapse_reason(small, "spherical", eps) is None
