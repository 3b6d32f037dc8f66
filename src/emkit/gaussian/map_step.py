"""The MAP M-step of K Gaussian components under conjugate priors and a variance floor.

One job: from the summed statistics of K Gaussian components (the layout of
:mod:`emkit.gaussian.m_step`: ``n``, ``sum``, ``centred_sum`` about each
component's E-step mean, ``centred_outer``), the means and covariances that
maximize the expected complete-data log-likelihood plus the log-density of
hmmlearn's conjugate priors (a Normal prior on each mean with pseudo-count
``mean_weight``; an inverse-gamma (diag, spherical) or inverse-Wishart (full,
tied) prior on each covariance, in hmmlearn 0.3's parametrization), subject to
every variance (every eigenvalue, for full and tied) being at least
``min_covar``. With all prior weights zero and no floor it is maximum likelihood.

Numerics
--------
The second moments arrive centred on each component's E-step mean, so they stay
accurate for data far from the origin and components far apart; the new mean
is the E-step mean plus a shift, and the scatter about it is
``outer - 2 shift obs + n shift^2``. When the shift is so large next to the
spread that those terms cancel beyond float64's precision, the scatter is noise
and the step would no longer be the maximizer: :class:`~emkit.exceptions.NumericalError`
says so instead (data spanning hundreds of orders of magnitude).

The floor: ``n log det S + tr(S^-1 B)`` is minimized over ``{S : eig(S) >= f}``
by clipping the eigenvalues of the unconstrained minimizer, so clipping is the
exact constrained M-step and EM stays monotone.

A component with no mass (``n`` below :data:`DEAD_MASS`) gets the pooled
parameters of all the data: it has nothing to be estimated from, and those
values keep every parameter finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ..exceptions import NumericalError

__all__ = ["ConjugatePrior", "map_m_step", "map_log_prior", "floor_covariance",
           "covariance_ok", "DEAD_MASS"]

#: Expected weight below which a component counts as empty.
DEAD_MASS = 1e-10

#: Rounding error of the one-pass second moments, in units of the magnitude of
#: the terms that cancel (float64's epsilon, with room for the summation).
ROUNDING = 16 * np.finfo(float).eps


@dataclass(frozen=True)
class ConjugatePrior:
    """hmmlearn's conjugate prior of K Gaussian components, broadcast to their shapes.

    Attributes
    ----------
    means_prior : ndarray of shape (K, D)
    means_weight : ndarray of shape (K,)
    covars_prior : ndarray
        (K, D, D) for full, (D, D) for tied, (K, D) for diag and spherical.
    covars_weight : ndarray
        Broadcastable to (K,) (diag, spherical) or a scalar (full, tied).
    min_covar : float
        Floor on every variance (eigenvalue).
    """

    means_prior: np.ndarray
    means_weight: np.ndarray
    covars_prior: np.ndarray
    covars_weight: np.ndarray
    min_covar: float


def floor_covariance(cov: np.ndarray, covariance_type: str, min_covar: float) -> np.ndarray:
    """Variances (eigenvalues, for full/tied) below ``min_covar`` raised to it.

    Matrices already above the floor are returned unchanged.
    """
    if covariance_type in ("diag", "spherical"):
        return np.maximum(cov, min_covar)
    mats = cov[None] if cov.ndim == 2 else cov
    out = mats.copy()
    flat = out.reshape(-1, *mats.shape[-2:])
    for i in range(len(flat)):
        values, vectors = np.linalg.eigh(flat[i])
        if values.min() < min_covar:
            clipped = (vectors * np.maximum(values, min_covar)) @ vectors.T
            flat[i] = 0.5 * (clipped + clipped.T)
    return out[0] if cov.ndim == 2 else out


def covariance_ok(cov: np.ndarray, covariance_type: str, floor: float) -> bool:
    """Finite, and every variance (eigenvalue) at least ``floor`` (up to rounding).

    The floor matters for SQUAREM: an extrapolated point below it could not be
    reached by the floored M-step, and the next plain step would lower the
    likelihood.
    """
    if not np.all(np.isfinite(cov)):
        return False
    bound = floor * (1.0 - 1e-9)
    if covariance_type in ("diag", "spherical"):
        return bool(np.all(cov >= bound) and np.all(cov > 0))
    try:
        lowest = np.linalg.eigvalsh(cov.reshape(-1, *cov.shape[-2:])).min()
    except np.linalg.LinAlgError:
        return False
    return bool(lowest >= bound and lowest > 0)


def _check_resolved(scatter: np.ndarray, magnitude: np.ndarray, n: np.ndarray,
                    min_covar: float) -> None:
    """Refuse variances lost to cancellation in ``outer - 2 shift obs + n shift^2``.

    Parameters
    ----------
    scatter, magnitude : ndarray of shape (K, D)
        The computed scatter of each live component and feature, and the sum of
        the absolute values of the terms it was computed from.
    n : ndarray of shape (K,)
    min_covar : float
    """
    error = ROUNDING * magnitude
    floor = np.maximum(scatter, n[:, None] * min_covar)
    lost = error > floor
    if np.any(lost):
        k, j = (int(i[0]) for i in np.nonzero(lost))
        raise NumericalError(
            f"the variance of state {k} (feature {j}) is lost to rounding: the state's "
            f"mean moved by about {np.sqrt(magnitude[k, j] / max(n[k], DEAD_MASS)):.3g}, "
            "far more than its data spread, beyond what float64 resolves (the data "
            "span too many orders of magnitude); rescale or log-transform the data"
        )


def _trace_solve_and_logdet(cov: np.ndarray, scale: np.ndarray) -> tuple[float, float]:
    """``sum_k tr(S_k^-1 B_k)`` and ``sum_k log det S_k`` for stacks (K, D, D) (or one
    (D, D) matrix each), by Cholesky solves."""
    total_trace = total_logdet = 0.0
    for s_k, b_k in zip(np.reshape(cov, (-1, *cov.shape[-2:])),
                        np.reshape(scale, (-1, *scale.shape[-2:])), strict=True):
        factor = linalg.cho_factor(s_k, lower=True)
        total_trace += float(np.trace(linalg.cho_solve(factor, b_k)))
        total_logdet += 2.0 * float(np.log(np.diag(factor[0])).sum())
    return total_trace, total_logdet


def map_m_step(stats: dict, covariance_type: str, prior: ConjugatePrior,
               fixed_means: np.ndarray | None = None,
               fixed_covariances: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Means (K, D) and covariances of K Gaussian components (the module's M-step).

    Parameters
    ----------
    stats : dict
        Stacked statistics: ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D),
        ``centred_outer`` (K, D, D) for full and tied or (K, D) for diag and
        spherical.
    covariance_type : {"full", "tied", "diag", "spherical"}
    prior : ConjugatePrior
    fixed_means : ndarray of shape (K, D), optional
        Means to keep (not re-estimated); the covariances are then the scatter
        about them.
    fixed_covariances : ndarray, optional
        Covariances to keep, in the layout of ``covariance_type``.

    Returns
    -------
    means : ndarray of shape (K, D)
    covariances : ndarray
        (K, D, D), (D, D), (K, D) or (K,) for full, tied, diag, spherical.

    Raises
    ------
    NumericalError
        When a variance cannot be resolved in float64 (see the module notes).
    """
    n = np.asarray(stats["n"], dtype=float)
    obs = np.asarray(stats["centred_sum"], dtype=float)
    total_n = n.sum()
    live = n >= DEAD_MASS
    center = np.asarray(stats["sum"]).sum(axis=0) / max(total_n, DEAD_MASS)
    # each component's E-step mean relative to the pooled mean (0 for empty ones)
    safe_n = np.where(live, n, 1.0)[:, None]
    anchor = np.where(live[:, None], (stats["sum"] - obs) / safe_n - center, 0.0)
    anchor_n = n[:, None] * anchor
    pooled_mean_c = (obs + anchor_n).sum(axis=0) / max(total_n, DEAD_MASS)
    w = prior.means_weight
    if fixed_means is None:
        denom = w + n
        alive = denom >= DEAD_MASS
        safe = np.where(alive, denom, 1.0)[:, None]
        shift = (w[:, None] * (prior.means_prior - center - anchor) + obs) / safe
        means = np.where(alive[:, None], anchor + shift, pooled_mean_c) + center
    else:
        means = np.asarray(fixed_means, dtype=float)
        shift = means - center - anchor  # the kept mean relative to the E-step mean
    if fixed_covariances is not None:
        return means, np.asarray(fixed_covariances, dtype=float)
    return means, _covariances(stats, covariance_type, prior, n, obs, anchor, means, shift,
                               pooled_mean_c, total_n)


