"""GaussianMixture beyond one in-memory array: Dask input and online ``partial_fit``.

Both reuse the estimator's own model, initialization and EM run; only where the
E-step runs changes (:mod:`emkit.backends`), or how its statistics are averaged
(:class:`emkit.engine.online.StepwiseEM`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from .. import backends
from ..engine.online import StepwiseEM
from ..validation import check_magnitude
from ._gaussian_mixture_guard import CollapseGuard
from ._gaussian_mixture_init import initial_params
from ._mixture_inputs import dask_evidence, dask_with_weights

__all__ = ["fit_dask", "partial_fit", "predict_dask"]

def _model_for(est: Any, has_nan: bool) -> Any:
    from ..models.mixture.gaussian import GaussianMixtureModel

    if has_nan:
        from ..models.mixture.gaussian_missing import MissingGaussianMixtureModel

        return MissingGaussianMixtureModel(est.covariance_type, est.reg_covar,
                                           est.chunk_size, dtype=est._dtype())
    return GaussianMixtureModel(est.covariance_type, est.reg_covar, est.chunk_size, est._dtype())


def fit_dask(est: Any, X: Any, labels: Any = None, priors: Any = None,
             sample_weight: Any = None) -> Any:
    """Fit ``est`` on a Dask array or DataFrame; E-steps run on its partitions.

    One pass computes what validation needs (NaN, infinities, magnitude), the
    start is drawn from :func:`emkit.backends.initialization_rows`, and
    each EM iteration ships the parameters to the workers and brings back only
    the statistics. ``labels`` (n,) and ``priors`` (n, K), NumPy or Dask, become
    one (n, K) log-evidence array on the client, chunked as ``X``'s rows, so each
    partition's E-step gets its rows' evidence; the start's sample of rows takes
    its rows' evidence with it. ``sample_weight`` (n,), NumPy or Dask, is chunked
    as ``X``'s rows too; the start's sample is weighted by its rows' weights.
    """
    import dask
    import dask.array as da

    est._fit_dtype = est._dtype(X)
    X = backends.numeric_dask_matrix(est, X, est._fit_dtype)
    n, d = int(X.shape[0]), int(X.shape[1])
    if n < max(2, est.n_components):
        raise ValueError(f"Expected n_samples >= n_components but got n_components = "
                         f"{est.n_components}, n_samples = {n}")
    has_nan, has_inf, empty_rows = dask.compute(
        da.isnan(X).any(), da.isinf(X).any(), da.isnan(X).all(axis=1).any())
    if has_inf:
        raise ValueError("X contains infinity; mark missing entries with NaN")
    if empty_rows:
        raise ValueError("X has rows with no observed value (all NaN); drop them before fitting")
    est.n_features_in_ = d
    random_state = check_random_state(est.random_state)
    evidence = dask_evidence(n, X.chunks[0], labels, priors, est.n_components)
    weights = None if sample_weight is None else dask_with_weights(X, sample_weight)[1]
    extra = [m for m in (None if weights is None else weights[:, None], evidence)
             if m is not None]
    if not extra:
        sample = backends.initialization_rows(X, random_state)
        sample_weights = sample_evidence = None
    else:  # the same rows as without them (the draw depends on n and the seed only)
        both = backends.initialization_rows(
            da.concatenate([X.astype(np.float64), *extra], axis=1), random_state)
        sample = both[:, :d].astype(X.dtype)
        sample_weights = None if weights is None else both[:, d]
        sample_evidence = None if evidence is None else both[:, d + (weights is not None):]
    check_magnitude(sample)
    if sample_weights is not None:
        est._check_sizes(sample, sample_weights)
    total = float(n) if weights is None else float(weights.sum().compute())
    members = [X, da.ones(n, chunks=(X.chunks[0],)) if weights is None else weights,
               evidence]
    data_in = X if evidence is None and weights is None else tuple(
        m for m in members if m is not None)
    model, data = backends.for_input(_model_for(est, bool(has_nan)), data_in)
    est._fit_from_starts(model, data, sample, sample_weights, total, random_state,
                         sample_evidence)
    return est


def predict_dask(est: Any, X: Any, what: str) -> Any:
    """``predict`` / ``predict_proba`` / ``score_samples`` of Dask input, as a lazy Dask array."""
    if hasattr(X, "columns"):
        X = X.to_dask_array(lengths=True)
    X = X.astype(est._dtype())
    if what == "predict":
        return backends.map_rows(est._predict_validated, X, dtype=np.int64)
    if what == "predict_proba":
        return backends.map_rows(lambda b: est._log_prob_resp(b)[1], X,
                                 n_columns=est.n_components, dtype=est._dtype())
    return backends.map_rows(lambda b: est._log_prob_resp(b)[0], X)


def partial_fit(est: Any, X: Any, sample_weight: Any = None) -> Any:
    """One stepwise-EM update of ``est`` from the mini-batch ``X`` (see ``GaussianMixture``)."""
    online = getattr(est, "_online", None)
    X = est._validate_X(X, reset=online is None)
    check_magnitude(X)
    weights = est._check_weights(X, sample_weight)
    rows = float(len(X)) if weights is None else float(weights.sum())
    model = _model_for(est, bool(np.isnan(X).any()))
    # a collapsed component is re-seeded among this batch's rows (degenerate="reseed")
    est._reseed_rows = (X, weights)
    guard = CollapseGuard(model, est.covariance_type, est._dtype(), est._reseeder(),
                          est.degenerate)
    if online is None:
        est._check_sizes(X, weights)
        init = initial_params(est, X, weights, check_random_state(est.random_state),
                              backends.INIT_SAMPLE_ROWS)
        online = est._online = StepwiseEM(model, guard.start(init), alpha=est.online_alpha)
    # Both Gaussian-mixture models share statistics and M-step: a stream may mix
    # complete batches and batches with missing values.
    online.model = guard
    guard.n_m_steps = online.n_batches
    online.partial_fit(est._model_data(model, X, weights), rows=rows)
    est._set_fitted(online.params, _OnlineResult(online), 1.0)
    est.lower_bound_ = online.loglik_per_row
    events = [] if guard.reseeder is None else guard.reseeder.events
    est.n_reseeds_ = getattr(est, "_online_reseeds", 0) + len(events)
    est._online_reseeds = est.n_reseeds_
    if events:
        from ..exceptions import DegenerateComponentWarning

        warnings.warn(
            f"{len(events)} collapsed component(s) re-seeded at this mini-batch: "
            + "; ".join(e.describe(est.covariance_type).replace("iteration", "update")
                        for e in events[:5]),
            DegenerateComponentWarning, stacklevel=3)
    return est


class _OnlineResult:
    """What ``GaussianMixture._set_fitted`` reads from a result, for a stream."""

    def __init__(self, online: StepwiseEM):
        self.converged = False
        self.n_iter = online.n_batches
        self.loglik = online.loglik_per_row
        self.steps: list = []
