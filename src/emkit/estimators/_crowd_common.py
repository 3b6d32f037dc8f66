"""Parameter checks and fitted attributes shared by the crowd-label estimators."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models.crowd.dawid_skene import Ratings

__all__ = ["check_int", "check_positive", "check_items_match", "check_known",
           "check_item_weights", "supervised"]


def check_int(name: str, value: Any, low: int) -> None:
    """Refuse anything but an integer ``>= low`` (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_positive(name: str, value: Any, *, strict: bool = False) -> None:
    """Refuse anything but a finite number ``>= 0`` (``> 0`` with ``strict``)."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.number))
          and bool(np.isfinite(value)) and (value > 0 if strict else value >= 0))
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} 0, "
                         f"got {value!r}")


def check_items_match(items: list, fitted: list, what: str) -> None:
    """``predict`` of a per-item model works on the items of ``fit`` only."""
    if list(items) != list(fitted):
        raise ValueError(f"{what} has a parameter per item, so predict and predict_proba "
                         f"take the ratings of the fitted items ({len(fitted)} items); got "
                         f"{len(items)} other or reordered items")


def check_known(y: Any, n_items: int, n_classes: int | None) -> np.ndarray | None:
    """Known classes: integers -1 (unknown) or 0..C-1, one per item (``None``: none)."""
    if y is None:
        return None
    try:
        known = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("y must hold integer classes (-1 for unknown)") from None
    if known.ndim != 1 or known.shape[0] != n_items:
        raise ValueError(f"y must have one entry per item ({n_items}), got shape "
                         f"{known.shape}")
    if not np.all(np.isfinite(known)) or np.any(known != np.round(known)) \
            or np.any(known < -1):
        raise ValueError("y must hold -1 (unknown) or a class 0..n_classes-1 per item")
    if n_classes is not None and known.size and known.max() >= n_classes:
        raise ValueError(f"y has class {int(known.max())} but n_classes={n_classes} "
                         f"(classes 0..{n_classes - 1}, -1 for unknown)")
    return known.astype(np.intp)


def check_item_weights(sample_weight: Any, n_items: int) -> np.ndarray | None:
    """Item weights: finite, ``>= 0``, not all zero, one per item (``None``: all one)."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("sample_weight must be numbers, one per item") from None
    if w.ndim != 1 or w.shape[0] != n_items:
        raise ValueError(f"sample_weight must have one entry per item ({n_items}), "
                         f"got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError("sample_weight must be finite and >= 0, not all zero")
    return w


def supervised(data: Ratings, y: Any, sample_weight: Any,
               n_classes: int | None) -> Ratings:
    """``data`` with the checked known classes ``y`` and item weights attached.

    With ``n_classes=None`` a known class above every rating's label widens the
    classes to it.
    """
    known = check_known(y, data.n_items, n_classes)
    weight = check_item_weights(sample_weight, data.n_items)
    c = data.n_classes
    if known is not None and n_classes is None and known.size:
        c = max(c, int(known.max()) + 1)
    return Ratings(data.item, data.rater, data.label, data.n_items, data.n_raters, c,
                   weight, known)
