"""``MixtureModel(freeze=...)``: which entries of the start a fit keeps.

One job: read the user's ``freeze`` against the start's parameters and return
the masks :class:`~emkit.models.mixture.frozen_mixture.FrozenMixtureEM` uses.

Keys (True = frozen):

``"weights_"``
    ``True`` or a boolean mask of shape (K,).
``"components_"``
    ``True`` (every component's every parameter), or a list of K entries, one
    per component: ``True``/``False``, or a dict from the component's parameter
    names (``"rate"``, ``"mean"``, ``"covariance"``, ``"probs"``, ...; an
    ``Independent`` component's ``"parts"``, a list with one such entry per part)
    to ``True`` or a boolean mask of that parameter's shape.
any parameter name shared by every component (``"rate"``, ``"mean"``, ...)
    ``True`` or a boolean mask of shape (K, *the parameter's shape*): row ``k``
    is component ``k``'s mask.

A mask of the wrong shape, an unknown name, or a freeze that leaves nothing to
fit (every component entry frozen and fewer than two free weights) is a
``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..models.mixture.frozen_components import all_frozen
from ._supervision import freeze_mask

__all__ = ["mixture_freeze_masks"]


def _tree_mask(spec: Any, params: Any, where: str) -> Any:
    """A mask tree of ``params``'s structure from a user's (partial) spec."""
    if spec is True or spec is False or isinstance(spec, np.bool_):
        if isinstance(params, dict):
            return {key: _tree_mask(spec, value, f"{where}[{key!r}]")
                    for key, value in params.items()}
        if isinstance(params, (list, tuple)):
            return [_tree_mask(spec, value, f"{where}[{j}]") for j, value in enumerate(params)]
        return np.full(np.shape(params), bool(spec))
    if isinstance(params, dict):
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where} must be True, False or a dict from parameter names "
                             f"({sorted(params)}) to masks, got {type(spec).__name__}")
        unknown = sorted(set(spec) - set(params))
        if unknown:
            raise ValueError(f"{where}: unknown parameter {unknown[0]!r}; this component's "
                             f"parameters are {sorted(params)}")
        return {key: _tree_mask(spec.get(key, False), value, f"{where}[{key!r}]")
                for key, value in params.items()}
    if isinstance(params, (list, tuple)):
        if not isinstance(spec, (list, tuple)) or len(spec) != len(params):
            raise ValueError(f"{where} must be True, False or a list of {len(params)} entries")
        return [_tree_mask(s, p, f"{where}[{j}]")
                for j, (s, p) in enumerate(zip(spec, params, strict=True))]
    return freeze_mask(spec, tuple(np.shape(params)), where)


def mixture_freeze_masks(freeze: Any, start: dict) -> tuple[np.ndarray | None, list[Any]]:
    """The weight mask and per-component mask trees of ``freeze`` for this start.

    Parameters
    ----------
    freeze : dict or None
        See the module notes.
    start : dict
        The start's ``weights`` (K,) and ``components`` (``parameters()`` trees).

    Returns
    -------
    weight_mask : ndarray of shape (K,) or None
    component_masks : list of K mask trees (an empty list when ``freeze`` is None)

    Raises
    ------
    ValueError
        For a value that is not a dict, an unknown key, a mask of the wrong shape
        or dtype, or a freeze that leaves nothing to fit.
    """
    if freeze is None:
        return None, []
    if not isinstance(freeze, Mapping):
        raise ValueError("freeze must be a dict from a fitted attribute's name to True or a "
                         f"boolean mask, got {type(freeze).__name__}")
    comps = start["components"]
    k = len(comps)
    masks = [_tree_mask(False, p, "") for p in comps]
    shared = set.intersection(*(set(p) for p in comps))
    weight_mask = None
    for key, value in freeze.items():
        if key == "weights_":
            weight_mask = freeze_mask(value, (k,), "freeze['weights_']")
        elif key == "components_":
            if value is True or value is False or isinstance(value, np.bool_):
                value = [bool(value)] * k
            if not isinstance(value, (list, tuple)) or len(value) != k:
                raise ValueError(f"freeze['components_'] must be True or a list of {k} "
                                 "entries (one per component)")
            new = [_tree_mask(v, p, f"freeze['components_'][{j}]")
                   for j, (v, p) in enumerate(zip(value, comps, strict=True))]
            masks = [_merge(a, b) for a, b in zip(masks, new, strict=True)]
        elif key in shared and key != "parts":
            shape = (k, *np.shape(comps[0][key]))
            if any(np.shape(p[key]) != shape[1:] for p in comps):
                raise ValueError(f"freeze[{key!r}]: the components' {key!r} differ in shape; "
                                 "give per-component masks in freeze['components_']")
            mask = freeze_mask(value, shape, f"freeze[{key!r}]")
            masks = [_merge(m, {key: mask[j]}) for j, m in enumerate(masks)]
        else:
            names = sorted({"weights_", "components_"} | (shared - {"parts"}))
            raise ValueError(f"freeze: unknown attribute {key!r}; the ones that may be "
                             f"frozen are {names}")
    if weight_mask is not None and not weight_mask.any():
        weight_mask = None
    free_weights = k if weight_mask is None else int(k - weight_mask.sum())
    if free_weights < 2 and all(all_frozen(m) for m in masks):
        raise ValueError("freeze leaves nothing to fit: every component parameter is frozen "
                         "and fewer than two weights are free (mixing weights need two free "
                         "entries to move); free some of them")
    return weight_mask, masks


def _merge(a: Any, b: Any) -> Any:
    """Elementwise OR of two mask trees (``b`` may name a subset of ``a``'s keys)."""
    if isinstance(a, dict):
        return {key: _merge(value, b[key]) if key in b else value for key, value in a.items()}
    if isinstance(a, list):
        return [_merge(x, y) for x, y in zip(a, b, strict=True)]
    return np.asarray(a) | np.asarray(b)
