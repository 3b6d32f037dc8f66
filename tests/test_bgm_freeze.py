"""BayesianGaussianMixture(freeze=...): frozen variational factors.

The reference is a variational EM written here (Bishop 2006, section 10.2, with
scikit-learn's ``reg_covar`` and Dirichlet-process sticks), with the frozen
factors held and the free ones updated given them, and the full variational
bound computed from SciPy's entropies (``scipy.stats.wishart``, ``beta``,
``dirichlet``) -- not from emkit's code. The reference's unconstrained M-step is
checked against scikit-learn's first.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import digamma, logsumexp, polygamma
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

import emkit
from emkit.estimators.bayesian_gaussian_mixture import BayesianGaussianMixture
from emkit.exceptions import ConvergenceWarning, MonotonicityWarning

K, D = 4, 3
EPS10 = 10 * np.finfo(float).eps


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    rng = np.random.default_rng(7)
    A = np.array([[1.0, 0.4, 0.0], [0.0, 0.8, 0.3], [0.2, 0.0, 0.6]])
    return np.vstack([rng.normal(0.0, 1.0, (90, D)) @ A, rng.normal(3.0, 1.0, (70, D)),
                      rng.normal([0.0, 4.0, -2.0], 0.6, (60, D))])


# ---------------------------------------------------------------- the reference
def full_matrices(cov: np.ndarray, kind: str) -> np.ndarray:
    if kind == "full":
        return np.array(cov, dtype=float)
    if kind == "diag":
        return np.array([np.diag(c) for c in cov])
    return np.array([c * np.eye(D) for c in cov])


def theta_of(est: Any) -> dict:
    conc = est.weight_concentration_
    return {"conc": np.array(conc, dtype=float), "beta": np.array(est.mean_precision_),
            "m": np.array(est.means_), "nu": np.array(est.degrees_of_freedom_),
            "S": full_matrices(est.covariances_, est.covariance_type)}


def prior_of(est: Any) -> dict:
    c0 = np.asarray(est.covariance_prior_, dtype=float)
    w0inv = c0 if c0.ndim == 2 else np.diag(c0) if c0.ndim == 1 else float(c0) * np.eye(D)
    return {"a0": est.weight_concentration_prior_, "b0": est.mean_precision_prior_,
            "m0": np.asarray(est.mean_prior_), "nu0": est.degrees_of_freedom_prior_,
            "W0inv": w0inv}


def expected_log_weights(conc: np.ndarray, prior_type: str) -> np.ndarray:
    if prior_type == "dirichlet_process":
        a, b = conc
        e_v, e_1v = digamma(a) - digamma(a + b), digamma(b) - digamma(a + b)
        return e_v + np.concatenate(([0.0], np.cumsum(e_1v)[:-1]))
    return digamma(conc) - digamma(conc.sum())


def e_log_det(nu: float, W: np.ndarray) -> float:
    return float(sum(digamma((nu - j) / 2.0) for j in range(D)) + D * np.log(2.0)
                 + np.linalg.slogdet(W)[1])


def rho(X: np.ndarray, th: dict, prior_type: str) -> np.ndarray:
    """``E[log pi_k] + E[log N(x_i | mu_k, Lambda_k)]`` (Bishop 10.46, 10.64-10.66)."""
    out = np.empty((len(X), K))
    elog_pi = expected_log_weights(th["conc"], prior_type)
    for k in range(K):
        W = np.linalg.inv(th["nu"][k] * th["S"][k])
        diff = X - th["m"][k]
        quad = D / th["beta"][k] + th["nu"][k] * np.einsum("ni,ij,nj->n", diff, W, diff)
        out[:, k] = (elog_pi[k] + 0.5 * e_log_det(th["nu"][k], W)
                     - 0.5 * D * np.log(2 * np.pi) - 0.5 * quad)
    return out


def kl_theta(th: dict, pr: dict, prior_type: str) -> float:
    """``KL(q(theta) || p(theta))`` from SciPy's entropies and expected log-priors."""
    a0 = pr["a0"]
    kl = 0.0
    if prior_type == "dirichlet_process":
        neg_log_b = stats.beta(1.0, a0).logpdf(0.5) - (a0 - 1.0) * np.log(0.5)
        for a, b in zip(*th["conc"], strict=True):
            e_1v = digamma(b) - digamma(a + b)
            kl += -stats.beta(a, b).entropy() - (neg_log_b + (a0 - 1.0) * e_1v)
    else:
        alpha = th["conc"]
        e_log = digamma(alpha) - digamma(alpha.sum())
        e_logp = stats.dirichlet(np.full(K, a0)).logpdf(np.full(K, 1.0 / K)) - (a0 - 1.0) * np.sum(
            np.log(np.full(K, 1.0 / K))) + (a0 - 1.0) * e_log.sum()
        kl += -stats.dirichlet(alpha).entropy() - e_logp
    W0 = np.linalg.inv(pr["W0inv"])
    log_b0 = (stats.wishart(df=pr["nu0"], scale=W0).logpdf(np.eye(D))
              + 0.5 * np.trace(pr["W0inv"]))  # log B(W0, nu0): log|I| = 0
    for k in range(K):
        nu, beta, m = th["nu"][k], th["beta"][k], th["m"][k]
        W = np.linalg.inv(nu * th["S"][k])
        elogdet = e_log_det(nu, W)
        e_log_wishart = (log_b0 + 0.5 * (pr["nu0"] - D - 1.0) * elogdet
                         - 0.5 * nu * np.trace(pr["W0inv"] @ W))
        kl_w = -stats.wishart(df=nu, scale=W).entropy() - e_log_wishart
        diff = m - pr["m0"]
        kl_g = 0.5 * (D * pr["b0"] / beta + pr["b0"] * nu * diff @ W @ diff - D
                      + D * np.log(beta / pr["b0"]))
        kl += kl_w + kl_g
    return float(kl)


