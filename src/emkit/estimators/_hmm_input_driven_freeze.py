"""``freeze=`` of :class:`~emkit.estimators.hmm_input_driven.InputDrivenHMM`.

``freeze`` maps ``"transition_coef_"``, ``"start_coef_"`` (with
``start_covariates``) or ``"startprob_"``, and ``"emissions_"`` to ``True`` (the
whole attribute) or, for the first three, a boolean mask of the attribute's
shape (True: kept at its starting value, from a warm start or, with the letter in
``init_params``, from the drawn start).

The masks are read in the covariates' own units (the attribute as the user sees
it): a frozen slope or intercept keeps its value bit for bit in the fitted
attribute, and the free coefficients get the M-step restricted to them
(:func:`~emkit.numerics.multinomial_logit.constrained_mixing_m_step`; the closed-form
constrained maximizer without covariates; the free start probabilities share the
mass the frozen ones leave).

The reference entries
---------------------
Each row of ``transition_coef_`` is identified by its reference, staying
(``transition_coef_[i, i] = 0``), and ``start_coef_`` by its row 0: the other
entries are log-odds against it. The reference entries are never fitted, so the
mask's value there does not matter. A frozen entry therefore keeps its log-odds
against staying; a row with both frozen and free entries needs a start whose
reference is 0 (otherwise the frozen values would mean something else once the
row is re-referenced), and such a start is refused with a ``ValueError``. A row
with every entry frozen is returned exactly as given, reference included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..numerics.design_scaling import Design
from ._supervision import freeze_mask

if TYPE_CHECKING:
    from .hmm_input_driven import InputDrivenHMM

__all__ = ["FreezePlan", "freeze_plan", "start_values", "restore_frozen"]


@dataclass
class FreezePlan:
    """What ``freeze`` asks of one fit.

    Attributes
    ----------
    letters : str
        The ``params`` letters the M-step updates (whole freezes removed).
    masks : dict
        Model key (``"trans"``, ``"start_coef"``, ``"startprob"``) -> the boolean
        mask of a partly frozen attribute, for
        :class:`~emkit.models.hmm.input_driven.InputDrivenHMMModel`'s ``frozen``.
    keep : dict
        Public attribute -> the entries copied from the start into the fitted
        attribute (all of it for a whole freeze).
    """

    letters: str
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    keep: dict[str, np.ndarray] = field(default_factory=dict)


_MODEL_KEYS = {"transition_coef_": "trans", "start_coef_": "start_coef",
               "startprob_": "startprob"}


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, np.bool_) and not value)


def _movable(key: str, mask: np.ndarray) -> np.ndarray:
    """The free entries of ``mask`` that the M-step can move (references left out)."""
    free = ~mask
    if key == "transition_coef_":
        k = mask.shape[0]
        free[np.arange(k), np.arange(k)] = False
    elif key == "start_coef_":
        free[0] = False
    elif np.count_nonzero(free) < 2:  # startprob_: one free entry is fixed by the rest
        free[:] = False
    return free


def _keep(key: str, mask: np.ndarray) -> np.ndarray:
    """Entries restored from the start for a partly frozen ``key``: the frozen ones,
    and the whole of every transition row with no free entry."""
    keep = mask.copy()
    if key == "transition_coef_":
        k = mask.shape[0]
        for i in range(k):
            keep[i, i] = False
            if mask[i][np.arange(k) != i].all():
                keep[i] = True
    elif key == "start_coef_":
        keep[0] = False
    return keep


def freeze_plan(est: InputDrivenHMM, freeze: Any, n_covariates: int) -> FreezePlan:
    """Check ``freeze`` for a fit with ``n_covariates`` covariate columns.

    Raises
    ------
    ValueError
        Naming ``freeze``: not a dict, an unknown attribute, a mask of the wrong
        shape or dtype, a mask on ``emissions_``, or nothing left to fit.
    """
    params = str(est.params)
    if freeze is None:
        return FreezePlan(params)
    if not isinstance(freeze, dict):
        raise ValueError("freeze must be a dict from a fitted attribute's name to True or a "
                         f"boolean mask, got {type(freeze).__name__}")
    k, q1 = int(est.n_components), int(n_covariates) + 1
    start = "start_coef_" if est.start_covariates else "startprob_"
    shapes = {start: (k, q1) if est.start_covariates else (k,),
              "transition_coef_": (k, k, q1)}
    letters = {start: "s", "transition_coef_": "t", "emissions_": "e"}
    plan = FreezePlan(params)
    for key, value in freeze.items():
        if key not in letters:
            raise ValueError(f"freeze: unknown attribute {key!r}; the ones that may be "
                             f"frozen are {sorted(letters)}")
        if _is_false(value):
            continue
        if key == "emissions_":
            if value is not True and not isinstance(value, np.bool_):
                raise ValueError("freeze['emissions_'] must be True or False: the emissions "
                                 "are frozen whole (masks are for the coefficients and "
                                 "startprob_)")
            plan.letters = plan.letters.replace("e", "")
            continue
        mask = freeze_mask(value, shapes[key], f"freeze[{key!r}]", f"the shape of {key}")
        if not mask.any():
            continue
        if _movable(key, mask).any():
            plan.masks[_MODEL_KEYS[key]] = mask
            plan.keep[key] = _keep(key, mask)
        else:  # nothing of it can move: frozen whole
            plan.letters = plan.letters.replace(letters[key], "")
            plan.keep[key] = np.ones(shapes[key], dtype=bool)
    if not plan.letters:
        raise ValueError("freeze leaves nothing to fit: the start, the transition "
                         "coefficients and the emissions are all frozen or not in params "
                         "(a mask must leave a non-reference coefficient, or two start "
                         "probabilities, free)")
    return plan


def _original(coef: np.ndarray, design: Design) -> np.ndarray:
    """Scaled coefficients (..., q + 1) in the covariates' own units."""
    flat = np.asarray(coef, dtype=float).reshape(-1, design.n_columns + 1)
    intercept, slopes = design.to_original(flat)
    return np.column_stack([intercept, slopes]).reshape(np.shape(coef))


