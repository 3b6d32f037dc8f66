"""Gaussian mixtures with mclust's constrained covariances, as an EM model.

Parameters (a dict): ``weights`` (K,), ``means`` (K, D) and ``covariances``
(K, D, D), always stored as full matrices whatever the model (a spherical model
simply holds multiples of the identity).

Statistics are the full-covariance Gaussian-mixture statistics of
:mod:`emkit.models.mixture.gaussian` (``n``, ``sum``, ``centred_sum`` and
``centred_outer`` of shape (K, D, D)), so the E-step is the ordinary one; only the
M-step changes with the model name (see :mod:`emkit.gaussian.constrained`).

Free parameters (for BIC) are ``(K - 1)`` weights, ``K * D`` means and mclust's
``nVarParams(model, D, K)`` covariance parameters.
"""

from __future__ import annotations

import math

import numpy as np

from ...gaussian.conjugate_prior import MIN_COUNT, PriorParams, map_log_prior, map_scatter
from ...gaussian.constrained import (
    INNER_MAX_ITER,
    INNER_TOL,
    check_model_name,
    common_orientation_covariances,
    constrained_covariances,
    n_covariance_parameters,
)
from ...gaussian.constrained_family import in_family
from ...gaussian.reference import log_gaussian_density, precision_cholesky
from ...numerics.logsumexp import log_normalize
from ...numerics.simplex import on_simplex
from .mclust_kernels import covariance_check, full_mixture_estep, scatter_matrices

__all__ = [
    "MclustModel",
    "precision_cholesky_full",
    "log_gaussian_full",
    "mixture_stats",
    "partition_stats",
    "responsibility_stats",
    "log_joint",
    "n_mixture_parameters",
    "correlation_rcond",
    "RCOND_MIN",
    "SingularCovarianceError",
]

_EPS = 10 * np.finfo(float).eps

#: Smallest accepted reciprocal condition number of a component's correlation
#: matrix (its covariance scaled to a unit diagonal), and smallest accepted ratio of
#: a component's variance of a feature to the data's variance of that feature.
#: Below either, the density of a point near the mean is rounding noise (a
#: component collapsed onto a point, a line, ...) and EM can appear to lower the
#: likelihood; mclust likewise stops with "singular covariance" when the
#: reciprocal condition of its Cholesky factor falls below machine epsilon.
RCOND_MIN = 1e-12

#: Models whose M-step carries the common orientation from one step to the next.
_CARRIED_ORIENTATION = ("EVE", "VVE")


