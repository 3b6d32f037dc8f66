"""Row-sliceable data: how a backend cuts a data set into pieces.

An E-step returns statistics that add up over rows, so any backend may cut the
data into pieces, run the model's E-step on each and sum the results. This
module says what "cutting into pieces" means for the data types emkit models
take, without knowing the models:

* a NumPy array: its rows (axis 0);
* a tuple, list or dict of arrays with the same number of rows (``(X, weights)``,
  ``{"X": X, "mask": M}``): the same rows of every member;
* a dataclass of such arrays: the same, field by field;
* any object with a ``split(n_pieces)`` method returning a list of pieces the
  model accepts (:class:`Sequences` uses it to keep HMM sequences whole);
* anything else, with a ``splitter`` callable ``splitter(data, n_pieces) -> pieces``
  given to the backend.

:class:`InMemoryModel` is the trivial backend (the whole data set in one E-step),
kept so that code choosing among backends has three of the same kind.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.rows import is_sequences, n_rows, size_hint, take_rows

__all__ = [
    "Splitter",
    "Sequences",
    "InMemoryModel",
    "n_rows",
    "is_sequences",
    "split_sequences",
    "take_rows",
    "split_rows",
    "iter_chunks",
]

#: ``splitter(data, n_pieces) -> list of pieces``; pieces must together hold every row once.
Splitter = Callable[[Any, int], Sequence[Any]]


def split_rows(data: Any, n_pieces: int, splitter: Splitter | None = None) -> list[Any]:
    """Cut ``data`` into at most ``n_pieces`` pieces of nearly equal row counts.

    Parameters
    ----------
    data : row-sliceable data (see the module docstring)
    n_pieces : int
        Wanted number of pieces (>= 1); fewer are made when there are fewer rows.
    splitter : callable, optional
        ``splitter(data, n_pieces) -> pieces``, overriding the default rules.

    Returns
    -------
    list
        Pieces whose E-step statistics sum to the whole data's.
    """
    if isinstance(n_pieces, bool) or not isinstance(n_pieces, (int, np.integer)) or n_pieces < 1:
        raise ValueError(f"n_pieces must be an integer >= 1, got {n_pieces!r}")
    if splitter is not None:
        return list(splitter(data, int(n_pieces)))
    if hasattr(data, "split") and callable(data.split) and not hasattr(data, "shape"):
        return list(data.split(int(n_pieces)))
    if is_sequences(data):
        return split_sequences(data, int(n_pieces))
    total = n_rows(data)
    n_pieces = max(1, min(int(n_pieces), total))
    edges = np.linspace(0, total, n_pieces + 1).round().astype(int)
    return [take_rows(data, int(a), int(b)) for a, b in itertools.pairwise(edges)]


def iter_chunks(data: Any, chunk_size: int, splitter: Splitter | None = None) -> Iterator[Any]:
    """Yield pieces of about ``chunk_size`` rows each, one at a time (bounded memory).

    Plain row-sliceable data are sliced lazily (views, nothing copied up front);
    data with a ``split`` method or a ``splitter`` are split into
    ``ceil(n_rows / chunk_size)`` pieces.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    if splitter is not None or is_sequences(data) or (
        hasattr(data, "split") and not hasattr(data, "shape")
    ):
        total = size_hint(data)
        yield from split_rows(data, max(1, math.ceil(total / chunk_size)), splitter)
        return
    total = n_rows(data)
    if total == 0:
        yield data
        return
    for start in range(0, total, int(chunk_size)):
        yield take_rows(data, start, min(start + int(chunk_size), total))


def split_sequences(data: Any, n_pieces: int) -> list[Any]:
    """At most ``n_pieces`` groups of whole sequences with balanced row counts.

    ``data`` is a dataclass with ``X`` and ``lengths`` (see :func:`is_sequences`);
    each piece is ``dataclasses.replace(data, X=..., lengths=...)``.
    """
    lengths = np.asarray(data.lengths, dtype=np.int64)
    if lengths.size == 0:
        return [data]
    ends = np.cumsum(lengths)
    targets = np.linspace(0, ends[-1], max(1, int(n_pieces)) + 1)[1:-1]
    # cut after the sequence whose end first reaches each target
    cuts = np.unique(np.searchsorted(ends, targets, side="left"))
    groups = np.split(np.arange(lengths.size), cuts + 1)
    starts = ends - lengths
    pieces = []
    for group in groups:
        if group.size == 0:
            continue
        a, b = int(starts[group[0]]), int(ends[group[-1]])
        pieces.append(dataclasses.replace(data, X=data.X[a:b], lengths=lengths[group]))
    return pieces


@dataclass(frozen=True)
class Sequences:
    """Concatenated sequences (HMM data): rows ``X`` and the ``lengths`` of each sequence.

    Splitting keeps every sequence whole, so an HMM's forward-backward runs on
    each piece unchanged and the pieces' statistics add up.

    Parameters
    ----------
    X : numpy.ndarray of shape (n_rows, ...)
        All sequences' rows, one after the other.
    lengths : numpy.ndarray of shape (n_sequences,)
        Row count of each sequence; sums to ``n_rows``. ``None`` means one sequence.
    """

    X: Any
    lengths: Any = None

    def __post_init__(self) -> None:
        total = int(np.shape(self.X)[0])
        lengths = np.array([total] if self.lengths is None else self.lengths, dtype=np.int64)
        if lengths.ndim != 1 or np.any(lengths < 0) or int(lengths.sum()) != total:
            raise ValueError(
                f"lengths must be non-negative and sum to the {total} rows of X, "
                f"got a sum of {int(lengths.sum())}"
            )
        object.__setattr__(self, "lengths", lengths)

    @property
    def n_rows(self) -> int:
        return int(np.shape(self.X)[0])

    def __len__(self) -> int:
        return self.n_rows

    def split(self, n_pieces: int) -> list[Sequences]:
        """At most ``n_pieces`` groups of whole sequences with balanced row counts."""
        return split_sequences(self, n_pieces)


class InMemoryModel:
    """The in-memory backend: the wrapped model's E-step on all the data at once.

    Parameters
    ----------
    model : EMModel
        Any model; every other attribute is looked up on it.
    """

    def __init__(self, model: Any):
        self.model = model

    def e_step(self, data: Any, params: Any) -> tuple[Any, float]:
        return self.model.e_step(data, params)

    def m_step(self, stats: Any) -> Any:
        return self.model.m_step(stats)

    def __getattr__(self, name: str) -> Any:
        # only called for names not found normally: forward is_feasible, monotone_rtol, ...
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)
