"""Boolean masks on HMM emission attributes in ``freeze=``.

One job: read a user's mask for an emission attribute, check it against the
start's shape when the fit builds its model, and give the model an emission
that keeps the frozen entries (the exact constrained M-step of the free ones is
described in :mod:`emkit.models.hmm.masked_emission` and
:mod:`emkit.models.hmm.gmm_masks`). The attributes that take a mask:

* ``GaussianHMM``: ``means_`` (K, D) and ``covars_`` in the shape assigned for
  the ``covariance_type`` ((K,) spherical, (K, D) diag: entry by entry; (K, D, D)
  full: whole matrices per state; (D, D) tied: all or nothing);
* ``PoissonHMM.lambdas_`` (K, D); the ``emissionprob_`` of ``CategoricalHMM``
  (K, n_symbols) and ``MultinomialHMM`` (K, n_features);
* ``GMMHMM``: ``weights_`` (K, M), ``means_`` (K, M, D), ``covars_`` ((K, M)
  spherical and (K, M, D) diag entry by entry, (K, M, D, D) full whole matrices
  per state and component, (K, D, D) tied whole matrices per state);
* ``HMM`` and ``HSMM``: ``emissions_`` (K,), whole states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.hmm.masked_emission import MaskedEmission

if TYPE_CHECKING:
    from ..models.hmm.model import HMMModel
    from .hmm_base import BaseHMM

__all__ = ["maskable_emissions", "read_emission_mask", "attach_emission_masks",
           "frozen_by_mask"]

#: the per-state parameters whose masks are probability rows (a row needs two free
#: entries to move)
_ROWS = ("probs", "weights")


def maskable_emissions(est: BaseHMM) -> dict[str, str]:
    """Public emission attribute -> the parameter its mask applies to, for the
    estimators whose emission attributes take a mask (empty for the others)."""
    from .hmm import GaussianHMM
    from .hmm_counts import CategoricalHMM, MultinomialHMM, PoissonHMM
    from .hmm_distribution import HMM
    from .hmm_gmm import GMMHMM

    if isinstance(est, GaussianHMM):
        return {"means_": "mean", "covars_": "covariance"}
    if isinstance(est, GMMHMM):
        return {"weights_": "weights", "means_": "means", "covars_": "covars"}
    if isinstance(est, PoissonHMM):
        return {"lambdas_": "rate"}
    if isinstance(est, (CategoricalHMM, MultinomialHMM)):
        return {"emissionprob_": "probs"}
    if isinstance(est, HMM):
        return {"emissions_": "state"}
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


def frozen_by_mask(name: str, mask: np.ndarray) -> bool:
    """Whether ``mask`` leaves its attribute nothing to fit (every entry frozen, or every
    probability row with fewer than two free entries)."""
    if name in _ROWS and mask.ndim >= 1:
        return bool(mask.any()) and bool(np.all(np.count_nonzero(~mask, axis=-1) < 2))
    return bool(mask.size) and bool(mask.all())


def _wrong_shape(key: str, shape: tuple, mask: np.ndarray) -> ValueError:
    return ValueError(f"freeze[{key!r}] must be True or a boolean mask of shape {shape} "
                      f"(the shape of {key}), got shape {mask.shape}")


def _whole_blocks(key: str, mask: np.ndarray, lead: int, what: str) -> None:
    """Refuse a mask freezing part of one matrix (the trailing axes after ``lead``)."""
    blocks = mask.reshape(*mask.shape[:lead], -1)
    partial = blocks.any(axis=-1) & ~blocks.all(axis=-1)
    if partial.any():
        where = tuple(int(i) for i in np.argwhere(partial)[0])
        raise ValueError(
            f"freeze[{key!r}]: {what} freezes whole (all of its entries or none): the mask "
            f"freezes part of the matrix at {where}; no exact M-step keeps part of a "
            "covariance matrix fixed and the rest positive definite")


def _per_state(est: BaseHMM, model: HMMModel, key: str, name: str,
               mask: np.ndarray) -> list[np.ndarray]:
    """The public mask of ``key`` split into the per-state masks of ``name``."""
    start = model.fixed["emissions"]
    k = len(start)
    if name == "state":
        if mask.shape != (k,):
            raise _wrong_shape(key, (k,), mask)
        _check_pools(est, key, mask)
        return [np.asarray(m) for m in mask]
    if name == "covariance":
        kind = est.covariance_type
        d = int(np.shape(start[0]["mean"])[-1])
        shape = {"spherical": (k,), "diag": (k, d), "full": (k, d, d), "tied": (d, d)}[kind]
        if mask.shape != shape:
            raise _wrong_shape(key, shape, mask)
        if kind == "full":
            _whole_blocks(key, mask, 1, "a 'full' covariance matrix of one state")
        if kind == "tied":
            if mask.any() and not mask.all():
                raise ValueError(f"freeze[{key!r}]: a 'tied' covariance is one matrix shared "
                                 "by every state and freezes whole (True, or a mask of all "
                                 "True); no exact M-step keeps part of it fixed")
            return [mask] * k
        return [mask[j] for j in range(k)]
    per_state = next(iter({np.shape(p[name]) for p in start}))
    # the attribute's shape: (K, *state shape) without a per-state leading 1
    # (CategoricalHMM's states have one column of symbols)
    state_shape = per_state[1:] if len(per_state) == 2 and per_state[0] == 1 else per_state
    shape = (k, *state_shape)
    if mask.shape != shape:
        raise _wrong_shape(key, shape, mask)
    return [mask[j].reshape(per_state) for j in range(k)]


def _check_pools(est: BaseHMM, key: str, mask: np.ndarray) -> None:
    """States that share parameters (e.g. a tied Gaussian covariance) freeze together."""
    from ..distributions.components import Components

    templates = est._state_templates()
    for idx in Components(templates).pools.values():
        if len(idx) > 1 and mask[idx].any() and not mask[idx].all():
            raise ValueError(f"freeze[{key!r}]: states {list(idx)} share parameters (their "
                             "emission distributions are pooled, e.g. a tied covariance); "
                             "freeze all of them or none")


def _gmm_masks(est: BaseHMM, model: HMMModel, masks: dict[str, np.ndarray]) -> dict:
    """GMMHMM's masks checked against the start's ``weights``, ``means``, ``covars``."""
    names = maskable_emissions(est)
    kind = est.covariance_type
    out = {}
    for key, mask in masks.items():
        name = names[key]
        shape = np.shape(model.fixed[name])
        if mask.shape != shape:
            raise _wrong_shape(key, shape, mask)
        if name == "covars" and kind == "full":
            _whole_blocks(key, mask, 2, "a 'full' covariance matrix of one state's component")
        if name == "covars" and kind == "tied":
            _whole_blocks(key, mask, 1, "a 'tied' covariance matrix of one state")
        if mask.any():
            out[name] = mask
    return out


def attach_emission_masks(est: BaseHMM, model: HMMModel, masks: dict[str, np.ndarray]
                          ) -> HMMModel:
    """Make ``model``'s M-step keep the entries ``masks`` freeze.

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
        Naming ``freeze[key]`` when a mask's shape is not the attribute's, or when
        it freezes part of one covariance matrix (full, tied) or part of a group of
        states that share parameters.
    """
    from ..models.hmm.gmm_emission import GMMEmission

    if isinstance(model.emission, GMMEmission):
        model.emission.masks = _gmm_masks(est, model, masks)
        return model
    names = maskable_emissions(est)
    per_name = {}
    for key, mask in masks.items():
        per_state = _per_state(est, model, key, names[key], mask)
        if mask.any():
            per_name[names[key]] = per_state
    if per_name:
        model.emission = MaskedEmission(model.emission, per_name)
    return model
