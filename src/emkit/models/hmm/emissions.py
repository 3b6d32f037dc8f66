"""Emission families of :class:`~emkit.models.hmm.model.HMMModel`.

Each family turns its parameters into per-row, per-state log-densities, folds
the state posteriors ``gamma`` (n_samples, K) into additive statistics, and
turns summed statistics into parameters with hmmlearn 0.3's (MAP) updates:

=============  ==========  ===============================================
family         letters     parameters
=============  ==========  ===============================================
Gaussian       ``m c``     means (K, D); covars: full (K, D, D), tied (D, D),
                           diag (K, D), spherical (K,)
GMM            ``w m c``   weights (K, M), means (K, M, D); covars: full
                           (K, M, D, D), tied (K, D, D), diag (K, M, D),
                           spherical (K, M)
Categorical    ``e``       emissionprob (K, n_symbols)
Poisson        ``l``       lambdas (K, D)
=============  ==========  ===============================================

Gaussian statistics are centred on each state's E-step mean (log-densities on a
constant ``center``, the data mean) so second moments stay accurate for data far
from the origin and for states far apart; a variance that still cannot be
resolved in float64 raises :class:`~emkit.exceptions.NumericalError`.

``min_covar`` is a true floor here (hmmlearn only uses it when initializing):
variances below it are raised to it, and so are the eigenvalues of a full or
tied covariance (the exact M-step under that constraint, so EM stays monotone).

An unreachable state (expected visits below ``DEAD_MASS``) gets the pooled
data's parameters: the overall mean and covariance, symbol frequencies or mean
counts. It is never entered, so this changes no likelihood; it only keeps every
parameter finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from ...exceptions import NumericalError
from ...gaussian.component_kernels import (
    centred_diag_moments,
    centred_full_moments,
    diag_gaussian,
    full_gaussian,
)
from ...gaussian.reference import log_gaussian_density, precision_cholesky
from .emission import DEAD_MASS, Emission

__all__ = ["GaussianEmission", "GMMEmission"]


# ---------------------------------------------------------------------------
# covariance helpers


def _floor_covariance(cov: np.ndarray, covariance_type: str, min_covar: float) -> np.ndarray:
    """Raise variances (eigenvalues, for full/tied) below ``min_covar`` to it.

    This is the exact M-step under the constraint "every eigenvalue >= min_covar":
    ``n log det S + tr(S^-1 B)`` is minimized over that set by clipping the
    eigenvalues of its unconstrained minimizer ``B / n``. Matrices already above
    the floor are returned unchanged.
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


#: Rounding error of the one-pass second moments, in units of the magnitude of
#: the terms that cancel (float64's epsilon, with room for the summation).
ROUNDING = 16 * np.finfo(float).eps


