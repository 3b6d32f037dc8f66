"""The finite mixture of any emkit distributions, as an EM model.

Model: ``p(x) = sum_k weights[k] * p_k(x)`` with ``p_k`` any
:class:`emkit.distributions.Distribution` (the components may be of different
families, as long as they model the same columns).

Parameters (a dict, the engine's tree):
    ``weights`` (K,) and ``components``, a list of each component's
    ``parameters()`` tree.

E-step, for the rows ``x_i`` and the current parameters:
    ``log r_ik = log weights[k] + log p_k(x_i) - logsumexp_k(...)`` and the
    statistics ``{"n": sum_i r_ik (K,), "components": [stats_k(X, r_k), ...]}``,
    additive over rows because every component's statistics are. The returned
    log-likelihood is ``sum_i logsumexp_k(...)`` plus the components' log-priors
    (zero without priors), the objective MAP-EM increases.

M-step:
    ``weights = n / sum(n)`` and ``component_k = template_k.from_stats(stats_k)``;
    components sharing parameters (tied-covariance Gaussians, see
    :meth:`~emkit.distributions.Distribution.pool_key`) are fitted together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...distributions._base import Distribution
from ...numerics.logsumexp import log_normalize

__all__ = ["MixtureEM", "mixture_log_joint", "log_normalize"]


def mixture_log_joint(components: Sequence[Distribution], log_weights: np.ndarray,
                      X: np.ndarray) -> np.ndarray:
    """``log weights[k] + log p_k(x_i)``, shape (n_samples, K), vectorized per family."""
    out = np.empty((X.shape[0], len(components)))
    by_type: dict[type, list[int]] = {}
    for k, c in enumerate(components):
        by_type.setdefault(type(c), []).append(k)
    for cls, idx in by_type.items():
        out[:, idx] = cls.log_prob_components([components[k] for k in idx], X)
    return out + log_weights


class MixtureEM:
    """EM model of a mixture over ``templates`` (one distribution per component).

    Parameters
    ----------
    templates : sequence of Distribution
        Give each component its family and settings; their parameter values
        are ignored (the parameters come from the engine).
    """

    def __init__(self, templates: Sequence[Distribution]):
        self.templates = list(templates)
        exact = all(t.exact_m_step for t in self.templates)
        # A regularized M-step (reg_covar, a clipped Student-t dof) is not an exact
        # maximizer, so a converged run may drift down by rounding-sized amounts.
        self.monotone_rtol = 1e-10 if exact else 1e-7
        self.pools: dict[Any, list[int]] = {}
        for k, t in enumerate(self.templates):
            key = t.pool_key()
            if key is not None:
                self.pools.setdefault(key, []).append(k)

    # -------------------------------------------------------------- conversions
    def components(self, params: dict[str, Any]) -> list[Distribution]:
        """The component distributions described by ``params``."""
        return [t.with_parameters(p) for t, p in zip(self.templates, params["components"],
                                                     strict=True)]

    @staticmethod
    def pack(weights: np.ndarray, components: Sequence[Distribution]) -> dict[str, Any]:
        """The engine's parameter tree from weights and fitted components."""
        return {"weights": np.asarray(weights, dtype=float),
                "components": [c.parameters() for c in components]}

    def log_joint(self, X: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """``log weights[k] + log p_k(x_i)``, shape (n_samples, K)."""
        with np.errstate(divide="ignore"):
            log_w = np.log(params["weights"])
        return mixture_log_joint(self.components(params), log_w, X)

    # ------------------------------------------------------------------- EMModel
    def e_step(self, X: np.ndarray, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        comps = self.components(params)
        with np.errstate(divide="ignore"):
            log_w = np.log(params["weights"])
        ll, resp = log_normalize(mixture_log_joint(comps, log_w, X))
        if not np.all(np.isfinite(ll)):
            return self._empty_stats(comps, X), -np.inf
        stats = {"n": resp.sum(axis=0),
                 "components": [c.stats(X, resp[:, k]) for k, c in enumerate(comps)]}
        loglik = float(ll.sum()) + float(sum(c.log_prior() for c in comps))
        return stats, loglik

    def _empty_stats(self, comps: list[Distribution], X: np.ndarray) -> dict[str, Any]:
        zeros = np.zeros(X.shape[0])
        return {"n": np.zeros(len(comps)), "components": [c.stats(X, zeros) for c in comps]}

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        n = np.asarray(stats["n"], dtype=float)
        comps: list[Distribution | None] = [None] * len(self.templates)
        pooled = set()
        for idx in self.pools.values():
            fitted = self.templates[idx[0]].from_stats_pooled(
                [stats["components"][k] for k in idx])
            for k, c in zip(idx, fitted, strict=True):
                comps[k] = c
            pooled.update(idx)
        for k, t in enumerate(self.templates):
            if k not in pooled:
                comps[k] = t.from_stats(stats["components"][k])
        return self.pack(n / n.sum(), comps)  # type: ignore[arg-type]

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Weights on the simplex and every component inside its parameter space."""
        w = params["weights"]
        if not (np.all(np.isfinite(w)) and np.all(w >= 0) and abs(w.sum() - 1.0) < 1e-8):
            return False
        return all(t.is_feasible(p) for t, p in zip(self.templates, params["components"],
                                                     strict=True))

    # ----------------------------------------------------------------- utilities
    def n_parameters(self, components: Sequence[Distribution]) -> int:
        """Free parameters of the mixture: K - 1 weights plus the components'.

        Parameters shared within a pool (a tied covariance) are counted once.
        """
        total = len(components) - 1 + sum(c.n_parameters for c in components)
        for idx in self.pools.values():
            shared = getattr(components[idx[0]], "n_shared_parameters", lambda: 0)()
            total -= (len(idx) - 1) * shared
        return int(total)
