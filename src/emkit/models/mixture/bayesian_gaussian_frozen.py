"""The variational Bayesian Gaussian mixture with frozen variational factors.

:class:`FrozenBayesianGaussianMixtureModel` is
:class:`~emkit.models.mixture.bayesian_gaussian.BayesianGaussianMixtureModel`
with some blocks of the factorized posterior ``q(pi) prod_k q(mu_k, Lambda_k)``
(Bishop 2006, section 10.2) kept at given values (``fixed``, a start) while the
others get the coordinate-ascent update given them. ``masks`` (True = frozen):

``weights`` (K,)
    ``"dirichlet_process"``: stick ``k``'s Beta pair (``concentration[:, k]``)
    is kept. The sticks are separate factors and, given the responsibilities,
    stick ``k``'s optimum ``Beta(1 + N_k, alpha_0 + sum_{j > k} N_j)`` does not
    depend on the other sticks, so the free sticks get exactly that (the
    stick-breaking order is the components' order; a frozen stick still has
    its weight moved by the free sticks before it).
    ``"dirichlet_distribution"``: the frozen concentrations are kept and the free
    ones minimize ``KL(Dir(alpha) || Dir(alpha_0 + N))`` given them (one
    Dirichlet couples all entries: the free optimum is not ``alpha_0 + N_F``);
    solved by damped Newton steps to ~1e-15 relative.
``means`` (K, D)
    A component's whole row frozen keeps ``m_k`` and ``beta_k``. Frozen
    entries of a row keep their ``m_k`` values; ``beta_k`` is then free
    (``beta_0 + N_k``, which does not depend on ``m_k``) and the free entries are
    the Gaussian conditional of the unconstrained update ``m*_k`` given the frozen
    ones (:func:`~emkit.gaussian.constrained_mean.conditional_mean`): the bound
    depends on ``m_k`` through ``-1/2 nu (beta_0 + N) (m - m*)^T W (m - m*)``, so
    the coupling is ``W^-1`` for a frozen covariance factor; for a free one the
    joint maximum over ``(m_F, W)`` has the coupling ``W*^-1``, the unconstrained
    scale matrix (the profile is ``-(nu_0 + N)/2 log det(W*^-1 + (beta_0 + N) d d^T)``,
    Sherman-Morrison). Diagonal and spherical factors do not couple entries.
``covariances`` (K,)
    Component ``k``'s Wishart factor (``degrees_of_freedom[k]`` and
    ``covariances[k]``) is kept. A free one is ``nu_k = nu_0 + N_k`` and
    ``nu_k S_k = W_0^-1 + N_k (S + reg_covar) + N_k (xbar - m_k)(xbar - m_k)^T +
    beta_0 (m_k - m_0)(m_k - m_0)^T`` at the factor's (possibly frozen) mean:
    the exact optimum given ``q(mu_k | Lambda_k)`` (at the unconstrained mean it
    is scikit-learn's update). "diag" keeps the diagonal, "spherical" the mean of
    it. "tied" is not supported (its updates are scikit-learn's, not the
    coordinate ascent of a bound).

scikit-learn's lower bound drops the terms that cancel at the unconstrained
updates, so it is not a bound once a factor is frozen. The monitored quantity is
the full variational bound at the responsibilities the factors give,
``L(theta) = sum_i log sum_k exp(rho_ik) - KL(q(theta) || p(theta))``
(:func:`variational_kl`), which coordinate ascent never lowers (up to the
``reg_covar`` perturbation, :meth:`FrozenBayesianGaussianMixtureModel.monotone_slack`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import betaln, digamma, gammaln, multigammaln, polygamma

from ...gaussian.constrained_mean import conditional_mean
from ...gaussian.m_step import gaussian_mixture_m_step
from .bayesian_gaussian import _EPS10, BayesianGaussianMixtureModel, VariationalPrior

__all__ = ["FrozenBayesianGaussianMixtureModel", "variational_kl", "dirichlet_constrained"]


def _scale_parts(cov: np.ndarray, dof: np.ndarray, kind: str, d: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``log det W`` (K,) and ``W`` (K, D, D) of the Wishart factors from the normalized
    covariances ``S = W^-1 / nu`` ("full", "diag", "spherical")."""
    if kind == "full":
        scale = cov * dof[:, None, None]
        chol = np.linalg.cholesky(scale)
        log_det_inv = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        return -log_det_inv, np.linalg.inv(scale)
    var = cov * dof[:, None] if kind == "diag" else np.repeat((cov * dof)[:, None], d, axis=1)
    w = np.zeros((len(var), d, d))
    w[:, np.arange(d), np.arange(d)] = 1.0 / var
    return -np.log(var).sum(axis=1), w


