"""Boolean masks on HMM emission attributes in ``freeze=``.

One job: read a user's mask for an emission attribute (``GaussianHMM.means_``,
``PoissonHMM.lambdas_``,
``CategoricalHMM.emissionprob_``, ``MultinomialHMM.emissionprob_``), check it
against the start's shape when the fit builds its model, and give the model a
:class:`~emkit.models.hmm.masked_emission.MaskedEmission` that keeps the frozen
entries (the exact constrained M-step of the free ones is described there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.hmm.masked_emission import MaskedEmission

if TYPE_CHECKING:
    from ..models.hmm.model import HMMModel
    from .hmm_base import BaseHMM

__all__ = ["maskable_emissions", "read_emission_mask", "attach_emission_masks"]


def maskable_emissions(est: BaseHMM) -> dict[str, str]:
    """Public emission attribute -> the per-state parameter its mask applies to, for
    the estimators whose emission attributes take a mask (empty for the others)."""
    from .hmm import GaussianHMM
    from .hmm_counts import CategoricalHMM, MultinomialHMM, PoissonHMM

    if isinstance(est, GaussianHMM):
        return {"means_": "mean"}
    if isinstance(est, PoissonHMM):
        return {"lambdas_": "rate"}
    if isinstance(est, (CategoricalHMM, MultinomialHMM)):
        return {"emissionprob_": "probs"}
    return {}


def read_emission_mask(key: str, value: Any) -> np.ndarray:
    """``value`` as a boolean array (its shape is checked by :func:`attach_emission_masks`).

    Raises
    ------
    ValueError
        Naming ``freeze[key]`` when ``value`` is not boolean.
    """
    mask = np.asarray(value)
    if mask.dtype != np.bool_:
        raise ValueError(f"freeze[{key!r}] must be True or a boolean mask of {key}'s shape, "
                         f"got dtype {mask.dtype}")
    return mask.copy()


def attach_emission_masks(est: BaseHMM, model: HMMModel, masks: dict[str, np.ndarray]
                          ) -> HMMModel:
    """Wrap ``model.emission`` so the M-step keeps the entries ``masks`` freeze.

    Parameters
    ----------
    est : BaseHMM
        The estimator being fitted (for the attributes' names and shapes).
    model : HMMModel
        The fit's model; ``model.fixed`` is the start.
    masks : dict
        Public attribute name (e.g. ``"lambdas_"``) -> boolean mask.

    Raises
    ------
    ValueError
        Naming ``freeze[key]`` when a mask's shape is not the attribute's.
    """
    names = maskable_emissions(est)
    start = model.fixed["emissions"]
    for key, mask in masks.items():
        name = names[key]
        shapes = {np.shape(p[name]) for p in start}
        per_state = next(iter(shapes))
        # the attribute's shape: (K, *state shape) without a per-state leading 1
        # (CategoricalHMM's states have one column of symbols)
        state_shape = per_state[1:] if len(per_state) == 2 and per_state[0] == 1 else per_state
        shape = (len(start), *state_shape)
        if mask.shape != shape:
            raise ValueError(f"freeze[{key!r}] must be True or a boolean mask of shape "
                             f"{shape} (the shape of {key}), got shape {mask.shape}")
        if not mask.any():
            continue
        model.emission = MaskedEmission(
            model.emission, name, [mask[k].reshape(per_state) for k in range(len(start))])
    return model
