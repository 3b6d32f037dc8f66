"""Mixing weights as a multinomial logit of concomitant variables (flexmix's FLXPmultinom).

Shared by :class:`emkit.RegressionMixture` and :class:`emkit.MixtureModel`
(``fit(..., concomitant=Z)``).

With concomitant variables ``z_i`` (a leading 1 for the intercept), row ``i`` comes
from component ``k`` with probability

    pi_ik = exp(z_i' gamma_k) / sum_j exp(z_i' gamma_j),    gamma_0 = 0,

component 0 being the reference. EM's ``Q`` for ``gamma`` is the multinomial
log-likelihood of the responsibilities ``r_ik`` (rows weighted by ``w_i``):
``sum_i w_i sum_k r_ik log pi_ik``. Its gradient in ``gamma_k`` (``k >= 1``) is
``sum_i w_i (r_ik - pi_ik) z_i`` and minus its Hessian the block matrix
``sum_i w_i (diag(pi_i) - pi_i pi_i')_{kl} z_i z_i'``: sums over rows, so additive.
The M-step is one safeguarded Newton step on them
(:func:`~emkit.numerics.newton.safeguarded_step`): the curvature at
``gamma + t`` is at most ``exp(2 rho(t))`` times that at ``gamma`` (a weight ratio
``pi'_k / pi_k`` lies in ``[exp(-2 rho), exp(2 rho)]``), and Böhning's
``(I - 11'/K) / 2 (x) sum_i w_i z_i z_i'`` bounds it everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .design_scaling import Design
from .logsumexp import logsumexp_rows
from .newton import safeguarded_step

__all__ = ["log_mixing", "mixing_stats", "mixing_m_step", "own_unit_map", "frozen_mixing_m_step",
           "constrained_mixing_m_step"]


def log_mixing(Zt: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """``log pi_ik``, shape (n, K), for design rows ``Zt`` (n, q + 1) and ``gamma`` (K, q + 1)."""
    a = Zt @ gamma.T
    return a - logsumexp_rows(a)[:, None]


def mixing_stats(Zt: np.ndarray, resp: np.ndarray, w: np.ndarray | None,
                 log_pi: np.ndarray) -> dict[str, np.ndarray]:
    """Additive statistics of the multinomial logit at the current ``gamma``.

    Parameters
    ----------
    Zt : ndarray of shape (n, q + 1)
        Concomitant design rows (leading column of ones).
    resp : ndarray of shape (n, K)
        Responsibilities (each row sums to 1, or 0 for a row of zero density).
    w : ndarray of shape (n,) or None
        Row weights.
    log_pi : ndarray of shape (n, K)
        :func:`log_mixing` at the current ``gamma``.

    Returns
    -------
    dict
        ``grad`` (K - 1, q + 1), ``hess`` ((K - 1)(q + 1), (K - 1)(q + 1)) and
        ``gram``, ``sum_i w_i z_i z_i'`` (q + 1, q + 1).
    """
    n, k = resp.shape
    q1 = Zt.shape[1]
    pi = np.exp(log_pi)
    ww = np.ones(n) if w is None else w
    # a row whose density is zero everywhere has zero responsibilities: no weight here
    ww = ww * resp.sum(axis=1)
    wpi = ww[:, None] * pi
    grad = (ww[:, None] * resp - wpi)[:, 1:].T @ Zt
    blocks = np.sqrt(ww)[:, None, None] * pi[:, 1:, None] * Zt[:, None, :]
    flat = blocks.reshape(n, (k - 1) * q1)
    hess = -(flat.T @ flat)
    for j in range(1, k):
        sl = slice((j - 1) * q1, j * q1)
        hess[sl, sl] += (Zt * wpi[:, j : j + 1]).T @ Zt
    gram = (Zt * ww[:, None]).T @ Zt
    return {"grad": grad, "hess": hess, "gram": gram}


def mixing_m_step(gamma: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """The new ``gamma`` (K, q + 1) after one safeguarded Newton step from ``gamma``.

    Row 0 stays zero (the reference component). The design is standardized so
    that ``|z_ij| <= 1``, which makes ``max_k sum_j |delta_kj|`` a bound of the
    change of any row's logits.
    """
    k, q1 = gamma.shape
    grad = np.asarray(stats["grad"], dtype=float).ravel()
    hess = np.asarray(stats["hess"], dtype=float)
    centre = np.eye(k - 1) - np.full((k - 1, k - 1), 1.0 / k)
    bound = 0.5 * np.kron(centre, np.asarray(stats["gram"], dtype=float))

    def rho(delta: np.ndarray) -> float:
        return float(np.abs(delta.reshape(k - 1, q1)).sum(axis=1).max())

    step = safeguarded_step(grad, hess, rho, growth=2.0, bound=bound,
                            what="the concomitant model (mixing weights)")
    new = gamma.copy()
    new[1:] += step.reshape(k - 1, q1)
    new[0] = 0.0
    return new


def own_unit_map(design: Design) -> np.ndarray:
    """``M`` (q + 1, q + 1) with ``scaled = M @ original`` for one coefficient row
    (intercept first): ``scaled_0 = c_0 + centre' c_1:``, ``scaled_j = half_range_j c_j``."""
    q = design.n_columns
    out = np.zeros((q + 1, q + 1))
    out[0, 0] = 1.0
    out[0, 1:] = design.centre
    out[np.arange(1, q + 1), np.arange(1, q + 1)] = design.half_range
    return out