def _covariances(stats: dict, ctype: str, prior: ConjugatePrior, n: np.ndarray,
                 obs: np.ndarray, anchor: np.ndarray, means: np.ndarray, delta: np.ndarray,
                 pooled_mean_c: np.ndarray, total_n: float) -> np.ndarray:
    """The covariance part of :func:`map_m_step` (``delta``: new mean minus E-step mean)."""
    w = prior.means_weight
    d = means.shape[1]
    diff0 = means - prior.means_prior
    live = n >= DEAD_MASS
    second = np.asarray(stats["centred_outer"], dtype=float)
    if ctype in ("diag", "spherical"):
        sq = second - 2.0 * delta * obs + n[:, None] * delta**2
        magnitude = second + 2.0 * np.abs(delta * obs) + n[:, None] * delta**2
        _check_resolved(sq[live], magnitude[live], n[live], prior.min_covar)
        c_n = w[:, None] * diff0**2 + sq
        # a: one value per component here, a single number for full and tied below
        a: np.ndarray | float = np.maximum(np.asarray(prior.covars_weight, float) - 1.0, 0.0)
        cov = (prior.covars_prior + c_n) / np.maximum(a + n, 1e-5)[:, None]
        about_center = second + 2.0 * anchor * obs + n[:, None] * anchor**2
        pooled = about_center.sum(axis=0) / max(total_n, DEAD_MASS) - pooled_mean_c**2
        cov = np.where(live[:, None], cov, pooled)
        if ctype == "spherical":
            cov = cov.mean(axis=1)
        return floor_covariance(cov, ctype, prior.min_covar)
    cross = obs[:, :, None] * delta[:, None, :]
    scatter = (second - cross - cross.transpose(0, 2, 1)
               + n[:, None, None] * delta[:, :, None] * delta[:, None, :])
    magnitude = (np.diagonal(second, axis1=1, axis2=2) + 2.0 * np.abs(obs * delta)
                 + n[:, None] * delta**2)
    _check_resolved(np.diagonal(scatter, axis1=1, axis2=2)[live], magnitude[live],
                    n[live], prior.min_covar)
    c_n = w[:, None, None] * diff0[:, :, None] * diff0[:, None, :] + scatter
    a = max(float(np.max(prior.covars_weight)) - d, 0.0)
    if ctype == "tied":
        cov = (prior.covars_prior + c_n.sum(axis=0)) / (a + total_n)
        return floor_covariance(cov, ctype, prior.min_covar)
    cross_c = obs[:, :, None] * anchor[:, None, :]
    outer = (second + cross_c + cross_c.transpose(0, 2, 1)
             + n[:, None, None] * anchor[:, :, None] * anchor[:, None, :])
    cov = (prior.covars_prior + c_n) / (a + np.where(live, n, 1.0))[:, None, None]
    pooled = (outer.sum(axis=0) / max(total_n, DEAD_MASS)
              - np.outer(pooled_mean_c, pooled_mean_c))
    cov = np.where(live[:, None, None], cov, pooled)
    return floor_covariance(cov, ctype, prior.min_covar)


