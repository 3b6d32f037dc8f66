"""EMImputer(freeze=..., *_init=...): the exact constrained missing-data EM.

The reference is a missing-data EM written here (conditional means and
covariances of the missing entries, then the constrained M-step in precision
form: the free mean entries minimize the Mahalanobis distance to the weighted
mean given the frozen ones, under the frozen covariance or the scatter about
the weighted mean; free weights share the free mass), in the data's units --
EMImputer runs on standardized columns, so agreement also checks the change of
units.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import emkit
from emkit import EMImputer
from emkit.exceptions import ConvergenceWarning, MonotonicityWarning

D = 3
COV = np.array([[2.0, 0.8, 0.3], [0.8, 1.0, 0.2], [0.3, 0.2, 1.5]])


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    rng = np.random.default_rng(3)
    X = np.vstack([rng.multivariate_normal([1.0, 2.0, 3.0], COV, size=150),
                   rng.multivariate_normal([4.0, -1.0, 2.0], 0.5 * COV, size=100)])
    X[rng.random(X.shape) < 0.25] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0
    return X


# ---------------------------------------------------------------- the reference
def conditional(x: np.ndarray, mu: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``E[x | x_o]`` and ``Cov[x | x_o]`` (zero on the observed entries)."""
    o, m = ~np.isnan(x), np.isnan(x)
    xhat, C = x.copy(), np.zeros((D, D))
    if m.any():
        gain = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
        xhat[m] = mu[m] + gain @ (x[o] - mu[o])
        C[np.ix_(m, m)] = S[np.ix_(m, m)] - gain @ S[np.ix_(o, m)]
    return xhat, C


def log_obs(x: np.ndarray, mu: np.ndarray, S: np.ndarray) -> float:
    o = ~np.isnan(x)
    return float(multivariate_normal(mu[o], S[np.ix_(o, o)]).logpdf(x[o]))


def constrained_mean(xbar: np.ndarray, fixed: np.ndarray, frozen: np.ndarray,
                     coupling: np.ndarray) -> np.ndarray:
    if not frozen.any():
        return xbar.copy()
    P = np.linalg.inv(coupling)
    f, c = ~frozen, frozen
    mu = fixed.copy()
    mu[f] = xbar[f] - np.linalg.solve(P[np.ix_(f, f)], P[np.ix_(f, c)] @ (fixed[c] - xbar[c]))
    return mu


def reference(X: np.ndarray, w: np.ndarray, mus: np.ndarray, covs: np.ndarray,
              fz: dict, n_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """``n_iter`` constrained EM steps (full covariances) and the log-likelihoods."""
    k = len(w)
    w0, mu0, cov0 = w.copy(), mus.copy(), covs.copy()
    wf = fz.get("weights", np.zeros(k, bool))
    mf = fz.get("means", np.zeros((k, D), bool))
    cf = fz.get("covariances", np.zeros(k, bool))
    logliks = []
    for _ in range(n_iter + 1):
        logp = np.array([[np.log(w[j]) + log_obs(x, mus[j], covs[j]) for j in range(k)]
                         for x in X])
        logliks.append(float(logsumexp(logp, axis=1).sum()))
        if len(logliks) == n_iter + 1:
            break
        resp = np.exp(logp - logsumexp(logp, axis=1, keepdims=True))
        n = resp.sum(axis=0)
        new_mu, new_cov = np.empty_like(mus), np.empty_like(covs)
        for j in range(k):
            T1, T2 = np.zeros(D), np.zeros((D, D))
            for r, x in zip(resp[:, j], X, strict=True):
                xhat, C = conditional(x, mus[j], covs[j])
                T1 += r * xhat
                T2 += r * (np.outer(xhat, xhat) + C)
            xbar = T1 / n[j]
            S0 = T2 / n[j] - np.outer(xbar, xbar)
            new_mu[j] = constrained_mean(xbar, mu0[j], mf[j], cov0[j] if cf[j] else S0)
            dev = xbar - new_mu[j]
            new_cov[j] = cov0[j] if cf[j] else S0 + np.outer(dev, dev)
        free_mass = 1.0 - w0[wf].sum()
        w = np.where(wf, w0, free_mass * n / n[~wf].sum())
        mus, covs = new_mu, new_cov
    return w, mus, covs, logliks


def fit(X: Any, **kw: Any) -> EMImputer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: max_iter steps
        warnings.simplefilter("error", MonotonicityWarning)
        return EMImputer(reg_covar=0.0, tol=0.0, **kw).fit(X)


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", ["mean_entries", "mean_entries_cov_frozen", "cov_frozen",
                                  "mean_whole"])
