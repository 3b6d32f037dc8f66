"""Per-row inputs beside the rows (weights, log-evidence), in memory and on Dask.

One job: check ``sample_weight`` (and, for Dask, the labels' and priors'
log-evidence) and put them beside the rows so that they travel with them,
whichever backend runs the E-steps (the model's data is then ``(X,
sample_weight, log_evidence)``; on Dask a tuple of Dask arrays with the same row
chunks). Used by :class:`~emkit.MixtureModel`, ``GaussianMixture`` and
``EMImputer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backends
from ._supervision import check_labels, check_priors, log_evidence

__all__ = ["check_sample_weight", "dask_with_weights", "dask_sample_weight_total",
           "dask_evidence", "DaskInput", "dask_input"]


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """``sample_weight`` as a float64 (n_samples,) array, or None.

    Raises
    ------
    ValueError
        For a wrong shape, a negative or non-finite weight, or weights summing to 0.
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},) (one weight per row), "
                         f"got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    if not w.sum() > 0:
        raise ValueError("sample_weight is zero for every row: at least one row needs a "
                         "positive weight")
    return w


def dask_with_weights(X: Any, sample_weight: Any) -> tuple[Any, Any]:
    """Dask ``X`` (array or DataFrame) and its weights as two Dask arrays chunked alike.

    ``sample_weight`` may be a NumPy array or a Dask array of shape (n_rows,).

    Raises
    ------
    ValueError
        For weights of another length (or, for NumPy weights, bad values).
    """
    import dask.array as da

    Xd = X.to_dask_array(lengths=True) if hasattr(X, "to_dask_array") else X
    if np.isnan(Xd.shape[0]):
        Xd = Xd.compute_chunk_sizes()
    if Xd.ndim == 1:
        Xd = Xd[:, None]
    Xd = Xd.astype(np.float64)
    n = int(Xd.shape[0])
    if backends.is_dask(sample_weight):
        w = sample_weight.astype(np.float64)
        if np.isnan(w.shape[0]):
            w = w.compute_chunk_sizes()
        if w.ndim != 1 or int(w.shape[0]) != n:
            raise ValueError(f"sample_weight must have shape ({n},) (one weight per row), "
                             f"got shape {w.shape}")
        low, total = da.compute(w.min(), w.sum())
        if not (np.isfinite(total) and low >= 0 and total > 0):
            raise ValueError("sample_weight must be finite and non-negative, with a positive sum")
    else:
        checked = check_sample_weight(sample_weight, n)
        assert checked is not None
        w = da.from_array(checked, chunks=(Xd.chunks[0],))
    return Xd, w.rechunk({0: Xd.chunks[0]})


def dask_sample_weight_total(w: Any) -> float:
    """The sum of Dask weights (the fit's effective number of rows)."""
    return float(w.sum().compute())


def dask_evidence(n_rows: int, row_chunks: tuple[int, ...], labels: Any, priors: Any,
                  n_components: int) -> Any:
    """The log-evidence (n_rows, K) of ``labels`` and ``priors`` as a Dask array with the
    rows' chunks, or None; both may be NumPy or Dask (brought to the client: n x K floats).

    Raises
    ------
    ValueError
        As :func:`~._supervision.check_labels` and :func:`~._supervision.check_priors`.
    """
    if labels is None and priors is None:
        return None
    import dask.array as da

    def local(value: Any) -> Any:
        return None if value is None else np.asarray(
            value.compute() if backends.is_dask(value) else value)

    k = int(n_components)
    evidence = log_evidence(check_labels(local(labels), n_rows, k, name="labels"),
                            check_priors(local(priors), n_rows, k), k)
    if evidence is None:
        return None
    return da.from_array(evidence, chunks=(tuple(row_chunks), k))


@dataclass(frozen=True)
class DaskInput:
    """What a mixture fit on Dask rows needs: the E-steps' data and the start's sample.

    ``data`` is the Dask rows, or a tuple ``(X, sample_weight, log_evidence)`` of
    Dask arrays chunked alike (weights of one when none were given; the
    evidence left out when there is none); ``sample`` the start's rows with
    their ``sample_weight`` and ``sample_evidence`` (None when not given).
    """

    data: Any
    sample: np.ndarray
    sample_weight: np.ndarray | None
    sample_evidence: np.ndarray | None
    n_rows: int
    total_weight: float


def dask_input(X: Any, sample_weight: Any, labels: Any, priors: Any, n_components: int,
               random_state: Any) -> DaskInput:
    """:class:`DaskInput` of Dask ``X`` with optional weights, labels and priors.

    The start's sample is the rows :func:`emkit.backends.initialization_rows`
    draws without them (the draw depends on the number of rows and the seed
    only), each with its weight and evidence.
    """
    import dask.array as da

    if sample_weight is None and labels is None and priors is None:
        n = int(backends.n_rows(X))
        return DaskInput(X, backends.initialization_rows(X, random_state), None, None, n,
                         float(n))
    Xd, w = dask_with_weights(X, np.ones(int(backends.n_rows(X))) if sample_weight is None
                              else sample_weight)
    n, d = int(Xd.shape[0]), int(Xd.shape[1])
    evidence = dask_evidence(n, Xd.chunks[0], labels, priors, n_components)
    both = backends.initialization_rows(
        da.concatenate([Xd, w[:, None]] + ([] if evidence is None else [evidence]), axis=1),
        random_state)
    members = (Xd, w) if evidence is None else (Xd, w, evidence)
    total = float(n) if sample_weight is None else dask_sample_weight_total(w)
    return DaskInput(members, both[:, :d], None if sample_weight is None else both[:, d],
                     None if evidence is None else both[:, d + 1:], n, total)
