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
    ``VVE`` carry their orientation as the unconstrained step does). Where the
    components' covariances are separate maximizations (``VII``, ``VVI``,
    ``VVV``: :data:`PER_COMPONENT_MODELS`) any of them may be frozen. In the
    other models the components share a volume, shape or orientation, and a
    frozen component fixes the shared part for all (the frozen ones must agree:
    :func:`~emkit.gaussian.constrained_family.in_family`); each free one then
    fits the rest in closed form (:func:`given_shared_part`): ``EII``, ``EEI``,
    ``EEE`` share everything (a free covariance equals the frozen one); ``VEI``
    and ``VEE`` fit the volume ``tr(W_k C^-1) / (n_k d)`` to the shared shape
    ``C``; ``EVI`` the shape ``diag(W_k) / det(diag W_k)^(1/d)`` and ``EVV``
    ``W_k / det(W_k)^(1/d)`` at the shared volume; ``EEV`` and ``VEV`` turn the
    shared eigenvalues onto ``W_k``'s eigenvectors, largest with largest (von
    Neumann's trace inequality), ``VEV`` with its own volume; ``EVE`` and ``VVE``
    take the frozen eigenvectors ``D`` and fit the axis variances
    ``diag(D^T W_k D)`` (``EVE`` scaled to the frozen volume). One matrix
    determines its orientation only when its eigenvalues differ, so ``EVE`` and
    ``VVE`` refuse a frozen covariance with tied eigenvalues (relative gap below
    :data:`TIE_RTOL`).

:class:`FrozenMclustModel` wraps an ``MclustModel`` and replaces its M-step; the
frozen entries are copied from ``fixed`` bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...engine.wrapped import ModelWrapper
from ...gaussian.constrained import common_orientation_covariances, constrained_covariances
from ...gaussian.constrained_family import in_family
from ...gaussian.constrained_mean import conditional_mean as _conditional
from ...gaussian.constrained_mean import constrained_weights as _weights
from .mclust import MclustModel

__all__ = ["constrained_mclust_m_step", "given_shared_part", "FrozenMclustModel",
           "PER_COMPONENT_MODELS", "TIE_RTOL", "MAX_ALTERNATIONS"]

#: Models whose components' covariances are separate maximizations: one may be
#: frozen while the others are refitted.
PER_COMPONENT_MODELS = ("VII", "VVI", "VVV")
#: Smallest gap between the eigenvalues of a frozen ``EVE``/``VVE`` covariance,
#: relative to the largest, for its eigenvectors to fix the common orientation.
TIE_RTOL = 1e-8
#: Most alternations of means and covariances in one constrained M-step.
MAX_ALTERNATIONS = 500
_ORIENTED = ("EVE", "VVE")


def _log_volume(cov: np.ndarray) -> float:
    """``log det(cov) / d``: the log of mclust's volume ``lambda``."""
    return float(np.linalg.slogdet(cov)[1] / cov.shape[-1])


