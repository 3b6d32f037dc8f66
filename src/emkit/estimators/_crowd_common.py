"""Parameter checks and fitted attributes shared by the crowd-label estimators."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_int", "check_positive", "check_items_match"]


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
