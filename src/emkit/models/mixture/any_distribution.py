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

Data: an array ``X`` (n_samples, n_features), or a tuple ``(X, sample_weight,
log_evidence)`` (either may be None; Dask pieces come as ``(X, sample_weight)``).
``sample_weight`` (n_samples,) multiplies each row's responsibilities and
log-likelihood (integer weights equal repeated rows); ``log_evidence`` (n_samples,
K) is added to each row's log-joint before it is normalized (known labels: 0 at
the component, ``-inf`` elsewhere; soft evidence: ``log priors``; see
:mod:`emkit.estimators._supervision`), so the log-likelihood is
``sum_i w_i log sum_k e_ik weights[k] p_k(x_i)``.

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
from ...distributions.components import Components
from ...engine.run import MONOTONE_RTOL
from ...numerics.logsumexp import log_normalize
from ...numerics.simplex import on_simplex

__all__ = ["MixtureEM", "mixture_log_joint", "log_normalize"]


def mixture_log_joint(components: Sequence[Distribution], log_weights: np.ndarray,
                      X: np.ndarray) -> np.ndarray:
    """``log weights[k] + log p_k(x_i)``, shape (n_samples, K), vectorized per family."""
    return Components(components).log_prob(X, components) + log_weights


class MixtureEM:
    """EM model of a mixture over ``templates`` (one distribution per component).

    Parameters
    ----------
    templates : sequence of Distribution
        Give each component its family and settings; their parameter values
        are ignored (the parameters come from the engine).

    The components' part of the work (densities, statistics, M-steps, pooled
    parameters) is :class:`~emkit.distributions.components.Components`, the
    same code an :class:`emkit.HMM` uses for its states; this class adds the
    mixing weights.
    """

    def __init__(self, templates: Sequence[Distribution]):
        self.set = Components(templates)
        self.templates = self.set.templates
        self.pools = self.set.pools
        # The monotonicity guard: the weights' M-step is exact, and what a
        # component's M-step may cost (reg_covar; see Distribution.m_step_slack)
        # is monotone_slack, so only rounding is left: the engine's default.
        self.monotone_rtol = MONOTONE_RTOL

    # -------------------------------------------------------------- conversions
    def components(self, params: dict[str, Any]) -> list[Distribution]:
        """The component distributions described by ``params``."""
        return self.set.build(params["components"])

    @staticmethod
    def pack(weights: np.ndarray, components: Sequence[Distribution]) -> dict[str, Any]:
        """The engine's parameter tree from weights and fitted components."""
        return {"weights": np.asarray(weights, dtype=float),
                "components": Components.pack(components)}

    def log_joint(self, X: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """``log weights[k] + log p_k(x_i)``, shape (n_samples, K)."""
        with np.errstate(divide="ignore"):
            log_w = np.log(params["weights"])
        return self.set.log_prob(X, self.components(params)) + log_w

    # ------------------------------------------------------------------- EMModel
    def e_step(self, data: Any, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        X, weight, evidence = (*data, None)[:3] if isinstance(data, tuple) \
            else (data, None, None)
        comps = self.components(params)
        with np.errstate(divide="ignore"):
            log_w = np.log(params["weights"])
        lj = self.set.log_prob(X, comps) + log_w
        if evidence is not None:
            lj += evidence
        ll, resp = log_normalize(lj, out=lj)
        if not np.all(np.isfinite(ll)):
            resp = np.zeros_like(resp)
            return {"n": resp.sum(axis=0), "components": self.set.stats(X, resp, comps)}, -np.inf
        if weight is not None:
            resp *= weight[:, None]
        stats = {"n": resp.sum(axis=0), "components": self.set.stats(X, resp, comps)}
        total = float(ll.sum() if weight is None else ll @ weight)
        return stats, total + self.set.log_prior(comps)

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        n = np.asarray(stats["n"], dtype=float)
        return self.pack(n / n.sum(), self.set.fit(stats["components"]))

    def monotone_slack(self, stats: dict[str, Any]) -> float:
        """How much the M-step from ``stats`` may lower the objective: the weights'
        update is exact, the components' cost is
        :meth:`~emkit.distributions.components.Components.m_step_slack`."""
        return self.set.m_step_slack(stats["components"])

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Weights on the simplex and every component inside its parameter space."""
        w = params["weights"]
        if not on_simplex(w):
            return False
        return self.set.is_feasible(params["components"])

    # ----------------------------------------------------------------- utilities
    def n_parameters(self, components: Sequence[Distribution]) -> int:
        """Free parameters of the mixture: K - 1 weights plus the components'.

        Parameters shared within a pool (a tied covariance) are counted once.
        """
        return len(components) - 1 + self.set.n_parameters(components)
