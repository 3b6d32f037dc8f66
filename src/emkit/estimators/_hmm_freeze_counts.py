"""Free-parameter counts of the HMM estimators under ``freeze=``.

One job: hmmlearn's per-letter count of an HMM's parameters, less what
``freeze`` keeps fixed, by the rules of :mod:`emkit.estimators._freeze_counts`:

* an attribute frozen whole (``True``, or a mask leaving it nothing to fit): its
  letter counts 0;
* ``startprob_`` and each row of ``transmat_`` (and the probability rows of
  ``emissionprob_`` and of a ``GMMHMM``'s ``weights_``): the free entries less
  one, none when at most one is free (an HSMM's zeros stay fixed and are not
  free either);
* means, rates and diagonal or spherical variances: each frozen entry one fewer;
  a frozen full covariance matrix ``D(D + 1)/2`` (a tied one once);
* ``emissions_`` of ``HMM``/``HSMM``: each frozen state's parameters (those it
  shares with its pool once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..distributions.components import Components
from ._freeze_counts import free_simplex, frozen_entries, frozen_simplex
from ._hmm_supervision import _emission_attrs, _freeze_masks

if TYPE_CHECKING:
    from .hmm_base import BaseHMM

__all__ = ["free_scalars_per_param"]


def _frozen_matrices(mask: np.ndarray, lead: int, size: int) -> int:
    """``size`` parameters per whole frozen matrix (the axes after ``lead``)."""
    blocks = np.asarray(mask, bool).reshape(*mask.shape[:lead], -1)
    return int(blocks.all(axis=-1).sum()) * size


def _frozen_emission(est: BaseHMM, key: str, mask: np.ndarray, n_features: int) -> int:
    from .hmm import GaussianHMM
    from .hmm_gmm import GMMHMM

    d = n_features
    tri = d * (d + 1) // 2
    if key in ("emissionprob_",) or (key == "weights_" and isinstance(est, GMMHMM)):
        return frozen_simplex(mask, mask.shape[-1])
    if key == "covars_" and isinstance(est, GaussianHMM):
        kind = est.covariance_type
        if kind == "full":
            return _frozen_matrices(mask, 1, tri)
        if kind == "tied":
            return tri if mask.all() else 0
        return frozen_entries(mask)
    if key == "covars_" and isinstance(est, GMMHMM):
        kind = est.covariance_type
        if kind == "full":
            return _frozen_matrices(mask, 2, tri)
        if kind == "tied":
            return _frozen_matrices(mask, 1, tri)
        return frozen_entries(mask)
    if key == "emissions_":
        states = list(est.emissions_)
        frozen = [s for s, m in zip(states, np.asarray(mask, bool), strict=True) if m]
        return Components(frozen).n_parameters(frozen) if frozen else 0
    return frozen_entries(mask)  # means, rates


def _free_chain(prob: np.ndarray, mask: np.ndarray) -> int:
    """Free parameters of probability rows whose zeros and masked entries are fixed."""
    fixed = np.asarray(mask, bool) | (np.asarray(prob) == 0)
    return free_simplex(fixed, fixed.shape[-1])


def free_scalars_per_param(est: BaseHMM, counts: dict[str, int],
                           n_features: int) -> dict[str, int]:
    """``counts`` (hmmlearn's per-letter count of the fitted ``est``) less the
    parameters that ``est.freeze`` keeps fixed (module notes)."""
    freeze = getattr(est, "freeze", None)
    if not freeze:
        return dict(counts)
    from .hsmm import HSMM

    masks, letters, emission_masks = _freeze_masks(est, freeze)
    out = dict(counts)
    for letter in letters:
        out[letter] = 0
    hsmm = isinstance(est, HSMM)
    k = int(est.n_components)
    for name, letter, attr in (("startprob", "s", "startprob_"), ("transmat", "t", "transmat_")):
        if name not in masks:
            continue
        if hsmm:
            out[letter] = _free_chain(getattr(est, attr), masks[name])
        else:
            out[letter] -= frozen_simplex(masks[name], k)
    attrs = _emission_attrs(est)
    for key, mask in emission_masks.items():
        letter = attrs[key]
        if letter not in letters:
            out[letter] -= _frozen_emission(est, key, mask, n_features)
    return out