def map_log_prior(means: np.ndarray, covariances: np.ndarray, covariance_type: str,
                  prior: ConjugatePrior, live: np.ndarray) -> float:
    """Log-density (up to a constant) of the priors at these parameters.

    Only the ``live`` components (K,) count; a tied covariance counts once.
    """
    ctype, w = covariance_type, prior.means_weight[live]
    d = means.shape[1]
    diff0 = (means - prior.means_prior)[live]
    cov = np.asarray(covariances, float)
    if ctype == "diag":
        cov = cov[live]
        # a: one value per component here, a single number for full and tied below
        a: np.ndarray | float = np.maximum(np.asarray(prior.covars_weight, float) - 1.0, 0.0)
        quad = (w[:, None] * diff0**2 + prior.covars_prior[live]) / cov
        return float(-0.5 * quad.sum() - 0.5 * np.sum(a * np.log(cov).sum(axis=-1)))
    if ctype == "spherical":
        cov = cov[live]
        a = np.maximum(np.asarray(prior.covars_weight, float) - 1.0, 0.0)
        quad = (w[:, None] * diff0**2 + prior.covars_prior[live]).sum(axis=1) / cov
        return float(-0.5 * quad.sum() - 0.5 * np.sum(a * d * np.log(cov)))
    a = max(float(np.max(prior.covars_weight)) - d, 0.0)
    outer0 = w[:, None, None] * diff0[:, :, None] * diff0[:, None, :]
    if ctype == "tied":
        trace, logdet = _trace_solve_and_logdet(cov, prior.covars_prior + outer0.sum(axis=0))
    else:
        trace, logdet = _trace_solve_and_logdet(cov[live], prior.covars_prior[live] + outer0)
    return float(-0.5 * trace - 0.5 * a * logdet)
