"""A concomitant mixture whose M-step keeps frozen entries at their start.

One job: wrap :class:`~emkit.models.mixture.concomitant.ConcomitantMixtureEM` (or
a chunked / Dask wrapper of it) and replace its M-step by the constrained one.

Logit coefficients
    The mask is on ``concomitant_coef_`` (K, q + 1), the coefficients in the
    concomitant variables' own units (intercept in column 0), True = frozen.
    Row 0 is the reference, zero always (the identification constraint): its
    mask entries change nothing. The model works on the scaled design
    ``z~ = [1, (z - centre) / half_range]``, where row ``k``'s coefficients are
    ``gamma_k = M theta_k`` with ``theta_k = [a_k, b_k]`` in own units and
    ``M = [[1, centre'], [0, diag(half_range)]]``, so a frozen own-unit entry is
    a linear constraint on ``gamma``. The step is the safeguarded Newton step of
    :func:`~emkit.numerics.multinomial_logit.mixing_m_step` restricted to the
    free entries
    (:func:`~emkit.numerics.multinomial_logit.constrained_mixing_m_step`): with
    ``T`` the columns of ``blockdiag(M, ..., M)`` of the free entries, the
    gradient ``T'g``, minus the Hessian ``T'HT``, Böhning's bound ``T'BT`` and
    the change bound ``rho(T d)``; so ``Q`` rises at every M-step
    with the frozen entries fixed, and a fixed point is the constrained
    maximum. Without concomitant columns (intercepts only) the constrained
    maximum is closed form: with ``C`` the frozen rows (row 0 among them),
    ``a_k = log n_k + log sum_C exp(a_c) - log n_C`` for the free ``k``.
Components
    As :class:`~emkit.models.mixture.frozen_mixture.FrozenMixtureEM` (the same
    constrained M-steps, which read only ``n`` and the components' statistics).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...distributions.components import Components
from ...engine.wrapped import ModelWrapper
from ...numerics.design_scaling import Design
from ...numerics.multinomial_logit import frozen_mixing_m_step
from .concomitant import anchor, check_reference
from .frozen_components import any_frozen
from .frozen_mixture import FrozenMixtureEM

__all__ = ["FrozenConcomitantEM"]


class FrozenConcomitantEM(ModelWrapper):
    """A concomitant mixture model whose M-step keeps the frozen entries at ``fixed``.

    Parameters
    ----------
    model : ConcomitantMixtureEM
        The unconstrained model (its ``set`` gives the components, its
        ``concomitant`` the design's scaling).
    fixed : dict
        The start: ``mixing`` (K, q + 1) on the scaled design and ``components``
        (a list of ``parameters()`` trees): the frozen values.
    coef_mask : ndarray of bool, shape (K, q + 1), or None
        Frozen entries of ``concomitant_coef_`` (own units; row 0 ignored).
    component_masks : list of K mask trees
        As :class:`~emkit.models.mixture.frozen_mixture.FrozenMixtureEM`'s (an
        empty list: no component frozen).
    coef_start : ndarray of shape (K, q + 1), optional
        The frozen own-unit values (``concomitant_coef_init``) bit for bit; by
        default ``fixed["mixing"]`` mapped to own units.

    Raises
    ------
    ValueError
        When a component's family has no exact M-step for its mask.
    """

    def __init__(self, model: Any, fixed: dict, coef_mask: np.ndarray | None,
                 component_masks: list[Any], coef_start: np.ndarray | None = None):
        self.model = model
        self.design: Design = model.concomitant
        if coef_start is None:
            a, b = self.design.to_original(np.asarray(fixed["mixing"], dtype=np.float64))
            coef_start = np.column_stack([a, b])
        self.fixed_coef = np.array(coef_start, dtype=np.float64, copy=True)
        self.fixed_coef[0] = 0.0
        self.coef_mask = None if coef_mask is None else np.asarray(coef_mask, dtype=bool)
        k = len(model.set.templates)
        self.frozen_components: FrozenMixtureEM | None = None
        if component_masks and any(any_frozen(mask) for mask in component_masks):
            self.frozen_components = FrozenMixtureEM(
                model, {"weights": np.full(k, 1.0 / k), "components": fixed["components"]},
                None, component_masks)


    def _mixing(self, stats: dict) -> np.ndarray:
        mask = self.coef_mask
        if mask is None:
            return np.asarray(self.model.fit_mixing(stats), dtype=float)
        n = check_reference(stats)
        return frozen_mixing_m_step(anchor(stats), stats.get("mixing"), n, self.design, mask,
                                    self.fixed_coef)

    def m_step(self, stats: dict) -> dict:
        if self.frozen_components is not None:
            comps = self.frozen_components.m_step(stats)["components"]
        else:
            comps = Components.pack(self.model.set.fit(stats["components"]))
        return {"mixing": self._mixing(stats), "components": comps}

    def monotone_slack(self, stats: dict) -> float:
        """What the components' constrained M-steps may cost (the logit's step never
        lowers ``Q``)."""
        if self.frozen_components is not None:
            return float(self.frozen_components.monotone_slack(stats))
        return float(self.model.monotone_slack(stats))
