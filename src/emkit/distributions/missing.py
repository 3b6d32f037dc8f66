"""Where the NaN entries of a block of rows are: data missing at random.

:class:`MissingEntries` describes one block (an HMM E-step block, or the
columns of one part of an :class:`~emkit.distributions.Independent`): which
rows are complete, which have no observed entry, and which are partly
observed, grouped by missing pattern
(:func:`emkit.gaussian.missing_patterns.group_by_pattern`, the grouping of the
missing-data mixture) in the packed layout that the compiled kernels
of :mod:`emkit.gaussian.missing_kernels` take. The distributions'
``*_components_missing`` class methods read it; :meth:`MissingEntries.of` is
``None`` for a block without NaN, so the complete-data path is taken unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..gaussian.missing_patterns import group_by_pattern
from ..numerics.nan_rows import nan_row_counts

__all__ = ["MissingEntries", "PackedPatterns", "has_missing", "check_missing_values"]


def has_missing(X: np.ndarray) -> bool:
    """Whether the float array ``X`` holds a NaN (one pass of a sum, no mask)."""
    if X.dtype.kind != "f" or X.size == 0:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        total = X.sum()
    return bool(np.isnan(total)) and bool(np.isnan(X).any())


def check_missing_values(X: np.ndarray, name: str = "X") -> None:
    """Raise ``ValueError`` when ``X`` holds an infinite value (only NaN marks a missing one)."""
    if np.isinf(X).any():
        raise ValueError(f"{name} contains infinite values; only NaN may mark a missing entry")


@dataclass(frozen=True)
class PackedPatterns:
    """The partly observed rows of a block, sorted by missing pattern.

    Attributes
    ----------
    rows : ndarray of int of shape (n,)
        Their indices in the block, in the order of ``values``.
    values : ndarray of shape (n, D)
        The rows, missing entries set to 0.
    bounds : ndarray of int of shape (P + 1,)
        Pattern ``p`` has rows ``bounds[p]:bounds[p + 1]``.
    masks : ndarray of bool of shape (P, D)
        True where pattern ``p`` is missing.
    """

    rows: np.ndarray
    values: np.ndarray
    bounds: np.ndarray
    masks: np.ndarray


class MissingEntries:
    """The NaN entries of a block of rows ``X`` (n, D).

    Attributes
    ----------
    X : ndarray of shape (n, D)
    mask : ndarray of bool of shape (n, D)
        True where missing.
    empty : ndarray of bool of shape (n,)
        Rows with no observed entry: they contribute only their transition
        (log-density 0 under every state, no emission statistics).
    partial : ndarray of bool of shape (n,)
        Rows with some entries observed and some missing.
    complete : ndarray of bool of shape (n,)
        Rows with no missing entry.
    """

    def __init__(self, X: np.ndarray, mask: np.ndarray | None = None,
                 counts: np.ndarray | None = None):
        """``mask`` (``np.isnan(X)``) or ``counts`` (NaN per row) when already at hand."""
        self.X = X
        self._mask = mask
        if counts is None:
            counts = (np.asarray(mask.sum(axis=1)) if mask is not None
                      else nan_row_counts(X))
        self.empty: np.ndarray = counts == X.shape[1]
        self.complete: np.ndarray = counts == 0
        self.partial: np.ndarray = ~(self.empty | self.complete)
        self._packed: PackedPatterns | None = None
        self._filled: np.ndarray | None = None
        self._columns: dict[tuple[int, ...], MissingEntries | None] = {}

    @classmethod
    def of(cls, X: Any) -> MissingEntries | None:
        """The missing entries of ``X``, or ``None`` when it has no NaN."""
        X = np.asarray(X)
        if X.dtype.kind != "f" or X.size == 0:
            return None
        with np.errstate(invalid="ignore", over="ignore"):
            if not np.isnan(X.sum()):  # one pass; NaN is sticky
                return None
        counts = nan_row_counts(X)
        return cls(X, counts=counts) if counts.any() else None

    @property
    def mask(self) -> np.ndarray:
        """True where missing, shape (n, D) (made when first asked for)."""
        if self._mask is None:
            self._mask = np.isnan(self.X)
        return self._mask

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def columns(self, columns: Any) -> MissingEntries | None:
        """The same block restricted to ``columns`` (``None`` when those have no NaN)."""
        key = tuple(int(c) for c in np.atleast_1d(columns))
        if key not in self._columns:
            mask = self.mask[:, list(key)]
            self._columns[key] = (MissingEntries(self.X[:, list(key)], mask)
                                  if mask.any() else None)
        return self._columns[key]

    def packed(self) -> PackedPatterns:
        """The partly observed rows grouped by pattern (computed once per block)."""
        if self._packed is None:
            idx = np.flatnonzero(self.partial)
            if idx.size == 0:
                d = self.n_features
                self._packed = PackedPatterns(idx, np.zeros((0, d)), np.zeros(1, np.int64),
                                              np.zeros((0, d), bool))
            else:
                rows = self.X[idx]
                order, bounds, patterns = group_by_pattern(np.isnan(rows))
                self._packed = PackedPatterns(
                    idx[order], np.ascontiguousarray(np.nan_to_num(rows[order], nan=0.0)),
                    bounds.astype(np.int64), np.ascontiguousarray(patterns))
        return self._packed

    def zero_filled(self) -> np.ndarray:
        """``X`` with every missing entry set to 0 (a copy, made once)."""
        if self._filled is None:
            filled = np.array(self.X, dtype=float)
            rows = np.flatnonzero(~self.complete)
            filled[rows] = np.nan_to_num(filled[rows], nan=0.0)
            self._filled = filled
        return self._filled

    def support_filled(self) -> np.ndarray:
        """``X`` with each missing entry set to an observed value of its column (1 for a
        column with none): a matrix inside a family's support wherever ``X`` is."""
        out = np.array(self.X, dtype=float)
        for j in np.flatnonzero(self.mask.any(axis=0)):
            seen = np.flatnonzero(~self.mask[:, j])
            out[self.mask[:, j], j] = out[seen[0], j] if seen.size else 1.0
        return out

    def refuse_partial(self, owner: str) -> None:
        """Raise ``ValueError`` when a row is partly observed (for families that model
        their columns jointly and have no marginal of a subset of them)."""
        if np.any(self.partial):
            row = int(np.flatnonzero(self.partial)[0])
            raise ValueError(
                f"{owner}: row {row} has some of its {self.n_features} columns missing (NaN) "
                "and others observed; this family can leave out a whole row but not part of "
                "one. Give each column its own part of emkit.distributions.Independent "
                "(e.g. Independent([Poisson(), Poisson()])), or a Gaussian, whose marginal "
                "of the observed columns is used"
            )
