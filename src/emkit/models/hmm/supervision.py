"""Partial supervision inside the HMM's EM: per-frame evidence and frozen entries.

* :func:`with_evidence`: a frame's emission probabilities times its evidence
  (known state: 1 there and 0 elsewhere; soft evidence: its row of priors), so the
  forward-backward's posteriors are those of the semi-supervised model and its
  log-likelihood is that of the frames jointly with the evidence.
* :func:`constrained_rows`: the exact M-step of ``startprob``/``transmat`` rows
  with some entries frozen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["with_evidence", "constrained_rows"]


def with_evidence(frame: np.ndarray, shift: np.ndarray, log_evidence: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Scaled emission probabilities ``frame = exp(log_prob - shift)`` (n, K) times
    ``exp(log_evidence)`` (n, K), rescaled so that each row's maximum is 1 again.

    Returns
    -------
    frame : ndarray of shape (n, K)
    shift : ndarray of shape (n,)
    """
    with np.errstate(divide="ignore"):
        log_frame = np.log(frame) + log_evidence
    top = log_frame.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    shift = np.asarray(shift, dtype=float).reshape(-1)
    with np.errstate(under="ignore"):
        return np.exp(log_frame - top[:, None]), shift + top


def _map_numerators(prior: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.maximum(prior - 1.0 + counts, 0.0)


def constrained_rows(model: Any, stats: dict, dead: np.ndarray) -> dict:
    """Exact M-step of the ``startprob``/``transmat`` rows that have frozen entries.

    The frozen entries keep their starting values (``model.fixed``); the free ones
    share the rest of the row's mass, ``1 - sum(frozen)``, in proportion to their
    MAP numerators ``a_j = prior_j - 1 + counts_j``: the maximizer of
    ``sum_free a_j log p_j`` under that constraint. A row whose free numerators are
    all 0 keeps its start. Rows without frozen entries are not returned changed.

    Parameters
    ----------
    model : HMMModel
        With ``frozen`` (key -> boolean mask), ``fixed``, the priors and the masks
        of allowed (non-zero) entries.
    stats : dict
        The E-step's ``start`` (K,) and ``trans`` (K, K) counts.
    dead : ndarray of bool, shape (K,)
        States no posterior mass visits (their start probability is 0 when free).

    Returns
    -------
    dict
        ``startprob`` (K,) and/or ``transmat`` (K, K), for the keys frozen in part.
    """
    out = {}
    for key, counts, prior, allowed in (
            ("startprob", stats["start"][None, :], model.startprob_prior[None, :],
             model.start_mask[None, :]),
            ("transmat", stats["trans"], model.transmat_prior, model.trans_mask)):
        mask = model.frozen.get(key)
        if mask is None or key[0] not in model.params:
            continue
        mask = np.atleast_2d(mask)
        start = np.atleast_2d(np.asarray(model.fixed[key], dtype=float))
        free = allowed & ~mask
        if key == "startprob":
            free = free & ~dead[None, :]
        a = np.where(free, _map_numerators(prior, counts), 0.0)
        rest = np.maximum(1.0 - np.where(mask, start, 0.0).sum(axis=1, keepdims=True), 0.0)
        sums = a.sum(axis=1, keepdims=True)
        share = np.where(sums > 0, rest * a / np.where(sums > 0, sums, 1.0), start)
        rows = np.where(mask, start, np.where(allowed, share, 0.0))
        out[key] = rows[0] if key == "startprob" else rows
    return out