def constrained_mixing_m_step(gamma: np.ndarray, stats: dict[str, Any], free: np.ndarray,
                              units: np.ndarray,
                              what: str = "the concomitant model (mixing weights)"
                              ) -> np.ndarray:
    """:func:`mixing_m_step` with some coefficients, in their own units, held fixed.

    Parameters
    ----------
    gamma : ndarray of shape (K, q + 1)
        The scaled coefficients the statistics were taken at (row 0 the reference).
    stats : dict
        ``grad``, ``hess``, ``gram`` of :func:`mixing_stats` at ``gamma``.
    free : ndarray of bool, shape (K, q + 1)
        The own-unit coefficients that move (row 0 is not read).
    units : ndarray of shape (q + 1, q + 1)
        :func:`own_unit_map` of the design.
    what : str
        Names the model in the error of a singular step.

    Returns
    -------
    ndarray of shape (K, q + 1)
        ``gamma`` plus a step ``B d`` in the span ``B`` of the free own-unit
        coordinates, chosen on the gain bound of
        :func:`~emkit.numerics.newton.safeguarded_step` (Böhning's bound
        ``B' (I - 11'/K) / 2 (x) Gram B``), so ``Q`` does not fall; ``gamma``
        itself when nothing is free.
    """
    k, q1 = gamma.shape
    moving = np.asarray(free, dtype=bool)[1:].reshape(-1)
    new = np.array(gamma, dtype=float)
    if k < 2 or not moving.any():
        return new
    basis = np.kron(np.eye(k - 1), units)[:, moving]
    grad = basis.T @ np.asarray(stats["grad"], dtype=float).ravel()
    hess = basis.T @ np.asarray(stats["hess"], dtype=float) @ basis
    centre = np.eye(k - 1) - np.full((k - 1, k - 1), 1.0 / k)
    bound = basis.T @ (0.5 * np.kron(centre, np.asarray(stats["gram"], dtype=float))) @ basis

    def rho(d: np.ndarray) -> float:
        return float(np.abs((basis @ d).reshape(k - 1, q1)).sum(axis=1).max())

    step = safeguarded_step(grad, hess, rho, growth=2.0, bound=bound, what=what)
    new[1:] += (basis @ step).reshape(k - 1, q1)
    new[0] = 0.0
    return new


def _intercepts_only(n: np.ndarray, fixed: np.ndarray, frozen: np.ndarray) -> np.ndarray:
    """The constrained maximum of ``sum_k n_k log pi_k`` over the free intercepts."""
    frozen = frozen.copy()
    frozen[0] = True
    a = fixed[:, 0].copy()
    a[0] = 0.0
    top = a[frozen].max()
    log_mass = top + np.log(np.exp(a[frozen] - top).sum())
    with np.errstate(divide="ignore"):
        a[~frozen] = np.log(n[~frozen]) + log_mass - np.log(n[frozen].sum())
    return a[:, None]


def frozen_mixing_m_step(gamma: np.ndarray, stats: dict[str, Any] | None, n: np.ndarray,
                         design: Design, mask: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """The logit's M-step with the ``mask`` entries of its own-unit coefficients at ``fixed``.

    Parameters
    ----------
    gamma : ndarray of shape (K, q + 1)
        The scaled coefficients the statistics were taken at (row 0 the reference).
    stats : dict or None
        ``grad``, ``hess``, ``gram`` of :func:`mixing_stats` at ``gamma`` (not read,
        and may be None, without concomitant columns).
    n : ndarray of shape (K,)
        The components' expected counts.
    design : Design
        The scaling of the concomitant variables.
    mask, fixed : ndarray of shape (K, q + 1)
        Frozen own-unit entries (True) and their values (row 0 is zero always).

    Returns
    -------
    ndarray of shape (K, q + 1)
        The new scaled coefficients: without concomitant columns the closed-form
        constrained maximum over the free intercepts (``a_k = log n_k + log
        sum_C exp(a_c) - log n_C``, ``C`` the frozen rows and row 0); otherwise
        :func:`constrained_mixing_m_step`, with the frozen entries then set to
        ``fixed`` exactly (the step moved them by rounding only).
    """
    if not design.n_columns:
        return _intercepts_only(n, fixed, mask[:, 0])
    if stats is None:
        raise ValueError("the logit's statistics are needed with concomitant columns")
    new = constrained_mixing_m_step(gamma, stats, ~mask, own_unit_map(design))
    a, b = design.to_original(new)
    theta = np.column_stack([a, b])
    theta[mask] = fixed[mask]
    theta[0] = 0.0
    out = design.to_scaled(theta[:, 0], theta[:, 1:])
    out[0] = 0.0
    return out
