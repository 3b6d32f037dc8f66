"""A regression mixture whose M-step keeps frozen entries at their start, bit for bit.

One job: wrap :class:`~emkit.models.regression.model.RegressionMixtureEM` (its
E-step unchanged) with the constrained M-step.

Parameters are held in the covariates' own units, so that a frozen intercept or
slope is a coordinate of the parameter vector and is copied from ``fixed``
exactly: ``coef`` (K, p + 1) with the intercepts in column 0 (``[intercept_,
coef_]``), ``scale`` (K,) for the Gaussian, ``weights`` (K,) or ``mixing``. The
E-step maps the coefficients onto the scaled design, ``beta = T theta`` with
``T = [[1, centre'], [0, diag(half_range)]]``, and the M-step maps its statistics
back: ``g = T' g~`` and ``H = T' H~ T``.

M-step, component by component, over the free coordinates ``F`` only:

* Gaussian: ``theta_F + H_FF^-1 g_F`` is the exact weighted least-squares fit with
  the frozen columns moved to the offset (``Q`` is quadratic in ``theta``), and
  ``sigma^2 = (rss - g_F' H_FF^-1 g_F) / n_k`` its residual variance (a frozen
  ``sigma`` keeps its value; the coefficients' step does not depend on it);
* Poisson and binomial: the safeguarded Newton step of
  :func:`~emkit.models.regression.newton.safeguarded_step` restricted to ``F``
  (the linear predictors move by ``T_F d``, at most ``|T_F d|_1``; Böhning's bound
  ``T' B~ T`` for the binomial), which raises ``Q`` (generalized EM), as the
  unconstrained step does;
* weights: the frozen ones keep their values, the free ones share the free mass in
  proportion to their counts, ``w_F = (1 - sum w_C) n_F / sum n_F``.

Since the frozen entries are copied from ``fixed``, SQUAREM's extrapolation (a
combination of points that agree there) keeps them too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...engine.wrapped import ModelWrapper
from ...numerics.multinomial_logit import frozen_mixing_m_step
from ...numerics.shared_mass import shared_mass
from .mixing import mixing_m_step
from .model import EMPTY_SHARE, RegressionMixtureEM
from .newton import newton_direction, safeguarded_step

__all__ = ["FrozenRegressionEM"]


class FrozenRegressionEM(ModelWrapper):
    """A regression mixture with some coefficients, scales or weights kept fixed.

    Parameters
    ----------
    model : RegressionMixtureEM
        The unconstrained model (its E-step and checks are used).
    fixed : dict
        ``coef`` (K, p + 1) in the covariates' own units (intercept in column 0),
        ``scale`` (K,) for the Gaussian, ``weights`` (K,) without concomitant
        variables, ``mixing_coef`` (K, q + 1, own units) with them: the frozen
        values (and the start).
    masks : dict
        Boolean masks (True = frozen): ``coef`` (K, p + 1), ``scale`` (K,),
        ``weights`` (K,), ``mixing`` (K, q + 1; the logit's own-unit
        coefficients, :func:`~emkit.numerics.multinomial_logit.frozen_mixing_m_step`);
        a missing key freezes nothing.
    """

    def __init__(self, model: RegressionMixtureEM, fixed: dict[str, Any],
                 masks: dict[str, np.ndarray]):
        self.model = model
        self.fixed = {key: np.array(value, dtype=np.float64, copy=True)
                      for key, value in fixed.items() if key != "mixing"}
        k, p1 = model.n_components, model.design.n_columns + 1
        self.masks = {"coef": np.asarray(masks.get("coef", np.zeros((k, p1), dtype=bool))),
                      "scale": np.asarray(masks.get("scale", np.zeros(k, dtype=bool))),
                      "weights": np.asarray(masks.get("weights", np.zeros(k, dtype=bool)))}
        #: frozen entries of the logit's own-unit coefficients (K, q + 1), or None
        self.mixing_mask = None if masks.get("mixing") is None else np.asarray(masks["mixing"])
        centre, half = model.design.centre, model.design.half_range
        self.T = np.zeros((p1, p1))
        self.T[0, 0] = 1.0
        self.T[0, 1:] = centre
        self.T[1:, 1:] = np.diag(half)


    # ------------------------------------------------------------ coordinates
    def scaled(self, params: dict[str, Any]) -> dict[str, Any]:
        """The model's parameters on the scaled design."""
        out = dict(params)
        out["coef"] = np.asarray(params["coef"], dtype=float) @ self.T.T
        return out

    def original(self, coef: np.ndarray) -> np.ndarray:
        """(K, p + 1) scaled-design coefficients in the covariates' own units."""
        intercept, slopes = self.model.design.to_original(coef)
        return np.column_stack([intercept, slopes])

    # -------------------------------------------------------------- EMModel
    def log_joint(self, data: Any, params: dict[str, Any]) -> np.ndarray:
        return self.model.log_joint(data, self.scaled(params))

    def e_step(self, data: Any, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        return self.model.e_step(data, self.scaled(params))

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        model = self.model
        rows = float(stats["rows"])
        n = np.asarray(stats["n"], dtype=float)
        total = float(n.sum())
        if not total > 0.0:
            raise ValueError("no row has positive weight under the current parameters")
        frozen_w = self.masks["weights"]
        empty = np.flatnonzero((n <= EMPTY_SHARE * total) & ~frozen_w)
        if empty.size:
            raise ValueError(f"component {int(empty[0])} holds no rows (total responsibility "
                             f"{n[empty[0]]:.3g}); use fewer components or other starts "
                             "(n_init)")
        T = self.T
        theta = self.original(np.asarray(stats["anchor_coef"], dtype=float) / rows)
        mask = self.masks["coef"]
        theta[mask] = self.fixed["coef"][mask]
        params: dict[str, Any] = {}
        variance = np.empty(model.n_components)
        for j in range(model.n_components):
            free = np.flatnonzero(~mask[j])
            g = T.T @ np.asarray(stats["grad"][j], dtype=float)
            H = T.T @ np.asarray(stats["hess"][j], dtype=float) @ T
            gain = 0.0
            if free.size and model.family == "gaussian":
                step = newton_direction(g[free], H[np.ix_(free, free)], f"component {j}")
                theta[j, free] += step
                gain = float(g[free] @ step)
            elif free.size:
                Tf = T[:, free]
                bound = None
                if model.family == "binomial":
                    bound = (T.T @ np.asarray(stats["bohning"][j], dtype=float) @ T)[
                        np.ix_(free, free)]

                def rho(d: np.ndarray, Tf: np.ndarray = Tf) -> float:
                    return float(np.abs(Tf @ d).sum())  # |x~_ij| <= 1

                theta[j, free] += safeguarded_step(g[free], H[np.ix_(free, free)], rho,
                                                   growth=1.0, bound=bound,
                                                   what=f"component {j}")
            if model.family == "gaussian":
                variance[j] = (float(stats["rss"][j]) - gain) / n[j]
        params["coef"] = theta
        if model.family == "gaussian":
            scale = np.sqrt(np.maximum(variance, 0.0))
            frozen_s = self.masks["scale"]
            scale[frozen_s] = self.fixed["scale"][frozen_s]
            model.check_scale(scale)
            params["scale"] = scale
        if model.concomitant is None:
            params["weights"] = self._weights(n)
        else:
            gamma = np.asarray(stats["anchor_mixing"], dtype=float) / rows
            if self.mixing_mask is None:
                params["mixing"] = mixing_m_step(gamma, stats["mixing"])
            else:
                params["mixing"] = frozen_mixing_m_step(
                    gamma, stats["mixing"], n, model.concomitant, self.mixing_mask,
                    np.asarray(self.fixed["mixing_coef"], dtype=np.float64))
        return params

    def _weights(self, n: np.ndarray) -> np.ndarray:
        """Frozen weights kept; the free ones share the free mass by their counts."""
        frozen = self.masks["weights"]
        if not frozen.any():
            return n / n.sum()
        return shared_mass(n, np.asarray(self.fixed["weights"], dtype=np.float64), frozen)

    def is_feasible(self, params: dict[str, Any]) -> bool:
        return bool(self.model.is_feasible(self.scaled(params)))

    def n_parameters(self) -> int:
        """Free parameters: the unfrozen coefficients, scales and weights."""
        count = self.model.n_parameters()
        count -= int(self.masks["coef"].sum())
        if self.model.family == "gaussian":
            count -= int(self.masks["scale"].sum())
        if self.mixing_mask is not None:
            count -= int(self.mixing_mask[1:].sum())
        frozen_w = int(self.masks["weights"].sum())
        if frozen_w:
            k = self.model.n_components
            count -= (k - 1) - max(k - frozen_w - 1, 0)
        return count
