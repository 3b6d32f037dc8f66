"""The models' ``monotone_slack``: what an inexact M-step may cost EM's monotone guarantee.

Each slack is checked against an independent computation of what it claims to
be: the gap in EM's expected complete-data log-likelihood ``Q`` between the
best parameters and the M-step's (``Q`` from the rows, with scipy's
densities), or ``reg_covar``'s closed-form cost from the rows' scatter; and
where a step really lowers the objective, the drop is within it. The guards
in use are tested in ``test_monotone_guards.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal, poisson

import emkit
from emkit.distributions import LogNormal, Poisson, StudentT
from emkit.distributions._base import _SingleDistributionEM
from emkit.models.hmm.emission import HmmlearnPoissonEmission
from emkit.models.hmm.gmm_emission import GMMEmission
from emkit.models.mixture.gaussian_missing import MissingGaussianMixtureModel

TYPES = ("full", "tied", "diag", "spherical")


def strict(fn):
    """``fn()`` with MonotonicityWarning an error and ConvergenceWarning ignored."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", emkit.MonotonicityWarning)
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return fn()


def blobs(seed: int = 0, n: int = 120, d: int = 2) -> np.ndarray:
    """Two clusters and a tight third one of 4 rows (its variance meets the floors)."""
    r = np.random.default_rng(seed)
    return np.vstack([r.normal(0, 1, (n, d)), r.normal(4, 0.6, (n, d)),
                      r.normal(-4, 1e-3, (4, d))])


# -- GMMHMM: the shortfall of hmmlearn's update, against Q from the rows --------------------

def _cov_matrix(cov: np.ndarray, ctype: str, k: int, j: int, d: int) -> np.ndarray:
    if ctype == "full":
        return cov[k, j]
    if ctype == "tied":
        return cov[k]
    if ctype == "diag":
        return np.diag(cov[k, j])
    return cov[k, j] * np.eye(d)


def _gmm_q(X: np.ndarray, r: np.ndarray, w: np.ndarray, mu: np.ndarray, cov: np.ndarray,
           ctype: str) -> float:
    k_n, m_n, d = mu.shape
    return float(sum(r[:, k, j] @ (np.log(w[k, j]) + multivariate_normal(
        mu[k, j], _cov_matrix(cov, ctype, k, j, d)).logpdf(X))
        for k in range(k_n) for j in range(m_n)))


