"""``BayesianGaussianMixture`` on Dask input: the variational E-steps on the partitions.

This module's one job is ``BayesianGaussianMixture.fit`` of a ``dask.array.Array``
or Dask DataFrame. The statistics and the lower bound add up over rows (each
partition contributes its share, see
:class:`emkit.models.mixture.bayesian_gaussian.BayesianGaussianMixtureModel`), so
each iteration ships the parameters to the workers and brings back only the
sums: the iterations are the in-memory ones. The default prior takes its mean and
covariance from all rows (one pass); the start is drawn from
:func:`emkit.backends.initialization_rows` -- all rows, in order, up to
:data:`emkit.backends.dask_backend.INIT_SAMPLE_ROWS` of them (then the start is
the in-memory one), else a random sample of that size whose statistics are
scaled to the number of rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from .. import backends
from ..validation import check_magnitude
from ._bgm_init import freeze_masks, initial_stats

__all__ = ["fit_dask"]


def _moments(X: Any, covariance_type: str) -> tuple[Any, Any, Any, Any]:
    """Lazy column means, covariance (or variances), max - min, and a NaN/inf flag."""
    import dask.array as da

    mean = X.mean(axis=0)
    centred = X - mean
    n = X.shape[0]
    if covariance_type in ("full", "tied"):
        spread = (centred.T @ centred) / (n - 1)
    else:
        spread = (centred**2).sum(axis=0) / (n - 1)
    bad = ~da.isfinite(X).all()
    width = X.max(axis=0) - X.min(axis=0)
    return mean, spread, width, bad


def fit_dask(est: Any, X: Any) -> Any:
    """Fit ``est`` (a BayesianGaussianMixture) on Dask ``X``; returns ``est``."""
    import dask

    X = backends.numeric_dask_matrix(est, X, np.float64)
    if np.isnan(X.shape[0]):
        X = X.compute_chunk_sizes()
    n, d = int(X.shape[0]), int(X.shape[1])
    if n < max(2, est.n_components):
        raise ValueError("Expected n_samples >= n_components but got n_components = "
                         f"{est.n_components}, n_samples = {n}")
    mean, spread, width, bad = dask.compute(*_moments(X, est.covariance_type))
    if bad:
        raise ValueError("Input X contains NaN or infinity; "
                         "BayesianGaussianMixture needs complete, finite rows")
    est.n_features_in_ = d
    est._check_constant_columns_width(np.asarray(width))
    random_state = check_random_state(est.random_state)
    sample = np.ascontiguousarray(backends.initialization_rows(X, random_state),
                                  dtype=np.float64)
    check_magnitude(sample)
    full = est.covariance_type in ("full", "tied")
    spread = np.atleast_2d(spread) if full else np.atleast_1d(spread)
    est._check_parameters(sample, moments=(np.asarray(mean), spread))
    est._masks = freeze_masks(est, d)
    model = est._make_model(n)
    start_model = est._make_model(n, frozen=False)
    fit_model, data = backends.for_input(model, X, chunk_size=est.chunk_size)
    scale = n / len(sample)

    def start() -> dict:
        stats = initial_stats(est, sample, random_state)
        if scale != 1.0:
            stats = {key: np.asarray(value) * scale for key, value in stats.items()}
        return start_model.m_step(stats)

    est._fit_from_starts(fit_model, data, start)
    return est
