"""Crowd ratings in blocks of items: the pieces the chunked and Dask backends run on.

The statistics of :class:`~emkit.models.crowd.dawid_skene.DawidSkeneEM` and
:class:`~emkit.models.crowd.mace.MaceEM` (class and confusion counts, MACE's spam
and strategy counts) and the items' log-likelihoods are sums over items, so the
items may be cut into blocks, each block's E-step run on its own and the results
added. Only the smoothing's log-prior is a function of the parameters alone; each
block adds it in proportion to its share of the items (``n_block / n_items``), so
the blocks' log-likelihoods add up to the whole data's, to rounding.

A block is either a :class:`~emkit.models.crowd.dawid_skene.Ratings` value (the
chunked backend, over :class:`ItemBlocks`) or a block of rows of a wide
(n_items, n_raters) ratings matrix with NaN for "not rated" (a Dask partition),
alone or as a tuple ``(matrix, [weights], [known], [start])`` of blocks of the
same items (which members are present is told to :class:`ItemPieceModel`).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ...engine.wrapped import ModelWrapper
from .dawid_skene import Ratings, one_hot_known, vote_shares

__all__ = ["ratings_from_block", "ItemBlocks", "ItemPieceModel", "VoteStart"]


def ratings_from_block(matrix: np.ndarray, n_classes: int, weight: np.ndarray | None = None,
                       known: np.ndarray | None = None) -> Ratings:
    """The ratings of a wide block (n_block, n_raters), NaN for "not rated", in long form.

    The labels must already be checked (integers ``0..n_classes-1``); items keep
    their order, numbered ``0..n_block-1``.
    """
    M = np.asarray(matrix, dtype=float)
    item, rater = np.nonzero(~np.isnan(M))
    label = M[item, rater].astype(np.intp)
    return Ratings(item, rater, label, int(M.shape[0]), int(M.shape[1]), int(n_classes),
                   None if weight is None else np.asarray(weight, dtype=float),
                   None if known is None else np.asarray(known, dtype=np.intp))


class ItemBlocks:
    """In-memory ratings cut into consecutive blocks of items, for ``ChunkedModel``.

    ``len()`` is the number of items and ``split(n_pieces)`` returns the blocks
    (``Ratings`` values with their items renumbered from 0, their weights and
    known classes beside them). The blocks of the last ``n_pieces`` asked for are
    kept, so every E-step reuses them and their incidence matrices.

    Parameters
    ----------
    data : Ratings
    """

    def __init__(self, data: Ratings):
        self.data = data
        item = data.item
        self._order = None if np.all(item[1:] >= item[:-1]) else np.argsort(item, kind="stable")
        self._items = item if self._order is None else item[self._order]
        self._pieces: tuple[int, list[Ratings]] | None = None

    def __len__(self) -> int:
        return int(self.data.n_items)

    def bounds(self, n_pieces: int) -> list[tuple[int, int]]:
        """The item ranges ``[a, b)`` of :meth:`split`'s blocks."""
        n = self.data.n_items
        edges = np.linspace(0, n, max(1, min(int(n_pieces), n)) + 1).round().astype(int)
        return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    def split(self, n_pieces: int) -> list[Ratings]:
        """At most ``n_pieces`` blocks of consecutive items with nearly equal counts."""
        if self._pieces is not None and self._pieces[0] == n_pieces:
            return self._pieces[1]
        d = self.data
        pieces = []
        for a, b in self.bounds(n_pieces):
            lo, hi = np.searchsorted(self._items, [a, b], side="left")
            take: Any = slice(lo, hi) if self._order is None else self._order[lo:hi]
            pieces.append(Ratings(d.item[take] - a, d.rater[take], d.label[take], b - a,
                                  d.n_raters, d.n_classes,
                                  None if d.weight is None else d.weight[a:b],
                                  None if d.known is None else d.known[a:b]))
        self._pieces = (n_pieces, pieces)
        return pieces


class ItemPieceModel(ModelWrapper):
    """A crowd model whose E-step runs on a block of items (see the module docstring).

    Parameters
    ----------
    model : DawidSkeneEM or MaceEM
        A model with ``item_e_step``, ``log_prior``, ``posteriors`` and ``m_step``.
    n_items : int
        Items of the whole data (each block adds ``n_block / n_items`` of the
        log-prior).
    n_classes : int
    weighted, known : bool, default False
        Whether a tuple block holds item weights, then known classes, after the
        ratings matrix.

    Notes
    -----
    Every other attribute (``is_feasible``, ...) is the wrapped model's.
    """

    def __init__(self, model: Any, n_items: int, n_classes: int, *, weighted: bool = False,
                 known: bool = False):
        self.model = model
        self.n_items = int(n_items)
        self.n_classes = int(n_classes)
        self.weighted = bool(weighted)
        self.known = bool(known)

    def members(self, data: Any) -> tuple[Ratings, list[Any]]:
        """The block's ratings and the members after them (a start's posteriors)."""
        if isinstance(data, Ratings):
            return data, []
        if not isinstance(data, tuple):
            return ratings_from_block(data, self.n_classes), []
        rest = list(data[1:])
        weight = rest.pop(0) if self.weighted else None
        known = rest.pop(0) if self.known else None
        return ratings_from_block(data[0], self.n_classes, weight, known), rest

    def e_step(self, data: Any, params: dict[str, Any]) -> tuple[dict, float]:
        piece = self.members(data)[0]
        stats, loglik = self.model.item_e_step(piece, params)
        return stats, loglik + piece.n_items / self.n_items * self.model.log_prior(params)

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        return self.model.m_step(stats)

    def posteriors(self, data: Any, params: dict[str, Any]) -> np.ndarray:
        """Class posteriors of the block's items, shape (n_block, n_classes)."""
        return self.model.posteriors(self.members(data)[0], params)[1]


class VoteStart(ItemPieceModel):
    """Dawid-Skene's start on a block: statistics of the start's class posteriors.

    The posteriors are the block's vote shares, or the block of given posteriors
    that ends a tuple block (``given=True``); items of known class are one-hot
    either way. ``e_step(block, None)`` returns the statistics and 0, so a
    backend adds the blocks' statistics and ``m_step`` gives the start.

    Parameters
    ----------
    model : DawidSkeneEM
    n_items, n_classes, weighted, known
        As :class:`ItemPieceModel`.
    given : bool, default False
        Whether a tuple block ends with given posteriors (n_block, n_classes).
    """

    def __init__(self, model: Any, n_items: int, n_classes: int, *, weighted: bool = False,
                 known: bool = False, given: bool = False):
        super().__init__(model, n_items, n_classes, weighted=weighted, known=known)
        self.given = bool(given)

    def e_step(self, data: Any, params: Any = None) -> tuple[dict, float]:
        piece, rest = self.members(data)
        post = np.array(rest[0], dtype=float) if self.given else vote_shares(piece)
        return self.model.stats_from_posteriors(piece, one_hot_known(post, piece.known)), 0.0
