"""Partial supervision of mixtures (and HMMs): known labels, soft evidence, frozen parameters.

This module's one job is to read and check what a user may tell a fit beyond the
data, and to turn it into what the models use:

``y`` (known labels)
    An integer array of shape (n_samples,): -1 for an unknown row, ``0 .. K-1``
    for a row whose component (or state) is known (scikit-learn's
    semi-supervised convention). :func:`check_labels`.
``priors`` (soft evidence)
    A non-negative array of shape (n_samples, K) multiplying each row's
    posterior, as pomegranate's ``priors``; a row of ones is no evidence.
    :func:`check_priors`.

Both become one array of per-row log-evidence (:func:`log_evidence`): a known
label is the row of priors that is 1 at its component and 0 elsewhere, so a
model only ever adds ``log_evidence`` to its log-joint before normalizing. The
array is a per-row member of the data, so it travels with its rows through the
chunked and Dask backends.

``freeze`` (frozen parameters)
    A dict from a fitted attribute's name (``"means_"``, ``"weights_"``, ...) to
    ``True`` (the whole attribute) or a boolean mask of the attribute's shape
    (True = kept at its initial value). :func:`check_freeze` returns one mask
    per attribute; :func:`check_something_free` refuses a freeze that leaves
    nothing to fit.

Helpers for starts that use the labelled rows: :func:`align_clusters` (which
cluster of an unsupervised start is which labelled component) and
:func:`supervised_responsibilities` (the start's responsibilities with the
evidence applied).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "check_labels",
    "check_priors",
    "log_evidence",
    "labels_priors_evidence",
    "check_freeze",
    "freeze_mask",
    "check_something_free",
    "check_whole_covariances",
    "align_clusters",
    "supervised_responsibilities",
]


def check_labels(y: Any, n_samples: int, n_components: int, name: str = "y") -> np.ndarray | None:
    """Known labels as an int64 array, -1 for unknown; None when ``y`` is None or all -1.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or None
        Integers in ``-1 .. n_components - 1`` (floats with integral values are
        accepted, NaN is read as unknown).
    n_samples, n_components : int

    Returns
    -------
    ndarray of shape (n_samples,) or None

    Raises
    ------
    ValueError
        For a wrong shape, a non-integral value, or a label out of range.
    """
    if y is None:
        return None
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},) (one label per row, -1 for "
                         f"unknown), got shape {arr.shape}")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold integer labels (-1 for unknown), got dtype "
                         f"{arr.dtype}")
    if arr.dtype.kind == "f":
        arr = np.where(np.isnan(arr), -1.0, arr)
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer labels (-1 for unknown); it has "
                             "non-integral values")
    labels = arr.astype(np.int64)
    bad = (labels < -1) | (labels >= n_components)
    if bad.any():
        raise ValueError(f"{name} must be -1 (unknown) or a component in 0..{n_components - 1}; "
                         f"got {labels[bad][0]} (row {int(np.flatnonzero(bad)[0])})")
    if not (labels >= 0).any():
        return None
    return labels


def check_priors(priors: Any, n_samples: int, n_components: int,
                 name: str = "priors") -> np.ndarray | None:
    """Soft evidence as a float64 (n_samples, K) array; None when ``priors`` is None.

    Raises
    ------
    ValueError
        For a wrong shape, negative or non-finite entries, or a row of zeros
        (a row no component may explain).
    """
    if priors is None:
        return None
    arr = np.asarray(priors, dtype=np.float64)
    if arr.shape != (n_samples, n_components):
        raise ValueError(f"{name} must have shape ({n_samples}, {n_components}) (one row of "
                         f"evidence per sample, one column per component), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
        raise ValueError(f"{name} must be finite and non-negative")
    zero = ~(arr.max(axis=1) > 0.0)
    if zero.any():
        raise ValueError(f"{name} has a row of zeros (row {int(np.flatnonzero(zero)[0])}): "
                         "every row needs a component it may belong to")
    return arr


def log_evidence(labels: np.ndarray | None, priors: np.ndarray | None,
                 n_components: int) -> np.ndarray | None:
    """Per-row log-evidence (n_samples, K) added to the log-joint; None without evidence.

    A known label contributes ``log 1 = 0`` at its component and ``-inf``
    elsewhere; priors contribute ``log priors``. Both multiply.

    Raises
    ------
    ValueError
        When a row's label has prior 0.
    """
    if labels is None and priors is None:
        return None
    n = len(labels) if labels is not None else len(priors)  # type: ignore[arg-type]
    with np.errstate(divide="ignore"):
        out = np.zeros((n, n_components)) if priors is None else np.log(priors)
    if labels is not None:
        known = np.flatnonzero(labels >= 0)
        own = out[known, labels[known]].copy()
        if not np.all(np.isfinite(own)):
            row = int(known[np.flatnonzero(~np.isfinite(own))[0]])
            raise ValueError(f"row {row} is labelled {int(labels[row])} in y but priors gives "
                             "that component probability 0")
        out[known] = -np.inf
        out[known, labels[known]] = own
    return out


def labels_priors_evidence(labels: Any, priors: Any, n_samples: int,
                           n_components: int) -> np.ndarray | None:
    """``log_evidence`` of ``labels=`` and ``priors=`` given as NumPy, pandas or Dask.

    Dask and pandas inputs are brought into memory first (one (n_samples,) and one
    (n_samples, K) array), then checked as :func:`check_labels` / :func:`check_priors`.
    """
    if labels is None and priors is None:
        return None

    def local(a: Any) -> Any:
        if a is None:
            return None
        if hasattr(a, "compute"):
            a = a.compute()
        return a.to_numpy() if hasattr(a, "to_numpy") else a

    return log_evidence(check_labels(local(labels), n_samples, n_components, name="labels"),
                        check_priors(local(priors), n_samples, n_components), n_components)


def freeze_mask(value: Any, shape: tuple[int, ...], where: str,
                shape_of: str = "the parameter's shape") -> np.ndarray:
    """``value`` (True, False or a boolean array of ``shape``) as a boolean mask.

    ``where`` names the entry in errors (e.g. ``freeze['means_']``), ``shape_of`` says
    whose shape ``shape`` is. A copy, so later changes to the user's array do not reach it.
    """
    if value is True or value is False or isinstance(value, np.bool_):
        return np.full(shape, bool(value))
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise ValueError(f"{where} must be True or a boolean mask of shape {shape}, "
                         f"got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{where} must be True or a boolean mask of shape {shape} "
                         f"({shape_of}), got shape {arr.shape}")
    return arr.copy()


def check_freeze(freeze: Any, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """One boolean mask per frozen attribute (True = kept at its initial value).

    Parameters
    ----------
    freeze : dict or None
        Attribute name -> True, False or a boolean mask of the attribute's shape.
    shapes : mapping
        The attributes that may be frozen and their shapes.

    Returns
    -------
    dict
        Only the attributes with at least one frozen entry.

    Raises
    ------
    ValueError
        For a value that is not a dict, an unknown attribute, or a mask of the
        wrong shape or dtype.
    """
    if freeze is None:
        return {}
    if not isinstance(freeze, Mapping):
        raise ValueError("freeze must be a dict from a fitted attribute's name to True or a "
                         f"boolean mask, got {type(freeze).__name__}")
    out: dict[str, np.ndarray] = {}
    for key, value in freeze.items():
        if key not in shapes:
            raise ValueError(f"freeze: unknown attribute {key!r}; the ones that may be frozen "
                             f"are {sorted(shapes)}")
        mask = freeze_mask(value, tuple(shapes[key]), f"freeze[{key!r}]", f"the shape of {key}")
        if mask.any():
            out[key] = mask
    return out


def check_something_free(masks: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]],
                         weights_key: str | None = "weights_") -> None:
    """Refuse a freeze under which no parameter could move.

    Mixing weights (``weights_key``) move only when two or more are free (one
    free weight is fixed by the others, since they sum to one).

    Raises
    ------
    ValueError
        When every attribute that could change is frozen.
    """
    if not masks:
        return
    for key, shape in shapes.items():
        mask = masks.get(key, np.zeros(shape, dtype=bool))
        free = int(mask.size - np.count_nonzero(mask))
        if free >= (2 if key == weights_key else 1):
            return
    raise ValueError(f"freeze leaves nothing to fit: every parameter ({', '.join(shapes)}) is "
                     "frozen (mixing weights need two free entries to move); free some of them")


def check_whole_covariances(mask: np.ndarray | None, covariance_type: str,
                            n_components: int) -> None:
    """A ``covariances_`` mask of a ``full`` or ``tied`` Gaussian freezes whole matrices.

    No exact M-step keeps part of one covariance matrix fixed and the rest positive
    definite, so each component's (``full``) or the one shared (``tied``) matrix is
    all frozen or all free; ``diag`` and ``spherical`` entries are free one by one.
    """
    rows = {"full": n_components, "tied": 1}.get(covariance_type)
    if mask is None or rows is None:
        return
    whole = mask.reshape(rows, -1)
    if not np.all(whole.all(axis=1) | ~whole.any(axis=1)):
        raise ValueError(f"freeze['covariances_'] for covariance_type={covariance_type!r} must "
                         "freeze whole covariance matrices (all or none of each "
                         "component's entries)")


def align_clusters(clusters: np.ndarray, evidence: np.ndarray, n_components: int) -> np.ndarray:
    """Rename the clusters of an unsupervised start so they agree with the evidence.

    Parameters
    ----------
    clusters : ndarray of shape (n_samples,)
        A start's hard assignment (e.g. k-means), 0..K-1.
    evidence : ndarray of shape (n_samples, K)
        Per-row log-evidence (:func:`log_evidence`).

    Returns
    -------
    ndarray of shape (n_samples,)
        ``clusters`` renamed by the one-to-one map that puts the most evidence
        in agreement (Hungarian assignment on the table of each cluster's summed,
        normalized evidence; rows without evidence add the same to every entry of
        their cluster's row, so they do not change the choice).
    """
    from scipy.optimize import linear_sum_assignment  # 0.1 s to import; needed with labels only

    weight = np.exp(evidence - evidence.max(axis=1, keepdims=True))
    weight /= weight.sum(axis=1, keepdims=True)
    table = np.zeros((n_components, n_components))
    np.add.at(table, clusters, weight)
    rows, cols = linear_sum_assignment(-table)
    rename = np.empty(n_components, dtype=np.int64)
    rename[rows] = cols
    return rename[clusters]


def supervised_responsibilities(resp: np.ndarray, evidence: np.ndarray | None) -> np.ndarray:
    """A start's responsibilities (n_samples, K) with the log-evidence applied.

    Each row is multiplied by ``exp(evidence)`` and renormalized; a row the
    product leaves at zero (a start that put it where the evidence forbids)
    takes the evidence alone. Known rows come out one-hot.
    """
    if evidence is None:
        return resp
    weight = np.exp(evidence - evidence.max(axis=1, keepdims=True))
    out = resp * weight
    total = out.sum(axis=1, keepdims=True)
    empty = ~(total[:, 0] > 0.0)
    out[empty] = weight[empty]
    total[empty] = weight[empty].sum(axis=1, keepdims=True)
    return out / total
