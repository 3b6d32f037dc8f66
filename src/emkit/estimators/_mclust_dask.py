"""``MclustMixture`` on Dask data: EM on the partitions, the start from a sample of rows.

The E-steps run where the rows lie (:class:`emkit.backends.DaskModel`); only the
statistics come back. The start (mclust's hierarchical agglomeration or k-means, on
``hc_sample_size`` rows) is found on :func:`emkit.backends.initialization_rows`:
every row when there are at most 100,000 of them, so the fit is then the one the same
rows in memory get; a random sample of that many otherwise. ``sample_weight``,
``labels`` and ``priors`` (NumPy or Dask) travel with their rows; ``prior="default"``
takes the data's mean and covariance from one pass over the partitions.

:class:`DaskRows` is what the estimator's own fitting methods read while such a fit
runs (the E-steps' data, the number of rows, the total weight, the prior).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backends
from ..engine.wrapped import ModelWrapper
from ..gaussian.conjugate_prior import PriorParams, as_prior_control, prior_from_moments
from ..gaussian.constrained import check_model_name
from ..models.mixture.mclust_start import check_start
from ._mclust_checks import check_data, check_freeze_masks, check_spread, refuse_combinations
from ._mixture_inputs import dask_input

__all__ = ["DaskRows", "WeightsThenEvidence", "fit_dask", "predict_dask"]


@dataclass(frozen=True)
class DaskRows:
    """The rows of a Dask fit: E-step data ``(X, weight[, evidence])`` or ``X``, the
    number of rows of positive weight, the total weight and the prior (or None)."""

    data: Any
    n_rows: int
    total_weight: float
    prior: PriorParams | None


class WeightsThenEvidence(ModelWrapper):
    """An :class:`~emkit.models.mixture.mclust.MclustModel` fed Dask pieces
    ``(X, weight[, evidence])``: its E-step takes ``(X, evidence, weight)``."""

    def __init__(self, model: Any):
        self.model = model

    def e_step(self, data: Any, params: dict) -> tuple[Any, float]:
        if isinstance(data, tuple):
            X, weight, evidence = data + (None,) * (3 - len(data))
            data = (X, evidence, weight)
        return self.model.e_step(data, params)


def _seed(random_state: Any) -> Any:
    """An int seed for the row sample from a numpy Generator (which scikit-learn's
    ``check_random_state`` does not take); anything else as it is."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    return random_state


def fit_dask(est: Any, X: Any, sample_weight: Any, init: Any, labels: Any,
             priors: Any) -> Any:
    """Fit ``est`` (an ``MclustMixture``) on a Dask array or DataFrame (n_samples, n_features).

    Raises
    ------
    ValueError
        As the in-memory fit, and for ``init`` given as labels or responsibilities
        (with Dask ``X`` a start of one's own is a dict of parameters).
    """
    import dask

    Xd = backends.numeric_dask_matrix(est, X, np.float64)
    est.__dict__.pop("feature_names_in_", None)  # as the in-memory fit, which keeps none
    if np.isnan(Xd.shape[0]):
        Xd = Xd.compute_chunk_sizes()
    n, d = int(Xd.shape[0]), int(Xd.shape[1])
    if n == 0 or d == 0:
        raise ValueError(f"X is empty (shape={(n, d)}): at least one row and one feature "
                         "are needed")
    est._validate(Xd)
    k = int(est.n_components)
    control = as_prior_control(est.prior)
    frozen = check_freeze_masks(est.freeze, k, d)
    refuse_combinations(sample_weight is not None, bool(frozen), control is not None)
    if init is not None and not isinstance(init, dict):
        raise ValueError("with Dask X, init must be a dict of weights, means and covariances "
                         "(a partition or responsibilities of every row would be brought "
                         "to the client); fit a sample in memory to get one")
    rows = dask_input(Xd, sample_weight, labels, priors, k, _seed(est.random_state))
    # one pass over the rows: the bounds (validation), the rows of positive weight,
    # the prior's mean
    wanted = {"low": Xd.min(axis=0), "high": Xd.max(axis=0)}
    if sample_weight is not None:
        wanted["positive"] = (rows.data[1] > 0).sum()
    if control is not None:
        wanted["mean"] = Xd.mean(axis=0)
    found = dict(zip(wanted, dask.compute(*wanted.values()), strict=True))
    bounds = np.vstack([found["low"], found["high"]])
    check_data(bounds)  # NaN, infinities and too large values
    check_spread(bounds, float(est.reg_covar), n_rows=n)
    sample, weight, evidence = rows.sample, rows.sample_weight, rows.sample_evidence
    n_fitted = int(found.get("positive", n))
    if weight is not None:
        keep = weight > 0  # as the in-memory fit drops rows of weight 0
        sample, weight = sample[keep], weight[keep]
        evidence = None if evidence is None else evidence[keep]
    hyper = None
    if control is not None:  # the covariance about that mean: a second pass
        centred = Xd - found["mean"]
        cov = ((centred.T @ centred) / max(n - 1, 1)).compute()
        hyper = prior_from_moments(n, found["mean"], np.atleast_2d(cov), k,
                                   check_model_name(est.model), control)
    est._frozen = frozen
    est._dask_rows = DaskRows(rows.data, n_fitted, rows.total_weight, hyper)
    kind, start = ("", {}) if init is None else check_start(init, n, d, k)
    try:
        return est._fit_from(sample, kind, start, evidence, weight)
    finally:
        del est._dask_rows


def predict_dask(est: Any, X: Any, what: str) -> Any:
    """``predict``, ``predict_proba`` or ``score_samples`` of Dask ``X``, as a lazy Dask array."""
    from ..numerics.logsumexp import log_normalize, logsumexp_rows

    if what == "predict":
        return backends.map_rows(lambda b: est._log_joint(b).argmax(axis=1), X,
                                 dtype=np.int64)
    if what == "predict_proba":
        return backends.map_rows(lambda b: log_normalize(est._log_joint(b))[1], X,
                                 n_columns=len(est.weights_))
    return backends.map_rows(lambda b: logsumexp_rows(est._log_joint(b)), X)
