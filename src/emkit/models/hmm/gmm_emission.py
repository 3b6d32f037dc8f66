"""Gaussian-mixture emissions of :class:`~emkit.GMMHMM` states (hmmlearn 0.3's updates).

Each state emits from its own mixture of ``n_mix`` Gaussians: weights (K, M),
means (K, M, D) and covariances (full (K, M, D, D), tied (K, D, D), diag
(K, M, D), spherical (K, M)), letters ``w m c``, with hmmlearn's priors.
Every other HMM (:class:`~emkit.GaussianHMM`, :class:`~emkit.CategoricalHMM`,
:class:`~emkit.PoissonHMM`, :class:`~emkit.HMM`) takes its states from
:mod:`emkit.distributions` through
:class:`~emkit.models.hmm.emission.DistributionEmission`; this family stays
separate because hmmlearn's GMM-HMM covariance update is not an exact M-step
(see :class:`GMMEmission`).

The log-densities and the covariance floor are the shared Gaussian numerics of
:mod:`emkit.gaussian`. An unreachable state gets the pooled data's parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from ...distributions.missing import MissingEntries
from ...gaussian.conditional import as_full_covariances
from ...gaussian.map_step import covariance_ok, floor_covariance
from ...gaussian.missing_kernels import pattern_log_densities, pattern_moments
from ...gaussian.reference import log_gaussian_density, precision_cholesky
from ...numerics.simplex import on_simplex
from .emission import DEAD_MASS, Emission
from .gmm_masks import masked_gmm_update
from .gmm_shortfall import gmm_shortfall

__all__ = ["GMMEmission"]


class GMMEmission(Emission):
    """Gaussian-mixture emissions with hmmlearn's ``GMMHMM`` updates and priors.

    hmmlearn's update is not EM's exact M-step (its covariance is the scatter
    about the E-step's means, its priors are not in the tracked likelihood, and
    ``min_covar`` floors the variances), so a step may lower the likelihood:
    by at most :meth:`monotone_slack`, the update's exact shortfall
    (:mod:`emkit.models.hmm.gmm_shortfall`), on top of which the engine allows
    only rounding (its default ``monotone_rtol``).
    """

    letters = "wmc"

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
        #: ``weights`` / ``means`` / ``covars`` -> boolean mask of the entries kept at
        #: their starting values (``freeze=``; :mod:`emkit.models.hmm.gmm_masks`)
        self.masks: dict[str, np.ndarray] = {}

    def prepare(self, params: dict) -> Any:
        means_c = np.asarray(params["means"]) - self.center
        chols = [precision_cholesky(params["covars"][k], self.covariance_type)
                 for k in range(self.k)]
        with np.errstate(divide="ignore"):
            log_w = np.log(params["weights"])
        return means_c, chols, log_w, params["covars"]

    def log_prob(self, X: np.ndarray, prepared: Any) -> tuple[np.ndarray, Any]:
        means_c, chols, log_w = prepared[:3]
        missing = MissingEntries.of(X)
        Xc = X - self.center if missing is None else missing.zero_filled() - self.center
        per_mix = np.stack([log_gaussian_density(Xc, means_c[k], chols[k], self.covariance_type)
                            + log_w[k] for k in range(self.k)], axis=1)  # (n, K, M)
        if missing is not None:  # NaN entries: the observed entries' marginal densities
            rows, log_density = self._observed(missing, prepared)
            per_mix[rows] = log_density.reshape(-1, self.k, self.m) + log_w
            per_mix[missing.empty] = log_w  # nothing observed: the frame's density is 1
        with np.errstate(under="ignore"):
            log_frame = logsumexp(per_mix, axis=2)
        return log_frame, (Xc, per_mix, log_frame, missing)

    def _components(self, prepared: Any) -> tuple[np.ndarray, np.ndarray]:
        """Means (K M, D) and full covariances (K M, D, D) of every (state, mixture
        component) pair, in the layout of :mod:`emkit.gaussian.missing_kernels`."""
        means_c, covars = prepared[0], np.asarray(prepared[3], dtype=float)
        k, m, d = self.k, self.m, self.d
        ctype = self.covariance_type
        if ctype == "tied":
            full = np.repeat(covars, m, axis=0)
        else:
            flat = covars.reshape(k * m, *covars.shape[2:])
            full = as_full_covariances(flat, ctype, k * m, d)
        return (means_c + self.center).reshape(k * m, d), np.ascontiguousarray(full)

    def _observed(self, missing: MissingEntries,
                  prepared: Any) -> tuple[np.ndarray, np.ndarray]:
        """The partly observed rows and their observed-block log-densities (n, K M)."""
        packed = missing.packed()
        if packed.rows.size == 0:
            return packed.rows, np.zeros((0, self.k * self.m))
        means, covs = self._components(prepared)
        log_density, bad = pattern_log_densities(packed.values, packed.bounds, packed.masks,
                                                 means, covs)
        _check_pattern(bad, packed.masks)
        return packed.rows, log_density

    def stats(self, X: np.ndarray, gamma: np.ndarray, prepared: Any, extra: Any) -> dict:
        means_c = prepared[0]
        Xc, per_mix, log_frame, missing = extra
        finite = np.isfinite(log_frame)
        with np.errstate(under="ignore", invalid="ignore"):
            resp = np.exp(per_mix - np.where(finite, log_frame, 0.0)[:, :, None])
        resp = np.where(finite[:, :, None], resp, 0.0) * gamma[:, :, None]  # (n, K, M)
        if missing is not None:
            return self._missing_stats(Xc, resp, gamma, prepared, missing)
        return self._complete_stats(Xc, resp, gamma, means_c)

    def _missing_stats(self, Xc: np.ndarray, resp: np.ndarray, gamma: np.ndarray,
                       prepared: Any, missing: MissingEntries) -> dict:
        """Expected statistics: the complete rows as they are, the partly observed ones
        completed by ``E[x_m | x_o, state, component]`` with the conditional covariance
        added to the scatter, the rows with nothing observed left out."""
        packed = missing.packed()
        k, m, d = self.k, self.m, self.d
        partial = resp[packed.rows].reshape(-1, k * m)
        resp[~missing.complete] = 0.0
        out = self._complete_stats(Xc, resp, np.where(missing.empty[:, None], 0.0, gamma),
                                   prepared[0])
        if packed.rows.size == 0:
            return out
        means, covs = self._components(prepared)
        n, first, outer, bad = pattern_moments(packed.values, packed.bounds, packed.masks,
                                               partial, means, covs)
        _check_pattern(bad, packed.masks)
        n, first, outer = n.reshape(k, m), first.reshape(k, m, d), outer.reshape(k, m, d, d)
        out["post_mix"] = out["post_mix"] + n
        out["obs"] = out["obs"] + first + n[:, :, None] * prepared[0]
        out["dev"] = out["dev"] + first
        ctype = self.covariance_type
        scatter = {"full": lambda: outer, "tied": lambda: outer.sum(axis=1),
                   "diag": lambda: np.diagonal(outer, axis1=2, axis2=3),
                   "spherical": lambda: np.trace(outer, axis1=2, axis2=3)}[ctype]()
        out["c_n"] = out["c_n"] + scatter
        return out

    def _complete_stats(self, Xc: np.ndarray, resp: np.ndarray, gamma: np.ndarray,
                        means_c: np.ndarray) -> dict:
        out = {"post_mix": resp.sum(axis=0), "post": gamma.sum(axis=0),
               "obs": np.einsum("nkm,nd->kmd", resp, Xc)}
        ctype = self.covariance_type
        c_n = []
        dev = np.empty((self.k, self.m, self.d))  # rows minus the E-step's means (the guard's)
        for k in range(self.k):
            parts = []
            for j in range(self.m):
                y = Xc - means_c[k, j]
                r = resp[:, k, j]
                dev[k, j] = r @ y
                if ctype in ("full", "tied"):
                    parts.append((y * r[:, None]).T @ y)
                elif ctype == "diag":
                    parts.append(r @ (y * y))
                else:
                    parts.append(r @ np.einsum("nd,nd->n", y, y))
            c_n.append(np.sum(parts, axis=0) if ctype == "tied" else np.stack(parts))
        out["c_n"] = np.stack(c_n)
        out["dev"] = dev
        return out

    def m_step(self, stats: dict, fixed: dict, update: str) -> dict:
        """hmmlearn's update of the parameters whose letter is in ``update``."""
        return self.hmmlearn_update(stats, fixed, update)

    def monotone_slack(self, stats: dict, fixed: dict, update: str) -> float:
        """How much hmmlearn's update from ``stats`` may lower the likelihood: its exact
        shortfall from EM's maximizer (:func:`~emkit.models.hmm.gmm_shortfall.gmm_shortfall`).

        It is computed for the update as :meth:`hmmlearn_update` defines it, so
        the guard checks that the E-step's likelihood, its statistics and the
        parameters the M-step returns agree with EM's bound to rounding.
        """
        if not any(letter in update for letter in self.letters):
            return 0.0
        new = {**fixed, **self.hmmlearn_update(stats, fixed, update)}
        means = np.asarray(new["means"], float) - self.center
        return gmm_shortfall(stats, np.asarray(new["weights"], float), means,
                             np.asarray(new["covars"], float), self.covariance_type, update,
                             self.min_covar, DEAD_MASS)

    def hmmlearn_update(self, stats: dict, fixed: dict, update: str) -> dict:
        """hmmlearn 0.3's ``GMMHMM`` M-step, with its priors and ``min_covar`` as a floor."""
        post_mix, post = stats["post_mix"], stats["post"]
        out: dict = {}
        w_n = post_mix + self.weights_prior - 1.0
        if "w" in update:
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
        if "c" in update and not self.masks:
            out["covars"] = self._covariances(stats, means, total)
        if self.masks:  # frozen entries kept, the free ones constrained (gmm_masks)
            out = masked_gmm_update(out, fixed, update, self.masks, self.covariance_type,
                                    w_n, means, lambda m: self._covariances(stats, m, total),
                                    self.means_weight)
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
        return floor_covariance(cov, "full" if ctype == "tied" else ctype, self.min_covar)

    def is_feasible(self, params: dict) -> bool:
        if not on_simplex(params["weights"]):
            return False
        cov = np.asarray(params["covars"])
        ctype = "full" if self.covariance_type == "tied" else self.covariance_type
        return bool(np.all(np.isfinite(params["means"]))) and covariance_ok(
            cov, ctype, self.min_covar)


def _check_pattern(bad: int, masks: np.ndarray) -> None:
    if bad >= 0:
        raise ValueError(
            "a covariance is singular or not positive definite on the observed columns "
            f"{np.flatnonzero(~masks[bad]).tolist()} of some rows; increase min_covar or "
            "reduce the number of states or mixture components"
        )
