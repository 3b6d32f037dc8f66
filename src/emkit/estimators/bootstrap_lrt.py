"""The bootstrap likelihood-ratio test for the number of components (``mclustBootstrapLRT``).

For ``k = 1 .. max_components - 1`` the test compares the ``k``- and
``(k + 1)``-component fits of one mclust covariance model: the observed
statistic is ``LRT = 2 (loglik(k + 1) - loglik(k))`` of the fits of
:class:`~emkit.estimators.mclust_mixture.MclustMixture` (mclust's hc start),
and its null distribution is drawn by the parametric bootstrap: ``n`` rows are
simulated from the ``k``-component fit, both models are refitted to them by EM
starting from the observed fits' parameters, as mclust does, and the replicate
statistic is twice their log-likelihood difference. The p-value is
``(1 + #{replicates >= observed}) / (n_boot + 1)``. A replicate whose fit fails
is simulated again (mclust redraws too). The regularity conditions of the
chi-squared approximation fail for this test (the null lies on the boundary of
the larger model), which is why the bootstrap is used.
"""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

from ..engine import em
from ..exceptions import ConvergenceWarning
from ..gaussian.constrained import check_model_name
from ..models.mixture.mclust import MclustModel
from ._bootstrap_refit import FIT_ERRORS
from ._bootstrap_run import check_n_jobs, run_tasks
from ._mixture_sample import draw_rows
from .bootstrap import _seeds
from .mclust_mixture import MclustMixture, check_data

__all__ = ["bootstrap_lrt"]


def _params(est: MclustMixture) -> dict:
    return {"weights": est.weights_, "means": est.means_, "covariances": est.covariances_}


def _replicate(spec: tuple, *, fits: list[dict], model: str, n: int, tol: float,
               max_iter: int, reg_covar: float, max_retries: int) -> tuple[float, int]:
    """One bootstrap LRT statistic of ``k`` against ``k + 1`` (and the failed draws)."""
    k, seed = spec
    rng = np.random.default_rng(seed)
    h0, h1 = fits[k - 1], fits[k]
    em_model = MclustModel(model, reg_covar=reg_covar)
    failed = 0
    for _ in range(max_retries + 1):
        counts = rng.multinomial(n, h0["weights"] / h0["weights"].sum())
        Xb, _ = draw_rows(rng, counts, h0["means"], h0["covariances"])
        try:
            with warnings.catch_warnings():  # a replicate at max_iter is kept, as in mclust
                warnings.simplefilter("ignore", ConvergenceWarning)
                r0 = em(em_model, Xb, h0, tol=tol * n, max_iter=max_iter)
                r1 = em(em_model, Xb, h1, tol=tol * n, max_iter=max_iter)
        except FIT_ERRORS:
            failed += 1
            continue
        stat = 2.0 * (r1.loglik - r0.loglik)
        if np.isfinite(stat):
            return float(stat), failed
        failed += 1
    return float("nan"), failed


def bootstrap_lrt(X: Any, covariance_model: str = "VVV", max_components: int = 5,
                  n_boot: int = 99, random_state: Any = None, *, tol: float = 1e-8,
                  max_iter: int = 1000, reg_covar: float = 0.0, n_jobs: int | None = None,
                  client: Any = None, progress: bool = False,
                  max_retries: int = 10) -> pd.DataFrame:
    """Bootstrap likelihood-ratio tests of ``k`` against ``k + 1`` components.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    covariance_model : str, default="VVV"
        One of mclust's fourteen models (``"EII"``, ..., ``"VVV"``).
    max_components : int, default=5
        The largest number of components fitted; tests ``k = 1 .. max_components - 1``.
    n_boot : int, default=99
        Bootstrap replicates per test.
    random_state : int, numpy Generator, SeedSequence or None
        Seeds the hc subsample of the observed fits and the simulated samples
        (replicate ``b`` of test ``k`` has its own child seed, whatever ``n_jobs``).
    tol, max_iter, reg_covar : float, int, float
        As :class:`~emkit.estimators.mclust_mixture.MclustMixture` (observed and
        replicate fits alike).
    n_jobs : int or None
        Local processes (None: 1; -1: all cores).
    client : dask.distributed.Client or None
        Run the replicates on this cluster.
    progress : bool, default=False
        Show a rich progress bar.
    max_retries : int, default=10
        New samples simulated for a replicate whose fit fails.

    Returns
    -------
    pandas.DataFrame
        One row per test, columns ``k``, ``lrt`` (observed statistic), ``p_value``,
        ``loglik_k``, ``loglik_k1``, ``n_failed``. ``attrs["replicates"]`` holds the
        bootstrap statistics, shape (n_boot, max_components - 1), column ``k - 1``
        for test ``k``.

    Raises
    ------
    ValueError
        For bad arguments, or when a fit of the observed data fails.
    """
    Xa = check_data(X)
    model = check_model_name(covariance_model)
    for name, value, low in (("max_components", max_components, 2), ("n_boot", n_boot, 1),
                             ("max_iter", max_iter, 1), ("max_retries", max_retries, 0)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if max_components > Xa.shape[0]:
        raise ValueError(f"max_components={max_components} exceeds the number of samples "
                         f"{Xa.shape[0]}")
    check_n_jobs(n_jobs)
    root = _seeds(random_state, 2)
    hc_seed = int(root[0].generate_state(1)[0])
    fits = []
    for k in range(1, int(max_components) + 1):
        est = MclustMixture(model, k, tol=tol, max_iter=max_iter, reg_covar=reg_covar,
                            random_state=hc_seed)
        try:
            est.fit(Xa)
        except FIT_ERRORS as exc:
            raise ValueError(f"the {model} fit with {k} components of X failed ({exc}); "
                             "lower max_components or choose another covariance_model") from exc
        fits.append(est)
    tests = range(1, int(max_components))
    seeds = root[1].spawn(len(tests))
    specs = [(k, s) for k, child in zip(tests, seeds, strict=True)
             for s in child.spawn(int(n_boot))]
    shared = {"fits": [_params(f) for f in fits], "model": model, "n": Xa.shape[0],
              "tol": float(tol), "max_iter": int(max_iter), "reg_covar": float(reg_covar),
              "max_retries": int(max_retries)}
    out = run_tasks(_replicate, specs, shared, n_jobs=n_jobs, client=client,
                    progress=progress, label=f"{model} bootstrap LRT")
    stats = np.array([s for s, _ in out]).reshape(len(tests), int(n_boot)).T
    failed = np.array([f for _, f in out]).reshape(len(tests), int(n_boot)).sum(axis=1)
    rows = []
    for j, k in enumerate(tests):
        obs = 2.0 * (fits[k].loglik_ - fits[k - 1].loglik_)
        column = stats[:, j][np.isfinite(stats[:, j])]
        p = (1.0 + float(np.sum(column >= obs))) / (column.size + 1.0)
        rows.append({"k": k, "lrt": obs, "p_value": p, "loglik_k": fits[k - 1].loglik_,
                     "loglik_k1": fits[k].loglik_, "n_failed": int(failed[j])})
    table = pd.DataFrame(rows)
    table.attrs["replicates"] = stats
    table.attrs["covariance_model"] = model
    return table
