"""Rows of a data set with NaN entries, grouped by their missing pattern.

:func:`find_patterns` runs once per fit of the missing-data Gaussian mixture;
its :class:`MissingPatterns` is then the ``data`` of every E-step of
:class:`~emkit.models.mixture.gaussian_missing.MissingGaussianMixtureModel`, so
the grouping is not repeated at every iteration. The HMM states' missing-data
path groups each block of frames with the same function
(:class:`emkit.distributions.missing.MissingEntries`), and the compiled kernels
of :mod:`emkit.gaussian.missing_kernels` take its packed layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PatternGroup", "MissingPatterns", "RARE_PATTERN_ROWS", "find_patterns",
           "group_by_pattern"]


@dataclass(frozen=True)
class PatternGroup:
    """The rows of a data set that share one missing pattern.

    Attributes
    ----------
    rows : ndarray of shape (n_rows,)
        Their indices in the data set.
    observed, missing : ndarray of int
        Column indices observed / missing in every one of these rows.
    values : ndarray of shape (n_rows, n_observed)
        The observed values, contiguous.
    weights : ndarray of shape (n_rows,)
        Sample weights of the rows.
    """

    rows: np.ndarray
    observed: np.ndarray
    missing: np.ndarray
    values: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class _RarePatterns:
    """The rows of the rare patterns, packed for the compiled E-step."""

    rows: np.ndarray  # (n,) their indices in the data set
    values: np.ndarray  # (n, D), rows sorted by pattern, NaN replaced by 0
    weights: np.ndarray  # (n,)
    bounds: np.ndarray  # (P + 1,)
    masks: np.ndarray  # (P, D) bool, True where missing


@dataclass(frozen=True)
class MissingPatterns:
    """A data set with NaN entries, grouped by missing pattern (see :func:`find_patterns`).

    Computed once per fit and passed to :meth:`MissingGaussianMixtureModel.e_step`
    as ``data``, so the grouping is not repeated at every iteration. ``groups``
    holds every pattern; the E-step handles the ``frequent`` ones with matrix
    products and the others (packed in ``rare``) with a compiled loop.
    """

    groups: tuple[PatternGroup, ...]
    n_rows: int
    n_features: int
    frequent: tuple[int, ...] = ()
    rare: _RarePatterns | None = None


#: Patterns with fewer rows than this go to the compiled E-step: below it the
#: per-pattern overhead of the matrix-product path dominates.
RARE_PATTERN_ROWS = 128


def _pattern_keys(mask: np.ndarray) -> np.ndarray:
    """One sortable key per row: the mask's bits packed into bytes (big-endian).

    Up to 56 columns (7 bytes) the key is the same bit string as an integer,
    which sorts in the same order several times faster than the byte strings.
    """
    packed = np.ascontiguousarray(np.packbits(mask, axis=1))
    width = packed.shape[1]
    if width <= 7:
        shifts = np.array([8 * (width - 1 - b) for b in range(width)], dtype=np.int64)
        return packed.astype(np.int64) @ (np.int64(1) << shifts)
    return packed.view(np.dtype((np.void, width))).ravel()


def group_by_pattern(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a missing-value mask (n, D) grouped by pattern.

    Returns
    -------
    order : ndarray of int of shape (n,)
        The rows sorted by pattern (stable: in their order within a pattern).
    bounds : ndarray of int of shape (P + 1,)
        Pattern ``p`` is rows ``order[bounds[p]:bounds[p + 1]]``.
    patterns : ndarray of bool of shape (P, D)
        The distinct patterns, True where missing, in a fixed order.
    """
    _, first, inverse = np.unique(_pattern_keys(mask), return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(first) + 1))
    return order, bounds, mask[first]


def find_patterns(X: Any, sample_weight: Any = None,
                  rare_rows: int = RARE_PATTERN_ROWS) -> MissingPatterns:
    """Group the rows of ``X`` by their missing pattern.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data, NaN where missing. Infinite values are refused.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative row weights (default 1).
    rare_rows : int, default RARE_PATTERN_ROWS
        Patterns with fewer rows are packed for the compiled E-step (0: never).

    Returns
    -------
    MissingPatterns

    Raises
    ------
    ValueError
        When ``X`` is not 2-D, holds infinite values, or has a row with no
        observed value.
    """
    if isinstance(X, MissingPatterns):
        return X
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    n, d = X.shape
    if np.isinf(X).any():
        raise ValueError("X contains infinite values; only NaN may mark a missing entry")
    if sample_weight is None:
        sample_weight = np.ones(n)
    sample_weight = np.asarray(sample_weight, dtype=float)
    if sample_weight.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {sample_weight.shape}")
    mask = np.isnan(X)
    empty = np.flatnonzero(mask.all(axis=1))
    if empty.size:
        raise ValueError(
            f"{empty.size} row(s) have no observed value (first: row {empty[0]}); "
            "remove them: a row with every entry missing carries no information"
        )
    if mask.any():
        order, bounds, patterns = group_by_pattern(mask)
    else:
        patterns, order, bounds = np.zeros((1, d), dtype=bool), np.arange(n), np.array([0, n])
    groups = []
    for p, pattern in enumerate(patterns):
        rows = order[bounds[p] : bounds[p + 1]]
        observed = np.flatnonzero(~pattern)
        values = X[rows][:, observed] if pattern.any() else X[rows]
        groups.append(PatternGroup(rows, observed, np.flatnonzero(pattern),
                                   np.ascontiguousarray(values), sample_weight[rows]))
    rare_idx = [i for i, g in enumerate(groups) if len(g.rows) < rare_rows]
    frequent = tuple(i for i, g in enumerate(groups) if len(g.rows) >= rare_rows)
    rare = None
    if rare_idx:
        rows = np.concatenate([groups[i].rows for i in rare_idx])
        sizes = [len(groups[i].rows) for i in rare_idx]
        rare = _RarePatterns(
            rows=rows,
            values=np.ascontiguousarray(np.nan_to_num(X[rows], nan=0.0)),
            weights=np.ascontiguousarray(sample_weight[rows]),
            bounds=np.r_[0, np.cumsum(sizes)].astype(np.int64),
            masks=np.ascontiguousarray(patterns[rare_idx]),
        )
    return MissingPatterns(tuple(groups), n, d, frequent, rare)
