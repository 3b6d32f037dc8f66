"""Partial supervision of the HMM estimators: ``labels=``, ``priors=``, ``freeze=``.

``labels`` (n_frames,) gives a known state per frame (-1: unknown) and ``priors``
(n_frames, K) soft evidence multiplying each frame's emission likelihood; both
become one per-frame log-evidence array (:func:`emkit.estimators._supervision.log_evidence`)
that travels with its frames in :class:`~emkit.models.hmm.model.Sequences`.

``freeze`` maps a fitted attribute to ``True`` or, for ``startprob_`` and
``transmat_``, a boolean mask of its shape: the entries kept at their starting
values (``init_params`` without the letter, or a warm start). Free start and
transition entries share the rest of their row's mass (the exact constrained
M-step, :func:`~emkit.models.hmm.supervision.constrained_rows`). An emission
attribute frozen whole leaves its letter out of the M-step: the other
emission parameters are then updated given it (hmmlearn's ``params`` rule, e.g.
covariances about the frozen means). The emission attributes also take a mask
(GaussianHMM ``means_``/``covars_``, PoissonHMM ``lambdas_``, ``emissionprob_``,
GMMHMM ``weights_``/``means_``/``covars_``, HMM and HSMM ``emissions_`` per
state; :mod:`emkit.estimators._hmm_freeze_masks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._hmm_freeze_masks import (
    attach_emission_masks,
    frozen_by_mask,
    maskable_emissions,
    read_emission_mask,
)
from ._supervision import (
    align_clusters,
    check_labels,
    check_priors,
    log_evidence,
    supervised_responsibilities,
)

if TYPE_CHECKING:
    from .hmm_base import BaseHMM

__all__ = ["Supervision", "hmm_supervision", "apply_freeze", "longest_labelled_run",
           "labelled_start"]

#: the transition-side attributes that take a mask
_MASKABLE = {"startprob_": "startprob", "transmat_": "transmat"}


@dataclass
class Supervision:
    """What a supervised HMM fit adds: per-frame log-evidence, masks, frozen letters."""

    log_evidence: np.ndarray | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    frozen_letters: str = ""
    #: emission attribute -> boolean mask (shape checked when the model is built)
    emission_masks: dict[str, np.ndarray] = field(default_factory=dict)
    #: whether some frame's state is known (the start then follows the labels)
    labelled: bool = False

    @property
    def empty(self) -> bool:
        return (self.log_evidence is None and not self.masks and not self.frozen_letters
                and not self.emission_masks)


def _emission_attrs(est: BaseHMM) -> dict[str, str]:
    """Public attribute name -> its ``params`` letter, for the emission attributes."""
    return {attr.lstrip("_").rstrip("_") + "_": letter
            for letter, attr in est._letter_attrs.items()}


def _freeze_masks(est: BaseHMM, freeze: Any
                  ) -> tuple[dict[str, np.ndarray], str, dict[str, np.ndarray]]:
    if freeze is None:
        return {}, "", {}
    if not isinstance(freeze, dict):
        raise ValueError("freeze must be a dict from a fitted attribute's name to True or a "
                         f"boolean mask, got {type(freeze).__name__}")
    k = int(est.n_components)
    shapes = {"startprob_": (k,), "transmat_": (k, k)}
    emission = _emission_attrs(est)
    masks: dict[str, np.ndarray] = {}
    letters = ""
    emission_masks: dict[str, np.ndarray] = {}
    maskable = maskable_emissions(est)
    for key, value in freeze.items():
        if key in shapes:
            if value is True or value is False or isinstance(value, np.bool_):
                mask = np.full(shapes[key], bool(value))
            else:
                mask = np.asarray(value)
                if mask.dtype != np.bool_:
                    raise ValueError(f"freeze[{key!r}] must be True or a boolean mask of "
                                     f"shape {shapes[key]}, got dtype {mask.dtype}")
                if mask.shape != shapes[key]:
                    raise ValueError(f"freeze[{key!r}] must be True or a boolean mask of "
                                     f"shape {shapes[key]} (the shape of {key}), got shape "
                                     f"{mask.shape}")
            if mask.any():
                masks[_MASKABLE[key]] = mask.copy()
        elif key in emission:
            if value is False or (isinstance(value, np.bool_) and not value):
                continue
            if key in maskable and value is not True and not isinstance(value, np.bool_):
                emission_masks[key] = read_emission_mask(key, value)
                if frozen_by_mask(maskable[key], emission_masks[key]):
                    letters += emission[key]
                continue
            if value is not True and not isinstance(value, np.bool_):
                raise ValueError(f"freeze[{key!r}] must be True: emission attributes are "
                                 "frozen whole (masks are for startprob_, transmat_"
                                 f"{''.join(', ' + m for m in maskable)})")
            letters += emission[key]
        else:
            raise ValueError(f"freeze: unknown attribute {key!r}; the ones that may be "
                             f"frozen are {sorted([*shapes, *emission])}")
    return masks, letters, emission_masks


def _check_something_free(est: BaseHMM, sup: Supervision) -> None:
    if not sup.masks and not sup.frozen_letters:
        return
    k = int(est.n_components)
    params = str(est.params)
    if any(c in params and c not in sup.frozen_letters for c in est._letters):
        return
    if "s" in params:
        start = sup.masks.get("startprob", np.zeros(k, bool))
        if np.count_nonzero(~start) >= 2:
            return
    if "t" in params:
        trans = sup.masks.get("transmat", np.zeros((k, k), bool))
        if np.any(np.count_nonzero(~trans, axis=1) >= 2):
            return
    raise ValueError("freeze leaves nothing to fit: every parameter updated by params="
                     f"{params!r} is frozen (a probability row needs two free entries to "
                     "move); free some of them")


def hmm_supervision(est: BaseHMM, n_rows: int, labels: Any, priors: Any,
                    freeze: Any) -> Supervision:
    """Check ``labels``, ``priors`` and ``freeze`` for a fit of ``n_rows`` frames.

    Raises
    ------
    ValueError
        Naming ``labels`` (length, values outside -1 .. K-1), ``priors`` (shape,
        negative or non-finite entries, a labelled frame with prior 0) or
        ``freeze`` (unknown attribute, mask of the wrong dtype, a mask on an
        emission attribute that takes none, nothing left to fit; a mask's shape
        is checked when the model is built).
    """
    k = int(est.n_components)
    y = check_labels(labels, n_rows, k, name="labels")
    p = check_priors(priors, n_rows, k, name="priors")
    masks, letters, emission_masks = _freeze_masks(est, freeze)
    sup = Supervision(log_evidence(y, p, k), masks, letters, emission_masks, y is not None)
    _check_something_free(est, sup)
    return sup


def apply_freeze(model: Any, sup: Supervision, est: BaseHMM) -> Any:
    """Give ``model`` (an :class:`~emkit.models.hmm.model.HMMModel`) the frozen masks,
    drop the frozen emission letters from what its M-step updates and wrap its
    emission for the emission masks (checked against the start's shapes: ``est``
    names them)."""
    if sup.emission_masks:
        model = attach_emission_masks(est, model, sup.emission_masks)
    if sup.masks:
        model.frozen = dict(sup.masks)
    if sup.frozen_letters:
        model.params = "".join(c for c in model.params if c not in sup.frozen_letters)
    return model


def longest_labelled_run(labels: np.ndarray, lengths: np.ndarray) -> tuple[int, int, int]:
    """``(length, state, first row)`` of the longest run of consecutive frames with the
    same known label inside one sequence (``(0, -1, 0)`` without labels)."""
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        return 0, -1, 0
    starts = np.zeros(labels.size, dtype=bool)
    starts[np.cumsum(lengths)[:-1]] = True
    starts[0] = True
    new_run = starts.copy()
    new_run[1:] |= labels[1:] != labels[:-1]
    run_id = np.cumsum(new_run) - 1
    run_len = np.bincount(run_id)
    first = np.flatnonzero(new_run)
    known = labels[first] >= 0
    if not known.any():
        return 0, -1, 0
    best = int(np.flatnonzero(known)[np.argmax(run_len[known])])
    return int(run_len[best]), int(labels[first[best]]), int(first[best])


def labelled_start(est: BaseHMM, X: np.ndarray, start: dict, evidence: np.ndarray) -> dict:
    """The start's emissions refitted so that its states agree with the labels.

    Each frame of ``X`` goes to the state its emission likelihood favours at
    ``start``; those clusters are renamed by the one-to-one map that best agrees
    with the ``evidence`` (:func:`~emkit.estimators._supervision.align_clusters`),
    the evidence is applied (labelled frames one-hot) and one emission M-step
    from those responsibilities gives the starting emissions. Only the emission
    letters in ``init_params`` are refitted; ``start`` is returned unchanged
    without any.
    """
    update = "".join(c for c in est._letters if c in est.init_params)
    if not update:
        return start
    k = int(est.n_components)
    model = est._model(X, start)
    prepared = model.emission.prepare(start)
    frame, _, extra = model.emission.frame(X, prepared)
    clusters = align_clusters(np.argmax(frame, axis=1), evidence, k)
    resp = supervised_responsibilities(np.eye(k)[clusters], evidence)
    weights = est._row_weights()
    if weights is not None:
        resp = resp * weights[:, None]
    stats = model.emission.stats(X, resp, prepared, extra)
    return {**start, **model.emission.m_step(stats, start, update)}
