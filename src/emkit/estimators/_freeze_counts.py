"""Free-parameter counts under ``freeze=``: what BIC and AIC charge for.

One job: the number of *estimated* parameters of a fit some of whose entries
were kept at their starting values. A frozen entry is not estimated, so it is
not counted. The rules, shared by every estimator with ``freeze``:

unconstrained entries (means, rates, coefficients, diagonal variances, ...)
    each frozen entry is one fewer.
a probability vector (mixing weights, a start or transition row, a category
    table row) with ``f`` free entries
    counts ``f - 1`` (its free entries share the free mass), and none when at
    most one entry is free: with no freeze that is the usual ``n - 1``.
a covariance matrix frozen whole
    all of its parameters: ``D(D + 1)/2`` full (or tied, once), ``D`` diagonal,
    ``1`` spherical; diagonal variances may also be frozen one by one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..distributions.categorical import Categorical
from ..distributions.gaussian import Gaussian
from ..distributions.independent import Independent
from ..distributions.multinomial import Multinomial

__all__ = ["free_simplex", "frozen_simplex", "frozen_entries", "gaussian_mixture_free",
           "frozen_component_parameters"]


def free_simplex(mask: Any, n: int) -> int:
    """Free parameters of probability vectors of length ``n`` under ``mask``.

    Parameters
    ----------
    mask : array-like of bool of shape (..., n) or None
        True = frozen; each row along the last axis is one vector. None: nothing
        frozen (one vector).
    n : int
        The vectors' length.

    Returns
    -------
    count : int
        The sum over rows of ``f - 1`` for a row with ``f >= 2`` free entries.
    """
    if mask is None:
        return max(n - 1, 0)
    free = (~np.asarray(mask, dtype=bool)).reshape(-1, n).sum(axis=1)
    return int(np.where(free >= 2, free - 1, 0).sum())


def frozen_simplex(mask: Any, n: int) -> int:
    """How many fewer parameters probability vectors have under ``mask`` than
    without it (``(n - 1)`` per row less :func:`free_simplex`)."""
    if mask is None:
        return 0
    rows = int(np.asarray(mask).size // n) if n else 0
    return rows * max(n - 1, 0) - free_simplex(mask, n)


def frozen_entries(mask: Any) -> int:
    """Number of True entries of ``mask`` (0 for None)."""
    return 0 if mask is None else int(np.asarray(mask, dtype=bool).sum())


def _frozen_cov(kind: str, mask: Any, n_features: int) -> int:
    """Parameters removed from one component's (or the tied) covariance by ``mask``."""
    if mask is None:
        return 0
    m = np.asarray(mask, dtype=bool)
    if kind in ("full", "tied"):
        return n_features * (n_features + 1) // 2 if m.size and m.all() else 0
    if kind == "spherical":
        return 1 if m.size and m.all() else 0
    return int(m.sum())  # diag: per entry