def variational_kl(params: dict, prior: VariationalPrior, covariance_type: str,
                   prior_type: str) -> float:
    """``KL(q(theta) || p(theta))`` of the factors in ``params`` from the prior.

    The weights' Dirichlet (or the sticks' Betas) plus each component's
    Gaussian-Wishart: ``E_q[KL(N(m, (beta L)^-1) || N(m_0, (beta_0 L)^-1))] +
    KL(W(W, nu) || W(W_0, nu_0))``, with ``W_0^-1`` the ``covariance_prior`` (a
    diagonal one for "diag", a multiple of the identity for "spherical").
    Not for "tied".
    """
    conc = np.asarray(params["concentration"], dtype=np.float64)
    a0 = prior.weight_concentration
    if prior_type == "dirichlet_process":
        a, b = conc
        kl_w = float(np.sum(betaln(1.0, a0) - betaln(a, b) + (a - 1.0) * digamma(a)
                            + (b - a0) * digamma(b) + (1.0 + a0 - a - b) * digamma(a + b)))
    else:
        total, k = conc.sum(), len(conc)
        kl_w = float(gammaln(total) - gammaln(conc).sum() - gammaln(k * a0) + k * gammaln(a0)
                     + np.sum((conc - a0) * (digamma(conc) - digamma(total))))
    means = np.asarray(params["means"], dtype=np.float64)
    d = means.shape[1]
    beta = np.asarray(params["mean_precision"], dtype=np.float64)
    dof = np.asarray(params["degrees_of_freedom"], dtype=np.float64)
    log_det_w, w = _scale_parts(np.asarray(params["covariances"], dtype=np.float64), dof,
                                covariance_type, d)
    prior_inv = np.asarray(prior.covariance, dtype=np.float64)
    if covariance_type == "full":
        w0_inv = prior_inv
    elif covariance_type == "diag":
        w0_inv = np.diag(prior_inv)
    else:
        w0_inv = float(prior_inv) * np.eye(d)
    _, log_det_w0_inv = np.linalg.slogdet(w0_inv)
    nu0, b0 = prior.degrees_of_freedom, prior.mean_precision
    e_log_det = (digamma(0.5 * (dof - np.arange(d)[:, None])).sum(axis=0)
                 + d * math.log(2.0) + log_det_w)

    def log_norm(log_det_scale: Any, nu: Any) -> Any:  # Bishop's log B(W, nu)
        return -0.5 * nu * log_det_scale - 0.5 * nu * d * math.log(2.0) - multigammaln(
            0.5 * nu, d)

    nu_arr = np.atleast_1d(dof)
    kl_wishart = (np.array([log_norm(ld, nu) for ld, nu in zip(log_det_w, nu_arr, strict=True)])
                  - log_norm(-log_det_w0_inv, nu0) + 0.5 * (dof - nu0) * e_log_det
                  + 0.5 * dof * (np.einsum("ij,kji->k", w0_inv, w) - d))
    diff = means - prior.mean
    quad = np.einsum("ki,kij,kj->k", diff, w, diff)
    kl_gauss = 0.5 * (d * b0 / beta + b0 * dof * quad - d + d * np.log(beta / b0))
    return kl_w + float(np.sum(kl_wishart) + np.sum(kl_gauss))


def _dirichlet_kl(alpha: np.ndarray, target: np.ndarray) -> float:
    total = alpha.sum()
    return float(gammaln(total) - gammaln(alpha).sum()
                 + np.sum((alpha - target) * (digamma(alpha) - digamma(total))))


