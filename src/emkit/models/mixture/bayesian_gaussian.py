"""The variational Bayesian Gaussian mixture as an EM model (scikit-learn's updates).

The posterior over the mixture's parameters is approximated by a factorized
distribution (Bishop 2006, section 10.2; Blei & Jordan 2006 for the Dirichlet
process): a Dirichlet (or the stick-breaking Betas of a truncated Dirichlet
process) over the weights and a Gaussian-Wishart over each component's mean and
precision. Variational EM alternates

* the **E-step**: responsibilities ``r_ik`` proportional to
  ``exp(E[log pi_k] + E[log N(x_i | mu_k, Lambda_k)])``. That expectation is a
  Gaussian log-density at the posterior mean ``m_k`` and the normalized
  covariance ``S_k = W_k^-1 / nu_k`` plus a per-component constant, so the E-step
  is :class:`~emkit.models.mixture.gaussian.GaussianMixtureModel`'s compiled
  E-step run with the (unnormalized) weights ``exp(c_k)``: the same additive
  statistics ``n``, ``sum``, ``centred_sum``, ``centred_outer``, plus ``entropy``
  ``= -sum_ik r_ik log r_ik``, which is linear in them and in the row log-sum-exps;
* the **M-step**: scikit-learn's closed-form updates of the concentration, the
  mean precision ``beta_k``, the means, the degrees of freedom ``nu_k`` and the
  normalized covariances from the weighted sums.

The monitored quantity is scikit-learn's lower bound (``_compute_lower_bound``,
constants dropped), ``H(r) + f(q(theta))`` evaluated after the M-step: ``H`` is
the entropy of the responsibilities that M-step used (kept in the parameters as
``entropy``) and ``f`` depends on the parameters only. The E-step of a piece of
``n`` of the ``total_rows`` rows returns ``n / total_rows`` of it, so the pieces
of a chunked or Dask E-step add up to the whole bound (as the HMM model shares
its log prior).

Parameters (a dict): ``concentration`` ((2, K) Beta parameters for
``"dirichlet_process"``, (K,) for ``"dirichlet_distribution"``),
``mean_precision`` (K,), ``means`` (K, D), ``degrees_of_freedom`` ((K,), or ()
for ``tied``), ``covariances`` (scikit-learn's shapes), ``entropy`` ().
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import betaln, digamma, gammaln

from ...gaussian.m_step import gaussian_mixture_m_step
from ...gaussian.reference import precision_cholesky
from .gaussian import GaussianMixtureModel

__all__ = ["VariationalPrior", "BayesianGaussianMixtureModel", "mixture_weights",
           "log_det_cholesky", "resp_entropy", "PRIOR_TYPES"]

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
_EPS10 = 10 * np.finfo(float).eps


@dataclass(frozen=True)
class VariationalPrior:
    """The prior's hyperparameters, resolved as scikit-learn resolves them.

    Attributes
    ----------
    weight_concentration : float
    mean_precision : float
    mean : ndarray of shape (D,)
    degrees_of_freedom : float
    covariance : ndarray
        (D, D) for full and tied, (D,) for diag, () for spherical.
    """

    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: np.ndarray


def log_det_cholesky(prec_chol: np.ndarray, covariance_type: str, n_features: int) -> Any:
    """``log det`` of the precision's Cholesky factor, per component (a float for tied)."""
    if covariance_type == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return float(np.log(np.diag(prec_chol)).sum())
    if covariance_type == "diag":
        return np.log(prec_chol).sum(axis=1)
    return n_features * np.log(prec_chol)


def mixture_weights(concentration: np.ndarray, prior_type: str) -> np.ndarray:
    """The posterior-mean weights scikit-learn reports as ``weights_``, shape (K,)."""
    if prior_type == "dirichlet_process":
        a, b = concentration
        total = a + b
        weights = a / total * np.hstack((1.0, np.cumprod(b / total)[:-1]))
        return weights / weights.sum()
    return concentration / concentration.sum()