def _check_resolved(scatter: np.ndarray, magnitude: np.ndarray, n: np.ndarray,
                    min_covar: float) -> None:
    """Refuse variances lost to cancellation in ``obs2 - 2 delta obs + n delta^2``.

    The second moments are taken about each state's E-step mean; when the new
    mean lies so far from it, next to the state's spread, that the terms cancel
    beyond float64's precision (data spanning hundreds of orders of magnitude),
    the scatter is noise, the M-step is no longer the exact maximizer and EM goes
    wrong (it lowered the likelihood). Raise a clear error instead.

    Parameters
    ----------
    scatter, magnitude : ndarray of shape (K, D)
        The computed scatter of each live state and feature, and the sum of the
        absolute values of the terms it was computed from.
    n : ndarray of shape (K,)
        Expected visits of each state.
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


def _covariance_ok(cov: np.ndarray, covariance_type: str, floor: float) -> bool:
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


def _inv_and_logdet(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    chol = np.linalg.cholesky(cov)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    return np.linalg.inv(cov), logdet


class GaussianEmission(Emission):
    """Gaussian emissions with hmmlearn's ``GaussianHMM`` priors.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    n_components, n_features : int
    means_prior, means_weight, covars_prior, covars_weight : float or ndarray
        hmmlearn's Normal / inverse-gamma (Wishart) prior, broadcast to the
        shapes of the means and covariances.
    min_covar : float
        Floor on variances (see the module docstring).
    center : ndarray of shape (n_features,)
        Constant the statistics are centred on.
    """

    letters = "mc"

    def __init__(self, covariance_type: str, n_components: int, n_features: int,
                 means_prior: Any = 0.0, means_weight: Any = 0.0, covars_prior: Any = 1e-2,
                 covars_weight: Any = 1.0, min_covar: float = 1e-3,
                 center: np.ndarray | None = None):
        k, d = n_components, n_features
        self.covariance_type = covariance_type
        self.k, self.d = k, d
        self.means_prior = np.broadcast_to(np.asarray(means_prior, float), (k, d))
        self.means_weight = np.broadcast_to(np.asarray(means_weight, float), (k,))
        shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k, d)}
        self.covars_prior = np.broadcast_to(np.asarray(covars_prior, float),
                                            shape[covariance_type])
        self.covars_weight = covars_weight
        self.min_covar = float(min_covar)
        self.center = np.zeros(d) if center is None else np.asarray(center, float)

    def prepare(self, params: dict) -> Any:
        return (np.asarray(params["means"]) - self.center,
                precision_cholesky(params["covars"], self.covariance_type))

    def _diag_chol(self, prec_chol: np.ndarray) -> np.ndarray | None:
        """Per-feature precision Cholesky (K, D) for diag/spherical, else None."""
        if self.covariance_type == "diag":
            return prec_chol
        if self.covariance_type == "spherical":
            return np.repeat(prec_chol[:, None], self.d, axis=1)
        return None

    def log_prob(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, Any]:
        means_c, prec_chol = prepared
        Xc = X - self.center
        diag = self._diag_chol(prec_chol)
        if diag is not None:  # compiled fast path, tested against gaussian_math
            return diag_gaussian(Xc, means_c, diag)[0], Xc
        if self.covariance_type == "full":  # compiled too, the same arithmetic
            return full_gaussian(Xc, means_c, prec_chol), Xc
        return log_gaussian_density(Xc, means_c, prec_chol, self.covariance_type), Xc

    def frame(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        means_c, prec_chol = prepared
        diag = self._diag_chol(prec_chol)
        if diag is None:
            return super().frame(X, prepared)
        Xc = X - self.center
        frame, shift = diag_gaussian(Xc, means_c, diag, as_frame=True)
        return frame, shift, Xc

    def stats(self, X: np.ndarray, gamma: np.ndarray, prepared: Any, extra: Any) -> dict:
        """Moments of each state about its E-step mean (see :meth:`m_step`).

        ``anchor`` is ``n_k`` times the E-step mean (relative to ``center``); ``obs``
        and ``obs2`` / ``outer`` are the first and second moments of ``X`` about
        that mean. Centring each state on its own mean, not on the data mean,
        keeps its spread resolved when states lie far apart (data spanning many
        orders of magnitude).
        """
        means_c = prepared[0]
        Xc = extra
        n = gamma.sum(axis=0)
        diag = self.covariance_type in ("diag", "spherical")
        moments = centred_diag_moments if diag else centred_full_moments
        obs, second = moments(Xc, gamma, means_c)
        out = {"post": n, "anchor": n[:, None] * means_c, "obs": obs}
        out["obs2" if diag else "outer"] = second
        return out

    def _anchors(self, stats: dict) -> np.ndarray:
        """Each state's E-step mean relative to ``center`` (0 for unvisited states)."""
        n = stats["post"]
        live = n >= DEAD_MASS
        return np.where(live[:, None], stats["anchor"] / np.where(live, n, 1.0)[:, None], 0.0)

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        n, obs = stats["post"], stats["obs"]
        anchor = self._anchors(stats)
        w = self.means_weight
        total_n = n.sum()
        pooled_mean_c = (obs + stats["anchor"]).sum(axis=0) / max(total_n, DEAD_MASS)
        out: dict = {}
        means = np.asarray(fixed["means"], float)
        shift = means - self.center - anchor  # new mean relative to the E-step mean
        if "m" in update:
            denom = w + n
            live = denom >= DEAD_MASS
            safe = np.where(live, denom, 1.0)[:, None]
            shift = (w[:, None] * (self.means_prior - self.center - anchor) + obs) / safe
            means = np.where(live[:, None], anchor + shift, pooled_mean_c) + self.center
            out["means"] = means
        if "c" in update:
            out["covars"] = self._covariances(stats, means, shift, pooled_mean_c, total_n)
        return out

    def _covariances(self, stats: dict, means: np.ndarray, shift: np.ndarray,
                     pooled_mean_c: np.ndarray, total_n: float) -> np.ndarray:
        n, obs = stats["post"], stats["obs"]
        anchor = self._anchors(stats)
        ctype, w = self.covariance_type, self.means_weight
        delta = shift  # new mean relative to the state's E-step mean
        diff0 = means - self.means_prior
        live = n >= DEAD_MASS
        if ctype in ("diag", "spherical"):
            sq = stats["obs2"] - 2.0 * delta * obs + n[:, None] * delta**2
            magnitude = stats["obs2"] + 2.0 * np.abs(delta * obs) + n[:, None] * delta**2
            _check_resolved(sq[live], magnitude[live], n[live], self.min_covar)
            c_n = w[:, None] * diff0**2 + sq
            a = np.maximum(np.asarray(self.covars_weight, float) - 1.0, 0.0)
            cov = (self.covars_prior + c_n) / np.maximum(a + n, 1e-5)[:, None]
            about_center = stats["obs2"] + 2.0 * anchor * obs + n[:, None] * anchor**2
            pooled = about_center.sum(axis=0) / max(total_n, DEAD_MASS) - pooled_mean_c**2
            cov = np.where(live[:, None], cov, pooled)
            if ctype == "spherical":
                cov = cov.mean(axis=1)
            return _floor_covariance(cov, ctype, self.min_covar)
        outer = stats["outer"]
        cross = obs[:, :, None] * delta[:, None, :]
        scatter = (outer - cross - cross.transpose(0, 2, 1)
                   + n[:, None, None] * delta[:, :, None] * delta[:, None, :])
        magnitude = (np.diagonal(outer, axis1=1, axis2=2) + 2.0 * np.abs(obs * delta)
                     + n[:, None] * delta**2)
        _check_resolved(np.diagonal(scatter, axis1=1, axis2=2)[live], magnitude[live],
                        n[live], self.min_covar)
        c_n = w[:, None, None] * diff0[:, :, None] * diff0[:, None, :] + scatter
        a = max(float(np.max(self.covars_weight)) - self.d, 0.0)
        if ctype == "tied":
            cov = (self.covars_prior + c_n.sum(axis=0)) / (a + total_n)
            return _floor_covariance(cov, ctype, self.min_covar)
        cross_c = obs[:, :, None] * anchor[:, None, :]
        outer = (outer + cross_c + cross_c.transpose(0, 2, 1)
                 + n[:, None, None] * anchor[:, :, None] * anchor[:, None, :])
        cov = (self.covars_prior + c_n) / (a + np.where(live, n, 1.0))[:, None, None]
        pooled = (outer.sum(axis=0) / max(total_n, DEAD_MASS)
                  - np.outer(pooled_mean_c, pooled_mean_c))
        cov = np.where(live[:, None, None], cov, pooled)
        return _floor_covariance(cov, ctype, self.min_covar)

    def log_prior(self, params: dict, update: str, live: np.ndarray) -> float:
        if "m" not in update and "c" not in update:
            return 0.0
        ctype, w = self.covariance_type, self.means_weight[live]
        diff0 = (np.asarray(params["means"]) - self.means_prior)[live]
        cov = np.asarray(params["covars"], float)
        if ctype == "diag":
            cov = cov[live]
            a = np.maximum(np.asarray(self.covars_weight, float) - 1.0, 0.0)
            quad = (w[:, None] * diff0**2 + self.covars_prior[live]) / cov
            return float(-0.5 * quad.sum() - 0.5 * np.sum(a * np.log(cov).sum(axis=-1)))
        if ctype == "spherical":
            cov = cov[live]
            a = np.maximum(np.asarray(self.covars_weight, float) - 1.0, 0.0)
            quad = (w[:, None] * diff0**2 + self.covars_prior[live]).sum(axis=1) / cov
            return float(-0.5 * quad.sum() - 0.5 * np.sum(a * self.d * np.log(cov)))
        a = max(float(np.max(self.covars_weight)) - self.d, 0.0)
        outer0 = w[:, None, None] * diff0[:, :, None] * diff0[:, None, :]
        if ctype == "tied":
            inv, logdet = _inv_and_logdet(cov)
            scale = self.covars_prior + outer0.sum(axis=0)
            return float(-0.5 * np.sum(inv * scale) - 0.5 * a * logdet)
        inv, logdet = _inv_and_logdet(cov[live])
        scale = self.covars_prior[live] + outer0
        return float(-0.5 * np.sum(inv * scale) - 0.5 * a * logdet.sum())

    def is_feasible(self, params: dict) -> bool:
        return bool(np.all(np.isfinite(params["means"]))) and _covariance_ok(
            np.asarray(params["covars"]), self.covariance_type, self.min_covar)


