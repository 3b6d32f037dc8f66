"""The mixture of regressions as an EM model (flexmix's ``FLXMRglm`` + ``FLXPmultinom``).

Model: row ``i`` (covariates ``x_i``, response ``y_i``, concomitant ``z_i``) comes
from component ``k`` with probability ``pi_k`` (or ``pi_k(z_i)``, a multinomial
logit, :mod:`~emkit.models.regression.mixing`), and then ``y_i`` follows the
component's GLM with linear predictor ``eta_ik = x~_i' beta_k``
(:mod:`~emkit.models.regression.families`; ``x~`` the scaled design of
:mod:`~emkit.models.regression.design`).

Data (the engine's row-sliceable tree): the tuple ``(X, y)``, then ``Z`` when the
model has concomitant variables, then ``w`` when rows are weighted, then ``E``
(n, K) when the rows carry log-evidence (known labels: 0 at the component,
``-inf`` elsewhere; soft evidence: ``log priors``), added to each row's log joint
``log pi_ik + log f_k`` before it is normalized: it multiplies the posterior, not
``pi`` (the logit's statistics see it only through the responsibilities), and the
log-likelihood is ``sum_i w_i log sum_k e_ik pi_ik f_k(y_i)``. ``y`` is
``(n,)`` or, binomial, ``(n, 2)`` as (successes, trials).

Parameters (a dict): ``coef`` (K, p + 1) on the scaled design, ``scale`` (K,) for
the Gaussian, and ``weights`` (K,) or ``mixing`` (K, q + 1) with row 0 zero.

E-step, at the current parameters (one compiled pass over the rows,
:mod:`~emkit.models.regression.kernel`): responsibilities ``r_ik`` (times ``w_i``) and,
per component, the additive statistics of its part of EM's ``Q``:

* ``n_k = sum_i r_ik``; ``grad_k = sum_i r_ik u_ik x~_i`` with ``u`` the score of the
  log-density in ``eta`` (the residual for the Gaussian); ``hess_k = sum_i r_ik
  v_ik x~_i x~_i'`` with ``v`` minus its second derivative (1 for the Gaussian);
* Gaussian: ``rss_k = sum_i r_ik (y_i - eta_ik)^2``, the residuals taken at the
  current coefficients (centred there, so nothing cancels at large offsets);
* binomial: ``bohning_k = sum_i r_ik m_i x~_i x~_i' / 4``, a global curvature bound;
* the point the statistics were taken at, as row sums (``rows * coef``), because
  the M-step has nothing else to read it from (as :class:`emkit.distributions.Weibull`);
* with concomitant variables, the logit's gradient and Hessian.

M-step: Gaussian: ``beta_k + hess_k^-1 grad_k`` is the weighted least-squares
solution exactly, and ``sigma_k^2 = (rss_k - grad_k' hess_k^-1 grad_k) / n_k`` its
residual variance: the exact maximizer of ``Q``. Poisson, binomial and the
mixing logit: one safeguarded Newton step (:mod:`~emkit.models.regression.newton`),
which raises ``Q`` (generalized EM), so the observed log-likelihood never falls.
Without concomitant variables ``weights = n / sum(n)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...engine.run import MONOTONE_RTOL
from ...numerics.multinomial_logit_kernel import log_mixing_rows, logit_stats
from ...numerics.simplex import on_simplex
from .design import Design
from .families import FAMILIES, log_density
from .kernel import regression_e_step
from .mixing import log_mixing, mixing_m_step
from .newton import newton_direction, safeguarded_step

__all__ = ["RegressionMixtureEM"]

#: A component whose total responsibility is below this share of all rows is empty.
EMPTY_SHARE = 1e-10


class RegressionMixtureEM:
    """EM model of a K-component mixture of GLMs.

    Parameters
    ----------
    family : {"gaussian", "poisson", "binomial"}
    n_components : int
    design : Design
        Scaling of the covariates ``X``.
    concomitant : Design or None
        Scaling of the concomitant variables ``Z``; None for constant weights.
    weighted : bool, default False
        Whether the data carry row weights (the tuple's last member).
    min_scale : float, default 0.0
        Gaussian: a component whose standard deviation falls to this or below has
        collapsed onto too few rows (the likelihood is unbounded there); the
        M-step raises ``ValueError``.
    evidence : bool, default False
        Whether the data carry per-row log-evidence (the tuple's last member).
    """

    def __init__(self, family: str, n_components: int, design: Design, *,
                 concomitant: Design | None = None, weighted: bool = False,
                 min_scale: float = 0.0, evidence: bool = False):
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        self.family = family
        self.n_components = int(n_components)
        self.design = design
        self.concomitant = concomitant
        self.weighted = bool(weighted)
        self.min_scale = float(min_scale)
        self.evidence = bool(evidence)
        # Gaussian M-steps are exact and the others raise Q by construction: only
        # rounding may lower the log-likelihood, the engine's default allowance.
        self.monotone_rtol = MONOTONE_RTOL

    # ----------------------------------------------------------------- data
    def unpack(self, data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                                         np.ndarray | None]:
        """``(X, y, Z, w)`` from the data tuple (``Z``, ``w`` None when absent)."""
        members = list(data)
        if self.evidence:
            members = members[:-1]
        X, y = np.asarray(members[0], dtype=float), np.asarray(members[1], dtype=float)
        Z = np.asarray(members[2], dtype=float) if self.concomitant is not None else None
        w = np.asarray(members[-1], dtype=float) if self.weighted else None
        return X, y, Z, w

    def unpack_evidence(self, data: Any) -> np.ndarray | None:
        """The rows' log-evidence (n, K), or None when the data carry none."""
        return np.asarray(list(data)[-1], dtype=float) if self.evidence else None

    def log_mixing(self, Z: np.ndarray | None, params: dict[str, Any], n: int) -> np.ndarray:
        """``log pi_ik``, shape (n, K) (constant rows without concomitant variables)."""
        if self.concomitant is None:
            with np.errstate(divide="ignore"):
                return np.broadcast_to(np.log(np.asarray(params["weights"], dtype=float)),
                                       (n, self.n_components))
        assert Z is not None
        return log_mixing(self.concomitant.rows(Z), np.asarray(params["mixing"], dtype=float))

    def linear_predictor(self, X: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """``eta_ik``, shape (n, K)."""
        return self.design.rows(X) @ np.asarray(params["coef"], dtype=float).T

    def log_joint(self, data: Any, params: dict[str, Any]) -> np.ndarray:
        """``log pi_ik + log f_k(y_i | x_i)``, shape (n, K) (row weights not applied)."""
        X, y, Z, _ = self.unpack(data)
        eta = self.linear_predictor(X, params)
        scale = params.get("scale")
        out = log_density(self.family, eta, y, scale) + self.log_mixing(Z, params, len(X))
        evidence = self.unpack_evidence(data)
        return out if evidence is None else out + evidence

    # -------------------------------------------------------------- EMModel
    def e_step(self, data: Any, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        X, y, Z, w = self.unpack(data)
        n = X.shape[0]
        coef = np.asarray(params["coef"], dtype=float)
        scale = params.get("scale")
        con = self.concomitant
        if con is None:
            with np.errstate(divide="ignore"):
                log_pi = np.log(np.asarray(params["weights"], dtype=float))
        else:
            assert Z is not None
            log_pi = log_mixing_rows(Z, con.centre, con.half_range,
                                     np.asarray(params["mixing"], dtype=float))
        evidence = self.unpack_evidence(data)
        # the evidence enters the kernel with the log weights (a row each), so the
        # posterior and the log-likelihood see it; the logit's statistics take the
        # plain log weights
        log_prior = log_pi if evidence is None else evidence + log_pi
        # one compiled pass: densities, responsibilities and the components' sums
        loglik, n_bad, resp, sums = regression_e_step(
            X, self.design.centre, self.design.half_range, y, self.family, coef,
            None if scale is None else np.asarray(scale, dtype=float), log_prior, w,
            keep_resp=con is not None)
        stats: dict[str, Any] = {"rows": np.asarray(float(n)), "anchor_coef": float(n) * coef,
                                 **sums}
        if con is not None:
            assert Z is not None
            stats["anchor_mixing"] = float(n) * np.asarray(params["mixing"], dtype=float)
            stats["mixing"] = logit_stats(Z, con.centre, con.half_range, resp, w, log_pi)
        return stats, (-np.inf if n_bad else loglik)

    def check_scale(self, scale: np.ndarray) -> None:
        """A Gaussian component whose residual sd fell to ``min_scale`` is an error."""
        collapsed = np.flatnonzero(~(scale > self.min_scale))
        if collapsed.size:
            raise ValueError(
                f"component {int(collapsed[0])} collapsed: its residual standard "
                f"deviation fell to {scale[collapsed[0]]:.3g} (it fits a few rows "
                "exactly, where the likelihood is unbounded); use fewer components or "
                "other starts (n_init)")

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        rows = float(stats["rows"])
        n = np.asarray(stats["n"], dtype=float)
        total = float(n.sum())
        if not total > 0.0:
            raise ValueError("no row has positive weight under the current parameters")
        empty = np.flatnonzero(n <= EMPTY_SHARE * total)
        if empty.size:
            raise ValueError(f"component {int(empty[0])} holds no rows (total responsibility "
                             f"{n[empty[0]]:.3g}); use fewer components or other starts "
                             "(n_init)")
        coef = np.asarray(stats["anchor_coef"], dtype=float) / rows
        new_coef = np.empty_like(coef)
        params: dict[str, Any] = {}
        if self.family == "gaussian":
            variance = np.empty(self.n_components)
            for j in range(self.n_components):
                step = newton_direction(stats["grad"][j], stats["hess"][j], f"component {j}")
                new_coef[j] = coef[j] + step
                variance[j] = (float(stats["rss"][j]) - float(stats["grad"][j] @ step)) / n[j]
            scale = np.sqrt(np.maximum(variance, 0.0))
            self.check_scale(scale)
            params["coef"], params["scale"] = new_coef, scale
        else:
            def rho(d: np.ndarray) -> float:
                return float(np.abs(d).sum())  # |x~_ij| <= 1 and the intercept's 1

            for j in range(self.n_components):
                bound = stats["bohning"][j] if self.family == "binomial" else None
                new_coef[j] = coef[j] + safeguarded_step(
                    stats["grad"][j], stats["hess"][j], rho, growth=1.0, bound=bound,
                    what=f"component {j}")
            params["coef"] = new_coef
        if self.concomitant is None:
            params["weights"] = n / total
        else:
            gamma = np.asarray(stats["anchor_mixing"], dtype=float) / rows
            params["mixing"] = mixing_m_step(gamma, stats["mixing"])
        return params

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Finite coefficients, positive scales, weights on the simplex."""
        if not np.all(np.isfinite(params["coef"])):
            return False
        if "scale" in params:
            s = np.asarray(params["scale"])
            if not (np.all(np.isfinite(s)) and np.all(s > self.min_scale)):
                return False
        if "weights" in params:
            w = np.asarray(params["weights"])
            return on_simplex(w)
        return bool(np.all(np.isfinite(params["mixing"])))

    # ------------------------------------------------------------- utilities
    def n_parameters(self) -> int:
        """Free parameters: coefficients, Gaussian scales and the mixing part."""
        k, p1 = self.n_components, self.design.n_columns + 1
        count = k * p1 + (k if self.family == "gaussian" else 0)
        if self.concomitant is None:
            return count + k - 1
        return count + (k - 1) * (self.concomitant.n_columns + 1)
