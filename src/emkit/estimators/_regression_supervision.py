"""``RegressionMixture``'s given starts, frozen parameters and labelled starts.

One job: read ``weights_init``, ``coef_init``, ``intercept_init``, ``scale_init``
and ``freeze`` against the fit's shapes, and build one start from them.

``freeze`` keys (True = kept at the start; ``True`` or a boolean mask of the
attribute's shape):

``"coef_"`` (K, n_features), ``"intercept_"`` (K,)
    In the covariates' own units, as the fitted attributes.
``"scale_"`` (K,)
    Gaussian only.
``"weights_"`` (K,)
    Not with concomitant variables (the weights are then a logit of ``Z``, whose
    coefficients are always fitted); the free weights share the free mass.

A frozen entry keeps the value of its ``*_init`` parameter when given, else the
drawn start's. A freeze that leaves nothing to fit (every coefficient, scale and
all but at most one weight frozen), a mask of the wrong shape or an unknown key is
a ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models.regression.design import Design
from . import _supervision as sv
from ._mixture_start import check_weights_init

__all__ = ["check_given_starts", "regression_freeze", "given_start", "to_scaled",
           "labelled_start"]


def _array(value: Any, shape: tuple[int, ...], name: str, positive: bool = False) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        raise ValueError(f"{name} must be finite{' and positive' if positive else ''}")
    return arr.copy()


def check_given_starts(est: Any, k: int, p: int, family: str,
                       concomitant: bool, n_concomitant: int = 0) -> dict[str, np.ndarray]:
    """The given start values: ``weights``, ``coef`` (K, p), ``intercept``, ``scale``,
    ``mixing_coef`` (K, n_concomitant + 1; ``concomitant_coef_init``, own units).

    Raises
    ------
    ValueError
        For a wrong shape, a non-finite value, a non-positive scale, weights off
        the simplex, ``scale_init`` outside the Gaussian family or
        ``weights_init`` with concomitant variables.
    """
    out: dict[str, np.ndarray] = {}
    weights = check_weights_init(est.weights_init, k)
    if weights is not None:
        if concomitant:
            raise ValueError("weights_init is not supported with concomitant variables (the "
                             "weights are a logit of the concomitant variables)")
        out["weights"] = weights
    if est.coef_init is not None:
        out["coef"] = _array(est.coef_init, (k, p), "coef_init")
    if est.intercept_init is not None:
        out["intercept"] = _array(est.intercept_init, (k,), "intercept_init")
    if est.scale_init is not None:
        if family != "gaussian":
            raise ValueError(f"scale_init applies to family='gaussian' only, not {family!r}")
        out["scale"] = _array(est.scale_init, (k,), "scale_init", positive=True)
    coef_init = getattr(est, "concomitant_coef_init", None)
    if coef_init is not None:
        if not concomitant:
            raise ValueError("concomitant_coef_init was given, but the fit has no concomitant "
                             "variables")
        mixing = _array(coef_init, (k, n_concomitant + 1), "concomitant_coef_init")
        if np.any(mixing[0] != 0):
            raise ValueError("concomitant_coef_init[0] must be zero: component 0 is the "
                             "reference of the logit")
        out["mixing_coef"] = mixing
    return out


def regression_freeze(freeze: Any, k: int, p: int, family: str,
                      concomitant: bool, n_concomitant: int = 0) -> dict[str, np.ndarray]:
    """The model's masks (``coef`` (K, p + 1), ``scale``, ``weights``, ``mixing``
    (K, n_concomitant + 1) in own units) from ``freeze``.

    Returns an empty dict when nothing is frozen.
    """
    shapes: dict[str, tuple[int, ...]] = {"coef_": (k, p), "intercept_": (k,)}
    if family == "gaussian":
        shapes["scale_"] = (k,)
    if not concomitant:
        shapes["weights_"] = (k,)
    else:
        shapes["concomitant_coef_"] = (k, n_concomitant + 1)
    if freeze is not None and concomitant and "weights_" in freeze:
        raise ValueError("freeze['weights_'] is not supported with concomitant variables: "
                         "the weights are a logit of the concomitant variables")
    if freeze is not None and family != "gaussian" and "scale_" in freeze:
        raise ValueError(f"freeze['scale_'] applies to family='gaussian' only, not {family!r}")
    masks = sv.check_freeze(freeze, shapes)
    if not masks:
        return {}
    mixing = masks.get("concomitant_coef_")
    if mixing is not None:
        mixing = mixing.copy()
        mixing[0] = True  # the reference row: zero always
        masks = {**masks, "concomitant_coef_": mixing}
    if not concomitant or mixing is not None:  # else the logit always moves
        sv.check_something_free(masks, shapes)
    coef = np.zeros((k, p + 1), dtype=bool)
    coef[:, 0] = masks.get("intercept_", False)
    coef[:, 1:] = masks.get("coef_", False)
    out = {"coef": coef}
    if "scale_" in masks:
        out["scale"] = masks["scale_"]
    if "weights_" in masks:
        out["weights"] = masks["weights_"]
    if mixing is not None and mixing[1:].any():
        out["mixing"] = mixing
    return out


def given_start(init: dict[str, Any], design: Design, given: dict[str, np.ndarray],
                concomitant: Design | None = None) -> dict[str, Any]:
    """A drawn start (scaled design) in the covariates' own units, the given values applied.

    ``coef`` (K, p + 1) with the intercepts in column 0; a given ``mixing_coef``
    (own units) becomes the logit's ``mixing`` on ``concomitant``'s scaled design.
    """
    intercept, slopes = design.to_original(np.asarray(init["coef"], dtype=float))
    if "intercept" in given:
        intercept = given["intercept"]
    if "coef" in given:
        slopes = given["coef"]
    out = dict(init)
    out["coef"] = np.column_stack([intercept, slopes])
    if "scale" in given:
        out["scale"] = given["scale"].copy()
    if "weights" in given:
        out["weights"] = given["weights"].copy()
    if "mixing_coef" in given and concomitant is not None:
        coef = given["mixing_coef"]
        out["mixing"] = concomitant.to_scaled(coef[:, 0], coef[:, 1:])
        out["mixing"][0] = 0.0
    return out


def to_scaled(start: dict[str, Any], design: Design) -> dict[str, Any]:
    """:func:`given_start`'s output back on the scaled design (for an unfrozen fit)."""
    out = dict(start)
    coef = np.asarray(start["coef"], dtype=float)
    out["coef"] = design.to_scaled(coef[:, 0], coef[:, 1:])
    return out


def labelled_start(resp: np.ndarray, evidence: np.ndarray | None) -> np.ndarray:
    """A start's responsibilities renamed to agree with the evidence, the evidence applied.

    The start's hard assignment is renamed by :func:`~._supervision.align_clusters`
    (so its clusters line up with the labelled components), then known rows
    become one-hot and soft evidence multiplies the rest.
    """
    if evidence is None:
        return resp
    k = resp.shape[1]
    clusters = sv.align_clusters(np.argmax(resp, axis=1), evidence, k)
    out = np.zeros_like(resp)
    out[np.arange(resp.shape[0]), clusters] = 1.0
    return sv.supervised_responsibilities(out, evidence)
