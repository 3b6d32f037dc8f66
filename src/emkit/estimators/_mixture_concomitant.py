"""Concomitant variables of :class:`emkit.MixtureModel`: input checks, starts, inference.

``MixtureModel.fit(X, concomitant=Z)`` makes the mixing weights a multinomial
logit of ``Z`` (:mod:`emkit.models.mixture.concomitant`). This module checks
``Z`` against ``X`` (rows, NaN, constant or collinear columns) for NumPy and Dask
input alike, with the same checks as :class:`emkit.RegressionMixture`'s
concomitant variables, and gives the start and the fitted coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backends
from ..numerics.design_scaling import Design
from ._regression_inputs import _aligned, _check_rank, _design, _now, as_covariates

__all__ = ["ConcomitantInput", "check_concomitant", "start_mixing", "fitted_coef",
           "check_predict_concomitant"]


@dataclass(frozen=True)
class ConcomitantInput:
    """Checked training input: ``X`` and ``Z`` for the engine, rows to start from."""

    X: Any  # the caller's X (in memory), or a float Dask array
    Z: Any  # (n, q), NumPy, or Dask on X's row chunks
    X0: Any  # the rows the start is computed on (X itself in memory)
    Z0: np.ndarray
    design: Design


def _check_z(Z: Any, n: int, name: str = "concomitant") -> None:
    if Z.ndim != 2:
        raise ValueError(f"{name} must be of shape (n_samples, n_concomitant), "
                         f"got shape {Z.shape}")
    if Z.shape[0] != n:
        raise ValueError(f"{name} has {Z.shape[0]} rows but X has {n}")


def check_concomitant(X: Any, concomitant: Any, random_state: Any) -> ConcomitantInput:
    """Check the concomitant variables of a fit; clear ``ValueError`` naming the argument.

    Parameters
    ----------
    X : array-like or Dask collection of shape (n_samples, n_features)
    concomitant : array-like or Dask array of shape (n_samples, n_concomitant)
        A 1-D array is one variable; zero columns (shape (n_samples, 0)) is the
        intercept-only model, the plain mixture.
    random_state : RandomState
        Draws the initialization sample of Dask input.
    """
    dask = backends.is_dask(X)
    if dask:
        Xd = as_covariates(X, "X", True)
        n = int(Xd.shape[0])
        Z = as_covariates(concomitant, "concomitant", True)
        _check_z(Z, n)
        Z = _aligned(Z, Xd, "concomitant", n)
    else:
        if backends.is_dask(concomitant):
            raise ValueError("concomitant is a Dask collection but X is not: pass both as "
                             "Dask collections or both in memory")
        n = int(np.shape(X)[0]) if np.ndim(X) else 0
        Z = as_covariates(concomitant, "concomitant") if np.size(concomitant) \
            else np.asarray(concomitant, dtype=float).reshape(n, 0)
        _check_z(Z, n)
    q = int(Z.shape[1])
    if q:
        bad, low, high = _now(~np.isfinite(Z).all(), Z.min(axis=0), Z.max(axis=0))
        if bool(bad):
            raise ValueError("concomitant contains NaN or infinity")
        design = _design(np.asarray(low, dtype=float), np.asarray(high, dtype=float),
                         "concomitant")
        _check_rank(Z, design, None, "concomitant")
    else:
        design = Design.identity(0)
    if not dask:
        return ConcomitantInput(X=X, Z=Z, X0=X, Z0=Z, design=design)
    import dask.array as da

    p = int(Xd.shape[1])
    rows = backends.initialization_rows(da.concatenate([Xd, Z], axis=1), random_state)
    return ConcomitantInput(X=Xd, Z=Z, X0=rows[:, :p], Z0=rows[:, p:], design=design)


def start_mixing(weights: np.ndarray, q: int) -> np.ndarray:
    """Logit coefficients (K, q + 1) whose weights are ``weights`` for every row."""
    w = np.asarray(weights, dtype=float)
    gamma = np.zeros((w.size, q + 1))
    with np.errstate(divide="ignore"):
        gamma[:, 0] = np.log(w) - np.log(w[0])
    return gamma


def fitted_coef(design: Design, mixing: np.ndarray) -> np.ndarray:
    """``concomitant_coef_`` (K, q + 1) in ``Z``'s own units, row 0 zero."""
    a, b = design.to_original(mixing)
    coef = np.column_stack([a, b])
    coef[0] = 0.0
    return coef


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
