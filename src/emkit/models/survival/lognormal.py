"""The log-normal component's M-step: a safeguarded Newton step on its part of EM's ``Q``.

A component's part of ``Q`` (responsibilities ``r`` fixed by the E-step) is the
weighted censored log-likelihood ``sum r [d log f(t) + (1 - d) log S(t)]``. Written
in the standardized log times ``z = (log t - mu0) / sigma0`` of the current
``(mu0, sigma0)`` and Olsen's coordinates ``gamma = sigma0 / sigma``,
``delta = (mu - mu0) / sigma`` (the current point is ``(0, 1)``), a row's
standardized residual is ``gamma z - delta`` and

    Q(delta, gamma) = E log gamma - 1/2 sum_events r (gamma z - delta)^2
                      + sum_censored r log Phi(delta - gamma z) + const,

``E = sum r d``: a concave function (Olsen 1978), so its Newton direction
``d = H^-1 g`` is an ascent direction. The E-step gives its gradient ``g`` and minus
its Hessian ``H`` at ``(0, 1)`` as row sums: the events' ``E``, ``sum r d z``,
``sum r d z^2``; the censored rows' ``sum r c lambda``, ``sum r c lambda z`` and
``sum r c h (1, z, z^2)``, with ``lambda(z) = phi(z) / (1 - Phi(z))`` the inverse Mills
ratio and ``h = lambda (lambda - z)`` in (0, 1) minus the second derivative of
``log Phi``; and the censored rows' moments ``sum r c z^k``, ``k = 0..4``.

The rows are not at hand in the M-step, so the step is chosen on a *lower bound*
of the gain these statistics determine. Along the step ``s d``, ``d = (a, b)``, the
events' part of ``Q`` is known exactly (it depends on the rows only through their
three sums), and each censored row's residual moves by ``s x_i`` with
``x_i = a - b z_i``. Its curvature ``h`` has slope at most :data:`H_SLOPE` in
absolute value, and at most 1, so the censored part's curvature at ``tau d`` is at
most ``min(A2, H2 + H_SLOPE tau sqrt(A2 A4))`` with ``H2 = sum r c h x^2`` (the
current one), ``A2 = sum r c x^2`` and ``A4 = sum r c x^4`` (Cauchy-Schwarz bounds
``sum r c |x|^3``), all from the statistics. Integrating twice gives the bound.

Step-halving takes the largest ``s`` in ``1, 1/2, 1/4, ...`` whose bound is positive.
The exact complete-data M-step of the data-augmentation view (a censored row's
log failure time, above ``log t``, is missing too; its truncated-normal moments
come from the same sums) raises ``Q`` by at least its own, closed-form gain; the
M-step takes whichever of the two steps has the larger guaranteed gain. So ``Q``
rises at every M-step (the observed log-likelihood never falls), and near the
maximum, where the step and with it the bound's cubic term vanish, the full
Newton step is taken: convergence is quadratic within each M-step, where the
data-augmentation step alone is linear with a rate set by the share censored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import log_ndtr

__all__ = ["lognormal_stats", "lognormal_m_step", "lognormal_masked_step", "H_SLOPE",
           "MAX_HALVINGS"]

#: An upper bound of ``|d/du h(u)|`` for ``h = -(log Phi)''``; the maximum is
#: 0.29572 (near ``u = 1.0``).
H_SLOPE = 0.2958
#: Step-halvings tried before the Newton step is abandoned.
MAX_HALVINGS = 60
#: Relative slack added to the bound's sums against rounding.
_SLACK = 1e-12
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _vec(params: dict[str, Any], name: str) -> np.ndarray:
    return np.atleast_1d(np.asarray(params[name], dtype=float))


def _inverse_mills(z: np.ndarray) -> np.ndarray:
    """``phi(z) / (1 - Phi(z))`` in log space (no overflow or 0/0 far in either tail)."""
    return np.exp(-0.5 * z * z - _HALF_LOG_2PI - log_ndtr(-z))


def lognormal_stats(params: dict[str, Any], t: np.ndarray, event: np.ndarray,
                    r: np.ndarray) -> dict[str, np.ndarray]:
    """The additive statistics of each log-normal component's part of ``Q``.

    Parameters
    ----------
    params : dict
        Current ``meanlog`` and ``sdlog``, arrays of shape (K,).
    t, event : ndarray of shape (n,)
    r : ndarray of shape (n, K)
        Responsibilities times row weights.

    Returns
    -------
    dict of ndarray
        ``ez1``, ``ez2`` (events' sums of ``r z``, ``r z^2``), ``cl``, ``clz``
        (censored rows' ``r lambda``, ``r lambda z``), ``ch`` of shape (K, 3)
        (censored ``r h z^j``, ``j = 0..2``), ``cmom`` of shape (K, 5) (censored
        ``r z^k``, ``k = 0..4``), and the point taken at, as row sums
        (``anchor_meanlog``, ``anchor_sdlog``).
    """
    rows = float(t.shape[0])
    mu, sigma = _vec(params, "meanlog"), _vec(params, "sdlog")
    z = (np.log(t)[:, None] - mu) / sigma  # (n, K), centred at the current means
    seen = event[:, None] > 0.5
    re = np.where(seen, r, 0.0)
    rc = r - re
    with np.errstate(over="ignore", under="ignore"):
        mills = np.where(seen, 0.0, _inverse_mills(np.where(seen, 0.0, z)))
    h = np.clip(mills * (mills - z), 0.0, 1.0)
    rch = rc * h
    z2 = z * z
    return {
        "ez1": (re * z).sum(axis=0),
        "ez2": (re * z2).sum(axis=0),
        "cl": (rc * mills).sum(axis=0),
        "clz": (rc * mills * z).sum(axis=0),
        "ch": np.stack([rch.sum(axis=0), (rch * z).sum(axis=0), (rch * z2).sum(axis=0)],
                       axis=1),
        "cmom": np.stack([rc.sum(axis=0), (rc * z).sum(axis=0), (rc * z2).sum(axis=0),
                          (rc * z2 * z).sum(axis=0), (rc * z2 * z2).sum(axis=0)], axis=1),
        "anchor_meanlog": rows * mu,
        "anchor_sdlog": rows * sigma,
    }


def _quadratic(m: np.ndarray, a: float, b: float) -> float:
    """``sum w (a - b z)^2`` from ``m = (sum w, sum w z, sum w z^2)``, rounded upwards."""
    value = a * a * m[0] - 2.0 * a * b * m[1] + b * b * m[2]
    return max(value, 0.0) + _SLACK * 2.0 * (a * a * abs(m[0]) + b * b * abs(m[2]))


def _quartic(m: np.ndarray, a: float, b: float) -> float:
    """``sum w (a - b z)^4`` from the moments ``m`` (k = 0..4), rounded upwards."""
    value = (a ** 4 * m[0] - 4.0 * a ** 3 * b * m[1] + 6.0 * a * a * b * b * m[2]
             - 4.0 * a * b ** 3 * m[3] + b ** 4 * m[4])
    return max(value, 0.0) + _SLACK * 8.0 * (a ** 4 * abs(m[0]) + b ** 4 * abs(m[4]))


def _curvature_integral(s: float, h2: float, a2: float, slope: float) -> float:
    """``int_0^s (s - tau) min(a2, h2 + slope tau) dtau`` (an upper bound of the loss)."""
    if slope <= 0.0 or h2 + slope * s <= a2:
        return h2 * s * s / 2.0 + slope * s ** 3 / 6.0
    if h2 >= a2:
        return a2 * s * s / 2.0
    knee = (a2 - h2) / slope
    head = h2 * (s * knee - knee * knee / 2.0) + slope * (s * knee * knee / 2.0 - knee ** 3 / 3.0)
    return head + a2 * (s - knee) ** 2 / 2.0


def _newton_step(E: float, ez1: float, ez2: float, cl: float, clz: float, ch: np.ndarray,
                 cmom: np.ndarray) -> tuple[float, float, float]:
    """``(delta, gamma, guaranteed gain)`` of the safeguarded Newton step of one component."""
    g = np.array([ez1 + cl, E - ez2 - clz])
    h11, h12, h22 = E + ch[0], -ez1 - ch[1], ez2 + E + ch[2]
    det = h11 * h22 - h12 * h12
    if not (np.all(np.isfinite(g)) and det > 0.0 and h11 > 0.0):
        return 0.0, 1.0, 0.0
    a = (h22 * g[0] - h12 * g[1]) / det
    b = (h11 * g[1] - h12 * g[0]) / det
    return _halving(E, ez1, ez2, cl, clz, ch, cmom, a, b)


def _halving(E: float, ez1: float, ez2: float, cl: float, clz: float, ch: np.ndarray,
             cmom: np.ndarray, a: float, b: float) -> tuple[float, float, float]:
    """Step-halving along the direction ``(a, b)`` on the gain bound: ``(delta, gamma, gain)``."""
    gc = cl * a - clz * b  # the censored part's directional derivative
    h2 = _quadratic(ch, a, b)
    a2 = _quadratic(cmom[:3], a, b)
    spread = H_SLOPE * math.sqrt(a2 * _quartic(cmom, a, b))
    s = 1.0
    for _ in range(MAX_HALVINGS):
        gamma = 1.0 + s * b
        if gamma > 0.0:
            delta = s * a
            events = (E * math.log(gamma) - 0.5 * (gamma * gamma * ez2 - 2.0 * gamma * delta * ez1
                                                   + delta * delta * E) + 0.5 * ez2)
            gain = events + s * gc - _curvature_integral(s, h2, a2, spread)
            if gain > 0.0:
                return delta, gamma, gain
        s *= 0.5
    return 0.0, 1.0, 0.0


def lognormal_m_step(stats: dict[str, Any], rows: float) -> dict[str, np.ndarray]:
    """New ``meanlog`` and ``sdlog`` (arrays of shape (K,)) from the summed statistics.

    Parameters
    ----------
    stats : dict
        :func:`lognormal_stats` summed over the rows, with the components' ``events``
        (``sum r d``).
    rows : float
        The number of rows summed (to read the anchors).
    """
    E = np.asarray(stats["events"], dtype=float)
    ez1, ez2 = np.asarray(stats["ez1"], dtype=float), np.asarray(stats["ez2"], dtype=float)
    cl, clz = np.asarray(stats["cl"], dtype=float), np.asarray(stats["clz"], dtype=float)
    ch, cmom = np.asarray(stats["ch"], dtype=float), np.asarray(stats["cmom"], dtype=float)
    mu0 = np.asarray(stats["anchor_meanlog"], dtype=float) / rows
    sigma0 = np.asarray(stats["anchor_sdlog"], dtype=float) / rows
    meanlog, sdlog = mu0.copy(), sigma0.copy()
    for j in range(E.size):
        delta, gamma, gain = _newton_step(float(E[j]), float(ez1[j]), float(ez2[j]),
                                          float(cl[j]), float(clz[j]), ch[j], cmom[j])
        # data augmentation: the censored rows' truncated-normal moments, standardized
        n = float(E[j] + cmom[j, 0])
        m1 = float(ez1[j] + cl[j]) / n
        m2 = float(ez2[j] + cmom[j, 0] + clz[j]) / n
        variance = m2 - m1 * m1
        da_gain = 0.5 * n * (m2 - 1.0 - math.log(variance)) if variance > 0.0 else -math.inf
        if da_gain > gain:
            meanlog[j] = mu0[j] + sigma0[j] * m1
            sdlog[j] = sigma0[j] * math.sqrt(variance)
        elif gain > 0.0:
            sdlog[j] = sigma0[j] / gamma
            meanlog[j] = mu0[j] + delta * sdlog[j]
    return {"meanlog": meanlog, "sdlog": sdlog}


def lognormal_masked_step(stats: dict[str, Any], rows: float, j: int, free_mean: bool,
                          fixed_mean: float, fixed_sd: float) -> tuple[float, float]:
    """Component ``j``'s new ``(meanlog, sdlog)`` with one of the two frozen.

    ``free_mean``: ``sdlog`` is frozen at ``fixed_sd`` and ``meanlog`` moves (Olsen's
    ``gamma = 1``); otherwise ``meanlog`` is frozen at ``fixed_mean`` (``delta = 0``)
    and ``sdlog`` moves. The step is the better (by guaranteed gain) of the
    safeguarded one-coordinate Newton step and the complete-data step of the data
    augmentation view restricted to that coordinate (``mu = mu0 + sigma0 m1``, gain
    ``n m1^2 / 2``; ``sigma = sigma0 sqrt(m2)``, gain ``n (m2 - 1 - log m2) / 2``), so
    ``Q`` never falls; the frozen value is returned as given.
    """
    E = float(np.asarray(stats["events"], dtype=float)[j])
    ez1, ez2 = float(np.asarray(stats["ez1"])[j]), float(np.asarray(stats["ez2"])[j])
    cl, clz = float(np.asarray(stats["cl"])[j]), float(np.asarray(stats["clz"])[j])
    ch, cmom = np.asarray(stats["ch"], dtype=float)[j], np.asarray(stats["cmom"], dtype=float)[j]
    mu0 = float(np.asarray(stats["anchor_meanlog"], dtype=float)[j]) / rows
    sigma0 = float(np.asarray(stats["anchor_sdlog"], dtype=float)[j]) / rows
    n = E + float(cmom[0])
    m1 = (ez1 + cl) / n
    m2 = (ez2 + float(cmom[0]) + clz) / n
    if free_mean:
        h11 = E + float(ch[0])
        a = (ez1 + cl) / h11 if h11 > 0.0 and math.isfinite(ez1 + cl) else 0.0
        delta, gain = 0.0, 0.0
        if a != 0.0:
            delta, _, gain = _halving(E, ez1, ez2, cl, clz, ch, cmom, a, 0.0)
        if 0.5 * n * m1 * m1 > gain:
            return mu0 + sigma0 * m1, fixed_sd
        return mu0 + delta * sigma0, fixed_sd
    h22 = ez2 + E + float(ch[2])
    g2 = E - ez2 - clz
    b = g2 / h22 if h22 > 0.0 and math.isfinite(g2) else 0.0
    gamma, gain = 1.0, 0.0
    if b != 0.0:
        _, gamma, gain = _halving(E, ez1, ez2, cl, clz, ch, cmom, 0.0, b)
    da_gain = 0.5 * n * (m2 - 1.0 - math.log(m2)) if m2 > 0.0 else -math.inf
    if da_gain > gain:
        return fixed_mean, sigma0 * math.sqrt(m2)
    return fixed_mean, sigma0 / gamma