class GMMEmission(Emission):
    """Gaussian-mixture emissions with hmmlearn's ``GMMHMM`` updates and priors.

    hmmlearn's covariance update uses the scatter about the means of the
    E-step (not the new means): a generalized EM step that may lower the
    likelihood by a little, hence the looser ``monotone_rtol``.
    """

    letters = "wmc"
    monotone_rtol = 1e-6

    def __init__(self, covariance_type: str, n_components: int, n_mix: int, n_features: int,
                 weights_prior: Any = 1.0, means_prior: Any = 0.0, means_weight: Any = 0.0,
                 covars_prior: Any = None, covars_weight: Any = None,
                 min_covar: float = 1e-3, center: np.ndarray | None = None):
        k, m, d = n_components, n_mix, n_features
        self.covariance_type = covariance_type
        self.k, self.m, self.d = k, m, d
        defaults = {"full": (0.0, -(1.0 + d + 1.0)), "tied": (0.0, -(m + d + 1.0)),
                    "diag": (-1.5, 0.0), "spherical": (-(m + 2.0) / 2.0, 0.0)}[covariance_type]
        covars_prior = defaults[0] if covars_prior is None else covars_prior
        covars_weight = defaults[1] if covars_weight is None else covars_weight
        self.weights_prior = np.broadcast_to(np.asarray(weights_prior, float), (k, m))
        self.means_prior = np.broadcast_to(np.asarray(means_prior, float), (k, m, d))
        self.means_weight = np.broadcast_to(np.asarray(means_weight, float), (k, m))
        prior_shape = {"full": ((k, m, d, d), (k, m)), "tied": ((k, d, d), (k,)),
                       "diag": ((k, m, d), (k, m, d)), "spherical": ((k, m), (k, m))}
        ps, ws = prior_shape[covariance_type]
        self.covars_prior = np.broadcast_to(np.asarray(covars_prior, float), ps)
        self.covars_weight = np.broadcast_to(np.asarray(covars_weight, float), ws)
        self.min_covar = float(min_covar)
        self.center = np.zeros(d) if center is None else np.asarray(center, float)

    def prepare(self, params: dict) -> Any:
        means_c = np.asarray(params["means"]) - self.center
        chols = [precision_cholesky(params["covars"][k], self.covariance_type)
                 for k in range(self.k)]
        with np.errstate(divide="ignore"):
            log_w = np.log(params["weights"])
        return means_c, chols, log_w

    def log_prob(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, Any]:
        means_c, chols, log_w = prepared
        Xc = X - self.center
        per_mix = np.stack([log_gaussian_density(Xc, means_c[k], chols[k], self.covariance_type)
                            + log_w[k] for k in range(self.k)], axis=1)  # (n, K, M)
        with np.errstate(under="ignore"):
            log_frame = logsumexp(per_mix, axis=2)
        return log_frame, (Xc, per_mix, log_frame)

    def stats(self, X: np.ndarray, gamma: np.ndarray, prepared: Any, extra: Any) -> dict:
        means_c = prepared[0]
        Xc, per_mix, log_frame = extra
        finite = np.isfinite(log_frame)
        with np.errstate(under="ignore", invalid="ignore"):
            resp = np.exp(per_mix - np.where(finite, log_frame, 0.0)[:, :, None])
        resp = np.where(finite[:, :, None], resp, 0.0) * gamma[:, :, None]  # (n, K, M)
        out = {"post_mix": resp.sum(axis=0), "post": gamma.sum(axis=0),
               "obs": np.einsum("nkm,nd->kmd", resp, Xc)}
        ctype = self.covariance_type
        c_n = []
        for k in range(self.k):
            parts = []
            for j in range(self.m):
                y = Xc - means_c[k, j]
                r = resp[:, k, j]
                if ctype in ("full", "tied"):
                    parts.append((y * r[:, None]).T @ y)
                elif ctype == "diag":
                    parts.append(r @ (y * y))
                else:
                    parts.append(r @ np.einsum("nd,nd->n", y, y))
            c_n.append(np.sum(parts, axis=0) if ctype == "tied" else np.stack(parts))
        out["c_n"] = np.stack(c_n)
        return out

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        post_mix, post = stats["post_mix"], stats["post"]
        out: dict = {}
        if "w" in update:
            w_n = post_mix + self.weights_prior - 1.0
            w_d = post + (self.weights_prior - 1.0).sum(axis=1)
            live = w_d >= DEAD_MASS
            out["weights"] = np.where(live[:, None], w_n / np.where(live, w_d, 1.0)[:, None],
                                      1.0 / self.m)
        means = np.asarray(fixed["means"], float)
        total = max(post.sum(), DEAD_MASS)
        pooled_c = stats["obs"].sum(axis=(0, 1)) / total
        if "m" in update:
            m_n = self.means_weight[:, :, None] * (self.means_prior - self.center) + stats["obs"]
            m_d = post_mix + self.means_weight
            live = m_d >= DEAD_MASS
            means = np.where(live[:, :, None], m_n / np.where(live, m_d, 1.0)[:, :, None],
                             pooled_c) + self.center
            out["means"] = means
        if "c" in update:
            out["covars"] = self._covariances(stats, means, total)
        return out

    def _covariances(self, stats: dict, means: np.ndarray, total: float) -> np.ndarray:
        ctype, nf = self.covariance_type, self.d
        post_mix, lam = stats["post_mix"], self.means_weight
        cm = means - self.means_prior
        if ctype == "full":
            c_n = (np.swapaxes(self.covars_prior, -1, -2)
                   + lam[:, :, None, None] * cm[..., :, None] * cm[..., None, :] + stats["c_n"])
            c_d = (post_mix + 1 + self.covars_weight + nf + 1)[:, :, None, None]
            live = post_mix >= DEAD_MASS
            pooled = stats["c_n"].sum(axis=(0, 1)) / total
            cov = np.where(live[:, :, None, None], c_n / np.where(live[:, :, None, None],
                                                                c_d, 1.0), pooled)
        elif ctype == "diag":
            c_n = lam[:, :, None] * cm**2 + 2 * self.covars_weight + stats["c_n"]
            c_d = post_mix[:, :, None] + 1 + 2 * (self.covars_prior + 1)
            live = post_mix >= DEAD_MASS
            pooled = stats["c_n"].sum(axis=(0, 1)) / total
            cov = np.where(live[:, :, None], c_n / np.where(live[:, :, None], c_d, 1.0),
                           pooled)
        elif ctype == "spherical":
            c_n = lam * np.einsum("kmd,kmd->km", cm, cm) + 2 * self.covars_weight + stats["c_n"]
            c_d = nf * (post_mix + 1) + 2 * (self.covars_prior + 1)
            live = post_mix >= DEAD_MASS
            pooled = stats["c_n"].sum() / (total * nf)
            cov = np.where(live, c_n / np.where(live, c_d, 1.0), pooled)
        else:  # tied: one covariance per state, shared by its mixture components
            outer = np.einsum("km,kmi,kmj->kij", lam, cm, cm)
            c_n = outer + np.swapaxes(self.covars_prior, -1, -2) + stats["c_n"]
            c_d = (stats["post"] + self.m + self.covars_weight + nf + 1)[:, None, None]
            live = stats["post"] >= DEAD_MASS
            pooled = stats["c_n"].sum(axis=0) / total
            cov = np.where(live[:, None, None], c_n / np.where(live[:, None, None], c_d, 1.0),
                           pooled)
        return _floor_covariance(cov, "full" if ctype == "tied" else ctype, self.min_covar)

    def is_feasible(self, params: dict) -> bool:
        w = np.asarray(params["weights"])
        if np.any(w < 0) or not np.allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-8):
            return False
        cov = np.asarray(params["covars"])
        ctype = "full" if self.covariance_type == "tied" else self.covariance_type
        return bool(np.all(np.isfinite(params["means"]))) and _covariance_ok(
            cov, ctype, self.min_covar)
