"""Row-sliceable data: counting and slicing the rows of a data tree.

An E-step's statistics add up over rows, so the data a model takes must be cut
into rows the same way everywhere (the backends' chunks and Dask pieces, the
online engine's mini-batches):

* a NumPy array: its rows (axis 0);
* a tuple, list or dict of arrays with the same number of rows (``(X, weights)``,
  ``{"X": X, "mask": M}``): the same rows of every member;
* a dataclass of such arrays: the same, field by field; a dataclass with ``X``
  and ``lengths`` holds sequences, which are never cut inside (see
  :func:`is_sequences`).

How a backend chooses its pieces lives in :mod:`emkit.backends.memory`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["n_rows", "take_rows", "is_sequences", "iter_batches", "size_hint"]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _members(data: Any) -> list[Any] | None:
    """The row-aligned members of a container, or None for a leaf."""
    if isinstance(data, dict):
        return list(data.values())
    if isinstance(data, (tuple, list)):
        return list(data)
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return [getattr(data, f.name) for f in dataclasses.fields(data)]
    return None


def n_rows(data: Any) -> int:
    """Number of rows of row-sliceable ``data``.

    Parameters
    ----------
    data : array-like, tuple/list/dict/dataclass of arrays, or object with ``n_rows``/``__len__``

    Returns
    -------
    int

    Raises
    ------
    ValueError
        When the members of a container disagree on their number of rows, or the
        number of rows cannot be told.
    """
    if is_sequences(data):
        return int(np.shape(data.X)[0])
    if hasattr(data, "shape") and len(getattr(data, "shape", ())) >= 1:
        return int(data.shape[0])
    members = _members(data)
    if members is not None:
        counts = {n_rows(m) for m in members if m is not None}
        if len(counts) != 1:
            raise ValueError(
                "the parts of the data have different numbers of rows "
                f"({sorted(counts)}); give the backend a splitter, or a `split` method "
                "on the data"
            )
        return counts.pop()
    if hasattr(data, "__len__"):
        return len(data)
    raise ValueError(f"cannot tell the number of rows of a {type(data).__name__}")


def size_hint(data: Any) -> int:
    """Rows of ``data``, or of its longest member when members differ (for splitters)."""
    try:
        return n_rows(data)
    except ValueError:
        members = _members(data)
        if not members:
            raise
        return max(size_hint(m) for m in members if m is not None)


def take_rows(data: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of row-sliceable ``data`` (views where NumPy allows)."""
    members = _members(data)
    if hasattr(data, "shape") or members is None:
        return data[start:stop]
    if isinstance(data, dict):
        return {k: take_rows(v, start, stop) if v is not None else None
                for k, v in data.items()}
    if _is_namedtuple(data):
        return type(data)._make(take_rows(v, start, stop) for v in data)
    if isinstance(data, (tuple, list)):
        return type(data)(take_rows(v, start, stop) if v is not None else None for v in data)
    changes = {
        f.name: take_rows(getattr(data, f.name), start, stop)
        for f in dataclasses.fields(data)
        if getattr(data, f.name) is not None
    }
    return dataclasses.replace(data, **changes)


def is_sequences(data: Any) -> bool:
    """True for a dataclass with fields ``X`` (rows) and ``lengths`` (rows per sequence).

    Both :class:`Sequences` and the HMM models' own sequence container qualify;
    such data are split between sequences, never inside one.
    """
    if not dataclasses.is_dataclass(data) or isinstance(data, type):
        return False
    names = {f.name for f in dataclasses.fields(data)}
    return {"X", "lengths"} <= names


def iter_batches(data: Any, batch_size: int, *, shuffle: bool = False,
                 random_state: int | np.random.Generator | None = None) -> Iterator[Any]:
    """Mini-batches of ``batch_size`` rows of row-sliceable in-memory ``data``.

    Parameters
    ----------
    data : array-like or row-sliceable data
    batch_size : int
        Rows per batch (the last may be shorter).
    shuffle : bool, default False
        Visit the rows in a random order (stepwise EM assumes the batches come in
        no particular order; sorted data should be shuffled).
    random_state : int, numpy Generator or None
        Seed for ``shuffle``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    total = n_rows(data)
    order = np.random.default_rng(random_state).permutation(total) if shuffle else None
    for start in range(0, total, int(batch_size)):
        stop = min(start + int(batch_size), total)
        if order is None:
            yield take_rows(data, start, stop)
        else:
            yield _take_index(data, np.sort(order[start:stop]))


def _take_index(data: Any, index: np.ndarray) -> Any:
    if hasattr(data, "shape"):
        return data[index]
    if isinstance(data, dict):
        return {k: _take_index(v, index) for k, v in data.items()}
    if isinstance(data, (tuple, list)):
        return type(data)(_take_index(v, index) for v in data)
    raise ValueError(f"cannot shuffle rows of a {type(data).__name__}; pass shuffle=False")
