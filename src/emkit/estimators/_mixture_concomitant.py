"""Concomitant variables of :class:`emkit.MixtureModel`: input checks, starts, inference.

``MixtureModel.fit(X, concomitant=Z)`` makes the mixing weights a multinomial
logit of ``Z`` (:mod:`emkit.models.mixture.concomitant`). This module checks
``Z`` against ``X`` (rows, NaN, constant or collinear columns) for NumPy and Dask
input alike, with the same checks as :class:`emkit.RegressionMixture`'s
concomitant variables, puts the rows' weights and log-evidence (``labels``,
``priors``) beside them so that they travel with their rows, and gives the start
(``concomitant_coef_init``), the frozen model (``freeze``) and the fitted
coefficients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backends
from ..models.mixture.concomitant import ConcomitantMixtureEM
from ..models.mixture.frozen_components import all_frozen, any_frozen
from ..models.mixture.frozen_concomitant import FrozenConcomitantEM
from ..numerics.design_scaling import Design
from . import _supervision as sv
from ._mixture_freeze import mixture_freeze_masks
from ._mixture_inputs import (
    check_sample_weight,
    dask_evidence,
    dask_sample_weight_total,
    dask_with_weights,
)
from ._regression_inputs import _aligned, _check_rank, _design, _now, as_covariates

__all__ = ["ConcomitantInput", "check_concomitant", "start_mixing", "fitted_coef",
           "check_predict_concomitant", "check_coef_init", "start_with_coef",
           "frozen_concomitant_model", "sample_concomitant", "dask_rows_with_z",
           "refuse_without_concomitant"]

#: The freeze key of the logit's coefficients.
COEF = "concomitant_coef_"


@dataclass(frozen=True)
class ConcomitantInput:
    """Checked training input: the engine's data, rows to start from, the design.

    ``data`` is ``(X, Z)``, or ``(X, Z, sample_weight, log_evidence)`` when either
    was given (in memory either may be None; on Dask a tuple of Dask arrays on
    ``X``'s row chunks, weights of one when none were given, the evidence left
    out when there is none). ``X0``, ``Z0``, ``w0``, ``e0`` are the rows the start
    is computed on (in memory the whole input), with their weights and
    log-evidence (None when not given); ``total`` the sum of the weights.
    """

    data: Any
    X0: Any
    Z0: np.ndarray
    w0: np.ndarray | None
    e0: np.ndarray | None
    design: Design
    total: float


def _check_z(Z: Any, n: int, name: str = "concomitant") -> None:
    if Z.ndim != 2:
        raise ValueError(f"{name} must be of shape (n_samples, n_concomitant), "
                         f"got shape {Z.shape}")
    if Z.shape[0] != n:
        raise ValueError(f"{name} has {Z.shape[0]} rows but X has {n}")


def check_concomitant(X: Any, concomitant: Any, random_state: Any, *,
                      sample_weight: Any = None, labels: Any = None, priors: Any = None,
                      n_components: int = 1) -> ConcomitantInput:
    """Check the concomitant variables of a fit; clear ``ValueError`` naming the argument.

    Parameters
    ----------
    X : array-like or Dask collection of shape (n_samples, n_features)
    concomitant : array-like or Dask array of shape (n_samples, n_concomitant)
        A 1-D array is one variable; zero columns (shape (n_samples, 0)) is the
        intercept-only model, the plain mixture.
    random_state : RandomState
        Draws the initialization sample of Dask input.
    sample_weight : array-like of shape (n_samples,), optional
    labels : array-like of shape (n_samples,), optional
    priors : array-like of shape (n_samples, n_components), optional
        As :meth:`emkit.MixtureModel.fit`; NumPy or Dask with Dask ``X``.
    n_components : int
    """
    dask = backends.is_dask(X)
    k = int(n_components)
    if not dask:
        if backends.is_dask(concomitant):
            raise ValueError("concomitant is a Dask collection but X is not: pass both as "
                             "Dask collections or both in memory")
        for name, value in (("sample_weight", sample_weight), ("labels", labels),
                            ("priors", priors)):
            if backends.is_dask(value):
                raise ValueError(f"{name} is a Dask collection but X is not: pass both as "
                                 "Dask collections or both in memory")
        n = int(np.shape(X)[0]) if np.ndim(X) else 0
        Z = as_covariates(concomitant, "concomitant") if np.size(concomitant) \
            else np.asarray(concomitant, dtype=float).reshape(n, 0)
        _check_z(Z, n)
        w = check_sample_weight(sample_weight, n)
        evidence = sv.log_evidence(sv.check_labels(labels, n, k, name="labels"),
                                   sv.check_priors(priors, n, k), k)
        data: Any = (X, Z) if w is None and evidence is None else (X, Z, w, evidence)
        return ConcomitantInput(data=data, X0=X, Z0=Z, w0=w, e0=evidence,
                                design=_z_design(Z, w), total=float(n if w is None else w.sum()))
    import dask.array as da

    Xd = as_covariates(X, "X", True)
    n = int(Xd.shape[0])
    Z = as_covariates(concomitant, "concomitant", True)
    _check_z(Z, n)
    Z = _aligned(Z, Xd, "concomitant", n)
    p, q = int(Xd.shape[1]), int(Z.shape[1])
    if sample_weight is None and labels is None and priors is None:
        design = _z_design(Z, None)
        rows = backends.initialization_rows(da.concatenate([Xd, Z], axis=1), random_state)
        return ConcomitantInput(data=(Xd, Z), X0=rows[:, :p], Z0=rows[:, p:], w0=None,
                                e0=None, design=design, total=float(n))
    Xd, w = dask_with_weights(Xd, np.ones(n) if sample_weight is None else sample_weight)
    design = _z_design(Z, None if sample_weight is None else w)
    evidence = dask_evidence(n, Xd.chunks[0], labels, priors, k)
    members = [Xd, Z, w[:, None]] + ([] if evidence is None else [evidence])
    # the same rows as without weights and evidence: the draw depends on n and the seed
    rows = backends.initialization_rows(da.concatenate(members, axis=1), random_state)
    data = (Xd, Z, w) if evidence is None else (Xd, Z, w, evidence)
    return ConcomitantInput(
        data=data, X0=rows[:, :p], Z0=rows[:, p:p + q],
        w0=None if sample_weight is None else rows[:, p + q],
        e0=None if evidence is None else rows[:, p + q + 1:], design=design,
        total=float(n) if sample_weight is None else dask_sample_weight_total(w))


def _z_design(Z: Any, w: Any) -> Design:
    """The scaling of ``Z`` (NumPy or Dask) over the rows of positive weight (so that a
    row of weight 0 is a dropped row), its columns checked for NaN, constants and
    collinearity."""
    q = int(Z.shape[1])
    if not q:
        return Design.identity(0)
    if w is None:
        bad, low, high = _now(~np.isfinite(Z).all(), Z.min(axis=0), Z.max(axis=0))
    else:
        keep = (w > 0)[:, None]
        where: Any = np.where
        if backends.is_dask(Z):
            import dask.array as da

            where = da.where
        bad, low, high = _now(~np.isfinite(Z).all(), where(keep, Z, np.inf).min(axis=0),
                              where(keep, Z, -np.inf).max(axis=0))
    if bool(bad):
        raise ValueError("concomitant contains NaN or infinity")
    design = _design(np.asarray(low, dtype=float), np.asarray(high, dtype=float),
                     "concomitant")
    _check_rank(Z, design, w, "concomitant")
    return design


def start_mixing(weights: np.ndarray, q: int) -> np.ndarray:
    """Logit coefficients (K, q + 1) whose weights are ``weights`` for every row."""
    w = np.asarray(weights, dtype=float)
    gamma = np.zeros((w.size, q + 1))
    with np.errstate(divide="ignore"):
        gamma[:, 0] = np.log(w) - np.log(w[0])
    return gamma


def fitted_coef(design: Design, mixing: np.ndarray, model: Any = None) -> np.ndarray:
    """``concomitant_coef_`` (K, q + 1) in ``Z``'s own units, row 0 zero.

    With ``model`` a :class:`FrozenConcomitantEM`, its frozen entries are its start's
    values bit for bit (the scaled parametrization moves them by rounding only).
    """
    a, b = design.to_original(mixing)
    coef = np.column_stack([a, b])
    if isinstance(model, FrozenConcomitantEM) and model.coef_mask is not None:
        coef[model.coef_mask] = model.fixed_coef[model.coef_mask]
    coef[0] = 0.0
    return coef


def check_coef_init(coef_init: Any, k: int, q: int | None,
                    weights_init: Any = None) -> np.ndarray | None:
    """``concomitant_coef_init`` as a float (K, q + 1) array, or None.

    ``q`` is the number of concomitant variables of the fit (None: a fit without).

    Raises
    ------
    ValueError
        Without ``concomitant``, together with ``weights_init``, for a wrong shape,
        a non-finite entry, or a row 0 other than zero (component 0 is the reference).
    """
    if coef_init is None:
        return None
    if q is None:
        raise ValueError("concomitant_coef_init was given, but the fit has no concomitant "
                         "variables: pass concomitant= to fit")
    if weights_init is not None:
        raise ValueError("give weights_init or concomitant_coef_init, not both: with "
                         "concomitant variables the start's weights are the logit's")
    coef = np.asarray(coef_init, dtype=np.float64)
    if coef.shape != (k, q + 1):
        raise ValueError(f"concomitant_coef_init must have shape ({k}, {q + 1}) "
                         "(n_components, n_concomitant + 1; the intercept in column 0), got "
                         f"shape {coef.shape}")
    if not np.all(np.isfinite(coef)):
        raise ValueError("concomitant_coef_init must be finite")
    if np.any(coef[0] != 0.0):
        raise ValueError("concomitant_coef_init[0] must be zero: component 0 is the "
                         "reference of the logit (subtract row 0 from every row for the "
                         "same mixing weights)")
    return coef.copy()


def start_with_coef(init: dict[str, Any], design: Design,
                    coef: np.ndarray | None) -> dict[str, Any]:
    """The start ``init`` with its logit coefficients ``coef`` (own units), if given."""
    if coef is None:
        return init
    mixing = design.to_scaled(coef[:, 0], coef[:, 1:])
    mixing[0] = 0.0
    return {**init, "mixing": mixing}


def frozen_concomitant_model(model: ConcomitantMixtureEM, freeze: Any, init: dict[str, Any],
                             coef_start: np.ndarray | None) -> Any:
    """``model`` itself without a freeze, else its :class:`FrozenConcomitantEM` at ``init``.

    ``freeze`` takes :class:`~emkit.MixtureModel`'s component keys (see
    :mod:`._mixture_freeze`) and ``"concomitant_coef_"``: True or a boolean mask of
    shape (K, q + 1) (row 0, the reference, is zero whatever the mask says).
    ``coef_start`` is ``concomitant_coef_init`` (own units) when it was given.

    Raises
    ------
    ValueError
        For ``"weights_"`` (with concomitant variables the weights are the logit's),
        a bad mask, or a freeze that leaves nothing to fit.
    """
    if freeze is None:
        return model
    if not isinstance(freeze, Mapping):
        raise ValueError("freeze must be a dict from a fitted attribute's name to True or a "
                         f"boolean mask, got {type(freeze).__name__}")
    if "weights_" in freeze:
        raise ValueError("freeze['weights_']: with concomitant variables the mixing weights "
                         "are the logit's; freeze 'concomitant_coef_' (the intercepts in "
                         "column 0) instead")
    k, q1 = np.shape(init["mixing"])
    coef_mask = None
    if COEF in freeze:
        coef_mask = sv.freeze_mask(freeze[COEF], (k, q1), f"freeze[{COEF!r}]",
                                   "(n_components, n_concomitant + 1)")
        coef_mask[0] = True  # the reference row: zero always
    rest = {key: value for key, value in freeze.items() if key != COEF}
    _, masks = mixture_freeze_masks(rest, {"weights": np.full(k, 1.0 / k),
                                           "components": init["components"]})
    coef_free = coef_mask is None or not coef_mask.all()
    if not coef_free and all(all_frozen(m) for m in masks):
        raise ValueError("freeze leaves nothing to fit: every component parameter and every "
                         f"entry of {COEF} is frozen; free some of them")
    if coef_mask is not None and not coef_mask[1:].any():
        coef_mask = None
    if coef_mask is None and not any(any_frozen(m) for m in masks):
        return model
    return FrozenConcomitantEM(model, init, coef_mask, masks, coef_start)


def check_predict_concomitant(X: Any, concomitant: Any, q: int | None) -> Any:
    """``Z`` for inference on ``X``, or None for a model fitted without concomitants.

    ``q`` is the number of concomitant variables of the fit (None without).
    Dask ``Z`` (or NumPy ``Z`` with Dask ``X``) comes back on ``X``'s row chunks.
    """
    if q is None:
        if concomitant is not None:
            raise ValueError("concomitant was given, but the model was fitted without "
                             "concomitant variables")
        return None
    if concomitant is None:
        raise ValueError(f"concomitant is required: the model was fitted with {q} "
                         "concomitant variable(s)")
    dask = backends.is_dask(X)
    if dask:
        Xd = as_covariates(X, "X", True)
        n = int(Xd.shape[0])
        Z = as_covariates(concomitant, "concomitant", True)
    else:
        n = int(np.shape(X)[0]) if np.ndim(X) else 1
        if backends.is_dask(concomitant):
            raise ValueError("concomitant is a Dask collection but X is not: pass both as "
                             "Dask collections or both in memory")
        Z = as_covariates(concomitant, "concomitant") if np.size(concomitant) \
            else np.asarray(concomitant, dtype=float).reshape(n, 0)
    _check_z(Z, n)
    if Z.shape[1] != q:
        raise ValueError(f"concomitant has {Z.shape[1]} columns, but the model was fitted "
                         f"with {q}")
    if dask:
        return _aligned(Z, Xd, "concomitant", n)
    if not np.all(np.isfinite(Z)):
        raise ValueError("concomitant contains NaN or infinity")
    return Z


def sample_concomitant(coef: np.ndarray, components: Any, n_features: int, concomitant: Any,
                       n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One row drawn for each row of ``concomitant``, from ``pi(z)`` then its component.

    ``coef`` is the fitted ``concomitant_coef_`` (K, q + 1); returns ``X`` (m,
    n_features) and the components drawn (m,), in ``concomitant``'s row order.
    """
    q = int(np.shape(coef)[1]) - 1
    if concomitant is None:
        raise ValueError(f"concomitant is required: the model was fitted with {q} "
                         "concomitant variable(s)")
    m = int(np.shape(concomitant)[0])
    if n_samples not in (1, m):
        raise ValueError(f"n_samples={n_samples} but concomitant has {m} rows")
    Z = check_predict_concomitant(np.empty((m, 0)), concomitant, q)
    model = ConcomitantMixtureEM(components, Design.identity(q))
    cum = np.cumsum(np.exp(model.log_mixing(Z, model.pack(coef, components))), axis=1)
    labels = np.minimum((rng.random(m)[:, None] > cum).sum(axis=1), cum.shape[1] - 1)
    X = np.empty((m, n_features))
    for j, c in enumerate(components):
        rows = np.flatnonzero(labels == j)
        if rows.size:
            X[rows] = c.sample(int(rows.size), rng)
    return X, labels


def dask_rows_with_z(est: Any, X: Any, Z: Any, n_features: int) -> Any:
    """Dask ``X`` (n, n_features) and its ``Z`` (on ``X``'s row chunks) side by side."""
    import dask.array as da

    Xd = backends.numeric_dask_matrix(est, X, np.float64) if X.ndim == 2 \
        else X.astype(np.float64)[:, None]
    if Xd.shape[1] != n_features:
        raise ValueError(f"X has {Xd.shape[1]} features, but MixtureModel is expecting "
                         f"{n_features} features as input")
    return da.concatenate([Xd, Z], axis=1)


def refuse_without_concomitant(coef_init: Any, freeze: Any) -> None:
    """Refuse ``concomitant_coef_init`` or ``freeze['concomitant_coef_']`` in a fit
    without concomitant variables."""
    check_coef_init(coef_init, 0, None)
    if isinstance(freeze, Mapping) and COEF in freeze:
        raise ValueError(f"freeze[{COEF!r}] needs a fit with concomitant variables: pass "
                         "concomitant= to fit")