class SingularCovarianceError(ValueError):
    """An M-step whose covariance is singular or not finite: the fit cannot go on.

    ``reason`` says why in a few words (the table of :func:`emkit.select_model`
    shows it); the message adds the numbers and what to do.
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def n_mixture_parameters(model: str, n_components: int, n_features: int) -> int:
    """Free parameters of a ``model`` mixture: weights, means and covariances."""
    k, d = int(n_components), int(n_features)
    return (k - 1) + k * d + n_covariance_parameters(model, k, d)


def correlation_rcond(covariances: np.ndarray) -> np.ndarray:
    """Reciprocal condition number of each covariance scaled to a unit diagonal, shape (K,).

    Scaling columns does not change it (data in metres or millimetres give the
    same value), so it measures degeneracy, not units: a component whose points
    lie on a line in the plane, for instance, gives about ``1e-17``. A covariance
    with a non-positive or non-finite diagonal entry gives 0.
    """
    cov = np.asarray(covariances, dtype=float)
    diag = np.diagonal(cov, axis1=1, axis2=2)
    out = np.zeros(cov.shape[0])
    ok = np.all((diag > 0) & np.isfinite(diag), axis=1) & np.all(np.isfinite(cov), axis=(1, 2))
    if not np.any(ok):
        return out
    scale = 1.0 / np.sqrt(diag[ok])
    corr = cov[ok] * scale[:, :, None] * scale[:, None, :]
    eig = np.linalg.eigvalsh(corr)
    out[ok] = np.maximum(eig[:, 0], 0.0) / eig[:, -1]
    return out


def precision_cholesky_full(covariances: np.ndarray) -> np.ndarray:
    """Upper factors ``U`` with ``U @ U.T = inv(Sigma_k)``, shape (K, D, D).

    Raises
    ------
    ValueError
        When a covariance is not positive definite.
    """
    return precision_cholesky(covariances, "full")


def log_gaussian_full(X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
    """Log-density of each row of ``X`` under each full-covariance Gaussian, shape (N, K).

    :func:`emkit.gaussian.reference.log_gaussian_density` with ``"full"``
    (``X`` (N, D), ``means`` (K, D), ``prec_chol`` (K, D, D)). This module once
    had its own ``einsum`` copy, kept for speed; timed against the reference
    (best of 7, 2 cores) it was the slower one: 272 x 2, K=3, 77 us against
    47 us; 10,000 x 5, K=9, 6.1 ms against 3.1 ms.
    """
    return log_gaussian_density(X, means, prec_chol, "full")


def log_joint(X: np.ndarray, params: dict) -> np.ndarray:
    """``log pi_k + log N(x_i | mu_k, Sigma_k)``, shape (N, K).

    Raises
    ------
    ValueError
        When a covariance is not positive definite.
    """
    prec = precision_cholesky_full(params["covariances"])
    with np.errstate(divide="ignore"):
        log_w = np.log(params["weights"])
    return log_gaussian_full(X, params["means"], prec) + log_w


def mixture_stats(X: np.ndarray, resp: np.ndarray, centres: np.ndarray) -> dict:
    """Additive full-covariance statistics of ``X`` with responsibilities ``resp``.

    Parameters
    ----------
    X : ndarray of shape (N, D)
    resp : ndarray of shape (N, K)
        Responsibilities (times sample weights, if any).
    centres : ndarray of shape (K, D)
        The points the second moments are centred on (the E-step's means).

    Returns
    -------
    dict
        ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D), ``centred_outer`` (K, D, D).
    """
    k, d = centres.shape
    n = resp.sum(axis=0)
    total = resp.T @ X
    outer = np.empty((k, d, d))
    for j in range(k):
        xc = X - centres[j]
        outer[j] = (xc * resp[:, j : j + 1]).T @ xc
    return {
        "n": n,
        "sum": total,
        "centred_sum": total - n[:, None] * centres,
        "centred_outer": outer,
    }


def partition_stats(X: np.ndarray, labels: np.ndarray, n_components: int) -> dict:
    """Statistics of a hard partition (one-hot responsibilities), centred on its means.

    They also hold ``orientation``, the identity (D, D): where the rotations of
    ``EVE`` and ``VVE`` start from a partition, as in mclust (the other models
    ignore it).
    """
    labels = np.asarray(labels)
    resp = np.zeros((X.shape[0], n_components))
    resp[np.arange(X.shape[0]), labels] = 1.0
    return responsibility_stats(X, resp)


def responsibility_stats(X: np.ndarray, resp: np.ndarray) -> dict:
    """Statistics of responsibilities ``resp`` (N, K), centred on their weighted means.

    As :func:`partition_stats` (``orientation`` the identity), for a soft start:
    mclust's ``me(z = ...)``.
    """
    counts = resp.sum(axis=0)
    centres = (resp.T @ X) / np.maximum(counts, 1.0)[:, None]
    stats = mixture_stats(X, resp, centres)
    stats["orientation"] = np.eye(X.shape[1])
    return stats


class MclustModel:
    """EM model of a Gaussian mixture with one of mclust's fourteen covariance models.

    Parameters
    ----------
    model : str
        ``"EII"``, ``"VII"``, ..., ``"VVV"``
        (see :data:`~emkit.gaussian.constrained.MCLUST_MODELS`).
    reg_covar : float, default 0.0
        Added to the diagonal of every covariance: the scatter matrices get
        ``reg_covar * n_k`` on their diagonals before the constrained estimate, so
        that ``VVV``, ``EEE``, ``VVI`` and ``VII`` equal scikit-learn's ``full``,
        ``tied``, ``diag`` and ``spherical`` M-steps with the same ``reg_covar``.
        mclust itself uses no regularization (0).
    inner_tol, inner_max_iter : float, int
        Tolerance and cap of the iterative M-steps (VEI, VEE, EVE, VVE, VEV).
    prior : PriorParams or None, default None
        mclust's conjugate prior (:mod:`emkit.gaussian.conjugate_prior`): the
        M-step is then the MAP step, and the E-step's log-likelihood has
        :meth:`log_prior` added (times ``rows / total_rows``, so that chunks add up to
        one whole prior): EM climbs the log-posterior.
    total_rows : int or None
        Rows of the whole data set, for the prior's share of each E-step (None: the
        rows of each call).

    Notes
    -----
    The iterative M-steps are conditional maximizations. Those of ``VEI``,
    ``VEE`` and ``VEV`` have one optimum and restart from a fixed point (a unit
    shape). ``EVE`` and ``VVE`` find their common orientation by plane rotations,
    an inner problem with several local optima, so they start from the
    orientation of the parameters of the E-step: the parameters carry it as
    ``"orientation"`` (D, D) and the E-step passes it on in the statistics (a
    sum over chunks is a positive multiple of it, whose polar factor is the
    orientation again). The step then never lowers the expected log-likelihood
    and EM stays monotone. A start from a partition (:func:`partition_stats`)
    begins at the identity, as mclust's ``meeve``/``mevve`` do, which is why
    ``EVE`` fits from mclust's start reach mclust's maxima. (mclust's ``VVE``
    rotation step leaves the volumes out of its objective, so its ``VVE`` fits
    are not maxima of the likelihood: emkit's EM climbs on from them.)
    Parameters given without an orientation keep the dict's three keys, and
    each step then restarts the rotations from the pooled scatter's
    eigenvectors, which may land on a worse local optimum than the last step's;
    for those runs ``monotone_rtol`` is ``1e-7`` for ``EVE`` and ``VVE``. It is
    ``1e-6`` for every model when ``reg_covar > 0`` (a regularized M-step is not
    the exact maximizer of the expected log-likelihood).

    ``is_feasible`` refuses SQUAREM extrapolations that leave the model's family
    (eight of the fourteen families are not closed under them): an exact M-step
    from such a point can lower the likelihood. An M-step whose covariance is
    numerically singular (see :data:`RCOND_MIN`) raises ``ValueError`` ("singular
    covariance"), as mclust stops.
    """

    def __init__(self, model: str = "VVV", reg_covar: float = 0.0,
                 inner_tol: float = INNER_TOL, inner_max_iter: int = INNER_MAX_ITER,
                 prior: PriorParams | None = None, total_rows: int | None = None):
        self.model = check_model_name(model)
        self.prior = prior
        self.total_rows = total_rows
        if not reg_covar >= 0:
            raise ValueError(f"reg_covar must be non-negative, got {reg_covar!r}")
        self.reg_covar = float(reg_covar)
        self.inner_tol = float(inner_tol)
        self.inner_max_iter = int(inner_max_iter)
        if self.model in _CARRIED_ORIENTATION:
            self.monotone_rtol = 1e-7  # for parameters without an orientation (see Notes)
        if self.prior is not None and self.model == "EEI":
            # mclust's EEI prior step is not the maximizer of a fixed objective (see
            # emkit.gaussian.conjugate_prior): no monotonicity check, and the run
            # ends at its last iterate, as mclust's
            self.monotone_rtol = math.inf
        elif self.reg_covar > 0:
            # W_k + reg_covar * n_k * I in place of W_k: the M-step then maximizes a
            # penalized objective, not the expected log-likelihood, so a step may
            # lower the likelihood slightly (measured: about 1e-8 relative with
            # reg_covar=1e-6); GaussianMixtureModel uses the same 1e-6 for the same reason
            self.monotone_rtol = 1e-6

    def e_step(self, data: np.ndarray | tuple, params: dict) -> tuple[dict, float]:
        """Responsibilities folded into additive statistics, and the log-likelihood.

        ``data`` is ``X`` (N, D), ``(X, log_evidence)`` with per-row
        log-evidence (N, K) added to the log-joint (known labels, soft evidence;
        may be None), or ``(X, log_evidence, sample_weight)`` with ``sample_weight``
        (N,) multiplying each row's responsibilities and log-likelihood (the
        statistics are additive, so a weight of 2 is a repeated row). One
        compiled pass (:func:`~emkit.models.mixture.mclust_kernels.full_mixture_estep`);
        :meth:`e_step_reference` is the NumPy path it is tested against.
        """
        X, evidence, weight = (data + (None,) * (3 - len(data)) if isinstance(data, tuple)
                               else (data, None, None))
        stats, total = full_mixture_estep(X, params["weights"], params["means"],
                                          params["covariances"], evidence, weight)
        return self._finish_e_step(X, params, stats, total)

    def e_step_reference(self, data: np.ndarray | tuple, params: dict) -> tuple[dict, float]:
        """:meth:`e_step` in NumPy: log-joint, log-sum-exp, then the statistics."""
        X, evidence, weight = (data + (None,) * (3 - len(data)) if isinstance(data, tuple)
                               else (data, None, None))
        logp = log_joint(X, params)
        if evidence is not None:
            logp = logp + evidence
        norm, resp = log_normalize(logp)
        if weight is None:
            total = float(norm.sum())
        else:
            weight = np.asarray(weight, dtype=float)
            resp *= weight[:, None]
            total = float(weight @ norm)
        stats = mixture_stats(X, resp, params["means"])
        return self._finish_e_step(X, params, stats, total)

    def _finish_e_step(self, X: np.ndarray, params: dict, stats: dict,
                       total: float) -> tuple[dict, float]:
        if self.model in _CARRIED_ORIENTATION and "orientation" in params:
            stats["orientation"] = np.array(params["orientation"], dtype=float)
        if self.prior is not None:
            share = X.shape[0] / self.total_rows if self.total_rows else 1.0
            total += share * self.log_prior(params)
        return stats, total

    def log_prior(self, params: dict) -> float:
        """The prior term of the MAP objective at ``params`` (0 without a prior)."""
        if self.prior is None:
            return 0.0
        return map_log_prior(self.model, np.asarray(params["means"], dtype=float),
                             np.asarray(params["covariances"], dtype=float), self.prior)

    def scatter(self, stats: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Counts (K,), new means (K, D) and regularized scatter matrices (K, D, D)."""
        def arr(key: str) -> np.ndarray:
            return np.ascontiguousarray(stats[key], dtype=float)

        return scatter_matrices(arr("n"), arr("sum"), arr("centred_sum"),
                                arr("centred_outer"), _EPS, self.reg_covar)

    def m_step(self, stats: dict) -> dict:
        """Weights, means and constrained covariances from the statistics."""
        n, means, w = self.scatter(stats)
        counts, family = n, self.model
        if self.prior is not None:
            low = np.asarray(stats["n"]) <= MIN_COUNT
            if np.any(low):
                j = int(np.argmax(low))
                raise SingularCovarianceError(
                    f"mixing proportion fell below threshold: component {j} of the "
                    f"{self.model} fit has {float(stats['n'][j]):.3g} points (mclust stops "
                    "here too); use fewer components",
                    f"mixing proportion fell below threshold (component {j})")
            family, means, n, w = map_scatter(self.model, counts, means, w, self.prior)
        extra = {}
        if family in _CARRIED_ORIENTATION and "orientation" in stats:
            cov, extra["orientation"] = common_orientation_covariances(
                family, n, w, _polar(stats["orientation"]),
                tol=self.inner_tol, max_iter=self.inner_max_iter)
        else:
            cov = constrained_covariances(family, n, w, tol=self.inner_tol,
                                          max_iter=self.inner_max_iter)
        self._check_not_singular(n, means, w, cov)
        return {"weights": counts / counts.sum(), "means": means, "covariances": cov, **extra}

    def _check_not_singular(self, n: np.ndarray, means: np.ndarray, w: np.ndarray,
                            cov: np.ndarray) -> None:
        """Raise 'singular covariance' for a non-finite, collapsed or rank-deficient component.

        The tests are one compiled pass
        (:func:`~emkit.models.mixture.mclust_kernels.covariance_check`).
        """
        code, j, f, value = covariance_check(n, np.ascontiguousarray(means),
                                             np.ascontiguousarray(w),
                                             np.ascontiguousarray(cov), RCOND_MIN)
        if code == 0:
            return
        advice = ("use fewer components, a more constrained model or set reg_covar > 0")
        if code == 1:
            raise SingularCovarianceError(
                f"the {self.model} covariance estimate is not finite (component {j}, "
                f"{n[j]:.3g} points, collapsed or emptied); use fewer components or set "
                "reg_covar > 0",
                f"singular covariance: component {j} ({n[j]:.3g} points) collapsed or emptied")
        if code == 2:
            share = n / n.sum()
            data_var = (np.diagonal(w, axis1=1, axis2=2).sum(axis=0) / n.sum()
                        + share @ (means - share @ means) ** 2)  # (D,): the data's variances
            raise SingularCovarianceError(
                f"singular covariance: in the {self.model} fit, component {j} "
                f"({n[j]:.3g} points) has variance {value:.3g} for feature {f}, "
                f"a fraction {value / data_var[f]:.1e} of the data's (below "
                f"{RCOND_MIN:.0e}: it collapsed onto too few distinct points); {advice}",
                f"singular covariance: component {j} ({n[j]:.3g} points) collapsed "
                f"in feature {f}")
        raise SingularCovarianceError(
            f"singular covariance: the {self.model} covariance of component {j} has "
            f"reciprocal condition number {value:.1e} (below {RCOND_MIN:.0e}; its "
            f"{n[j]:.3g} points are too few or lie on a lower-dimensional subspace); "
            f"{advice}",
            f"singular covariance: component {j} ({n[j]:.3g} points), reciprocal "
            f"condition number {value:.1e}")

    def is_feasible(self, params: dict) -> bool:
        """Weights on the simplex and positive-definite covariances in the model's family.

        SQUAREM extrapolates the stored full matrices linearly; for eight of the
        fourteen models (``VEI, EVI, VEE, EVE, VVE, EEV, VEV, EVV``) that leaves the
        family (see :func:`~emkit.gaussian.constrained.in_family`), and an exact
        M-step from such a point may lower the likelihood, so the point is refused
        and SQUAREM takes a plain EM step instead.
        """
        if not on_simplex(params["weights"]):
            return False
        cov = params["covariances"]
        return bool(np.all(np.linalg.eigvalsh(cov) > 0)) and in_family(self.model, cov)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters for BIC: ``(K-1) + K*D + nVarParams``."""
        return n_mixture_parameters(self.model, n_components, n_features)


def _polar(carried: np.ndarray) -> np.ndarray:
    """The orthogonal polar factor of a carried orientation (a positive multiple of one)."""
    u, _, vt = np.linalg.svd(np.asarray(carried, dtype=float))
    return u @ vt
