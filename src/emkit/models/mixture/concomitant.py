"""A mixture of any emkit distributions whose weights depend on covariates.

This is latent class regression (StepMix's one-step model; flexmix's
``FLXPmultinom`` concomitant model): row ``i``, with concomitant variables ``z_i``,
comes from component ``k`` with probability

    pi_ik = exp(z~_i' gamma_k) / sum_j exp(z~_i' gamma_j),    gamma_0 = 0,

``z~_i = [1, scaled z_i]`` (:class:`~emkit.numerics.design_scaling.Design`, so
``|z~_ij| <= 1``), and then ``x_i`` follows component ``k``'s distribution, any
:class:`emkit.distributions.Distribution`.

Data (the engine's row-sliceable tree): the tuple ``(X, Z)``, or ``(X, Z,
sample_weight, log_evidence)`` (either may be None; Dask pieces come as ``(X, Z,
sample_weight)`` or all four). ``sample_weight`` (n,) multiplies each row's
log-likelihood, its responsibilities and its terms of the logit's gradient and
Hessian (the weighted multinomial logit; an integer weight equals repeating the
row, a zero weight dropping it); ``log_evidence`` (n, K) is added to each row's
log-joint before it is normalized (known labels: 0 at the component, ``-inf``
elsewhere; soft evidence: ``log priors``; see :mod:`emkit.estimators._supervision`),
so the log-likelihood is ``sum_i w_i log sum_k e_ik pi_ik p_k(x_i)``.

Parameters (a dict): ``mixing`` (K, q + 1) on the scaled design, row 0 zero, and
``components``, a list of each component's ``parameters()`` tree.

E-step, at the current parameters: responsibilities
``r_ik proportional to pi_ik p_k(x_i)``, and the additive statistics

* ``n`` (K,), ``sum_i r_ik``; ``components``, every component's statistics
  weighted by its responsibilities (as :class:`~.any_distribution.MixtureEM`);
* ``anchor_mixing``, ``rows * gamma``: the point the logit's statistics were
  taken at, as a row sum (the M-step has nothing else to read it from);
* ``mixing``, the gradient and Hessian of the logit's part of ``Q``,
  ``sum_i sum_k r_ik log pi_ik`` (:func:`~emkit.numerics.multinomial_logit.mixing_stats`;
  computed with the responsibilities in one compiled pass,
  :mod:`~emkit.numerics.multinomial_logit_kernel`).

M-step: the components' own M-steps (exact, as in the plain mixture), and for
the logit one safeguarded Newton step
(:func:`~emkit.numerics.multinomial_logit.mixing_m_step`), which raises ``Q``
(generalized EM), so the observed log-likelihood never falls. With no
concomitant column (``q = 0``, intercepts only) the logit's maximizer is closed
form, ``gamma_k = log(n_k / n_0)``: the plain mixture's ``weights = n / sum(n)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...distributions._base import Distribution
from ...distributions.components import Components
from ...engine.run import MONOTONE_RTOL
from ...numerics.design_scaling import Design
from ...numerics.multinomial_logit import log_mixing, mixing_m_step
from ...numerics.multinomial_logit_kernel import logit_mixture_e_step

__all__ = ["ConcomitantMixtureEM", "check_reference", "anchor"]


def check_reference(stats: dict[str, Any]) -> np.ndarray:
    """The statistics' ``n`` (K,), refused when the reference component holds no rows."""
    n = np.asarray(stats["n"], dtype=float)
    if not n[0] > 0.0:
        raise ValueError("component 0 (the reference of the concomitant model) holds no "
                         "rows; use other starts (n_init) or fewer components")
    return n


def anchor(stats: dict[str, Any]) -> np.ndarray:
    """The coefficients (K, q + 1) the logit's statistics were taken at."""
    return np.asarray(stats["anchor_mixing"], dtype=float) / float(stats["rows"])