def full_bound(X: np.ndarray, th: dict, pr: dict, prior_type: str) -> float:
    return float(logsumexp(rho(X, th, prior_type), axis=1).sum()
                 - kl_theta(th, pr, prior_type))


def dirichlet_free(c: np.ndarray, fixed: np.ndarray, frozen: np.ndarray) -> np.ndarray:
    """Free entries of the Dirichlet nearest Dir(c): roots of KL's gradient (SciPy)."""
    free = ~frozen

    def grad(log_af: np.ndarray) -> np.ndarray:
        alpha = fixed.copy()
        alpha[free] = np.exp(log_af)
        total = alpha.sum()
        return ((alpha - c) * polygamma(1, alpha) - polygamma(1, total) * np.sum(alpha - c))[free]

    sol = optimize.root(grad, np.log(c[free]), method="hybr", tol=1e-14)
    assert np.max(np.abs(grad(sol.x))) < 1e-13, sol.message
    out = fixed.copy()
    out[free] = np.exp(sol.x)
    return out


def m_step(X: np.ndarray, resp: np.ndarray, th0: dict, pr: dict, fz: dict, kind: str,
           prior_type: str, reg: float) -> dict:
    """The free factors' updates given the frozen ones (held at ``th0``)."""
    nk = resp.sum(axis=0) + EPS10
    xbar = resp.T @ X / nk[:, None]
    S = np.empty((K, D, D))
    for k in range(K):
        diff = X - xbar[k]
        S[k] = (resp[:, k, None] * diff).T @ diff / nk[k] + reg * np.eye(D)
    if kind == "diag":
        S = np.array([np.diag(np.diag(s)) for s in S])
    elif kind == "spherical":
        S = np.array([np.trace(s) / D * np.eye(D) for s in S])
    wf = fz.get("weights", np.zeros(K, bool))
    if prior_type == "dirichlet_process":
        tail = np.array([nk[k + 1:].sum() for k in range(K)])
        conc = np.array([1.0 + nk, pr["a0"] + tail])
        conc[:, wf] = th0["conc"][:, wf]
    else:
        target = pr["a0"] + nk
        conc = target if not wf.any() else dirichlet_free(target, th0["conc"], wf)
    mf = fz.get("means", np.zeros((K, D), bool))
    cf = fz.get("covariances", np.zeros(K, bool))
    beta, m = np.empty(K), np.empty((K, D))
    nu, cov = np.empty(K), np.empty((K, D, D))
    for k in range(K):
        b_star = pr["b0"] + nk[k]
        m_star = (pr["b0"] * pr["m0"] + nk[k] * xbar[k]) / b_star
        dev = xbar[k] - pr["m0"]
        scale_star = pr["W0inv"] + nk[k] * S[k] + pr["b0"] * nk[k] / b_star * np.outer(dev, dev)
        if mf[k].all():
            beta[k], m[k] = th0["beta"][k], th0["m"][k]
        else:
            beta[k], m[k] = b_star, m_star
            if mf[k].any():  # conditional in precision form
                coupling = th0["nu"][k] * th0["S"][k] if cf[k] else scale_star
                if kind != "full":
                    coupling = np.diag(np.diag(coupling))
                P = np.linalg.inv(coupling)
                f, c = ~mf[k], mf[k]
                m[k, c] = th0["m"][k, c]
                m[k, f] = m_star[f] - np.linalg.solve(P[np.ix_(f, f)],
                                                      P[np.ix_(f, c)] @ (m[k, c] - m_star[c]))
        if cf[k]:
            nu[k], cov[k] = th0["nu"][k], th0["S"][k]
            continue
        d1, d0 = xbar[k] - m[k], m[k] - pr["m0"]
        A = (pr["W0inv"] + nk[k] * S[k] + nk[k] * np.outer(d1, d1)
             + pr["b0"] * np.outer(d0, d0))
        if kind == "diag":
            A = np.diag(np.diag(A))
        elif kind == "spherical":
            A = np.trace(A) / D * np.eye(D)
        nu[k] = pr["nu0"] + nk[k]
        cov[k] = A / nu[k]
    return {"conc": conc, "beta": beta, "m": m, "nu": nu, "S": cov}