def dirichlet_constrained(target: np.ndarray, fixed: np.ndarray, frozen: np.ndarray,
                          max_iter: int = 200) -> np.ndarray:
    """The Dirichlet concentration nearest ``Dir(target)`` with the frozen entries kept.

    Minimizes ``KL(Dir(alpha) || Dir(target))`` over the free entries of
    ``alpha`` (the frozen ones are ``fixed``) by Newton steps, halved until the
    objective falls and ``alpha`` stays positive; the Hessian is
    ``diag(psi'(a) + (a - t) psi''(a)) - (psi'(A) + psi''(A) S) 1 1^T``.

    Parameters
    ----------
    target : ndarray of shape (K,)
        The unconstrained update ``alpha_0 + N``.
    fixed : ndarray of shape (K,)
    frozen : ndarray of bool, shape (K,)

    Returns
    -------
    ndarray of shape (K,)
    """
    alpha = np.where(frozen, fixed, target).astype(np.float64)
    free = ~frozen
    if not free.any() or not frozen.any():
        return alpha
    value = _dirichlet_kl(alpha, target)
    for _ in range(max_iter):
        total, gap = alpha.sum(), float(np.sum(alpha - target))
        af = alpha[free]
        grad = (af - target[free]) * polygamma(1, af) - polygamma(1, total) * gap
        diag = polygamma(1, af) + (af - target[free]) * polygamma(2, af)
        rank = float(polygamma(1, total) + polygamma(2, total) * gap)
        hess = np.diag(diag) - rank
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = -grad / np.abs(diag)
        if not float(step @ grad) < 0.0:
            step = -grad / np.abs(diag)
        t = 1.0
        while True:
            trial = alpha.copy()
            trial[free] = af + t * step
            if np.all(trial[free] > 0.0):
                new = _dirichlet_kl(trial, target)
                if new <= value + 1e-15 * abs(value) or t < 1e-12:
                    break
            t *= 0.5
            if t < 1e-12:
                trial = alpha
                new = value
                break
        moved = np.max(np.abs(trial[free] - af) / af)
        alpha, value = trial, new
        if moved < 1e-15:
            break
    return alpha


