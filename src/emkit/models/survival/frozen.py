"""A survival mixture whose M-step keeps frozen entries at their start, bit for bit.

One job: wrap :class:`~emkit.models.survival.model.SurvivalMixtureEM` (its E-step
unchanged) with the constrained M-step. Masks (True = frozen) of shape (K,) per
family parameter and (K [+ 1],) for the weights (the cure fraction last).

Per component, over its free parameters only:

* exponential: ``rate = events / exposure`` (closed form);
* Weibull, both free: the family's minorize-maximize step; shape frozen: the
  exact ``lam^k = sum r t^k / sum r d``; scale frozen: the minorize-maximize step of
  the shape alone (the same quadratic bounds of ``sum r (t/lam)^(k0 + t)`` from the
  statistics, maximized in ``t`` on each rung of the ladder, the best kept), which
  never lowers ``Q``;
* log-normal, both free: the family's step; one frozen:
  :func:`~emkit.models.survival.lognormal.lognormal_masked_step`;
* weights: the frozen ones keep their values, the free ones share the free mass in
  proportion to their counts, ``w_F = (1 - sum w_C) n_F / sum n_F``.

The frozen entries are copied from ``fixed``, so SQUAREM's extrapolation (a
combination of points that agree there) keeps them too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import brentq

from ...distributions.weibull import LADDER
from ...engine.wrapped import ModelWrapper
from ...numerics.shared_mass import shared_mass
from .families import PARAMETERS, family_m_step
from .lognormal import lognormal_masked_step
from .model import EMPTY_SHARE, SurvivalMixtureEM

__all__ = ["FrozenSurvivalEM", "weibull_shape_step"]


def weibull_shape_step(part: dict[str, Any], shape_bounds: tuple[float, float]) -> float:
    """The new shape of one Weibull component at its frozen scale (the current one).

    ``part``: the component's Weibull statistics (``n`` = its events, ``sum_log`` =
    ``sum r d log t``, ``sum_pow``, ``sum_pow_log``, the ladders, the anchors).
    """
    rows = float(part["rows"])
    k0 = float(np.asarray(part["anchor_shape"]).reshape(-1)[0]) / rows
    mu0 = float(np.asarray(part["anchor_log_scale"]).reshape(-1)[0]) / rows
    n = float(part["n"])
    a1 = float(np.asarray(part["sum_pow_log"]).reshape(-1)[0])
    lz = float(np.asarray(part["sum_log"]).reshape(-1)[0]) - n * mu0
    if not (n > 0 and math.isfinite(a1) and math.isfinite(lz)):
        return k0
    c = lz - a1
    g0 = n / k0 + c  # the slope of Q in the shape at k0
    if g0 == 0.0:
        return k0
    up = g0 > 0
    ladder = np.asarray(part["sum_pow_log2_up" if up else "sum_pow_log2_down"],
                        dtype=float).reshape(-1)
    lo, hi = shape_bounds
    best_t, best_gain = 0.0, 0.0
    for rung, a2 in zip(LADDER, ladder, strict=True):
        end = float(np.clip(k0 + (1.0 if up else -1.0) * rung * k0, lo, hi)) - k0
        if not math.isfinite(a2) or end == 0.0:
            continue

        def slope(t: float, a2: float = a2) -> float:  # of the minorizer, decreasing
            return n / (k0 + t) + c - 2.0 * a2 * t

        if (slope(end) > 0) == up:  # no turning point inside: the end
            t = end
        else:
            t = brentq(slope, min(0.0, end), max(0.0, end), xtol=1e-15 * k0, rtol=1e-15)
        gain = n * math.log1p(t / k0) + c * t - a2 * t * t
        if gain > best_gain:
            best_t, best_gain = t, gain
    return k0 + best_t


class FrozenSurvivalEM(ModelWrapper):
    """A survival mixture with some parameters or weights kept fixed.

    Parameters
    ----------
    model : SurvivalMixtureEM
    fixed : dict
        The start: ``weights`` (K [+ 1],) and the family's parameters (K,).
    masks : dict
        Boolean masks (True = frozen): ``weights`` (K [+ 1],) and any of the
        family's parameter names (K,); a missing key freezes nothing.
    """

    def __init__(self, model: SurvivalMixtureEM, fixed: dict[str, Any],
                 masks: dict[str, np.ndarray]):
        self.model = model
        self.fixed = {key: np.array(value, dtype=np.float64, copy=True)
                      for key, value in fixed.items()}
        k = model.n_components
        self.masks = {name: np.asarray(masks.get(name, np.zeros(k, dtype=bool)))
                      for name in PARAMETERS[model.family]}
        self.masks["weights"] = np.asarray(masks.get(
            "weights", np.zeros(k + int(model.cure), dtype=bool)))


    def log_joint(self, data: Any, params: dict[str, Any]) -> np.ndarray:
        return self.model.log_joint(data, params)

    def e_step(self, data: Any, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        return self.model.e_step(data, params)

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        model = self.model
        k = model.n_components
        names = PARAMETERS[model.family]
        n = np.asarray(stats["n"], dtype=float)
        total = float(n.sum())
        if not total > 0.0:
            raise ValueError("no row has positive weight under the current parameters")
        moving = ~np.logical_and.reduce([self.masks[name] for name in names])
        events = np.asarray(stats["family"]["events"], dtype=float)
        empty = np.flatnonzero((n[:k] <= EMPTY_SHARE * total) & moving)
        if empty.size:
            raise ValueError(f"component {int(empty[0])} holds no rows (total responsibility "
                             f"{n[empty[0]]:.3g}); use fewer components or other starts "
                             "(n_init)")
        silent = np.flatnonzero(
            (events <= EMPTY_SHARE * max(float(events.sum()), 1e-300)) & moving)
        if silent.size:
            raise ValueError(f"component {int(silent[0])} holds no observed failures (its "
                             "rows are censored), so its distribution cannot be estimated; "
                             "use fewer components or other starts (n_init)")
        rows = float(stats["rows"])
        params: dict[str, Any] = {"weights": self._weights(n)}
        new = family_m_step(model.family, stats["family"], rows,
                            shape_bounds=model.shape_bounds)
        for j in range(k):
            frozen = {name: bool(self.masks[name][j]) for name in names}
            if not any(frozen.values()) or all(frozen.values()):
                continue
            if model.family == "weibull":
                part = {key[len("weibull_"):]: np.asarray(value)[j]
                        for key, value in stats["family"].items()
                        if key.startswith("weibull_")}
                if frozen["shape"]:
                    k0 = self.fixed["shape"][j]
                    mu0 = float(np.asarray(part["anchor_log_scale"]).reshape(-1)[0]) / rows
                    a0 = float(np.asarray(part["sum_pow"]).reshape(-1)[0])
                    new["scale"][j] = math.exp(mu0 + math.log(a0 / float(part["n"])) / k0)
                else:
                    new["shape"][j] = weibull_shape_step(part, model.shape_bounds)
            else:
                new["meanlog"][j], new["sdlog"][j] = lognormal_masked_step(
                    stats["family"], rows, j, free_mean=frozen["sdlog"],
                    fixed_mean=float(self.fixed["meanlog"][j]),
                    fixed_sd=float(self.fixed["sdlog"][j]))
        for name in names:
            value = np.asarray(new[name], dtype=float).copy()
            value[self.masks[name]] = self.fixed[name][self.masks[name]]
            params[name] = value
        model.check_not_collapsed(params)
        return params

    def _weights(self, n: np.ndarray) -> np.ndarray:
        frozen = self.masks["weights"]
        if not frozen.any():
            return n / n.sum()
        return shared_mass(n, np.asarray(self.fixed["weights"], dtype=np.float64), frozen)

    def is_feasible(self, params: dict[str, Any]) -> bool:
        return bool(self.model.is_feasible(params))

    def n_parameters(self) -> int:
        """Free parameters: the unfrozen component parameters and weights."""
        count = self.model.n_parameters()
        count -= sum(int(self.masks[name].sum()) for name in PARAMETERS[self.model.family])
        frozen_w = int(self.masks["weights"].sum())
        if frozen_w:
            m = self.masks["weights"].size
            count -= (m - 1) - max(m - frozen_w - 1, 0)
        return count