def _eig_desc(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, vectors = np.linalg.eigh(matrix)
    return values[::-1], vectors[:, ::-1]


def given_shared_part(model: str, n: np.ndarray, scatter: np.ndarray, fixed: np.ndarray,
                      frozen: np.ndarray) -> np.ndarray:
    """Covariances (K, D, D) of a model whose shared part is fixed by frozen components.

    Parameters
    ----------
    model : str
        An mclust model with a shared volume, shape or orientation.
    n : ndarray of shape (K,)
    scatter : ndarray of shape (K, D, D)
        Scatter matrices about the means (with ``reg_covar * n_k`` on the diagonal).
    fixed : ndarray of shape (K, D, D)
        The frozen covariances (entries of free components ignored).
    frozen : ndarray of bool, shape (K,)
        At least one True.

    Returns
    -------
    ndarray of shape (K, D, D)
        ``fixed`` for the frozen components; for each free one the maximizer of
        ``-1/2 [n_k log det S + tr(S^-1 W_k)]`` over the covariances that share
        the frozen part (see the module notes).
    """
    ref = fixed[int(np.flatnonzero(frozen)[0])]
    d = ref.shape[0]
    out = np.array(fixed, dtype=np.float64, copy=True)
    log_lam = _log_volume(ref)
    lam = np.exp(log_lam)
    if model[2] != "V":  # shape (and orientation) shared: the shape matrix C
        shape = ref / lam
    else:
        values, _ = _eig_desc(ref)
        shape_values = values / lam
    for j in np.flatnonzero(~frozen):
        w = scatter[j]
        if model in ("EII", "EEI", "EEE"):
            cov = ref.copy()
        elif model in ("VEI", "VEE"):
            cov = np.trace(np.linalg.solve(shape, w)) / (n[j] * d) * shape
        elif model == "EVI":
            diag = np.diagonal(w)
            cov = lam * np.diag(diag / np.exp(np.mean(np.log(diag))))
        elif model == "EVV":
            cov = lam * w / np.exp(_log_volume(w))
        elif model in ("EVE", "VVE"):
            _, axes = _eig_desc(ref)
            var = np.diagonal(axes.T @ w @ axes)
            var = lam * var / np.exp(np.mean(np.log(var))) if model == "EVE" else var / n[j]
            cov = (axes * var) @ axes.T
        elif model in ("EEV", "VEV"):
            omega, vectors = _eig_desc(w)
            vol = lam if model == "EEV" else float(omega @ (1.0 / shape_values)) / (n[j] * d)
            cov = vol * (vectors * shape_values) @ vectors.T
        else:
            raise ValueError(f"{model}: no covariance given a frozen component")
        out[j] = 0.5 * (cov + cov.T)
    return out


def _covariances(model: MclustModel, n: np.ndarray, w: np.ndarray, xbar: np.ndarray,
                 means: np.ndarray, orientation: np.ndarray | None,
                 fixed: np.ndarray, frozen: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The model's covariances (K, D, D) about ``means`` (``fixed`` where ``frozen``),
    the scatter about them and the orientation reached (``EVE``/``VVE`` with a
    carried one, else None)."""
    delta = xbar - means
    scatter = w + n[:, None, None] * delta[:, :, None] * delta[:, None, :]
    if frozen.any() and model.model not in PER_COMPONENT_MODELS:
        return given_shared_part(model.model, n, scatter, fixed, frozen), scatter, None
    if model.model in _ORIENTED and orientation is not None:
        cov, orientation = common_orientation_covariances(
            model.model, n, scatter, orientation, tol=model.inner_tol,
            max_iter=model.inner_max_iter)
        return cov, scatter, orientation
    cov = constrained_covariances(model.model, n, scatter, tol=model.inner_tol,
                                  max_iter=model.inner_max_iter)
    cov[frozen] = fixed[frozen]  # VII, VVI, VVV: the others are separate maximizations
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
        When a free covariance is singular.
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
    if model.model == "VVV":  # the joint maximum in closed form
        means = _conditional_means(xbar, fixed_means, mean_mask, w / n[:, None, None])
    else:  # exact for ..I models (means given covariances do not depend on them)
        means = np.where(mean_mask, fixed_means, xbar)
    cov, scatter, orient = _covariances(model, n, w, xbar, means, orientation, fixed_cov,
                                        cov_mask)
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
            cov, scatter, orient = _covariances(
                model, n, w, xbar, means, orient if orient is not None else orientation,
                fixed_cov, cov_mask)
            if moved <= 1e-13 * scale:
                break
    if cov_mask.any():  # the frozen components' means given their covariances
        frozen = np.flatnonzero(cov_mask)
        means[frozen] = _conditional_means(xbar[frozen], fixed_means[frozen],
                                           mean_mask[frozen], fixed_cov[frozen])
    # all components, so that messages number them as the user does (a frozen
    # covariance is the user's own, finite and positive definite)
    model._check_not_singular(n, means, scatter, cov)
    if orient is not None:
        extra["orientation"] = orient
    return {"weights": weights, "means": means, "covariances": cov, **extra}


class FrozenMclustModel(ModelWrapper):
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

    Raises
    ------
    ValueError
        With a prior, or when some covariances are frozen and they do not share
        the model's common part (volume, shape, orientation) with each other, or
        (``EVE``, ``VVE``) their eigenvalues tie.
    """

    def __init__(self, model: MclustModel, fixed: dict, masks: dict):
        if model.prior is not None:
            raise ValueError("freeze cannot be combined with prior (mclust's MAP step has "
                             "no constrained form here)")
        self.model = model
        self.fixed = {key: np.array(fixed[key], dtype=np.float64, copy=True)
                      for key in ("weights", "means", "covariances")}
        self.masks = dict(masks)
        frozen = self.masks.get("covariances")
        if (frozen is not None and frozen.any() and not frozen.all()
                and model.model not in PER_COMPONENT_MODELS
                and not in_family(model.model, self.fixed["covariances"][frozen])):
            raise ValueError(
                f"the frozen covariances are not {model.model} covariances (they must share "
                f"the {model.model} model's equal parts, as the free ones will): start "
                f"from parameters of that model or freeze all covariances")
        if frozen is not None and frozen.any() and not frozen.all() \
                and model.model in _ORIENTED:
            values = np.linalg.eigvalsh(self.fixed["covariances"][np.argmax(frozen)])
            if values.size > 1 and np.min(np.diff(values)) <= TIE_RTOL * values[-1]:
                raise ValueError(
                    f"the frozen {model.model} covariance has tied eigenvalues, so it does "
                    "not fix the common orientation of the others; freeze all covariances "
                    "or none")


    def m_step(self, stats: dict) -> dict:
        """:func:`constrained_mclust_m_step` with the wrapped model."""
        return constrained_mclust_m_step(self.model, stats, self.fixed, self.masks)
