"""Training data of :class:`~emkit.estimators.hmm_input_driven.InputDrivenHMM`.

In memory, the frames, their covariates and the sequences' weights become one
:class:`~emkit.models.hmm.input_driven.CovariateSequences`. With a Dask ``X``
(array or DataFrame), each partition of whole sequences becomes one
``dask.delayed`` ``CovariateSequences`` holding that partition's frames, the
covariate rows of the same frames (a NumPy or Dask ``covariates`` is cut at the
same rows: covariates travel with their rows) and the weights of its sequences.
The covariates' scaling (their range over all training rows) and their check
for non-finite entries take one pass over the Dask covariates before EM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backends
from ..distributions._base import Distribution
from ..distributions.missing import MissingEntries
from ..models.hmm.input_driven import CovariateSequences
from ..numerics.design_scaling import Design
from ._components import dense_matrix
from ._hmm_covariates import (
    check_covariates,
    covariate_design,
    covariate_rows,
    numeric_covariates,
)
from ._hmm_weights import check_sample_weight, frame_weights
from ._supervision import check_labels, check_priors, log_evidence

if TYPE_CHECKING:
    from dask.delayed import Delayed

    from .hmm_input_driven import InputDrivenHMM

__all__ = ["FitData", "fit_data"]


@dataclass
class FitData:
    """What a fit needs: the start's rows, the EM data, the scaling and the templates.

    Attributes
    ----------
    X : ndarray of shape (n_head, n_features)
        Rows the start is drawn from (all rows in memory; the first
        :data:`emkit.backends.INIT_SAMPLE_ROWS`, whole sequences, with Dask).
    data : CovariateSequences or list of Delayed
    design : Design
    n_rows : int
        Rows of the whole training set.
    n_covariates : int
    start_weights : ndarray of shape (n_head,) or None
        Each start row's sequence weight.
    templates : list of Distribution
        The emissions prepared on the rows seen.
    """

    X: np.ndarray
    data: CovariateSequences | list[Delayed]
    design: Design
    n_rows: int
    n_covariates: int
    start_weights: np.ndarray | None
    templates: list[Distribution]


def _prepared(templates: list[Distribution], X: np.ndarray) -> list[Distribution]:
    if X.ndim == 2 and X.size and not np.isinf(X).any():
        missing = MissingEntries.of(X)
        seen = X if missing is None else missing.support_filled()
        return [t.prepare(seen) for t in templates]
    return templates


def _evidence(est: InputDrivenHMM, n_rows: int, labels: Any, priors: Any
              ) -> np.ndarray | None:
    k = int(est.n_components)
    return log_evidence(check_labels(labels, n_rows, k, name="labels"),
                        check_priors(priors, n_rows, k, name="priors"), k)


def fit_data(est: InputDrivenHMM, X: Any, lengths: Any, covariates: Any,
             sample_weight: Any, templates: list[Distribution], labels: Any = None,
             priors: Any = None) -> FitData:
    """Check and assemble the training data (in memory or Dask).

    ``labels`` (known state per frame, -1 unknown) and ``priors`` (soft evidence,
    n_frames x K) become the frames' log-evidence, kept with their frames.

    Raises
    ------
    ValueError
        Naming ``covariates`` (row count other than ``X``'s, NaN or infinite
        entries, constant columns), ``lengths``, ``sample_weight``, ``labels``,
        ``priors`` or a Dask partition that cuts a sequence.
    """
    if backends.is_dask(X):
        return _dask_data(est, X, lengths, covariates, sample_weight, templates, labels,
                          priors)
    X = dense_matrix(X, "InputDrivenHMM")
    if backends.is_dask(covariates):
        covariates = np.asarray(covariates.compute())
    templates = _prepared(templates, X)
    X = est._check_X(X, templates)
    U = check_covariates(covariates, len(X), None)
    data = CovariateSequences.from_arrays(X, U, lengths)
    weights = check_sample_weight(sample_weight, data.n_sequences)
    data = CovariateSequences(data.X, data.U, data.lengths, weights,
                              _evidence(est, len(X), labels, priors))
    return FitData(X, data, covariate_design(U), len(X), int(U.shape[1]),
                   frame_weights(weights, data.lengths, len(X)), templates)


def _piece(est: InputDrivenHMM, templates: list[Distribution], X: Any, U: Any,
           lengths: np.ndarray, weights: np.ndarray | None,
           evidence: np.ndarray | None = None) -> CovariateSequences:
    """One partition's sequences with their covariates (and their frames' evidence),
    checked where they lie."""
    X = est._check_X(dense_matrix(X, "InputDrivenHMM"), templates)
    U = check_covariates(U, len(X), None)
    return CovariateSequences(X, U, lengths, weights, evidence)


def _as_dask_rows(covariates: Any, n_rows: int, chunks: tuple[int, ...]) -> Any:
    """The covariates as a 2-D Dask array cut at the row chunks ``chunks`` of ``X``."""
    import dask.array as da

    if covariates is None:
        return da.zeros((n_rows, 0), chunks=(chunks, 0))
    if hasattr(covariates, "columns") and backends.is_dask(covariates):
        covariates = covariates.to_dask_array(lengths=True)
    if not backends.is_dask(covariates):
        covariates = da.from_array(numeric_covariates(covariates), chunks=-1)
    return covariate_rows(covariates, n_rows).astype(float).rechunk((chunks, -1))


def _dask_data(est: InputDrivenHMM, X: Any, lengths: Any, covariates: Any,
               sample_weight: Any, templates: list[Distribution], labels: Any,
               priors: Any) -> FitData:
    import dask
    import dask.array as da
    from dask import delayed

    from .hmm_dask import whole_sequence_partitions

    X, lengths, weights, ends, edges = whole_sequence_partitions(X, lengths, sample_weight)
    n_rows = int(X.shape[0])
    ev = _evidence(est, n_rows, labels, priors)
    U = _as_dask_rows(covariates, n_rows, X.chunks[0])
    q = int(U.shape[1])
    design = Design.identity(0)
    if q:
        low, high, bad = dask.compute(U.min(axis=0), U.max(axis=0),
                                      (~da.isfinite(U)).sum())
        if int(bad):
            raise ValueError(f"covariates must be finite: {int(bad)} non-finite entries; "
                             "impute or drop those rows")
        flat = np.flatnonzero(np.asarray(high) <= np.asarray(low))
        if flat.size:
            raise ValueError(f"covariates column(s) {flat.tolist()} are constant over the "
                             "training rows: the intercept already plays their part; drop "
                             "them")
        design = Design.from_range(np.asarray(low), np.asarray(high))
    head_n = min(n_rows, backends.INIT_SAMPLE_ROWS)
    head = dense_matrix(np.asarray(X[:head_n].compute()), "InputDrivenHMM")
    templates = _prepared(templates, head)
    head = est._check_X(head, templates)
    first = np.concatenate([[0], ends[:-1]])
    check = delayed(_piece, pure=True)
    pieces = []
    for xb, ub, a, b in zip(X.to_delayed().ravel(), U.to_delayed().ravel(), edges[:-1],
                            edges[1:], strict=True):
        inside = (first >= a) & (ends <= b)
        pieces.append(check(est, templates, xb, ub, lengths[inside],
                            None if weights is None else weights[inside],
                            None if ev is None else ev[a:b]))
    return FitData(head, pieces, design, n_rows, q,
                   frame_weights(weights, lengths, len(head)), templates)