def test_one_normal_matches_reference(X: np.ndarray, case: str) -> None:
    mean0 = np.array([1.5, 2.5, 2.0])
    cov0 = COV * 1.3
    freeze = {"mean_entries": {"mean_": np.array([True, False, True])},
              "mean_entries_cov_frozen": {"mean_": np.array([False, True, False]),
                                          "covariance_": True},
              "cov_frozen": {"covariance_": True},
              "mean_whole": {"mean_": True}}[case]
    fz: dict = {}
    if "mean_" in freeze:
        fz["means"] = np.broadcast_to(freeze["mean_"], (D,))[None].copy()
    if "covariance_" in freeze:
        fz["covariances"] = np.array([True])
    n_iter = 6
    _, mus, covs, logliks = reference(X, np.ones(1), mean0[None], cov0[None], fz, n_iter)
    est = fit(X, means_init=mean0, covariances_init=cov0, freeze=freeze, max_iter=n_iter)
    assert est.n_iter_ == n_iter
    np.testing.assert_allclose(est.mean_, mus[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est.covariance_, covs[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est.history_["loglik"], logliks, rtol=1e-10)
    np.testing.assert_allclose(est.loglik_, logliks[-1], rtol=1e-10)
    assert np.all(np.diff(logliks) >= -1e-9 * np.abs(logliks[1:]))
    if "means" in fz:  # frozen entries are the given values, bit for bit
        np.testing.assert_array_equal(est.mean_[fz["means"][0]], mean0[fz["means"][0]])
        assert np.all(est.standard_errors_[fz["means"][0]] == 0.0)
    if "covariances" in fz:
        np.testing.assert_array_equal(est.covariance_, cov0)


def test_standard_errors_with_frozen_covariance(X: np.ndarray) -> None:
    """Free means under a known covariance: the information is sum_i A_oo embedded."""
    est = fit(X, covariances_init=COV, freeze={"covariance_": True}, max_iter=200)
    info = np.zeros((D, D))
    for x in X:
        o = ~np.isnan(x)
        info[np.ix_(o, o)] += np.linalg.inv(COV[np.ix_(o, o)])
    np.testing.assert_allclose(est.standard_errors_, np.sqrt(np.diag(np.linalg.inv(info))),
                               rtol=1e-8)


@pytest.mark.parametrize("case", ["weights_and_mean_entries", "cov_and_weights", "means"])
def test_mixture_matches_reference(X: np.ndarray, case: str) -> None:
    w0 = np.array([0.5, 0.5])
    m0 = np.array([[1.0, 1.5, 3.5], [3.5, -0.5, 2.0]])
    c0 = np.stack([COV, 0.7 * COV])
    freeze = {"weights_and_mean_entries": {"weights_": np.array([True, False]),
                                           "means_": np.array([[False, True, False],
                                                               [True, False, False]])},
              "cov_and_weights": {"covariances_": np.array([[[True] * D] * D,
                                                           [[False] * D] * D]),
                                  "weights_": np.array([False, True])},
              "means": {"means_": True}}[case]
    fz: dict = {}
    if "weights_" in freeze:
        fz["weights"] = freeze["weights_"]
    if "means_" in freeze:
        fz["means"] = np.broadcast_to(freeze["means_"], (2, D)).copy()
    if "covariances_" in freeze:
        fz["covariances"] = freeze["covariances_"].reshape(2, -1).all(axis=1)
    n_iter = 5
    w, mus, covs, logliks = reference(X, w0, m0, c0, fz, n_iter)
    est = fit(X, n_components=2, weights_init=w0, means_init=m0, covariances_init=c0,
              freeze=freeze, max_iter=n_iter)
    np.testing.assert_allclose(est.weights_, w, rtol=1e-8)
    np.testing.assert_allclose(est.means_, mus, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est.covariances_, covs, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est.history_["loglik"], logliks, rtol=1e-10)
    assert np.all(np.diff(logliks) >= -1e-9 * np.abs(logliks[1:]))


def test_dask_equals_in_memory_and_save_load(X: np.ndarray, tmp_path: Any) -> None:
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    kw = dict(means_init=[1.5, 2.5, 2.0], freeze={"mean_": np.array([True, False, False])},
              max_iter=50)
    mem = fit(X, **kw)
    with dask.config.set(scheduler="synchronous"):
        lazy = fit(da.from_array(X, chunks=(60, D)), **kw)
    for name in ("mean_", "covariance_", "standard_errors_", "loglik_"):
        np.testing.assert_allclose(getattr(lazy, name), getattr(mem, name), rtol=1e-8,
                                   err_msg=name)
    back = emkit.load(mem.save(tmp_path / "imp.npz"))
    np.testing.assert_array_equal(back.freeze["mean_"], kw["freeze"]["mean_"])
    np.testing.assert_array_equal(back.transform(X), mem.transform(X))


@pytest.mark.parametrize(("kw", "match"), [
    ({"freeze": {"mean_": True, "covariance_": True}}, "nothing to fit"),
    ({"freeze": {"mean_": np.ones(D + 1, bool)}}, r"shape \(3,\)"),
    ({"freeze": {"covariance_": np.eye(D, dtype=bool)}}, "frozen whole"),
    ({"freeze": {"means_": True}}, "unknown attribute"),
    ({"n_components": 2, "freeze": {"weights_": True, "means_": True,
                                    "covariances_": True}}, "nothing to fit"),
    ({"n_components": 2, "freeze": {"covariances_": np.eye(D, dtype=bool)[None]
                                    .repeat(2, axis=0)}}, "whole covariance"),
    ({"weights_init": [1.0]}, "n_components > 1"),
    ({"means_init": np.zeros((2, D))}, "means_init must have shape"),
    ({"covariances_init": -np.eye(D)}, "positive definite"),
    ({"covariance_type": "diag", "covariances_init": COV}, "diagonal"),
    ({"n_components": 2, "weights_init": [0.2, 0.2]}, "sum to 1"),
])
def test_bad_arguments(X: np.ndarray, kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EMImputer(**kw).fit(X)


@pytest.mark.parametrize("kind", ["diag", "spherical", "tied"])
def test_other_covariance_types_keep_frozen_values(X: np.ndarray, kind: str) -> None:
    mean0 = np.array([1.5, 2.5, 2.0])
    est = fit(X, covariance_type=kind, means_init=mean0,
              freeze={"mean_": np.array([True, False, True])}, max_iter=100)
    np.testing.assert_array_equal(est.mean_[[0, 2]], mean0[[0, 2]])
    assert np.all(np.diff(est.history_["loglik"]) >= -1e-9 * abs(est.loglik_))


def test_tied_covariance_mask_when_k_does_not_divide_its_size():
    # K = 2, D = 3: the (3, 3) tied mask must not be read as K rows
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(c, 1.0, (120, 3)) for c in (0, 4)])
    X[rng.random(X.shape) < 0.05] = np.nan
    with pytest.raises(ValueError, match="whole covariance"):
        EMImputer(n_components=2, covariance_type="tied",
                  freeze={"covariances_": np.eye(3, dtype=bool)}).fit(X)