def _clip(s: np.ndarray, floor: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(s)
    return (vectors * np.maximum(values, floor)) @ vectors.T


def _best(X, r, new, ctype, update, floor):
    """EM's maximizer of Q over the letters in ``update`` (the others as in ``new``)."""
    k_n, m_n, d = new["means"].shape
    n = r.sum(axis=0)
    w = n / n.sum(axis=1, keepdims=True) if "w" in update else new["weights"]
    xbar = np.einsum("nkj,nd->kjd", r, X) / n[..., None]
    mu = xbar if "m" in update else new["means"]
    if "c" not in update:
        return w, mu, new["covars"]
    scatter = np.array([[(X - mu[k, j]).T @ ((X - mu[k, j]) * r[:, k, j, None])
                         for j in range(m_n)] for k in range(k_n)])
    if ctype == "full":
        cov = np.array([[_clip(scatter[k, j] / n[k, j], floor) for j in range(m_n)]
                        for k in range(k_n)])
    elif ctype == "tied":
        cov = np.array([_clip(scatter[k].sum(axis=0) / n[k].sum(), floor) for k in range(k_n)])
    elif ctype == "diag":
        cov = np.maximum(np.diagonal(scatter, axis1=2, axis2=3) / n[..., None], floor)
    else:
        cov = np.maximum(np.trace(scatter, axis1=2, axis2=3) / (d * n), floor)
    return w, mu, cov


def _gmm_case(ctype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = blobs(seed)
    k_n, m_n, d = 2, 2, X.shape[1]
    gamma = rng.dirichlet(np.ones(k_n), size=len(X))
    means = X[rng.choice(len(X), k_n * m_n, replace=False)].reshape(k_n, m_n, d)
    a = rng.normal(size=(k_n, m_n, d, d))
    full = a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(d)
    covars = {"full": full, "tied": full[:, 0], "diag": np.diagonal(full, axis1=2, axis2=3),
              "spherical": np.trace(full, axis1=2, axis2=3) / d}[ctype]
    weights = rng.dirichlet(np.ones(m_n), size=k_n)
    return X, gamma, {"weights": weights, "means": means, "covars": covars}


@pytest.mark.parametrize("update", ["wmc", "mc", "c", "m", "w"])
@pytest.mark.parametrize("ctype", TYPES)
@pytest.mark.parametrize("priors", [False, True])
def test_gmm_slack_is_the_gap_in_q(ctype, update, priors):
    X, gamma, params = _gmm_case(ctype)
    extra = {"weights_prior": 3.0, "means_prior": 1.0, "means_weight": 2.0} if priors else {}
    floor = 0.05
    emission = GMMEmission(ctype, 2, 2, X.shape[1], min_covar=floor, center=X.mean(axis=0),
                           **extra)
    prepared = emission.prepare(params)
    _, scratch = emission.log_prob(X, prepared)
    stats = emission.stats(X, gamma, prepared, scratch)
    new = {**params, **emission.m_step(stats, params, update)}
    slack = emission.monotone_slack(stats, params, update)
    # the rows' responsibilities, from scipy's densities
    dens = np.stack([[params["weights"][k, j] * multivariate_normal(
        params["means"][k, j], _cov_matrix(params["covars"], ctype, k, j, X.shape[1])).pdf(X)
        for j in range(2)] for k in range(2)]).transpose(2, 0, 1)
    r = gamma[:, :, None] * dens / dens.sum(axis=2, keepdims=True)
    best = _best(X, r, new, ctype, update, floor)
    gap = _gmm_q(X, r, *best, ctype) - _gmm_q(X, r, new["weights"], new["means"],
                                              new["covars"], ctype)
    assert gap >= -1e-12 * abs(_gmm_q(X, r, *best, ctype))  # Q's rounding where they tie
    assert slack == pytest.approx(gap, rel=1e-7, abs=1e-9)
    if priors or "mc" in update:  # hmmlearn's update is off EM's maximizer here
        assert gap > 1e-6


# -- PoissonHMM with lambdas_prior ----------------------------------------------------------

def test_hmmlearn_poisson_slack_is_the_gap_in_q():
    rng = np.random.default_rng(1)
    X = rng.poisson([2.0, 7.0], size=(200, 2)).astype(float)
    gamma = rng.dirichlet(np.ones(3), size=len(X))
    emission = HmmlearnPoissonEmission([Poisson()] * 3, lambdas_prior=4.0, lambdas_weight=1.5)
    params = {"emissions": [{"rate": rng.uniform(1, 8, 2)} for _ in range(3)]}
    prepared = emission.prepare(params)
    stats = emission.stats(X, gamma, prepared, None)
    rates = np.stack([p["rate"] for p in emission.m_step(stats, params, "l")["emissions"]])
    y_bar = (gamma.T @ X) / gamma.sum(axis=0)[:, None]

    def q(lam: np.ndarray) -> float:
        return float(sum(gamma[:, k] @ poisson.logpmf(X, lam[k]).sum(axis=1) for k in range(3)))

    gap = q(y_bar) - q(rates)
    assert gap > 1e-3
    assert emission.monotone_slack(stats, params, "l") == pytest.approx(gap, rel=1e-9)
    assert emission.monotone_slack(stats, params, "st") == 0.0  # rates not updated


# -- the penalized missing-data mixture -----------------------------------------------------

def _penalized_case():
    """A run whose penalized objective falls for dozens of steps (a tight cluster of 3
    rows, reg_covar 7.6e-3 dominating it): the objective of this model is not
    monotone, the bound on its fall is."""
    r = np.random.default_rng(92)
    n, d, k = r.choice([20, 40]), r.choice([2, 3]), r.choice([2, 3])
    X = r.normal(size=(n, d)) * r.uniform(0.01, 1, d)
    X[:3] = X[0] + 1e-6 * r.normal(size=(3, d))
    X[r.random(X.shape) < 0.1] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.0
    reg = 10 ** r.uniform(-5, -2)
    _ = r.choice(n, k, replace=False)  # the draw of the full-covariance case
    start = {"weights": np.full(k, 1 / k), "means": np.nan_to_num(X[r.choice(n, k, replace=False)]),
             "covariances": 0.1 * np.ones((k, d))}
    return MissingGaussianMixtureModel("diag", reg_covar=reg, penalized=True), X, start


def test_penalized_objective_falls_by_at_most_the_penalty_shift():
    model, X, params = _penalized_case()
    drops, slacks = [], []
    for _ in range(40):
        stats, objective = model.e_step(X, params)
        new = model.m_step(stats)
        drops.append(objective - model.e_step(X, new)[1])
        slacks.append(model.monotone_slack(stats))
        # the shift is its formula: (reg/2) sum_k (n_k - N w_k) tr(S_k^-1)
        traces = np.sum(1.0 / params["covariances"], axis=1)
        n = stats["n"]
        expected = 0.5 * model.reg_covar * (n - n.sum() * params["weights"]) @ traces
        assert stats["penalty_shift"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
        params = new
    drops, slacks = np.array(drops), np.array(slacks)
    assert drops.max() > 4e-3  # the old guard allowed 2e-5 * max(|objective|, 1): it warned
    assert np.all(drops <= slacks + 1e-10)
    falling = drops > 1e-10
    assert np.max(drops[falling] / slacks[falling]) > 0.8  # and the bound is close
    strict(lambda: emkit.em(model, X, _penalized_case()[2], tol=0, max_iter=60))


# -- reg_covar's cost for the Student-t and the log-normal ----------------------------------

def _loss(t: np.ndarray) -> np.ndarray:
    return np.log1p(t) - t / (1 + t)


def test_student_t_slack_is_reg_covar_cost_and_bounds_the_step():
    X = np.random.default_rng(2).standard_t(4, size=(300, 3)) @ np.diag([1.0, 0.5, 2.0])
    w = np.ones(len(X))
    mle = StudentT(reg_covar=0.0).fit(X, tol=1e-13, max_iter=5000).parameters()
    model = _SingleDistributionEM(StudentT(reg_covar=0.05))
    stats, _ = model.e_step((X, w), mle)
    result = strict(lambda: emkit.em(model, (X, w), mle, tol=0.0, max_iter=1))
    drop = result.logliks[0] - result.logliks[1]
    assert drop > 1e-7 * abs(result.logliks[0])  # beyond the old 1e-7 allowance
    # reg_covar's cost from the u-weighted scatter, computed from the rows
    nu, d = float(mle["dof"]), X.shape[1]
    dev = X - mle["mean"]
    u = (nu + d) / (nu + np.einsum("ij,jk,ik->i", dev, np.linalg.inv(mle["covariance"]), dev))
    centre = (u @ X) / u.sum()
    scatter = ((X - centre) * u[:, None]).T @ (X - centre) / len(X)
    cost = 0.5 * len(X) * _loss(0.05 / np.linalg.eigvalsh(scatter)).sum()
    assert model.monotone_slack(stats) == pytest.approx(cost, rel=1e-8)
    assert drop <= cost


def test_lognormal_slack_is_reg_var_cost():
    X = np.exp(np.random.default_rng(3).normal([0.0, 2.0], [0.3, 1.0], size=(200, 2)))
    dist = LogNormal(reg_var=0.05)
    stats = dist.stats(X)
    cost = 0.5 * len(X) * _loss(0.05 / np.log(X).var(axis=0)).sum()
    assert dist.m_step_slack(stats) == pytest.approx(cost, rel=1e-9)
    assert LogNormal(reg_var=0.0).m_step_slack(stats) == 0.0
