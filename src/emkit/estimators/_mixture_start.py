"""Where a :class:`~emkit.MixtureModel` fit starts, and its guard against overflow.

One job: the start parameters of one EM run (k-means or random
responsibilities, or the given distributions), renamed to agree with known
labels or soft evidence and weighted by the rows' ``sample_weight``, and the
frozen-parameter wrapper built on that start.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..distributions._base import Distribution, as_rng
from ..models.mixture.any_distribution import MixtureEM
from ..models.mixture.concomitant import ConcomitantMixtureEM
from ..models.mixture.frozen_components import any_frozen
from ..models.mixture.frozen_mixture import FrozenMixtureEM
from ..validation import check_magnitude
from . import _supervision as sv
from ._components import start_responsibilities
from ._mixture_concomitant import start_mixing
from ._mixture_freeze import mixture_freeze_masks

__all__ = ["overflow_as_error", "initial_params", "check_weights_init", "frozen_model"]


@contextmanager
def overflow_as_error(X: np.ndarray) -> Iterator[None]:
    """Turn a floating-point overflow while fitting ``X`` into a ``ValueError``.

    The data are not refused up front by magnitude: Gaussian components square
    them, yet data scaled by 1e150 fit (their squares stay below the float
    maximum). When a square does overflow, :func:`emkit.validation.check_magnitude`
    names the cause and how to rescale.
    """
    try:
        with np.errstate(over="raise"):
            yield
    except FloatingPointError as exc:
        check_magnitude(X)
        raise ValueError(f"floating-point overflow while fitting ({exc}): the data are too "
                         "large for these component families; rescale them") from exc


def _short(value: Any) -> str:
    """A compact text of a parameter value for an error message."""
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, (list, tuple)):
        return "[...]"
    return np.array2string(np.asarray(value), precision=4, threshold=8)


def check_weights_init(weights_init: Any, k: int) -> np.ndarray | None:
    """``weights_init`` as a (K,) float array on the simplex, or None.

    Raises
    ------
    ValueError
        For a wrong shape, a negative or non-finite entry, or a sum other than 1.
    """
    if weights_init is None:
        return None
    w = np.asarray(weights_init, dtype=np.float64)
    if w.shape != (k,):
        raise ValueError(f"weights_init must have shape ({k},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.isclose(w.sum(), 1.0,
                                                                       rtol=0, atol=1e-10):
        raise ValueError("weights_init must be non-negative and sum to 1, got "
                         f"{_short(w)}")
    return w / w.sum()


def initial_params(init_params: str, X: np.ndarray, model: MixtureEM | ConcomitantMixtureEM,
                   random_state: np.random.RandomState, evidence: np.ndarray | None = None,
                   sample_weight: np.ndarray | None = None,
                   weights_init: np.ndarray | None = None) -> dict[str, Any]:
    """Start parameters of one run.

    ``evidence`` (n, K): the start's clusters are renamed to agree with it and its
    responsibilities multiplied by it (labelled rows one-hot); ``sample_weight``
    (n,): the rows' weights in k-means and in the first M-step; ``weights_init``
    (K,): the start's mixing weights instead of the responsibilities' shares (or
    of equal weights for ``"given"``).
    """
    templates = model.templates
    if isinstance(model, ConcomitantMixtureEM):
        q = model.concomitant.n_columns

        def pack(weights: np.ndarray, components: Sequence[Distribution]) -> dict[str, Any]:
            return model.pack(start_mixing(weights, q), components)
    else:
        pack = model.pack
    k = len(templates)
    if init_params == "given":
        if not all(t.is_fitted for t in templates):
            raise ValueError('init_params="given" needs a list of distributions with '
                             "parameters (fitted or set in the constructor)")
        for j, t in enumerate(templates):
            params = t.parameters()
            if not t.is_feasible(params):
                shown = ", ".join(f"{name}={_short(value)}" for name, value in params.items())
                raise ValueError(
                    f'init_params="given": component {j} ({type(t).__name__}) has '
                    f"parameters outside its parameter space ({shown}); e.g. rates and "
                    "variances must be positive, probabilities in [0, 1] and probs "
                    "summing to 1 over the categories"
                )
        return pack(np.full(k, 1.0 / k) if weights_init is None else weights_init, templates)
    resp = start_responsibilities(X, templates, init_params, random_state, sample_weight)
    if evidence is not None:
        if init_params == "kmeans":
            resp = np.eye(k)[sv.align_clusters(np.argmax(resp, axis=1), evidence, k)]
        resp = sv.supervised_responsibilities(resp, evidence)
    if sample_weight is not None:
        resp = resp * sample_weight[:, None]
    nk = resp.sum(axis=0) + 10 * np.finfo(float).eps
    total = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    # tied parameters: the first M-step pools the scatter (Components.initialize)
    components = model.set.initialize(X, resp, as_rng(random_state))
    return pack(nk / total if weights_init is None else weights_init, components)


def frozen_model(model: MixtureEM, freeze: Any, init: dict[str, Any]) -> Any:
    """``model`` itself without ``freeze``, else the :class:`FrozenMixtureEM` of this start.

    Raises
    ------
    ValueError
        For a bad ``freeze`` (see :mod:`emkit.estimators._mixture_freeze`).
    """
    weight_mask, masks = mixture_freeze_masks(freeze, init)
    if weight_mask is None and not any(any_frozen(m) for m in masks):
        return model
    return FrozenMixtureEM(model, init, weight_mask, masks)