class ConcomitantMixtureEM:
    """EM model of a mixture over ``templates`` with multinomial-logit weights.

    Parameters
    ----------
    templates : sequence of Distribution
        One distribution per component (family and settings; parameter values
        come from the engine).
    concomitant : Design
        The scaling of the concomitant variables ``Z`` (its ``n_columns`` is
        ``q``; ``Design.identity(q)`` for coefficients in ``Z``'s own units).
    """

    def __init__(self, templates: Sequence[Distribution], concomitant: Design):
        self.set = Components(templates)
        self.templates = self.set.templates
        self.pools = self.set.pools
        self.concomitant = concomitant
        # the components' M-steps are exact up to their declared slack and the
        # logit's step raises Q by construction: only rounding is left
        self.monotone_rtol = MONOTONE_RTOL

    # -------------------------------------------------------------- conversions
    def components(self, params: dict[str, Any]) -> list[Distribution]:
        """The component distributions described by ``params``."""
        return self.set.build(params["components"])

    @staticmethod
    def pack(mixing: np.ndarray, components: Sequence[Distribution]) -> dict[str, Any]:
        """The engine's parameter tree from logit coefficients (K, q + 1) and components."""
        return {"mixing": np.asarray(mixing, dtype=float),
                "components": Components.pack(components)}

    def log_mixing(self, Z: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """``log pi_ik``, shape (n_samples, K)."""
        return log_mixing(self.concomitant.rows(Z), np.asarray(params["mixing"], dtype=float))

    def log_joint(self, data: Any, params: dict[str, Any]) -> np.ndarray:
        """``log pi_ik + log p_k(x_i)``, shape (n_samples, K), for ``data = (X, Z)``."""
        X, Z = data
        return self.set.log_prob(X, self.components(params)) + self.log_mixing(Z, params)

    # ------------------------------------------------------------------- EMModel
    def e_step(self, data: Any, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        X, Z, weight, evidence = (*data, None, None)[:4]
        n = X.shape[0]
        comps = self.components(params)
        gamma = np.asarray(params["mixing"], dtype=float)
        logf = self.set.log_prob(X, comps)
        if evidence is not None:
            # the evidence multiplies the posterior, not pi: the logit's statistics
            # see it only through the responsibilities
            logf = logf + evidence
        # one compiled pass: row log-likelihoods, (weighted) responsibilities, the
        # logit's statistics
        ll, resp, mixing = logit_mixture_e_step(logf, Z, self.concomitant.centre,
                                                self.concomitant.half_range, gamma, weight)
        if weight is None:
            total = float(ll.sum())
        else:
            # a row of weight 0 is a dropped row, whatever its density
            total = float(np.where(weight > 0, ll, 0.0) @ weight)
        finite = math.isfinite(total)  # a row of -inf or NaN makes the sum so
        nk = mixing.pop("n")
        if not finite:
            resp = np.zeros_like(resp)
            nk = np.zeros_like(nk)
            mixing = {key: np.zeros_like(value) for key, value in mixing.items()}
        stats: dict[str, Any] = {
            "rows": np.asarray(float(n)),
            "n": nk,
            "components": self.set.stats(X, resp, comps),
            "anchor_mixing": float(n) * gamma,
        }
        if self.concomitant.n_columns:
            stats["mixing"] = mixing
        if not finite:
            return stats, -np.inf
        return stats, total + self.set.log_prior(comps)

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        return self.pack(self.fit_mixing(stats), self.set.fit(stats["components"]))

    def fit_mixing(self, stats: dict[str, Any]) -> np.ndarray:
        """The logit's part of the M-step: the new coefficients (K, q + 1)."""
        n = check_reference(stats)
        if self.concomitant.n_columns:
            return mixing_m_step(anchor(stats), stats["mixing"])
        with np.errstate(divide="ignore"):
            return (np.log(n) - np.log(n[0]))[:, None]

    def monotone_slack(self, stats: dict[str, Any]) -> float:
        """What the components' M-steps may cost (the logit's step never lowers ``Q``)."""
        return self.set.m_step_slack(stats["components"])

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Logit coefficients not NaN (or +inf) and every component in its parameter space."""
        g = np.asarray(params["mixing"], dtype=float)
        if np.any(np.isnan(g)) or np.any(g == np.inf):
            return False
        return self.set.is_feasible(params["components"])

    # ----------------------------------------------------------------- utilities
    def n_parameters(self, components: Sequence[Distribution]) -> int:
        """Free parameters: ``(K - 1)(q + 1)`` logit coefficients plus the components'."""
        k = len(components)
        return (k - 1) * (self.concomitant.n_columns + 1) + self.set.n_parameters(components)
