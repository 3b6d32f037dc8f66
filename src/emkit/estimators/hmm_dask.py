"""Dask input for the HMM estimators: one piece of whole sequences per partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backends
from ..models.hmm.model import Sequences, check_lengths
from ._hmm_weights import check_sample_weight, frame_weights

if TYPE_CHECKING:
    from dask.delayed import Delayed

    from .hmm_base import BaseHMM

__all__ = ["dask_sequences"]


def _piece(estimator: BaseHMM, X: Any, lengths: np.ndarray,
           weights: np.ndarray | None, log_evidence: np.ndarray | None = None) -> Sequences:
    """One partition's sequences, validated where they lie, with their weights and
    their frames' log-evidence (known states, soft evidence)."""
    data = estimator._sequences(X, lengths, True)
    if weights is None and log_evidence is None:
        return data
    return Sequences(data.X, data.lengths, weights, log_evidence)


def whole_sequence_partitions(X: Any, lengths: Any, sample_weight: Any
                              ) -> tuple[Any, np.ndarray, np.ndarray | None, np.ndarray,
                                         np.ndarray]:
    """A Dask ``X`` (array or DataFrame) as a 2-D array whose partitions hold whole sequences.

    Returns ``X`` (one chunk across the columns), the checked ``lengths`` and
    per-sequence weights (``None`` without ``sample_weight``), the row where each
    sequence ends and the partitions' row edges, shape (n_partitions + 1,).

    Raises
    ------
    ValueError
        When ``lengths`` does not sum to the rows, a weight is invalid, or a
        partition splits a sequence.
    """
    if hasattr(X, "columns"):
        X = X.to_dask_array(lengths=True)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim == 2 and len(X.chunks[1]) != 1:
        X = X.rechunk({1: -1})
    lengths = check_lengths(lengths, int(X.shape[0]))
    weights = check_sample_weight(sample_weight, len(lengths))
    ends = np.cumsum(lengths)
    edges = np.cumsum((0, *X.chunks[0]))
    if not np.isin(edges[1:], ends).all():
        raise ValueError(
            "every partition of a Dask X must hold whole sequences: rechunk the rows "
            "at sequence boundaries, e.g. X.rechunk({0: rows_per_partition}) with "
            "each entry a sum of consecutive lengths"
        )
    return X, lengths, weights, ends, edges


def dask_sequences(estimator: BaseHMM, X: Any, lengths: Any, sample_weight: Any = None,
                   log_evidence: Any = None
                   ) -> tuple[np.ndarray, list[Delayed], int, np.ndarray | None]:
    """Dask input: one piece of whole sequences per partition (row chunk) of ``X``.

    Returns the rows the start is drawn from (the first
    :data:`emkit.backends.INIT_SAMPLE_ROWS`: whole sequences, not a sample),
    the pieces (``dask.delayed`` :class:`~emkit.models.hmm.model.Sequences`,
    validated by ``estimator`` where they lie, each with its sequences' weights and,
    given ``log_evidence(row_start, row_stop)``, its frames' log-evidence),
    the total number of rows and the weights of the start's rows (``None``
    without ``sample_weight``).

    Raises
    ------
    ValueError
        When a partition splits a sequence, ``sample_weight`` is not one valid
        weight per sequence, or a ``CategoricalHMM`` has no ``n_features``.
    """
    from dask import delayed

    X, lengths, weights, ends, edges = whole_sequence_partitions(X, lengths, sample_weight)
    n_rows = int(X.shape[0])
    if not estimator._sets_n_features and getattr(estimator, "n_features", None) is None:
        raise ValueError("with Dask input, give n_features (the number of symbols): "
                         "the first rows need not show every symbol")
    first = np.concatenate([[0], ends[:-1]])
    blocks = X.to_delayed().ravel()
    check = delayed(_piece, pure=True)
    pieces = []
    for block, a, b in zip(blocks, edges[:-1], edges[1:], strict=True):
        inside = (first >= a) & (ends <= b)
        evidence = None if log_evidence is None else log_evidence(int(a), int(b))
        pieces.append(check(estimator, block, lengths[inside],
                            None if weights is None else weights[inside], evidence))
    head_rows = np.asarray(X[:min(n_rows, backends.INIT_SAMPLE_ROWS)].compute())
    return (estimator._check_X(head_rows, True), pieces, n_rows,
            frame_weights(weights, lengths, len(head_rows)))
