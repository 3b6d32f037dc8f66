"""The mclust M-step with frozen parameters, and the model that uses it.

One job: maximize the expected complete log-likelihood of a mixture with one of
mclust's fourteen covariance models over the *free* entries of ``weights``,
``means`` and ``covariances`` while the frozen ones keep given values
(``fixed``), from the statistics of :class:`~emkit.models.mixture.mclust.MclustModel`.
``masks`` are boolean arrays, True = frozen: ``weights`` (K,), ``means`` (K, D)
and ``covariances`` (K,), one entry per component (a covariance is frozen whole).

With ``W_k`` the scatter about the component's weighted mean ``xbar_k`` (with
``reg_covar * n_k`` on its diagonal, as the unconstrained step) and
``d_k = xbar_k - mu_k``, the objective's mean and covariance part is
``-1/2 sum_k [n_k log det S_k + tr(S_k^-1 (W_k + n_k d_k d_k^T))]``.

Weights
    Frozen weights keep their values; the free ones share the remaining mass in
    proportion to their counts.
Means
    A frozen entry keeps its value. Given the covariance ``S_k`` the free part
    maximizing the objective is the Gaussian conditional
    ``mu_F = xbar_F - S_FC S_CC^-1 d_C``
    (:func:`emkit.gaussian.constrained_mean.conditional_mean`).
    The diagonal and spherical models (``..I``) do not couple entries, so
    ``mu_F = xbar_F`` whatever ``S``: one step is exact. For ``VVV`` the joint
    maximizer over ``(mu_F, S_k)`` is the conditional under ``W_k / n_k``
    (Sherman-Morrison; as the ``full`` case of that module). For the other
    ellipsoidal models the covariance couples the entries and the components,
    and the step alternates the two exact conditional maximizations, means given
    covariances and covariances given means (each raising the objective), until
    the means move less than ``1e-13`` of the data's scale
    (:data:`MAX_ALTERNATIONS` at most).
Covariances
    A frozen covariance keeps its value (no ``reg_covar`` added). The free ones
    are mclust's model-specific M-step on the scatter about the constrained means
    (:func:`~emkit.gaussian.constrained.constrained_covariances`; ``EVE`` and
    ``VVE`` carry their orientation as the unconstrained step does). Freezing some
    components' covariances and not others is exact only where the components'
    covariances are separate maximizations: ``VII``, ``VVI`` and ``VVV``
    (:data:`PER_COMPONENT_MODELS`); the other models share a volume, shape or
    orientation, and only all of their covariances may be frozen.

:class:`FrozenMclustModel` wraps an ``MclustModel`` and replaces its M-step; the
frozen entries are copied from ``fixed`` bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...gaussian.constrained import common_orientation_covariances, constrained_covariances
from ...gaussian.constrained_mean import conditional_mean as _conditional
from ...gaussian.constrained_mean import constrained_weights as _weights
from .mclust import MclustModel

__all__ = ["constrained_mclust_m_step", "FrozenMclustModel", "PER_COMPONENT_MODELS",
           "MAX_ALTERNATIONS"]

#: Models whose components' covariances are separate maximizations: one may be
#: frozen while the others are refitted.
PER_COMPONENT_MODELS = ("VII", "VVI", "VVV")
#: Most alternations of means and covariances in one constrained M-step.
MAX_ALTERNATIONS = 500
_ORIENTED = ("EVE", "VVE")


def _covariances(model: MclustModel, n: np.ndarray, w: np.ndarray, xbar: np.ndarray,
                 means: np.ndarray, orientation: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The model's covariances (K, D, D) about ``means``, the scatter about them and
    the orientation reached (``EVE``/``VVE`` with a carried one, else None)."""
    delta = xbar - means
    scatter = w + n[:, None, None] * delta[:, :, None] * delta[:, None, :]
    if model.model in _ORIENTED and orientation is not None:
        cov, orientation = common_orientation_covariances(
            model.model, n, scatter, orientation, tol=model.inner_tol,
            max_iter=model.inner_max_iter)
        return cov, scatter, orientation
    cov = constrained_covariances(model.model, n, scatter, tol=model.inner_tol,
                                  max_iter=model.inner_max_iter)
    return cov, scatter, None


def _conditional_means(xbar: np.ndarray, fixed: np.ndarray, mask: np.ndarray,
                       cov: np.ndarray) -> np.ndarray:
    return np.stack([_conditional(xbar[j], fixed[j], mask[j], cov[j])
                     for j in range(len(xbar))])


