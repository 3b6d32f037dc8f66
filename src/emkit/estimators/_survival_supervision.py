"""``SurvivalMixture``'s given starts and frozen parameters.

One job: read ``weights_init``, ``cure_fraction_init``, the family's ``*_init``
(``rate_init``; ``shape_init``, ``scale_init``; ``meanlog_init``, ``sdlog_init``)
and ``freeze`` against the fit's shapes, and apply them to a drawn start.

``freeze`` keys (True = kept at the start; ``True`` or a boolean mask of the
attribute's shape): ``"weights_"`` (K,), ``"cure_fraction_"`` (``True``, with
``cure=True``), and the family's parameters ``"rate_"``, ``"shape_"``,
``"scale_"``, ``"meanlog_"``, ``"sdlog_"`` (K,). A frozen entry keeps its
``*_init`` value when given, else the drawn start's. A freeze that leaves nothing
to fit (every component parameter frozen and fewer than two free weights, the
cure fraction counted as one), a mask of the wrong shape or an unknown key is a
``ValueError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models.survival.families import PARAMETERS
from . import _supervision as sv

__all__ = ["INIT_NAMES", "check_given_starts", "survival_freeze", "given_start"]

#: Every family parameter's ``*_init`` name.
INIT_NAMES = ("rate", "shape", "scale", "meanlog", "sdlog")


def _vector(value: Any, k: int, name: str, positive: bool) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        raise ValueError(f"{name} must be finite{' and positive' if positive else ''}")
    return arr.copy()


def check_given_starts(est: Any, k: int, family: str, cure: bool,
                       shape_bounds: tuple[float, float]) -> dict[str, Any]:
    """The given start values (``weights`` (K,), ``cure``, the family's parameters).

    Raises
    ------
    ValueError
        For a wrong shape, a non-finite or non-positive value, an ``*_init`` of
        another family, ``cure_fraction_init`` without ``cure=True``, a shape
        outside ``shape_bounds``, or weights that do not sum to 1 (with the cure
        fraction).
    """
    out: dict[str, Any] = {}
    for name in INIT_NAMES:
        value = getattr(est, f"{name}_init")
        if value is None:
            continue
        if name not in PARAMETERS[family]:
            own = ", ".join(p + "_init" for p in PARAMETERS[family])
            raise ValueError(f"{name}_init does not apply to distribution={family!r} (its "
                             f"parameters are {own})")
        out[name] = _vector(value, k, f"{name}_init", positive=name != "meanlog")
    if "shape" in out and np.any((out["shape"] < shape_bounds[0])
                                 | (out["shape"] > shape_bounds[1])):
        raise ValueError(f"shape_init must lie within shape_bounds {shape_bounds}")
    c = None
    if est.cure_fraction_init is not None:
        if not cure:
            raise ValueError("cure_fraction_init needs cure=True")
        c = float(est.cure_fraction_init)
        if not 0.0 < c < 1.0:
            raise ValueError(f"cure_fraction_init must lie in (0, 1), got {c!r}")
        out["cure"] = c
    if est.weights_init is not None:
        w = np.asarray(est.weights_init, dtype=np.float64)
        if w.shape != (k,):
            raise ValueError(f"weights_init must have shape ({k},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights_init must be finite and non-negative")
        target = 1.0 - (c if c is not None else 0.0)
        if cure and c is None:
            if not 0.0 < float(w.sum()) < 1.0:
                raise ValueError("with cure=True, weights_init must sum to less than 1 (the "
                                 "rest is the cure fraction), or give cure_fraction_init")
        elif not np.isclose(w.sum(), target, rtol=0, atol=1e-10):
            what = "1 - cure_fraction_init" if c is not None else "1"
            raise ValueError(f"weights_init must sum to {what}, got {float(w.sum())!r}")
        out["weights"] = w.copy()
    return out


def survival_freeze(freeze: Any, k: int, family: str, cure: bool) -> dict[str, np.ndarray]:
    """The model's masks (``weights`` (K [+ 1],) and the family's (K,)) from ``freeze``.

    Returns an empty dict when nothing is frozen.
    """
    shapes: dict[str, tuple[int, ...]] = {"weights_": (k,)}
    if cure:
        shapes["cure_fraction_"] = ()
    for name in PARAMETERS[family]:
        shapes[name + "_"] = (k,)
    masks = sv.check_freeze(freeze, shapes)
    if not masks:
        return {}
    weights = np.zeros(k + int(cure), dtype=bool)
    weights[:k] = masks.get("weights_", False)
    if cure:
        weights[k] = bool(masks.get("cure_fraction_", False))
    out = {name: masks[name + "_"] for name in PARAMETERS[family] if name + "_" in masks}
    out["weights"] = weights
    model_shapes: dict[str, tuple[int, ...]] = {"weights": (k + int(cure),)}
    model_shapes.update({name: (k,) for name in PARAMETERS[family]})
    sv.check_something_free(out, model_shapes, weights_key="weights")
    return out


def given_start(init: dict[str, Any], given: dict[str, Any], k: int,
                cure: bool) -> dict[str, Any]:
    """A drawn start with the given values applied (weights (K [+ 1],), cure fraction last)."""
    out = dict(init)
    for name, value in given.items():
        if name not in ("weights", "cure"):
            out[name] = np.array(value, dtype=np.float64, copy=True)
    w = np.asarray(init["weights"], dtype=float)
    if not cure:
        out["weights"] = np.array(given.get("weights", w), dtype=np.float64, copy=True)
        return out
    if "cure" in given:
        c = float(given["cure"])
    elif "weights" in given:
        c = 1.0 - float(np.sum(given["weights"]))
    else:
        c = float(w[k])
    failing = given["weights"] if "weights" in given else w[:k] / w[:k].sum() * (1.0 - c)
    out["weights"] = np.append(np.asarray(failing, dtype=np.float64), c)
    return out
