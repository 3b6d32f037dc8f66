"""Dask input for the HMM estimators: one piece of whole sequences per partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backends
from ..models.hmm.model import check_lengths

if TYPE_CHECKING:
    from dask.delayed import Delayed

    from .hmm_base import BaseHMM

__all__ = ["dask_sequences"]


def dask_sequences(estimator: BaseHMM, X: Any,
                   lengths: Any) -> tuple[np.ndarray, list[Delayed], int]:
    """Dask input: one piece of whole sequences per partition (row chunk) of ``X``.

    Returns the rows the start is drawn from (the first
    :data:`emkit.backends.INIT_SAMPLE_ROWS`: whole sequences, not a sample),
    the pieces (``dask.delayed`` :class:`~emkit.models.hmm.model.Sequences`,
    validated by ``estimator`` where they lie) and the total number of rows.

    Raises
    ------
    ValueError
        When a partition splits a sequence, or a ``CategoricalHMM`` has no
        ``n_features``.
    """
    from dask import delayed

    if hasattr(X, "columns"):
        X = X.to_dask_array(lengths=True)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim == 2 and len(X.chunks[1]) != 1:
        X = X.rechunk({1: -1})
    n_rows = int(X.shape[0])
    lengths = check_lengths(lengths, n_rows)
    ends = np.cumsum(lengths)
    edges = np.cumsum((0, *X.chunks[0]))
    if not np.isin(edges[1:], ends).all():
        raise ValueError(
            "every partition of a Dask X must hold whole sequences: rechunk the rows "
            "at sequence boundaries, e.g. X.rechunk({0: rows_per_partition}) with "
            "each entry a sum of consecutive lengths"
        )
    if not estimator._sets_n_features and getattr(estimator, "n_features", None) is None:
        raise ValueError("with Dask input, give n_features (the number of symbols): "
                         "the first rows need not show every symbol")
    first = np.concatenate([[0], ends[:-1]])
    blocks = X.to_delayed().ravel()
    check = delayed(estimator._sequences, pure=True)
    pieces = [check(block, lengths[(first >= a) & (ends <= b)], True)
              for block, a, b in zip(blocks, edges[:-1], edges[1:], strict=True)]
    head_rows = np.asarray(X[:min(n_rows, backends.INIT_SAMPLE_ROWS)].compute())
    return estimator._check_X(head_rows, True), pieces, n_rows
