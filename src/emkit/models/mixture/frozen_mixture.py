"""A mixture of any emkit distributions whose M-step keeps frozen entries at their start.

One job: wrap :class:`~emkit.models.mixture.any_distribution.MixtureEM` (or any
wrapper of it: chunked, Dask) and replace its M-step by the constrained one.

Weights
    Frozen weights keep their values; the free ones share the free mass in
    proportion to their counts, ``w_F = (1 - sum w_C) n_F / sum n_F``.
Components
    Each component's free entries get its family's constrained M-step
    (:mod:`emkit.models.mixture.frozen_components`); a component with nothing
    frozen gets the family's own M-step, fitted with the other components of its
    group (pooled parameters included). Tied Gaussians (one shared covariance)
    with frozen entries are fitted together by
    :func:`~emkit.models.mixture.constrained_m_step.constrained_gaussian_m_step`
    (``"tied"``), their covariance frozen for all of them or for none.

The frozen entries are copied from ``fixed`` bit for bit, so SQUAREM's
extrapolation (a combination of points that agree there) keeps them too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...distributions.gaussian import Gaussian
from ...engine.wrapped import ModelWrapper
from ...gaussian.m_step import regularization_slack
from .constrained_m_step import _weights, constrained_gaussian_m_step
from .frozen_components import (
    any_frozen,
    check_supported,
    constrained_parameters,
    stack_gaussian_stats,
)

__all__ = ["FrozenMixtureEM"]


class FrozenMixtureEM(ModelWrapper):
    """A mixture model whose M-step keeps the frozen entries at ``fixed``.

    Parameters
    ----------
    model : MixtureEM
        The unconstrained mixture model (its ``set`` gives the components).
    fixed : dict
        The start's ``weights`` (K,) and ``components`` (a list of ``parameters()``
        trees): the frozen values.
    weight_mask : ndarray of shape (K,) or None
        True = frozen weight.
    component_masks : list of K mask trees
        Per component, boolean arrays of its parameters' shapes (True = frozen).

    Raises
    ------
    ValueError
        When a component's family has no exact M-step for its mask, or tied
        Gaussians disagree about freezing their shared covariance.
    """

    def __init__(self, model: Any, fixed: dict, weight_mask: np.ndarray | None,
                 component_masks: list[Any]):
        self.model = model
        self.fixed = {"weights": np.array(fixed["weights"], dtype=np.float64, copy=True),
                      "components": fixed["components"]}
        self.weight_mask = weight_mask
        self.masks = list(component_masks)
        templates = model.set.templates
        for k, (t, m) in enumerate(zip(templates, self.masks, strict=True)):
            check_supported(t, m, f"freeze['components_'][{k}]")
        for idx in model.set.pools.values():
            covs = {bool(np.asarray(self.masks[k]["covariance"]).all()) for k in idx}
            if len(covs) > 1:
                raise ValueError("freeze: tied Gaussian components share one covariance; "
                                 "freeze it for all of them or for none")


    def _constrained_groups(self) -> list[tuple[list[int], bool]]:
        """The model's groups, each with whether it has a frozen entry."""
        return [(idx, any(any_frozen(self.masks[k]) for k in idx))
                for idx in self.model.set.groups()]

    def m_step(self, stats: dict) -> dict:
        n = np.asarray(stats["n"], dtype=np.float64)
        weights = _weights(n, self.fixed["weights"], self.weight_mask)
        comp_stats = stats["components"]
        templates = self.model.set.templates
        pools = {tuple(idx) for idx in self.model.set.pools.values()}
        out: list[Any] = [None] * len(templates)
        for idx, constrained in self._constrained_groups():
            if not constrained:
                family = type(templates[idx[0]])
                fitted = family.fit_components([templates[k] for k in idx],
                                               [comp_stats[k] for k in idx])
                for k, c in zip(idx, fitted, strict=True):
                    out[k] = c.parameters()
            elif tuple(idx) in pools:
                for k, p in zip(idx, self._tied(idx, comp_stats), strict=True):
                    out[k] = p
            else:
                for k in idx:
                    out[k] = constrained_parameters(templates[k], comp_stats[k],
                                                    self.fixed["components"][k], self.masks[k])
        return {"weights": weights, "components": out}

    def _tied(self, idx: list[int], comp_stats: list) -> list[dict]:
        template = self.model.set.templates[idx[0]]
        assert isinstance(template, Gaussian)
        fixed = [self.fixed["components"][k] for k in idx]
        masks = [self.masks[k] for k in idx]
        step = constrained_gaussian_m_step(
            stack_gaussian_stats([comp_stats[k] for k in idx]), "tied", template.reg_covar,
            {"weights": np.ones(len(idx)), "means": np.stack([f["mean"] for f in fixed]),
             "covariances": np.asarray(fixed[0]["covariance"], dtype=np.float64)},
            {"means": np.stack([np.atleast_1d(m["mean"]) for m in masks]),
             "covariances": np.asarray(masks[0]["covariance"])})
        return [{"mean": m, "covariance": step["covariances"].copy()} for m in step["means"]]

    def monotone_slack(self, stats: dict) -> float:
        """What the M-step may cost EM's monotone guarantee: the family's own bound for
        unconstrained groups; for constrained Gaussians, ``reg_covar``'s cost on the
        scatter about the constrained means of those whose covariance is free."""
        comp_stats = stats["components"]
        templates = self.model.set.templates
        total = 0.0
        step = None
        for idx, constrained in self._constrained_groups():
            first = templates[idx[0]]
            if not constrained:
                total += type(first).m_step_slack_components([templates[k] for k in idx],
                                                             [comp_stats[k] for k in idx])
                continue
            if not isinstance(first, Gaussian) or first._is_map() or first.reg_covar == 0:
                continue
            free = [k for k in idx if not np.asarray(self.masks[k]["covariance"]).all()]
            if not free:
                continue
            step = self.m_step(stats) if step is None else step
            part = stack_gaussian_stats([comp_stats[k] for k in free])
            means = np.stack([np.atleast_1d(step["components"][k]["mean"]) for k in free])
            n = part["n"] + 10 * np.finfo(float).eps
            delta = part["sum"] / n[:, None] - means
            kind = "tied" if first.covariance_type == "tied" else first._kind()
            extra = (n[:, None, None] * delta[:, :, None] * delta[:, None, :]
                     if kind in ("full", "tied") else n[:, None] * delta**2)
            part["centred_outer"] = part["centred_outer"] + extra
            total += regularization_slack(part, kind, first.reg_covar)
        return float(total)
