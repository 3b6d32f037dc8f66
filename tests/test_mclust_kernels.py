"""The compiled E-step, covariance checks and inner M-step loops against NumPy written here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from emkit.gaussian.constrained import constrained_covariances, covariance_objective
from emkit.models.mixture.mclust import RCOND_MIN, MclustModel, SingularCovarianceError
from emkit.models.mixture.mclust_kernels import full_mixture_estep


def _params(rng, k, d):
    a = rng.normal(size=(k, d, d))
    cov = a @ np.swapaxes(a, 1, 2) + 0.5 * np.eye(d)
    w = rng.dirichlet(np.ones(k))
    return {"weights": w, "means": rng.normal(size=(k, d)), "covariances": cov}


@pytest.mark.parametrize("k,d", [(1, 1), (3, 2), (9, 5), (4, 10)])
def test_estep_matches_scipy_densities(k, d):
    rng = np.random.default_rng(k * 10 + d)
    X = rng.normal(size=(157, d)) * 2
    p = _params(rng, k, d)
    logp = np.column_stack([np.log(p["weights"][j]) + multivariate_normal(
        p["means"][j], p["covariances"][j]).logpdf(X).reshape(-1) for j in range(k)])
    resp = np.exp(logp - logsumexp(logp, axis=1, keepdims=True))
    stats, loglik = full_mixture_estep(X, p["weights"], p["means"], p["covariances"])
    assert loglik == pytest.approx(logsumexp(logp, axis=1).sum(), rel=1e-12)
    np.testing.assert_allclose(stats["n"], resp.sum(0), rtol=1e-11)
    np.testing.assert_allclose(stats["sum"], resp.T @ X, rtol=1e-11, atol=1e-11)
    for j in range(k):
        xc = X - p["means"][j]
        np.testing.assert_allclose(stats["centred_outer"][j], (xc * resp[:, [j]]).T @ xc,
                                   rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stats["centred_sum"], resp.T @ X - resp.sum(0)[:, None]
                               * p["means"], rtol=1e-9, atol=1e-10)


def test_estep_refuses_a_covariance_that_is_not_positive_definite():
    rng = np.random.default_rng(1)
    p = _params(rng, 2, 3)
    p["covariances"][1] = np.diag([1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="component 1 is singular or not positive definite"):
        full_mixture_estep(rng.normal(size=(10, 3)), p["weights"], p["means"],
                           p["covariances"])


def _vei_reference(n, w, tol=1e-14, passes=5000):
    diag = np.diagonal(w, axis1=1, axis2=2)
    d = diag.shape[1]
    shape = np.ones(d)
    for _ in range(passes):
        lam = (diag / shape).sum(axis=1) / (d * n)
        total = (diag / lam[:, None]).sum(axis=0)
        shape = total / np.exp(np.log(total).mean())
    lam = (diag / shape).sum(axis=1) / (d * n)
    return lam[:, None, None] * np.diag(shape)


def _vee_reference(n, w, passes=3000):
    d = w.shape[-1]
    c = np.eye(d)
    for _ in range(passes):
        lam = np.trace(np.linalg.solve(c[None], w), axis1=1, axis2=2) / (d * n)
        total = (w / lam[:, None, None]).sum(axis=0)
        c = total / np.linalg.det(total) ** (1 / d)
    lam = np.trace(np.linalg.solve(c[None], w), axis1=1, axis2=2) / (d * n)
    return lam[:, None, None] * c


@pytest.mark.parametrize("d", [2, 4])
def test_iterative_m_steps_match_plain_alternation(d):
    rng = np.random.default_rng(d)
    k = 3
    a = rng.normal(size=(k, d, 3 * d))
    w = a @ np.swapaxes(a, 1, 2)
    n = np.array([30.0, 12.0, 50.0])
    np.testing.assert_allclose(constrained_covariances("VEI", n, w, tol=0.0, max_iter=5000),
                               _vei_reference(n, w),
                               rtol=1e-8)
    np.testing.assert_allclose(constrained_covariances("VEE", n, w, tol=0.0, max_iter=3000),
                               _vee_reference(n, w),
                               rtol=1e-7)
    # EVE/VVE: the rotations end at least as high as any orientation near them
    for model in ("EVE", "VVE"):
        cov = constrained_covariances(model, n, w)
        best = covariance_objective(cov, n, w)
        _, vecs = np.linalg.eigh(cov[0])
        for angle in (1e-3, -1e-3):
            g = np.eye(d)
            g[0, 0] = g[1, 1] = np.cos(angle)
            g[0, 1], g[1, 0] = -np.sin(angle), np.sin(angle)
            rot = vecs @ g @ vecs.T
            moved = np.einsum("ij,kjl,ml->kim", rot, cov, rot)
            assert covariance_objective(moved, n, w) <= best + 1e-9 * abs(best)


def test_singular_checks_name_the_component():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 2))
    resp = np.zeros((40, 2))
    resp[:, 0] = 1.0
    resp[:3, 0], resp[:3, 1] = 0.0, 1.0
    X[:3] = [1.0, 2.0]  # component 1: three copies of one point
    centres = np.array([X[3:].mean(0), [1.0, 2.0]])
    from emkit.models.mixture.mclust import mixture_stats
    stats = mixture_stats(X, resp, centres)
    with pytest.raises(SingularCovarianceError, match="component 1") as info:
        MclustModel("VVV").m_step(stats)
    assert "collapsed" in info.value.reason
    # a thin but full-rank component passes; a line does not
    X2 = rng.normal(size=(60, 2))
    X2[:30, 1] = 3 * X2[:30, 0]  # component 0 on a line
    resp2 = np.zeros((60, 2))
    resp2[:30, 0] = 1.0
    resp2[30:, 1] = 1.0
    stats2 = mixture_stats(X2, resp2, np.array([X2[:30].mean(0), X2[30:].mean(0)]))
    with pytest.raises(SingularCovarianceError, match="reciprocal condition number"):
        MclustModel("VVV").m_step(stats2)
    X2[:30, 1] += 1e-3 * rng.normal(size=30)
    stats3 = mixture_stats(X2, resp2, np.array([X2[:30].mean(0), X2[30:].mean(0)]))
    cov = MclustModel("VVV").m_step(stats3)["covariances"]
    corr = cov[0] / np.sqrt(np.outer(np.diag(cov[0]), np.diag(cov[0])))
    eig = np.linalg.eigvalsh(corr)
    assert eig[0] / eig[-1] > RCOND_MIN


def test_model_e_step_equals_its_numpy_reference():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 3))
    p = _params(rng, 4, 3)
    for name in ("VVV", "EVE"):
        model = MclustModel(name)
        fast, ref = model.e_step(X, p), model.e_step_reference(X, p)
        assert fast[1] == pytest.approx(ref[1], rel=1e-13)
        for key in ("n", "sum", "centred_sum", "centred_outer"):
            np.testing.assert_allclose(fast[0][key], ref[0][key], rtol=1e-11, atol=1e-11)


def test_closed_forms_match_the_formulas():
    rng = np.random.default_rng(9)
    k, d = 4, 3
    a = rng.normal(size=(k, d, 4 * d))
    w = a @ np.swapaxes(a, 1, 2)
    n = rng.uniform(5.0, 50.0, k)
    pooled = w.sum(axis=0) / n.sum()
    diag = np.diagonal(w, axis1=1, axis2=2)
    g = np.prod(diag, axis=1) ** (1 / d)
    expected = {
        "EII": np.broadcast_to(np.trace(pooled) / d * np.eye(d), w.shape),
        "VII": (np.trace(w, axis1=1, axis2=2) / (d * n))[:, None, None] * np.eye(d),
        "EEI": np.broadcast_to(np.diag(np.diag(pooled)), w.shape),
        "VVI": np.stack([np.diag(diag[j] / n[j]) for j in range(k)]),
        "EEE": np.broadcast_to(pooled, w.shape),
        "VVV": w / n[:, None, None],
        "EVI": np.stack([g.sum() / n.sum() * np.diag(diag[j] / g[j]) for j in range(k)]),
    }
    for name, ref in expected.items():
        np.testing.assert_allclose(constrained_covariances(name, n, w), ref, rtol=1e-12,
                                   err_msg=name)
    assert np.all(np.isnan(constrained_covariances("EEE", np.array([1.0, 0.0, 2.0, 3.0]), w)))