def resp_entropy(resp: np.ndarray) -> float:
    """``-sum r log r`` over all rows and components (``0 log 0 = 0``)."""
    r = np.asarray(resp, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return float(-np.sum(np.where(r > 0.0, r * np.log(np.where(r > 0.0, r, 1.0)), 0.0)))


def _expected_log_weights(concentration: np.ndarray, prior_type: str) -> np.ndarray:
    if prior_type == "dirichlet_process":
        a, b = concentration
        dsum = digamma(a + b)
        return digamma(a) - dsum + np.hstack((0.0, np.cumsum(digamma(b) - dsum)[:-1]))
    return digamma(concentration) - digamma(concentration.sum())


class BayesianGaussianMixtureModel:
    """Variational Bayesian Gaussian mixture as an :class:`emkit.EMModel`.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    prior : VariationalPrior
    prior_type : {"dirichlet_process", "dirichlet_distribution"}
    n_components : int
    total_rows : int
        Rows of the whole data set (each piece's E-step returns its share of the bound).
    reg_covar : float, default 1e-6
    chunk_size : int or None, default None
        Rows per E-step chunk of the underlying Gaussian E-step.

    Notes
    -----
    ``data`` is an array ``X`` of shape (N, D), float64.
    """

    def __init__(self, covariance_type: str, prior: VariationalPrior, prior_type: str,
                 n_components: int, total_rows: int, reg_covar: float = 1e-6,
                 chunk_size: int | None = None):
        if prior_type not in PRIOR_TYPES:
            raise ValueError(f"weight_concentration_prior_type must be one of {PRIOR_TYPES}, "
                             f"got {prior_type!r}")
        if int(total_rows) < 1:
            raise ValueError(f"total_rows must be a positive integer, got {total_rows!r}")
        self.gaussian = GaussianMixtureModel(covariance_type, reg_covar, chunk_size)
        self.covariance_type = covariance_type
        self.prior = prior
        self.prior_type = prior_type
        self.n_components = int(n_components)
        self.total_rows = int(total_rows)
        self.reg_covar = float(reg_covar)
        # the M-step's reg_covar makes it a perturbed maximizer of the bound; it is
        # monitored, not guaranteed, exactly as scikit-learn monitors it
        self.monotone_rtol = 1e-8

    # -- the EMModel protocol -------------------------------------------------
    def e_step(self, data: np.ndarray, params: dict) -> tuple[dict, float]:
        """Additive statistics (see the module docstring) and this piece's share of
        the lower bound of ``params``.

        Parameters
        ----------
        data : ndarray of shape (N, D)
        params : dict (see the module docstring)

        Returns
        -------
        stats : dict
            ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D), ``centred_outer``,
            ``entropy`` ().
        bound : float
        """
        X = data
        gparams, shift = self.gaussian_params(params)
        stats, lse = self.gaussian.e_step(X, gparams)
        lse += shift * len(X)
        used = np.log(gparams["weights"]) + shift  # the log-weights the kernel used
        stats["entropy"] = np.asarray(lse - self._expected_rho_sum(stats, used, params))
        share = len(X) / self.total_rows
        return stats, share * self.lower_bound(params)

    def m_step(self, stats: dict) -> dict:
        """scikit-learn's variational updates from summed statistics."""
        g = gaussian_mixture_m_step(stats, self.covariance_type, self.reg_covar)
        nk = np.asarray(stats["n"], dtype=np.float64) + _EPS10
        xk, sk = g["means"], g["covariances"]
        p = self.prior
        k = self.n_components
        if self.prior_type == "dirichlet_process":
            conc = np.stack((1.0 + nk, p.weight_concentration
                             + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0))))
        else:
            conc = p.weight_concentration + nk
        beta = p.mean_precision + nk
        means = (p.mean_precision * p.mean + nk[:, None] * xk) / beta[:, None]
        diff = xk - p.mean
        kind = self.covariance_type
        if kind == "full":
            dof = p.degrees_of_freedom + nk
            scale = nk * p.mean_precision / beta
            cov = (p.covariance + nk[:, None, None] * sk
                   + scale[:, None, None] * diff[:, :, None] * diff[:, None, :])
            cov = cov / dof[:, None, None]
        elif kind == "tied":
            dof = np.asarray(p.degrees_of_freedom + nk.sum() / k)
            cov = (p.covariance + sk * nk.sum() / k
                   + p.mean_precision / k * np.dot((nk / beta) * diff.T, diff))
            cov = cov / dof
        elif kind == "diag":
            dof = p.degrees_of_freedom + nk
            cov = p.covariance + nk[:, None] * (sk + (p.mean_precision / beta)[:, None] * diff**2)
            cov = cov / dof[:, None]
        else:
            dof = p.degrees_of_freedom + nk
            cov = p.covariance + nk * (sk + p.mean_precision / beta * np.mean(diff**2, axis=1))
            cov = cov / dof
        return {"concentration": conc, "mean_precision": beta, "means": means,
                "degrees_of_freedom": dof, "covariances": cov,
                "entropy": np.asarray(stats["entropy"], dtype=np.float64)}

    def is_feasible(self, params: dict) -> bool:
        """False for non-positive concentrations, precisions or variances."""
        cov = np.asarray(params["covariances"])
        ok = (np.all(params["concentration"] > 0) and np.all(params["mean_precision"] > 0)
              and np.all(np.isfinite(cov)))
        if self.covariance_type in ("full", "tied"):
            cov = np.diagonal(cov, axis1=-2, axis2=-1)
        return bool(ok and np.all(cov > 0.0))

    def monotone_slack(self, stats: dict) -> float:
        """How much the M-step from ``stats`` may lower the bound because of ``reg_covar``.

        Given the responsibilities, the bound's dependence on a component's
        (unnormalized) Wishart scale ``A = W^-1`` is ``nu / 2 (-log det A - tr(A* A^-1))``
        plus terms free of ``A``, maximal at the exact update ``A*``. ``reg_covar``
        adds ``n_k reg_covar I`` to ``A*``, which costs ``nu / 2 sum_j [log(1 + t_j) -
        t_j / (1 + t_j)]`` over the eigenvalues ``t_j`` of ``n_k reg_covar A*^-1``
        (each variance for diag, the one scale D times for spherical, the pooled
        scale K times for tied).
        """
        if self.reg_covar == 0.0:
            return 0.0
        exact = BayesianGaussianMixtureModel(self.covariance_type, self.prior, self.prior_type,
                                             self.n_components, self.total_rows, 0.0)
        params = exact.m_step(stats)
        nk = np.asarray(stats["n"], dtype=np.float64) + _EPS10
        dof = np.asarray(params["degrees_of_freedom"], dtype=np.float64)
        scale = np.asarray(params["covariances"]) * (
            dof[..., None, None] if self.covariance_type == "full"
            else dof[..., None] if self.covariance_type == "diag" else dof)
        kind = self.covariance_type
        # a singular exact update (a constant column) has an eigenvalue 0: t = inf,
        # an unbounded cost, so the step is not checked
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "full":
                lam = np.linalg.eigvalsh(scale)  # (K, D)
                t, weight = nk[:, None] * self.reg_covar / lam, dof[:, None] / 2.0
            elif kind == "tied":
                lam = np.linalg.eigvalsh(scale)
                t = nk.sum() / self.n_components * self.reg_covar / lam
                weight = np.asarray(self.n_components * float(dof) / 2.0)
            elif kind == "diag":
                t, weight = nk[:, None] * self.reg_covar / scale, dof[:, None] / 2.0
            else:
                d = np.shape(params["means"])[1]
                t, weight = nk * self.reg_covar / scale, d * dof / 2.0
            finite = np.isfinite(t) & (t >= 0.0)
            safe = np.where(finite, t, 0.0)
            loss = np.where(finite, np.log1p(safe) - safe / (1.0 + safe), np.inf)
        return float(np.sum(weight * loss))

    def gaussian_params(self, params: dict) -> tuple[dict, float]:
        """Parameters for :class:`GaussianMixtureModel` whose weighted log-densities
        plus the returned shift are the variational ``rho_ik`` of ``params``."""
        log_w = self.log_weight_terms(params)
        shift = float(log_w.max())
        # a term more than ~690 below the largest gives responsibilities of 0 either way
        weights = np.maximum(np.exp(log_w - shift), 1e-300)
        return {"weights": weights, "means": params["means"],
                "covariances": params["covariances"]}, shift

    # -- the variational quantities -------------------------------------------
    def log_weight_terms(self, params: dict) -> np.ndarray:
        """``c_k``: what ``E[log pi_k] + E[log N(x | mu_k, Lambda_k)]`` adds to
        ``log N(x | m_k, S_k)``, shape (K,)."""
        d = np.shape(params["means"])[1]
        dof = np.broadcast_to(np.asarray(params["degrees_of_freedom"], dtype=np.float64),
                              (self.n_components,))
        log_lambda = d * math.log(2.0) + digamma(
            0.5 * (dof - np.arange(d)[:, None])).sum(axis=0)
        return (_expected_log_weights(params["concentration"], self.prior_type)
                - 0.5 * d * np.log(dof)
                + 0.5 * (log_lambda - d / params["mean_precision"]))

    def lower_bound(self, params: dict) -> float:
        """scikit-learn's ``_compute_lower_bound`` at ``params`` (whose ``entropy`` is
        that of the responsibilities they were updated from)."""
        d = np.shape(params["means"])[1]
        dof = params["degrees_of_freedom"]
        prec_chol = precision_cholesky(params["covariances"], self.covariance_type)
        log_det = log_det_cholesky(prec_chol, self.covariance_type, d) - 0.5 * d * np.log(dof)
        wishart = -(dof * log_det + dof * d * 0.5 * math.log(2.0)
                    + gammaln(0.5 * (dof - np.arange(d)[:, None])).sum(axis=0))
        log_wishart = (self.n_components * float(np.sum(wishart))
                       if self.covariance_type == "tied" else float(np.sum(wishart)))
        conc = params["concentration"]
        if self.prior_type == "dirichlet_process":
            log_norm_weight = -float(np.sum(betaln(conc[0], conc[1])))
        else:
            log_norm_weight = float(gammaln(conc.sum()) - gammaln(conc).sum())
        return float(params["entropy"] - log_wishart - log_norm_weight
                     - 0.5 * d * np.sum(np.log(params["mean_precision"])))

    def _expected_rho_sum(self, stats: dict, log_w: np.ndarray, params: dict) -> float:
        """``sum_ik r_ik rho_ik``, ``rho_ik = log_w_k + log N(x_i | m_k, S_k)``, from
        the statistics (centred on ``m_k``)."""
        cov = np.asarray(params["covariances"], dtype=np.float64)
        kind = self.covariance_type
        d = np.shape(params["means"])[1]
        n = stats["n"]
        outer = stats["centred_outer"]
        prec_chol = precision_cholesky(cov, kind)
        half_log_det = log_det_cholesky(prec_chol, kind, d)  # = -0.5 log det S
        if kind == "full":
            quad = np.einsum("kij,kil,klj->k", prec_chol, outer, prec_chol)
        elif kind == "tied":
            quad = np.einsum("ij,kil,lj->k", prec_chol, outer, prec_chol)
        elif kind == "diag":
            quad = (outer / cov).sum(axis=1)
        else:
            quad = outer.sum(axis=1) / cov
        const = log_w - 0.5 * d * math.log(2.0 * math.pi) + half_log_det
        return float(np.sum(n * const) - 0.5 * np.sum(quad))
