"""The survival components: exponential, Weibull and log-normal, right-censored.

A row is a time ``t > 0`` and an event indicator ``d`` (1: the failure was seen at
``t``; 0: the row was censored at ``t``, its failure comes later). Its part of the
likelihood under a component with density ``f`` and survival function ``S`` is
``f(t)^d S(t)^(1 - d)``.

Parameters of ``K`` components, arrays of shape (K,): ``rate`` (exponential,
``S = exp(-rate t)``); ``shape`` and ``scale`` (Weibull, ``S = exp(-(t/scale)^shape)``);
``meanlog`` and ``sdlog`` (log-normal: ``log t ~ N(meanlog, sdlog^2)``).

Statistics and M-steps (``r`` the rows' responsibilities times their weights):

* **exponential**: ``events = sum r d`` and ``exposure = sum r t``; the M-step
  ``rate = events / exposure`` is the exact maximizer of ``Q``.
* **Weibull**: the component's ``Q`` is ``sum r [d (log k - k log lam + (k - 1) log t)
  - (t / lam)^k]``, the uncensored weighted Weibull log-likelihood with the event
  weights ``r d`` in the terms of the density and the weights ``r`` in the survival
  term. So the statistics are :meth:`emkit.distributions.Weibull.stats` at the
  current parameters with weights ``r`` (the sums of ``r (t/lam0)^k0`` and its
  bounds), with ``n`` and ``sum_log`` replaced by ``sum r d`` and ``sum r d log t``,
  and the M-step is that family's minorize-maximize step: it never lowers ``Q``
  (generalized EM) and its fixed point solves the censored profile equation.
* **log-normal**: the component's ``Q`` is the weighted censored log-normal
  log-likelihood, concave in Olsen's coordinates ``(mu / sigma, 1 / sigma)``; the
  E-step adds its gradient and Hessian at the current point, taken in the log
  times standardized there, and the sums that bound its gain along a step
  (:mod:`~emkit.models.survival.lognormal`); the M-step is a Newton step with
  step-halving on that bound, or the exact complete-data step of the
  data-augmentation view (a censored row's failure time missing too) when that
  one's guaranteed gain is larger. Either raises ``Q``, so the observed
  log-likelihood never falls.

Every statistic is a sum over rows at parameters fixed during the E-step, so they
add up over chunks and Dask partitions; the point they were taken at is recorded
in them as row sums (``rows * value``), as :class:`emkit.distributions.Weibull` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import log_ndtr

from ...distributions.weibull import Weibull
from .lognormal import lognormal_m_step, lognormal_stats

__all__ = ["FAMILIES", "PARAMETERS", "log_density_and_survival", "component_stats",
           "family_m_step", "log_hazard_terms"]

FAMILIES = ("exponential", "weibull", "lognormal")
#: The fitted parameters of each family, arrays of shape (K,).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "exponential": ("rate",),
    "weibull": ("shape", "scale"),
    "lognormal": ("meanlog", "sdlog"),
}
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def _vec(params: dict[str, Any], name: str) -> np.ndarray:
    return np.atleast_1d(np.asarray(params[name], dtype=float))


def log_density_and_survival(family: str, params: dict[str, Any],
                             t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log f_k(t_i)`` and ``log S_k(t_i)``, each of shape (n, K).

    Parameters
    ----------
    family : {"exponential", "weibull", "lognormal"}
    params : dict
        The family's parameters, arrays of shape (K,).
    t : ndarray of shape (n,)
        Positive times.
    """
    log_t = np.log(t)[:, None]
    if family == "exponential":
        rate = _vec(params, "rate")
        with np.errstate(divide="ignore"):
            log_rate = np.log(rate)
        cum = rate * t[:, None]
        return log_rate - cum, -cum
    if family == "weibull":
        k, log_lam = _vec(params, "shape"), np.log(_vec(params, "scale"))
        z = log_t - log_lam
        with np.errstate(over="ignore"):  # a far tail has S = 0: log -inf
            cum = np.exp(k * z)
        return np.log(k) - log_lam + (k - 1.0) * z - cum, -cum
    if family == "lognormal":
        mu, sigma = _vec(params, "meanlog"), _vec(params, "sdlog")
        a = (log_t - mu) / sigma
        return -log_t - np.log(sigma) - _HALF_LOG_2PI - 0.5 * a * a, log_ndtr(-a)
    raise ValueError(f"distribution must be one of {FAMILIES}, got {family!r}")


def log_hazard_terms(family: str, params: dict[str, Any], t: np.ndarray,
                     event: np.ndarray) -> np.ndarray:
    """Each row's ``log f_k(t)`` (events) or ``log S_k(t)`` (censored rows), shape (n, K)."""
    log_f, log_s = log_density_and_survival(family, params, t)
    return np.where(event[:, None] > 0.5, log_f, log_s)


def component_stats(family: str, params: dict[str, Any], t: np.ndarray, event: np.ndarray,
                    r: np.ndarray, *, shape_bounds: tuple[float, float] = (1e-3, 1e3)
                    ) -> dict[str, np.ndarray]:
    """The additive statistics of each component's part of ``Q`` (module docstring).

    Parameters
    ----------
    family : str
    params : dict
        Current parameters, arrays of shape (K,).
    t, event : ndarray of shape (n,)
    r : ndarray of shape (n, K)
        Responsibilities times row weights.
    shape_bounds : tuple of float
        The Weibull shape's range.

    Returns
    -------
    dict of ndarray, each with leading axis K
    """
    rd = r * event[:, None]
    out: dict[str, np.ndarray] = {"events": rd.sum(axis=0)}
    if family == "exponential":
        out["exposure"] = t @ r
        return out
    if family == "weibull":
        k, lam = _vec(params, "shape"), _vec(params, "scale")
        T, log_t = t[:, None], np.log(t)
        parts = []
        for j in range(r.shape[1]):
            s = Weibull(shape=k[j:j + 1], scale=lam[j:j + 1],
                        shape_bounds=shape_bounds).stats(T, r[:, j])
            s["n"] = np.asarray(out["events"][j])
            s["sum_log"] = np.atleast_1d(log_t @ rd[:, j])
            parts.append(s)
        for key in parts[0]:
            out[f"weibull_{key}"] = np.stack([p[key] for p in parts])
        return out
    out.update(lognormal_stats(params, t, event, r))
    return out


def family_m_step(family: str, stats: dict[str, Any], rows: float, *,
                  shape_bounds: tuple[float, float] = (1e-3, 1e3)) -> dict[str, np.ndarray]:
    """The components' new parameters from the summed statistics, arrays of shape (K,)."""
    events = np.asarray(stats["events"], dtype=float)
    if family == "exponential":
        return {"rate": events / np.asarray(stats["exposure"], dtype=float)}
    if family == "weibull":
        template = Weibull(shape_bounds=shape_bounds)
        shape, scale = np.empty(events.size), np.empty(events.size)
        for j in range(events.size):
            part = {key[len("weibull_"):]: np.asarray(value)[j]
                    for key, value in stats.items() if key.startswith("weibull_")}
            new = template._fit_stats(part)
            shape[j], scale[j] = float(new["shape"][0]), float(new["scale"][0])
        return {"shape": shape, "scale": scale}
    return lognormal_m_step(stats, rows)