def reference_run(X: np.ndarray, th0: dict, pr: dict, fz: dict, kind: str, prior_type: str,
                  reg: float, n_iter: int) -> tuple[dict, list[float]]:
    th, bounds = th0, []
    for _ in range(n_iter):
        r = rho(X, th, prior_type)
        resp = np.exp(r - logsumexp(r, axis=1, keepdims=True))
        th = m_step(X, resp, th0, pr, fz, kind, prior_type, reg)
        bounds.append(full_bound(X, th, pr, prior_type))
    return th, bounds


# ------------------------------------------------------------------- helpers
def perturbed_start(X: np.ndarray, kind: str, prior_type: str, **kw: Any) -> Any:
    """A short unfrozen fit whose means and covariances are then moved by hand."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = BayesianGaussianMixture(n_components=K, covariance_type=kind,
                                      weight_concentration_prior_type=prior_type,
                                      random_state=1, max_iter=2, **kw).fit(X)
    est.means_ = est.means_ + np.array([0.5, -0.3, 0.2])
    est.covariances_ = est.covariances_ * 1.4
    return est


def refit(est: Any, freeze: dict, n_iter: int, **kw: Any) -> Any:
    est.set_params(freeze=freeze, warm_start=True, max_iter=n_iter, tol=0.0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", MonotonicityWarning)
        return est.fit(X_of(est))


_DATA: dict[int, np.ndarray] = {}


def X_of(est: Any) -> np.ndarray:
    return _DATA[id(est)]


FREEZES = {
    "weights": lambda: {"weights_": np.array([True, False, True, False])},
    "means_rows_and_cov": lambda: {"means_": np.array([True, False, False, False]),
                                   "covariances_": np.array([False, True, True, False])},
    "means_entries": lambda: {"means_": np.array([[True, False, True], [False] * 3,
                                                   [False, True, False], [True] * 3]),
                              "covariances_": np.array([False, False, True, False])},
    "all_but_weights": lambda: {"means_": True, "precisions_": True},
}


def masks_of(freeze: dict) -> dict:
    fz: dict = {}
    if "weights_" in freeze:
        fz["weights"] = np.broadcast_to(freeze["weights_"], (K,)).copy()
    if "means_" in freeze:
        m = np.asarray(freeze["means_"])
        fz["means"] = (np.repeat(m[:, None], D, axis=1) if m.ndim == 1
                       else np.broadcast_to(m, (K, D)).copy())
    cov = freeze.get("covariances_", freeze.get("precisions_"))
    if cov is not None:
        fz["covariances"] = np.broadcast_to(cov, (K,)).copy()
    return fz


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("kind", ["full", "diag", "spherical"])
def test_reference_m_step_is_scikit_learns(X: np.ndarray, kind: str, prior_type: str) -> None:
    """With nothing frozen the reference M-step is scikit-learn's ``_m_step``."""
    sk = SkBGM(n_components=K, covariance_type=kind, weight_concentration_prior_type=prior_type,
               random_state=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        sk.fit(X)
    pr = prior_of(sk)
    resp = sk.predict_proba(X)
    ours = m_step(X, resp, theta_of(sk), pr, {}, kind, prior_type, sk.reg_covar)
    sk._m_step(X, np.log(np.maximum(resp, 1e-300)))
    want = theta_of(sk)
    for key in ("conc", "beta", "m", "nu", "S"):
        np.testing.assert_allclose(ours[key], want[key], rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("case", sorted(FREEZES))
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("kind", ["full", "diag", "spherical"])
def test_matches_reference_and_bound_rises(X: np.ndarray, kind: str, prior_type: str,
                                           case: str) -> None:
    est = perturbed_start(X, kind, prior_type)
    _DATA[id(est)] = X
    th0, pr = theta_of(est), prior_of(est)
    cov0 = np.array(est.covariances_)
    freeze = FREEZES[case]()
    n_iter = 8
    want, bounds = reference_run(X, th0, pr, masks_of(freeze), kind, prior_type,
                                 est.reg_covar, n_iter)
    refit(est, freeze, n_iter)
    got = theta_of(est)
    for key in ("conc", "beta", "m", "nu", "S"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-8, atol=1e-10, err_msg=key)
    np.testing.assert_allclose(est.lower_bounds_, bounds, rtol=1e-10)
    assert est.lower_bound_ == est.lower_bounds_[-1]
    start_bound = full_bound(X, th0, pr, prior_type)
    path = np.r_[start_bound, bounds]
    assert np.all(np.diff(path) >= -1e-9 * np.abs(path[1:])), np.diff(path)
    assert path[-1] > start_bound  # something moved
    fz = masks_of(freeze)
    # frozen blocks are the start, bit for bit
    if "means" in fz:
        np.testing.assert_array_equal(got["m"][fz["means"]], th0["m"][fz["means"]])
        whole = fz["means"].all(axis=1)
        np.testing.assert_array_equal(got["beta"][whole], th0["beta"][whole])
    if "covariances" in fz:
        c = fz["covariances"]
        np.testing.assert_array_equal(np.asarray(est.covariances_)[c], cov0[c])
        np.testing.assert_array_equal(got["nu"][c], th0["nu"][c])
    if "weights" in fz:
        w = fz["weights"]
        np.testing.assert_array_equal(np.atleast_2d(got["conc"])[..., w],
                                      np.atleast_2d(th0["conc"])[..., w])


def test_frozen_start_is_kept_with_chunks_and_fresh_start(X: np.ndarray) -> None:
    freeze = {"means_": True, "covariances_": True}
    kw = dict(n_components=K, random_state=3, max_iter=6, tol=0.0, freeze=freeze)
    start = BayesianGaussianMixture(**{**kw, "freeze": None, "max_iter": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X)
        a = BayesianGaussianMixture(**kw).fit(X)
        b = BayesianGaussianMixture(**kw, chunk_size=37).fit(X)
    np.testing.assert_array_equal(a.means_, start.means_)
    np.testing.assert_array_equal(a.covariances_, start.covariances_)
    assert not np.allclose(a.weights_, start.weights_)
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-10)


@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_dask_equals_in_memory(X: np.ndarray, prior_type: str) -> None:
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    freeze = {"weights_": np.array([False, True, False, False]),
              "means_": np.array([[False, True, False]] + [[False] * 3] * 3)}
    kw = dict(n_components=K, random_state=0, max_iter=10, tol=0.0, freeze=freeze,
              weight_concentration_prior_type=prior_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mem = BayesianGaussianMixture(**kw).fit(X)
        with dask.config.set(scheduler="synchronous"):
            dsk = BayesianGaussianMixture(**kw).fit(da.from_array(X, chunks=(50, D)))
    for name in ("weights_", "means_", "covariances_", "mean_precision_",
                 "degrees_of_freedom_", "lower_bounds_"):
        np.testing.assert_allclose(getattr(dsk, name), getattr(mem, name), rtol=1e-8,
                                   err_msg=name)


def test_save_load_keeps_freeze(X: np.ndarray, tmp_path: Any) -> None:
    freeze = {"means_": np.array([True, False, False, True]), "covariances_": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = BayesianGaussianMixture(n_components=K, random_state=0, max_iter=5,
                                      freeze=freeze).fit(X)
    back = emkit.load(est.save(tmp_path / "bgm.npz"))
    np.testing.assert_array_equal(back.freeze["means_"], freeze["means_"])
    assert back.freeze["covariances_"] is True
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert back.lower_bound_ == est.lower_bound_


@pytest.mark.parametrize(("freeze", "match"), [
    ({"weights_": True, "means_": True, "covariances_": True}, "nothing to fit"),
    ({"weights_": True, "means_": np.ones((K, D), bool), "precisions_": True},
     "nothing to fit"),
    ({"means_": np.ones((K, D + 1), bool)}, r"shape \(4, 3\)"),
    ({"covariances_": np.ones((K, D, D), bool)}, r"shape \(4,\)"),
    ({"weights_": np.ones(K)}, "boolean mask"),
    ({"mean_": True}, "unknown attribute"),
    ({"covariances_": True, "precisions_": True}, "names both"),
])
def test_bad_freeze(X: np.ndarray, freeze: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BayesianGaussianMixture(n_components=K, freeze=freeze).fit(X)


def test_tied_refused(X: np.ndarray) -> None:
    with pytest.raises(ValueError, match="tied"):
        BayesianGaussianMixture(n_components=K, covariance_type="tied",
                                freeze={"means_": True}).fit(X)
    # an empty freeze is no freeze (three iterations: not converged, and that is fine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        BayesianGaussianMixture(n_components=2, covariance_type="tied", max_iter=3,
                                freeze={"means_": False}).fit(X)
