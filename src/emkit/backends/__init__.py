"""Where an E-step runs: in memory, in row chunks, or on Dask partitions.

Every emkit model's E-step returns statistics that add up over rows, so the same
model runs on three backends, all of them :class:`emkit.EMModel` wrappers:

* in memory (the model itself, or :class:`InMemoryModel`): one E-step on all rows;
* :class:`ChunkedModel`: ``chunk_size`` rows at a time, bounded memory;
* :class:`DaskModel`: on the partitions of a Dask array or DataFrame, on a
  ``dask.distributed`` cluster or Dask's local scheduler.

Estimators pick one from their input with :func:`for_input`::

    model, data = emkit.backends.for_input(model, X, chunk_size=self.chunk_size)
    result = emkit.em(model, data, init, ...)

Out-of-core data: :func:`open_dataset` (Zarr, NPY or Parquet on disk -> lazy Dask
array); initialization on Dask data: :func:`sample_rows`; lazy prediction:
:func:`map_rows`; long fits: :mod:`emkit.backends.checkpoint`.
``import emkit.backends`` does not import Dask.

May import :mod:`emkit.engine` (statistics trees, row slicing) and
:mod:`emkit.persistence`; never a model or an estimator (a backend wraps any
:class:`emkit.EMModel`).
"""

from __future__ import annotations

import importlib
from typing import Any

from .chunked import ChunkedModel
from .memory import (
    InMemoryModel,
    Sequences,
    is_sequences,
    iter_chunks,
    n_rows,
    split_rows,
    split_sequences,
    take_rows,
)

__all__ = [
    "for_input",
    "check_chunk_size",
    "ChunkedModel",
    "DaskModel",
    "InMemoryModel",
    "Sequences",
    "is_sequences",
    "split_sequences",
    "n_rows",
    "take_rows",
    "split_rows",
    "iter_chunks",
    "is_dask",
    "scatter_pieces",
    "map_rows",
    "sample_rows",
    "numeric_dask_matrix",
    "initialization_rows",
    "INIT_SAMPLE_ROWS",
    "open_dataset",
    "Checkpointer",
    "resume",
]

_LAZY = {
    "DaskModel": "emkit.backends.dask_backend",
    "is_dask": "emkit.backends.dask_backend",
    "scatter_pieces": "emkit.backends.dask_backend",
    "map_rows": "emkit.backends.dask_backend",
    "sample_rows": "emkit.backends.dask_backend",
    "numeric_dask_matrix": "emkit.backends.dask_backend",
    "initialization_rows": "emkit.backends.dask_backend",
    "INIT_SAMPLE_ROWS": "emkit.backends.dask_backend",
    "open_dataset": "emkit.backends.storage",
    "Checkpointer": "emkit.backends.checkpoint",
    "resume": "emkit.backends.checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emkit.backends' has no attribute {name!r}")


def check_chunk_size(chunk_size: Any) -> None:
    """Refuse a ``chunk_size`` that is neither None nor a positive int.

    Raises
    ------
    ValueError
        Naming the value.
    """
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be None or an integer >= 1, got {chunk_size!r}")


def for_input(model: Any, X: Any, *, chunk_size: int | None = None) -> tuple[Any, Any]:
    """The model wrapper and data for ``emkit.em``, chosen from the input's type.

    Parameters
    ----------
    model : EMModel
        The model an estimator built.
    X : numpy.ndarray, row-sliceable data, dask.array.Array or Dask DataFrame
        The (validated) training data.
    chunk_size : int, optional
        Rows per E-step call. On in-memory data it selects :class:`ChunkedModel`;
        on Dask data it bounds the memory of each partition's E-step on the worker.

    Returns
    -------
    model : EMModel
        ``DaskModel(model)`` for Dask input (wrapping ``ChunkedModel`` when
        ``chunk_size`` is given); ``ChunkedModel(model, chunk_size)`` for
        in-memory input with ``chunk_size``; ``model`` itself otherwise.
    data : object
        The data to pass to ``emkit.em`` (``X`` unchanged).

    Raises
    ------
    ValueError
        For a ``chunk_size`` that is not a positive integer.
    """
    from .dask_backend import is_dask

    check_chunk_size(chunk_size)
    if is_dask(X):
        from .dask_backend import DaskModel

        inner = model if chunk_size is None else ChunkedModel(model, chunk_size)
        return DaskModel(inner), X
    if chunk_size is not None and n_rows(X) > chunk_size:
        return ChunkedModel(model, chunk_size), X
    return model, X