def _check_reference(key: str, value: np.ndarray, mask: np.ndarray) -> None:
    if key == "transition_coef_":
        k = value.shape[0]
        for i in range(k):
            off = np.arange(k) != i
            partial = mask[i][off].any() and not mask[i][off].all()
            if partial and np.any(value[i, i] != 0.0):
                raise ValueError(
                    f"freeze['transition_coef_'] keeps some entries of row {i} and frees "
                    f"others, but the start's transition_coef_[{i}, {i}] (the reference, "
                    f"staying) is {value[i, i].tolist()}, not 0: frozen entries are "
                    f"log-odds against staying; subtract transition_coef_[{i}, {i}] from "
                    "the row's entries first")
    elif key == "start_coef_" and np.any(value[0] != 0.0):
        raise ValueError("freeze['start_coef_'] keeps some coefficients and frees others, "
                         f"but the start's start_coef_[0] (the reference) is "
                         f"{value[0].tolist()}, not 0: frozen entries are log-odds against "
                         "state 0; subtract start_coef_[0] from every row first")


def start_values(est: InputDrivenHMM, plan: FreezePlan, start: dict,
                 design: Design) -> dict[str, np.ndarray]:
    """The starting values, as the user sees them, of the attributes in ``plan.keep``:
    the estimator's attribute where the start came from it (a warm start), else the
    drawn start in the covariates' own units.

    Raises
    ------
    ValueError
        When a partly frozen row's reference entry is not 0 in the start.
    """
    out: dict[str, np.ndarray] = {}
    for key in plan.keep:
        if key == "startprob_":
            out[key] = np.array(start["startprob"], dtype=float)
            continue
        letter, inner = ("t", "trans") if key == "transition_coef_" else ("s", "start_coef")
        if letter not in est.init_params and hasattr(est, key):
            out[key] = np.array(getattr(est, key), dtype=float)
        else:
            out[key] = _original(start[inner], design)
        if _MODEL_KEYS[key] in plan.masks:
            _check_reference(key, out[key], plan.masks[_MODEL_KEYS[key]])
    return out


def restore_frozen(est: InputDrivenHMM, plan: FreezePlan, values: dict[str, np.ndarray]) -> None:
    """Copy the frozen entries' starting values into the fitted attributes (they are
    held to rounding in the scaled coefficients EM works on; this makes them exact)."""
    for key, keep in plan.keep.items():
        fitted = np.array(getattr(est, key), dtype=float)
        fitted[keep] = values[key][keep]
        setattr(est, key, fitted)
