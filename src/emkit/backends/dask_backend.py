"""The Dask backend: E-steps on the partitions of a Dask collection, where they live.

:class:`DaskModel` wraps any EM model. Its E-step

1. sends the current parameters to the workers once (``client.scatter(...,
   broadcast=True)`` on a ``dask.distributed`` cluster, one graph literal on the
   local scheduler);
2. maps the model's own ``e_step`` over the row blocks (partitions) of the data,
   on the workers that hold or read them;
3. adds the blocks' statistics in a tree (``split_every`` at a time), so that only
   the statistics — kilobytes — travel, never the rows or the responsibilities.

Lost workers are survived the Dask way: partitions read from storage (Zarr,
Parquet, NPY) or computed from a graph are recomputed elsewhere, and the
parameters were sent to every worker.

Dask is imported only when a :class:`DaskModel` is used (``import emkit`` does not
import it). The model and its parameters travel to worker processes with Dask's
own serialization; emkit never pickles anything to disk.
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine.stats import tree_sum
from .block_sources import BlockRead, block_reads, carry_block_reads
from .memory import split_rows

__all__ = ["DaskModel", "is_dask", "scatter_pieces", "map_rows", "sample_rows", "current_client"]


def is_dask(data: Any) -> bool:
    """True for Dask data: an array, a DataFrame, or a tuple/list of Dask objects or Futures.

    Never imports Dask: an object can only be a Dask collection once Dask is loaded.
    """
    if "dask" not in sys.modules:
        return False
    if isinstance(data, (tuple, list)) and data:
        return all(_is_delayed_or_future(m) for m in data)
    return _is_dask_collection(data)


def _is_dask_collection(data: Any) -> bool:
    module = type(data).__module__ or ""
    return module.startswith("dask") and hasattr(data, "__dask_graph__")


def _is_dask_frame(data: Any) -> bool:
    module = type(data).__module__ or ""
    return module.startswith("dask.dataframe") or module.startswith("dask_expr")


def current_client(client: Any = None) -> Any:
    """``client`` if given, else the current ``dask.distributed.Client``, else None."""
    if client is not None:
        return client
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _frame_to_numpy(frame: Any) -> np.ndarray:
    """One pandas partition as a float matrix (missing values as NaN)."""
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)


def _row_blocks(array: Any) -> list[Any]:
    """The Delayed row blocks of a Dask array, each holding whole rows."""
    if array.ndim > 1 and any(n > 1 for n in array.numblocks[1:]):
        array = array.rechunk({axis: -1 for axis in range(1, array.ndim)})
    blocks = array.to_delayed()
    return list(blocks.reshape(blocks.shape[0], -1)[:, 0])


def _make_tuple(*members: Any) -> tuple:
    return tuple(members)


def dask_pieces(data: Any) -> list[Any]:
    """The pieces (Delayed or Futures) a :class:`DaskModel` runs its E-steps on.

    Parameters
    ----------
    data : dask.array.Array, Dask DataFrame, tuple of Dask arrays, or sequence of Delayed/Future
        A Dask array is cut along its row blocks (other axes are joined); a Dask
        DataFrame along its partitions (each becomes a float matrix, NaN for
        missing); a tuple of Dask arrays with the same row chunks gives tuples of
        blocks; a sequence of ``dask.delayed`` objects or ``distributed`` Futures
        (see :func:`scatter_pieces`) is used as it is. The blocks of an array
        from :func:`~emkit.backends.open_dataset` are
        :class:`~emkit.backends.block_sources.BlockRead` objects, read by the
        E-step task itself.
    """
    import dask.array as da
    from dask import delayed

    if _is_dask_frame(data):
        return [delayed(_frame_to_numpy)(part) for part in data.to_delayed()]
    if isinstance(data, da.Array):
        reads = block_reads(data)  # arrays of open_dataset: read inside the E-step task
        return list(reads) if reads is not None else _row_blocks(data)
    if isinstance(data, (tuple, list)) and data and all(isinstance(m, da.Array) for m in data):
        chunks = {m.chunks[0] for m in data}
        if len(chunks) != 1:
            raise ValueError(
                "the Dask arrays of a tuple must have the same row chunks; "
                "rechunk them alike (e.g. y.rechunk({0: X.chunks[0]}))"
            )
        columns = [_row_blocks(m) for m in data]
        return [delayed(_make_tuple)(*parts) for parts in zip(*columns, strict=True)]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)) and data and all(
        _is_delayed_or_future(p) for p in data
    ):
        return list(data)
    raise ValueError(
        "the Dask backend needs a dask.array.Array, a Dask DataFrame, a tuple of Dask "
        "arrays, or a list of dask.delayed objects / Futures (see "
        f"emkit.backends.scatter_pieces); got {type(data).__name__}"
    )


def _is_delayed_or_future(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    return (module.startswith("dask") and hasattr(obj, "__dask_graph__")) or (
        module.startswith("distributed") and type(obj).__name__ == "Future"
    )


#: E-step tasks per worker thread when the blocks are read inside the tasks: each
#: task takes consecutive blocks, so a worker asks the scheduler for work that many
#: times per iteration, not once per block (Dask hands a worker one root task per
#: thread at a time, so each task costs a scheduler round trip of a few ms).
TASKS_PER_THREAD = 8


def _group_reads(reads: list[BlockRead], n_threads: int) -> list[tuple[BlockRead, ...]]:
    """Consecutive reads in about ``TASKS_PER_THREAD * n_threads`` groups of equal size."""
    n_groups = max(1, min(len(reads), TASKS_PER_THREAD * max(1, n_threads)))
    edges = np.linspace(0, len(reads), n_groups + 1).round().astype(int)
    return [tuple(reads[a:b]) for a, b in itertools.pairwise(edges) if b > a]


def _cluster_threads(client: Any) -> int:
    if client is None:
        return os.cpu_count() or 1
    return int(sum(client.nthreads().values())) or 1


def _piece_e_step(model: Any, piece: Any, params: Any) -> tuple[Any, float]:
    """Runs on a worker: the model's E-step on one piece; a tuple of BlockReads is
    read and processed one block at a time, so only one block is ever in memory."""
    if isinstance(piece, tuple) and piece and isinstance(piece[0], BlockRead):
        return _combine(*(_piece_e_step(model, read(), params) for read in piece))
    stats, loglik = model.e_step(piece, params)
    return stats, float(loglik)


def _combine(*results: tuple[Any, float]) -> tuple[Any, float]:
    """Runs on a worker: sum the statistics and log-likelihoods of several pieces."""
    return tree_sum(r[0] for r in results), float(sum(r[1] for r in results))


class DaskModel:
    """Wrap an EM model so that its E-step runs on the partitions of Dask data.

    Parameters
    ----------
    model : EMModel
        Any model with additive statistics. It travels to the workers, so it must
        be serializable by Dask (plain Python objects are).
    client : distributed.Client, optional
        The cluster to use. By default the current client
        (``distributed.default_client()``), or Dask's local scheduler without one.
    split_every : int, default 8
        Fan-in of the tree that adds the partitions' statistics.

    Notes
    -----
    Data given to :func:`emkit.em` with this model: see :func:`dask_pieces`.
    One E-step costs one pass over the data on the workers, plus one message of
    the parameters to each worker and one of the statistics per partition up the
    tree. ``m_step`` runs where :func:`emkit.em` runs, on the statistics alone.
    """

    def __init__(self, model: Any, *, client: Any = None, split_every: int = 8):
        if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
            raise ValueError(f"split_every must be an integer >= 2, got {split_every!r}")
        self.model = model
        self.client = client
        self.split_every = split_every
        self._pieces_of: tuple[Any, list[Any]] | None = None

    def _pieces(self, data: Any) -> list[Any]:
        # one data set is used for many E-steps: cut it once
        if self._pieces_of is not None and self._pieces_of[0] is data:
            return self._pieces_of[1]
        pieces = dask_pieces(data)
        if not pieces:
            raise ValueError("the Dask data have no partitions")
        self._pieces_of = (data, pieces)
        return pieces

    def e_step(self, data: Any, params: Any) -> tuple[Any, float]:
        """``(stats, loglik)`` of all partitions, summed on the cluster."""
        from dask import delayed

        pieces = self._pieces(data)
        client = current_client(self.client)
        if isinstance(pieces[0], BlockRead):
            pieces = _group_reads(pieces, _cluster_threads(client))
        tag = uuid.uuid4().hex
        # the model is small and fixed: one graph literal, fetched once by each worker
        model = delayed(self.model, name=f"emkit-model-{tag}", traverse=False)
        if client is not None:
            # one copy of the parameters on every worker, not one per task
            shared = client.scatter([params], broadcast=True, hash=False)[0]
        else:
            shared = delayed(params, name=f"emkit-params-{tag}", traverse=False)
        level = [delayed(_piece_e_step, pure=False)(model, p, shared) for p in pieces]
        while len(level) > 1:
            level = [
                delayed(_combine, pure=False)(*level[i : i + self.split_every])
                for i in range(0, len(level), self.split_every)
            ]
        if client is not None:
            stats, loglik = client.compute(level[0], sync=True)
            del shared
        else:
            stats, loglik = level[0].compute()
        return stats, float(loglik)

    def m_step(self, stats: Any) -> Any:
        return self.model.m_step(stats)

    def __getattr__(self, name: str) -> Any:
        if name in ("model", "_pieces_of"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def __repr__(self) -> str:
        return f"DaskModel({self.model!r})"


def scatter_pieces(data: Any, n_pieces: int, *, client: Any = None,
                   splitter: Callable[[Any, int], Sequence[Any]] | None = None) -> list[Any]:
    """Cut in-memory data into pieces and place them on the cluster once.

    For data that no Dask collection describes — HMM sequences
    (:class:`~emkit.backends.Sequences`), tuples of arrays — this returns a list
    of Futures that :class:`DaskModel` takes as data; every E-step then runs where
    the pieces already are.

    Parameters
    ----------
    data : row-sliceable data (see :mod:`emkit.backends.memory`)
    n_pieces : int
        Number of pieces (e.g. a few per worker).
    client : distributed.Client, optional
        Defaults to the current client; without one, the pieces become
        ``dask.delayed`` objects for the local scheduler.
    splitter : callable, optional
        ``splitter(data, n_pieces) -> pieces``.

    Returns
    -------
    list of distributed.Future or dask.delayed.Delayed

    Notes
    -----
    Scattered pieces exist only in workers' memory: unlike partitions read from
    storage, a piece on a worker that dies cannot be recomputed. Read large data
    from files (:func:`~emkit.backends.open_dataset`) when fault tolerance matters.
    """
    pieces = split_rows(data, n_pieces, splitter)
    client = current_client(client)
    if client is None:
        from dask import delayed

        return [delayed(p, traverse=False) for p in pieces]
    return list(client.scatter(pieces, hash=False))


def map_rows(fn: Callable[[np.ndarray], np.ndarray], X: Any, *,
             n_columns: int | None = None, dtype: Any = np.float64) -> Any:
    """Apply a row-wise function block by block; lazy on Dask input.

    This is how ``predict``/``predict_proba``/``score_samples`` run on Dask
    data: the result is a Dask array with the same row chunks as ``X``, computed
    only when asked for.

    Parameters
    ----------
    fn : callable
        ``fn(block) -> result`` for a block of whole rows, shape (n, ...) ->
        (n,) or (n, n_columns); it must treat rows independently.
    X : numpy.ndarray, dask.array.Array or Dask DataFrame of shape (n_rows, ...)
    n_columns : int, optional
        Width of ``fn``'s output; None for one value per row.
    dtype : numpy dtype, default float64
        dtype of ``fn``'s output.

    Returns
    -------
    numpy.ndarray or dask.array.Array of shape (n_rows,) or (n_rows, n_columns)
    """
    if not is_dask(X):
        return fn(X)
    if _is_dask_frame(X):
        X = X.to_dask_array(lengths=True)
    if not hasattr(X, "map_blocks"):
        raise ValueError(f"map_rows needs a NumPy or Dask array, got {type(X).__name__}")
    if X.ndim > 1 and any(n > 1 for n in X.numblocks[1:]):
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    if n_columns is None:
        meta = np.empty((0,), dtype=dtype)
        if X.ndim == 1:
            return X.map_blocks(fn, dtype=dtype, meta=meta)
        return X.map_blocks(fn, dtype=dtype, drop_axis=list(range(1, X.ndim)), meta=meta)
    meta = np.empty((0, 0), dtype=dtype)
    chunks = (X.chunks[0], (int(n_columns),))
    if X.ndim == 1:
        return X.map_blocks(fn, dtype=dtype, chunks=chunks, new_axis=1, meta=meta)
    drop = list(range(2, X.ndim))
    return X.map_blocks(fn, dtype=dtype, chunks=chunks, drop_axis=drop or None, meta=meta)


#: Rows of Dask input that estimators draw their starting parameters from.
INIT_SAMPLE_ROWS = 100_000


def initialization_rows(X: Any, random_state: Any = None) -> np.ndarray:
    """The rows of Dask input an estimator initializes on, as a NumPy array.

    All rows when there are at most :data:`INIT_SAMPLE_ROWS`, with no random draw,
    so the start is the one NumPy input would get; otherwise a random sample of
    that many rows, seeded from ``random_state`` (int, RandomState or None).
    """
    from sklearn.utils import check_random_state

    if _is_dask_frame(X):
        X = X.to_dask_array(lengths=True)
    if np.isnan(X.shape[0]):
        X = X.compute_chunk_sizes()
    seed = None if X.shape[0] <= INIT_SAMPLE_ROWS else \
        check_random_state(random_state).randint(2**31)
    return sample_rows(X, INIT_SAMPLE_ROWS, random_state=seed)


def sample_rows(X: Any, n: int, *, random_state: Any = None) -> np.ndarray:
    """Up to ``n`` distinct rows of ``X`` chosen at random, as a NumPy array.

    Estimators initialize (k-means++, random responsibilities) on such a sample
    when ``X`` is a Dask collection too large to bring to the client. The rows
    keep their order in ``X``, and the same seed picks the same rows from a NumPy
    array and from a Dask array holding it.

    Parameters
    ----------
    X : numpy.ndarray, dask.array.Array or Dask DataFrame of shape (n_rows, ...)
    n : int
        Rows wanted (all rows when ``X`` has fewer).
    random_state : int, numpy Generator or None

    Returns
    -------
    numpy.ndarray of shape (min(n, n_rows), ...)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if is_dask(X) and _is_dask_frame(X):
        X = X.to_dask_array(lengths=True)
    if is_dask(X) and hasattr(X, "compute_chunk_sizes") and np.isnan(X.shape[0]):
        X = X.compute_chunk_sizes()
    total = int(X.shape[0])
    rng = np.random.default_rng(random_state)
    index = np.sort(rng.choice(total, size=min(int(n), total), replace=False))
    rows = X[index]
    return np.asarray(rows.compute() if is_dask(rows) else rows)


def numeric_dask_matrix(est: Any, X: Any, dtype: Any) -> Any:
    """A Dask array or DataFrame as a 2-D numeric Dask array of ``dtype``, for ``est``.

    Records the DataFrame's column names as ``est.feature_names_in_`` (as
    scikit-learn does) or removes a stale one; refuses non-numeric or non-2-D
    input with a ``ValueError`` naming the estimator.
    """
    names = list(X.columns) if _is_dask_frame(X) else None
    if names is not None:
        X = X.to_dask_array(lengths=True)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{type(est).__name__} needs a 2-D numeric array, "
                         f"got {X.ndim}-D {X.dtype}")
    if names is not None and all(isinstance(c, str) for c in names):
        est.feature_names_in_ = np.asarray(names, dtype=object)
    else:
        est.__dict__.pop("feature_names_in_", None)
    return carry_block_reads(X, X.astype(dtype), dtype)
