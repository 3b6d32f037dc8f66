"""Parameter checks, inputs and fitted attributes shared by the crowd-label estimators.

:class:`CrowdInput` is where a fit's ratings live: in memory (one E-step on all
items, or blocks of ``chunk_size`` items through the chunked backend) or on Dask
(the partitions of a wide ratings matrix, with the item weights and known classes
as Dask arrays chunked alike, through the Dask backend).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from .. import backends
from ..models.crowd.blocks import ItemBlocks, ItemPieceModel, ratings_from_block
from ..models.crowd.dawid_skene import Ratings
from ._ratings import check_labels, dask_labels_summary, dask_matrix, parse_ratings

__all__ = ["check_int", "check_positive", "check_items_match", "check_known",
           "check_item_weights", "supervised", "CrowdInput", "block_posteriors",
           "dask_predict_proba", "to_numpy"]


def check_int(name: str, value: Any, low: int) -> None:
    """Refuse anything but an integer ``>= low`` (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_positive(name: str, value: Any, *, strict: bool = False) -> None:
    """Refuse anything but a finite number ``>= 0`` (``> 0`` with ``strict``)."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.number))
          and bool(np.isfinite(value)) and (value > 0 if strict else value >= 0))
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} 0, "
                         f"got {value!r}")


def check_items_match(items: list, fitted: list, what: str) -> None:
    """``predict`` of a per-item model works on the items of ``fit`` only."""
    if list(items) != list(fitted):
        raise ValueError(f"{what} has a parameter per item, so predict and predict_proba "
                         f"take the ratings of the fitted items ({len(fitted)} items); got "
                         f"{len(items)} other or reordered items")


def check_known(y: Any, n_items: int, n_classes: int | None) -> np.ndarray | None:
    """Known classes: integers -1 (unknown) or 0..C-1, one per item (``None``: none)."""
    if y is None:
        return None
    try:
        known = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("y must hold integer classes (-1 for unknown)") from None
    if known.ndim != 1 or known.shape[0] != n_items:
        raise ValueError(f"y must have one entry per item ({n_items}), got shape "
                         f"{known.shape}")
    if not np.all(np.isfinite(known)) or np.any(known != np.round(known)) \
            or np.any(known < -1):
        raise ValueError("y must hold -1 (unknown) or a class 0..n_classes-1 per item")
    if n_classes is not None and known.size and known.max() >= n_classes:
        raise ValueError(f"y has class {int(known.max())} but n_classes={n_classes} "
                         f"(classes 0..{n_classes - 1}, -1 for unknown)")
    return known.astype(np.intp)


def check_item_weights(sample_weight: Any, n_items: int) -> np.ndarray | None:
    """Item weights: finite, ``>= 0``, not all zero, one per item (``None``: all one)."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("sample_weight must be numbers, one per item") from None
    if w.ndim != 1 or w.shape[0] != n_items:
        raise ValueError(f"sample_weight must have one entry per item ({n_items}), "
                         f"got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError("sample_weight must be finite and >= 0, not all zero")
    return w


def supervised(data: Ratings, y: Any, sample_weight: Any,
               n_classes: int | None) -> Ratings:
    """``data`` with the checked known classes ``y`` and item weights attached.

    With ``n_classes=None`` a known class above every rating's label widens the
    classes to it.
    """
    known = check_known(y, data.n_items, n_classes)
    weight = check_item_weights(sample_weight, data.n_items)
    c = data.n_classes
    if known is not None and n_classes is None and known.size:
        c = max(c, int(known.max()) + 1)
    return Ratings(data.item, data.rater, data.label, data.n_items, data.n_raters, c,
                   weight, known)


def to_numpy(value: Any) -> Any:
    """A Dask value computed (brought to the client); anything else unchanged."""
    return value.compute() if backends.is_dask(value) else value


class CrowdInput:
    """The ratings of a fit, in memory or on Dask, with their weights and known classes.

    Parameters
    ----------
    ratings : array-like, pandas.DataFrame, dask.array.Array or Dask DataFrame
        As the estimators' ``fit`` takes them; Dask ratings are a wide
        (n_items, n_raters) matrix, NaN for "not rated", partitioned by items.
    y, sample_weight : array-like of shape (n_items,), Dask arrays or None
        Checked on the client (one number per item); on Dask they then travel
        with their items as Dask arrays chunked like the ratings.
    n_classes : int or None
    chunk_size : int or None
        Items per E-step call (in memory: blocks of items through
        :class:`~emkit.backends.ChunkedModel`; on Dask: within each partition).

    Attributes
    ----------
    data : Ratings or None
        The in-memory ratings (None on Dask).
    matrix, weight, known : Dask arrays or None
        On Dask: the (n_items, n_raters) float64 ratings in one column block, the
        item weights and the known classes, all with the same row chunks.
    n_items, n_raters, n_classes : int
    items, raters : list
    total : float
        Items, or the sum of the weights.
    """

    def __init__(self, ratings: Any, y: Any, sample_weight: Any, n_classes: int | None,
                 chunk_size: int | None):
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.data: Ratings | None = None
        self.matrix: Any = None
        self.weight: Any = None
        self.known: Any = None
        if backends.is_dask(ratings):
            self._from_dask(ratings, y, sample_weight, n_classes)
        else:
            data, self.items, self.raters = parse_ratings(ratings, n_classes, None)
            data = supervised(data, y, sample_weight, n_classes)
            self.data = data
            self.n_items, self.n_raters, self.n_classes = (
                data.n_items, data.n_raters, data.n_classes)
            self.total = data.n_items if data.weight is None else float(data.weight.sum())
        self._blocks = None if self.data is None or not self.chunked else ItemBlocks(self.data)

    def _from_dask(self, ratings: Any, y: Any, sample_weight: Any,
                   n_classes: int | None) -> None:
        M = dask_matrix(ratings)
        n, r = int(M.shape[0]), int(M.shape[1])
        c = dask_labels_summary(M, n_classes)
        known = check_known(to_numpy(y), n, n_classes)
        weight = check_item_weights(to_numpy(sample_weight), n)
        if known is not None and n_classes is None and known.size:
            c = max(c, int(known.max()) + 1)
        self.matrix, self.n_items, self.n_raters, self.n_classes = M, n, r, c
        self.items, self.raters = list(range(n)), list(range(r))
        self.total = n if weight is None else float(weight.sum())
        self.weight = None if weight is None else self.rows(weight)
        self.known = None if known is None else self.rows(known)

    @property
    def on_dask(self) -> bool:
        return self.matrix is not None

    @property
    def chunked(self) -> bool:
        """In memory with more items than ``chunk_size``."""
        return not self.on_dask and self.chunk_size is not None \
            and self.n_items > self.chunk_size

    def rows(self, values: np.ndarray) -> Any:
        """Per-item NumPy ``values`` (n_items, ...) as a Dask array chunked like the ratings."""
        import dask.array as da

        values = np.asarray(values)
        return da.from_array(values, chunks=(self.matrix.chunks[0], *values.shape[1:]))

    def members(self, *extra: Any) -> Any:
        """On Dask: the ratings, or a tuple (ratings, [weights], [known], *extra)."""
        parts = [m for m in (self.weight, self.known) if m is not None] + list(extra)
        return tuple([self.matrix, *parts]) if parts else self.matrix

    def piece_model(self, model: Any) -> ItemPieceModel:
        """``model`` on blocks of items (see :mod:`emkit.models.crowd.blocks`)."""
        return ItemPieceModel(model, self.n_items, self.n_classes,
                              weighted=self.weight is not None, known=self.known is not None)

    def engine(self, model: Any) -> tuple[Any, Any]:
        """The model and data for :func:`emkit.em`, through the backend of the input."""
        if self.on_dask:
            return backends.for_input(self.piece_model(model), self.members(),
                                      chunk_size=self.chunk_size)
        if not self.chunked:
            return model, self.data
        return backends.for_input(self.piece_model(model), self._blocks,
                                  chunk_size=self.chunk_size)

    def posteriors(self, model: Any, params: dict[str, Any]) -> np.ndarray:
        """Class posteriors of every item (known items one-hot), shape (n_items, n_classes).

        On Dask they are computed partition by partition and brought to the client.
        """
        if self.data is not None and self._blocks is None:
            return model.posteriors(self.data, params)[1]
        if self._blocks is not None and self.chunk_size is not None:
            pieces = self._blocks.split(math.ceil(self.n_items / self.chunk_size))
            return np.concatenate([model.posteriors(p, params)[1] for p in pieces])
        import dask.array as da

        c = self.n_classes
        piece = ItemPieceModel(model, self.n_items, c, known=self.known is not None)
        fn = partial(_piece_posteriors, piece, params)
        parts = [self.matrix] if self.known is None else [self.matrix, self.known[:, None]]
        lazy = da.map_blocks(fn, *parts, dtype=np.float64, chunks=(self.matrix.chunks[0], (c,)),
                             meta=np.empty((0, 0), dtype=np.float64))
        return np.asarray(lazy.compute())


def _piece_posteriors(piece: ItemPieceModel, params: dict[str, Any], block: np.ndarray,
                      known: np.ndarray | None = None) -> np.ndarray:
    """Runs on a worker: the posteriors of one partition (its known classes one-hot)."""
    return piece.posteriors(block if known is None else (block, known[:, 0]), params)


def block_posteriors(model: Any, params: dict[str, Any], n_classes: int,
                     block: np.ndarray) -> np.ndarray:
    """Runs on a worker: one partition's class posteriors, its labels checked first."""
    M = np.asarray(block, dtype=float)
    if np.any(np.isinf(M)):
        raise ValueError("ratings contain infinite values; use NaN for 'not rated'")
    check_labels(M[~np.isnan(M)], n_classes)
    return model.posteriors(ratings_from_block(M, n_classes), params)[1]


def dask_predict_proba(model: Any, params: dict[str, Any], n_classes: int, ratings: Any,
                       raters: list) -> Any:
    """Lazy class posteriors (a Dask array (n_items, n_classes)) of Dask ratings.

    Labels outside ``0..n_classes-1`` raise ``ValueError`` when the result is computed.
    """
    M = dask_matrix(ratings, raters)
    return backends.map_rows(partial(block_posteriors, model, params, int(n_classes)), M,
                             n_columns=int(n_classes))