def gaussian_mixture_free(kind: str, n_components: int, n_features: int,
                          masks: dict[str, np.ndarray]) -> int:
    """Free parameters of a Gaussian mixture with frozen entries.

    Parameters
    ----------
    kind : {"full", "tied", "diag", "spherical"}
    n_components, n_features : int
    masks : dict
        ``"weights"`` (K,), ``"means"`` (K, D), ``"covariances"`` ((K, D, D)
        full, (D, D) tied, (K, D) diag, (K,) spherical), each optional; True =
        frozen.

    Returns
    -------
    count : int
    """
    k, d = n_components, n_features
    cov_total = {"full": k * d * (d + 1) // 2, "diag": k * d,
                 "tied": d * (d + 1) // 2, "spherical": k}[kind]
    cov = masks.get("covariances")
    if cov is None:
        cov_frozen = 0
    elif kind == "tied":
        cov_frozen = _frozen_cov("tied", cov, d)
    else:
        cov_frozen = sum(_frozen_cov(kind, c, d) for c in np.asarray(cov, dtype=bool))
    return int(cov_total - cov_frozen + k * d - frozen_entries(masks.get("means"))
               + free_simplex(masks.get("weights"), k))


def _leaf_sum(tree: Any) -> int:
    if isinstance(tree, dict):
        return sum(_leaf_sum(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_leaf_sum(v) for v in tree)
    return frozen_entries(tree)


def _all(tree: Any) -> bool:
    if isinstance(tree, dict):
        return all(_all(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return all(_all(v) for v in tree)
    return bool(np.asarray(tree, dtype=bool).all())


def frozen_component_parameters(component: Any, mask: Any, *,
                                shared_covariance: bool = False) -> int:
    """Parameters of one fitted emkit distribution that ``mask`` (its
    ``parameters()`` tree of booleans) keeps fixed.

    Gaussian: frozen mean entries, and the covariance by the rules of the module
    notes (``shared_covariance``: a tied one, counted by the caller once);
    Categorical/Multinomial tables row by row as probability vectors; Independent
    part by part; a whole frozen component all of ``n_parameters``; any other
    family entry by entry.
    """
    if mask is None or _leaf_sum(mask) == 0:
        return 0
    if isinstance(component, Independent):
        return sum(frozen_component_parameters(p, m)
                   for p, m in zip(component._parts, mask["parts"], strict=True))
    if isinstance(component, Gaussian):
        d = int(np.size(np.asarray(component.mean)))
        cov = 0 if shared_covariance else _frozen_cov(component._kind(), mask["covariance"], d)
        return frozen_entries(mask["mean"]) + cov
    if isinstance(component, (Categorical, Multinomial)):
        probs = np.asarray(component.probs)
        return frozen_simplex(mask["probs"], probs.shape[-1])
    if _all(mask):
        return int(component.n_parameters)
    return _leaf_sum(mask)


def frozen_mixture_components(components: Any, masks: list[Any],
                              pools: dict[Any, list[int]]) -> int:
    """Parameters of a mixture's components that their mask trees keep fixed.

    Parameters
    ----------
    components : sequence of K fitted distributions
    masks : list of K mask trees (empty: nothing frozen)
    pools : dict from pool key to component indices (a tied covariance, shared
        by its pool and counted once: frozen when the pool's first component's
        covariance mask is all True, as the constrained M-step reads it)

    Returns
    -------
    count : int
    """
    if not masks:
        return 0
    tied = {k for idx in pools.values() for k in idx
            if isinstance(components[k], Gaussian) and components[k].covariance_type == "tied"}
    total = sum(frozen_component_parameters(c, m, shared_covariance=k in tied)
                for k, (c, m) in enumerate(zip(components, masks, strict=True)))
    for idx in pools.values():
        first = idx[0]
        if first in tied and _all(masks[first]["covariance"]):
            total += int(components[first].n_shared_parameters())
    return int(total)


def frozen_mixture_model(freeze: Any, components: Any, pools: dict[Any, list[int]],
                         n_logit_columns: int | None) -> int:
    """Parameters of a fitted :class:`~emkit.MixtureModel` that ``freeze`` keeps fixed.

    Parameters
    ----------
    freeze : dict or None
        The estimator's ``freeze`` (see :mod:`emkit.estimators._mixture_freeze`).
    components : sequence of K fitted distributions
    pools : dict from pool key to component indices
    n_logit_columns : int or None
        ``q + 1`` with concomitant variables (the logit's coefficient mask is (K, q + 1);
        row 0, the reference, was never counted), None without (the weights).

    Returns
    -------
    count : int
    """
    from ._mixture_concomitant import COEF
    from ._mixture_freeze import mixture_freeze_masks
    from ._supervision import freeze_mask

    if not freeze:
        return 0
    comps = list(components)
    k = len(comps)
    rest = {key: v for key, v in freeze.items() if key != COEF}
    weight_mask, masks = mixture_freeze_masks(
        rest, {"weights": np.full(k, 1.0 / k), "components": [c.parameters() for c in comps]})
    count = frozen_mixture_components(comps, masks, pools)
    if n_logit_columns is None:
        return count + frozen_simplex(weight_mask, k)
    if COEF in freeze:
        coef = freeze_mask(freeze[COEF], (k, n_logit_columns), f"freeze[{COEF!r}]")
        count += int(coef[1:].sum())
    return count


def mclust_free(model: str, n_components: int, n_features: int,
                masks: dict[str, np.ndarray]) -> int:
    """Free parameters of an mclust ``model`` mixture with frozen entries.

    Weights and means as in the module notes. A covariance is frozen whole
    (``masks["covariances"]``, (K,)); mclust's parametrization
    ``Sigma_k = lambda_k D_k A_k D_k^T`` counts, per part, one volume
    ``lambda``, ``D - 1`` shape entries ``A`` and ``D(D - 1)/2`` orientation
    entries ``D`` (``I``: none), once when the part is shared (``E``) and per
    component when it varies (``V``). A frozen component fixes its own ``V``
    parts and every shared ``E`` part (the free components then fit the rest
    given it, :mod:`emkit.models.mixture.mclust_freeze`), so with ``f >= 1``
    frozen of ``K`` the covariances count ``K - f`` times each ``V`` part and
    no ``E`` part; with ``f = 0`` this is mclust's ``nVarParams``.

    Parameters
    ----------
    model : str
        One of mclust's fourteen names (``"VVV"``, ``"EEI"``, ...).
    n_components, n_features : int
    masks : dict
        ``"weights"`` (K,), ``"means"`` (K, D), ``"covariances"`` (K,), each
        optional; True = frozen.

    Returns
    -------
    count : int
    """
    k, d = int(n_components), int(n_features)
    sizes = (1, d - 1, d * (d - 1) // 2)  # volume, shape, orientation
    cov = masks.get("covariances")
    f = 0 if cov is None else int(np.asarray(cov, dtype=bool).sum())
    n_cov = 0
    for letter, size in zip(model, sizes, strict=True):
        if letter == "V":
            n_cov += (k - f) * size
        elif letter == "E" and f == 0:
            n_cov += size
    return int(n_cov + k * d - frozen_entries(masks.get("means"))
               + free_simplex(masks.get("weights"), k))