class FrozenBayesianGaussianMixtureModel(BayesianGaussianMixtureModel):
    """The variational Gaussian mixture whose frozen factors keep their start.

    Parameters
    ----------
    covariance_type : {"full", "diag", "spherical"}
    prior, prior_type, n_components, total_rows, reg_covar, chunk_size
        As :class:`BayesianGaussianMixtureModel`.
    masks : dict
        ``weights`` (K,), ``means`` (K, D), ``covariances`` (K,) boolean arrays
        (True = frozen); missing keys are free.

    Call :meth:`start_from` with a run's start before its first M-step: the
    frozen factors are copied from it. The E-step's bound is the full variational
    bound (see the module docstring), not scikit-learn's.
    """

    def __init__(self, covariance_type: str, prior: VariationalPrior, prior_type: str,
                 n_components: int, total_rows: int, reg_covar: float = 1e-6,
                 chunk_size: int | None = None, masks: dict | None = None):
        if covariance_type == "tied":
            raise ValueError("freeze is not supported for covariance_type='tied': its "
                             "variational updates (scikit-learn's) are not the coordinate "
                             "ascent of a bound; use 'full'")
        super().__init__(covariance_type, prior, prior_type, n_components, total_rows,
                         reg_covar, chunk_size)
        self.masks = {key: np.asarray(value, dtype=bool) for key, value in (masks or {}).items()}
        self.fixed: dict | None = None

    def start_from(self, params: dict) -> None:
        """Keep a copy of ``params`` (a run's start): the frozen factors' values."""
        self.fixed = {key: np.array(value, dtype=np.float64, copy=True)
                      for key, value in params.items()}

    def e_step(self, data: np.ndarray, params: dict) -> tuple[dict, float]:
        """The statistics and this piece's share of the full variational bound."""
        X = data
        gparams, shift = self.gaussian_params(params)
        stats, lse = self.gaussian.e_step(X, gparams)
        lse += shift * len(X)
        used = np.log(gparams["weights"]) + shift
        stats["entropy"] = np.asarray(lse - self._expected_rho_sum(stats, used, params))
        share = len(X) / self.total_rows
        return stats, float(lse) - share * self.kl(params)

    def kl(self, params: dict) -> float:
        """:func:`variational_kl` of ``params`` under this model's prior."""
        return variational_kl(params, self.prior, self.covariance_type, self.prior_type)

    def _mask(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        mask = self.masks.get(key)
        return np.zeros(shape, dtype=bool) if mask is None else mask

    def m_step(self, stats: dict) -> dict:
        """The free factors' coordinate-ascent updates given the frozen ones."""
        if self.fixed is None:
            raise RuntimeError("call start_from(params) before the first M-step")
        fixed, p, k, kind = self.fixed, self.prior, self.n_components, self.covariance_type
        g = gaussian_mixture_m_step(stats, kind, self.reg_covar)
        nk = np.asarray(stats["n"], dtype=np.float64) + _EPS10
        xk, sk = g["means"], g["covariances"]
        d = xk.shape[1]
        w_mask = self._mask("weights", (k,))
        if self.prior_type == "dirichlet_process":
            conc = np.stack((1.0 + nk, p.weight_concentration
                             + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0))))
            conc[:, w_mask] = fixed["concentration"][:, w_mask]
        else:
            conc = dirichlet_constrained(p.weight_concentration + nk,
                                         fixed["concentration"], w_mask)
        m_mask = self._mask("means", (k, d))
        c_mask = self._mask("covariances", (k,))
        whole = np.asarray(m_mask.all(axis=1), dtype=bool)
        beta = np.where(whole, fixed["mean_precision"], p.mean_precision + nk)
        star = (p.mean_precision * p.mean + nk[:, None] * xk) / (p.mean_precision + nk)[:, None]
        means = star.copy()
        for j in np.flatnonzero(m_mask.any(axis=1)):
            if whole[j]:
                means[j] = fixed["means"][j]
            elif kind != "full":
                means[j, m_mask[j]] = fixed["means"][j, m_mask[j]]
            else:
                if c_mask[j]:
                    coupling = fixed["covariances"][j]
                else:
                    delta = xk[j] - p.mean
                    coupling = (p.covariance + nk[j] * sk[j] + nk[j] * p.mean_precision
                                / (p.mean_precision + nk[j]) * np.outer(delta, delta))
                means[j] = conditional_mean(star[j], fixed["means"][j], m_mask[j], coupling)
        d1, d0 = xk - means, means - p.mean
        dof = p.degrees_of_freedom + nk
        if kind == "full":
            cov = (p.covariance + nk[:, None, None] * sk
                   + nk[:, None, None] * d1[:, :, None] * d1[:, None, :]
                   + p.mean_precision * d0[:, :, None] * d0[:, None, :]) / dof[:, None, None]
        elif kind == "diag":
            cov = (p.covariance + nk[:, None] * (sk + d1**2)
                   + p.mean_precision * d0**2) / dof[:, None]
        else:
            cov = (p.covariance + nk * sk + np.mean(nk[:, None] * d1**2
                                                    + p.mean_precision * d0**2, axis=1)) / dof
        dof = np.where(c_mask, fixed["degrees_of_freedom"], dof)
        cov[c_mask] = fixed["covariances"][c_mask]
        return {"concentration": conc, "mean_precision": beta, "means": means,
                "degrees_of_freedom": dof, "covariances": cov,
                "entropy": np.asarray(stats["entropy"], dtype=np.float64)}

    def monotone_slack(self, stats: dict) -> float:
        """What ``reg_covar`` may cost a step: ``nu / 2 sum_j [log(1 + t_j) - t_j / (1 + t_j)]``
        over the free Wishart factors, ``t_j`` the eigenvalues of ``N_k reg_covar A*^-1``
        with ``A*`` the exact scale at the step's means (see the base model)."""
        if self.reg_covar == 0.0:
            return 0.0
        step = self.m_step(stats)
        free = ~self._mask("covariances", (self.n_components,))
        if not free.any():
            return 0.0
        nk = (np.asarray(stats["n"], dtype=np.float64) + _EPS10)[free]
        dof = np.asarray(step["degrees_of_freedom"], dtype=np.float64)[free]
        cov = np.asarray(step["covariances"], dtype=np.float64)[free]
        reg, kind = self.reg_covar, self.covariance_type
        d = np.shape(step["means"])[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "full":
                exact = cov * dof[:, None, None] - nk[:, None, None] * reg * np.eye(d)
                t, weight = nk[:, None] * reg / np.linalg.eigvalsh(exact), dof[:, None] / 2.0
            elif kind == "diag":
                exact = cov * dof[:, None] - nk[:, None] * reg
                t, weight = nk[:, None] * reg / exact, dof[:, None] / 2.0
            else:
                exact = cov * dof - nk * reg
                t, weight = nk * reg / exact, d * dof / 2.0
            finite = np.isfinite(t) & (t >= 0.0)
            safe = np.where(finite, t, 0.0)
            loss = np.where(finite, np.log1p(safe) - safe / (1.0 + safe), np.inf)
        return float(np.sum(weight * loss))