def constrained_mclust_m_step(model: MclustModel, stats: dict, fixed: dict,
                              masks: dict) -> dict:
    """Weights, means and covariances maximizing the expected complete log-likelihood
    over the free entries (see the module notes).

    Parameters
    ----------
    model : MclustModel
        Its covariance model, ``reg_covar`` and inner-iteration settings (no prior).
    stats : dict
        The statistics of :meth:`MclustModel.e_step` (``n`` (K,), ``sum`` (K, D),
        ``centred_sum`` (K, D), ``centred_outer`` (K, D, D), optionally
        ``orientation`` (D, D)).
    fixed : dict
        ``weights`` (K,), ``means`` (K, D), ``covariances`` (K, D, D): the frozen
        values (entries not frozen are ignored).
    masks : dict
        Optional ``weights`` (K,), ``means`` (K, D), ``covariances`` (K,): boolean,
        True = frozen.

    Returns
    -------
    dict
        ``weights``, ``means``, ``covariances`` (and ``orientation`` for ``EVE`` and
        ``VVE`` when the statistics carry one).

    Raises
    ------
    ValueError
        When some but not all covariances are frozen for a model outside
        :data:`PER_COMPONENT_MODELS`, or a free covariance is singular.
    """
    n, xbar, w = model.scatter(stats)
    k, d = xbar.shape
    mean_mask = masks.get("means")
    mean_mask = np.zeros((k, d), dtype=bool) if mean_mask is None else mean_mask
    cov_mask = masks.get("covariances")
    cov_mask = np.zeros(k, dtype=bool) if cov_mask is None else cov_mask
    fixed_means = np.asarray(fixed["means"], dtype=np.float64)
    fixed_cov = np.asarray(fixed["covariances"], dtype=np.float64)
    weights = _weights(n, np.asarray(fixed["weights"], dtype=np.float64), masks.get("weights"))
    orientation = stats.get("orientation") if model.model in _ORIENTED else None
    if orientation is not None:
        u, _, vt = np.linalg.svd(np.asarray(orientation, dtype=np.float64))
        orientation = u @ vt  # a sum over chunks is a positive multiple of it
    extra: dict[str, Any] = {}
    if cov_mask.all():
        means = _conditional_means(xbar, fixed_means, mean_mask, fixed_cov)
        if orientation is not None:
            extra["orientation"] = orientation
        return {"weights": weights, "means": means, "covariances": fixed_cov.copy(), **extra}
    if cov_mask.any() and model.model not in PER_COMPONENT_MODELS:
        raise ValueError(f"the {model.model} covariances share a volume, shape or orientation: "
                         "freeze all of them or none (one component at a time only for "
                         f"{', '.join(PER_COMPONENT_MODELS)})")
    if model.model == "VVV":  # the joint maximum in closed form
        means = _conditional_means(xbar, fixed_means, mean_mask, w / n[:, None, None])
    else:  # exact for ..I models (means given covariances do not depend on them)
        means = np.where(mean_mask, fixed_means, xbar)
    cov, scatter, orient = _covariances(model, n, w, xbar, means, orientation)
    partial = mean_mask.any(axis=1) & ~mean_mask.all(axis=1)
    if model.model[2] != "I" and model.model != "VVV" and partial.any():
        scale = max(float(np.abs(xbar).max()), float(np.sqrt(np.diagonal(
            w, axis1=1, axis2=2).sum(axis=0) / n.sum()).max()), 1e-300)
        for _ in range(MAX_ALTERNATIONS):
            if not np.all(np.isfinite(cov)):
                break
            new = means.copy()
            for j in np.flatnonzero(partial):
                new[j] = _conditional(xbar[j], fixed_means[j], mean_mask[j], cov[j])
            moved = float(np.abs(new - means).max())
            means = new
            cov, scatter, orient = _covariances(model, n, w, xbar, means,
                                                orient if orient is not None else orientation)
            if moved <= 1e-13 * scale:
                break
    if cov_mask.any():  # VII, VVI, VVV: the frozen components keep theirs
        frozen = np.flatnonzero(cov_mask)
        cov[frozen] = fixed_cov[frozen]
        means[frozen] = _conditional_means(xbar[frozen], fixed_means[frozen],
                                           mean_mask[frozen], fixed_cov[frozen])
    free = ~cov_mask
    model._check_not_singular(n[free], means[free], scatter[free], cov[free])
    if orient is not None:
        extra["orientation"] = orient
    return {"weights": weights, "means": means, "covariances": cov, **extra}


class FrozenMclustModel:
    """An ``MclustModel`` whose M-step keeps the frozen entries at ``fixed``.

    Parameters
    ----------
    model : MclustModel
        The mixture's EM model (without a prior).
    fixed : dict
        The start's ``weights`` (K,), ``means`` (K, D) and ``covariances``
        (K, D, D): the frozen values.
    masks : dict
        Boolean ``weights`` (K,), ``means`` (K, D) and ``covariances`` (K,),
        True = frozen (absent: nothing frozen).

    Every attribute but ``m_step`` is the wrapped model's.
    """

    def __init__(self, model: MclustModel, fixed: dict, masks: dict):
        if model.prior is not None:
            raise ValueError("freeze cannot be combined with prior (mclust's MAP step has "
                             "no constrained form here)")
        self.model = model
        self.fixed = {key: np.array(fixed[key], dtype=np.float64, copy=True)
                      for key in ("weights", "means", "covariances")}
        self.masks = dict(masks)

    def __getattr__(self, name: str) -> Any:
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    def e_step(self, data: Any, params: dict) -> tuple[dict, float]:
        return self.model.e_step(data, params)

    def m_step(self, stats: dict) -> dict:
        """:func:`constrained_mclust_m_step` with the wrapped model."""
        return constrained_mclust_m_step(self.model, stats, self.fixed, self.masks)
