"""Bootstrap standard errors of a fitted Gaussian mixture, like mclust's ``MclustBootstrap``.

:func:`bootstrap` refits a fitted :class:`~emkit.GaussianMixture` or
:class:`~emkit.MclustMixture` ``n_boot`` times and summarizes the spread of
the replicate weights, means and covariances:

* ``kind="nonparametric"``: each replicate is fitted to ``n`` rows drawn with
  replacement (mclust's ``type = "bs"``);
* ``kind="weighted"``: the weighted-likelihood bootstrap (Newton & Raftery 1994;
  mclust's ``type = "wlbs"``): each replicate maximizes ``sum_i w_i log f(x_i)``
  with ``w ~ n * Dirichlet(1, ..., 1)``, so every row keeps some weight.

Every replicate starts from the original fit's parameters (its first E-step
gives the original posterior of the rows, which is mclust's start), and its
components are matched to the original ones by the Hungarian algorithm on the
Bhattacharyya distance, so label switching does not inflate the errors. A
replicate whose fit fails (a component collapses) is drawn again, up to
``max_retries`` times, as mclust does; the count is ``n_failed``.

Replicates are independent tasks, seeded from ``random_state`` one by one (so the
numbers do not depend on ``n_jobs`` or on the cluster), run here, on ``n_jobs``
local processes, or on a ``dask.distributed.Client``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

from ._bootstrap_refit import (
    FIT_ERRORS,
    check_refittable,
    covariance_type,
    fitted_params,
    match_components,
    permute_params,
    refit,
)
from ._bootstrap_run import check_n_jobs, run_tasks

__all__ = ["bootstrap", "BootstrapResult", "KINDS"]

KINDS = ("nonparametric", "weighted")


@dataclass
class BootstrapResult:
    """Replicates of a bootstrapped mixture and their standard errors.

    Attributes
    ----------
    kind : str
        ``"nonparametric"`` or ``"weighted"``.
    n_boot : int
    estimate : dict
        The original fit: ``weights`` (K,), ``means`` (K, D), ``covariances``
        (the estimator's layout, e.g. (K, D, D) for full).
    weights : ndarray of shape (n_boot, K)
    means : ndarray of shape (n_boot, K, D)
    covariances : ndarray of shape (n_boot, *estimate["covariances"].shape)
        Replicates in the original component order (NaN where a replicate failed
        every retry).
    permutations : ndarray of shape (n_boot, K)
        Replicate component ``permutations[b, k]`` was matched to original ``k``.
    loglik : ndarray of shape (n_boot,)
        Each replicate's (weighted) log-likelihood.
    n_failed : int
        Draws whose fit failed and were drawn again (or left NaN).
    """

    kind: str
    n_boot: int
    estimate: dict
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    permutations: np.ndarray
    loglik: np.ndarray
    n_failed: int = 0
    covariance_type: str = "full"
    errors: list = field(default_factory=list)

    @property
    def weights_se(self) -> np.ndarray:
        """Standard error of each weight, shape (K,) (``ddof=1``, as R's ``sd``)."""
        return _se(self.weights)

    @property
    def means_se(self) -> np.ndarray:
        """Standard error of each mean entry, shape (K, D)."""
        return _se(self.means)

    @property
    def covariances_se(self) -> np.ndarray:
        """Standard error of each covariance entry, the estimator's layout."""
        return _se(self.covariances)

    def confidence_interval(self, level: float = 0.95) -> dict[str, np.ndarray]:
        """Percentile intervals: ``{"weights": (2, K), "means": (2, K, D), ...}``.

        Row 0 is the ``(1 - level) / 2`` quantile, row 1 the ``(1 + level) / 2`` one
        (R's default quantile, as mclust's ``summary(..., what = "ci")``).
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        q = [(1 - level) / 2, (1 + level) / 2]
        return {name: np.nanquantile(getattr(self, name), q, axis=0)
                for name in ("weights", "means", "covariances")}

    def table(self) -> pd.DataFrame:
        """One row per parameter entry: parameter, component, index, estimate, se.

        ``index`` is the feature (means, diagonal layouts) or ``"i,j"`` (full and
        tied covariances; a tied covariance has component -1).
        """
        rows = []
        k, d = self.estimate["means"].shape
        for c in range(k):
            rows.append(("weight", c, "", self.estimate["weights"][c], self.weights_se[c]))
        mse = self.means_se
        for c in range(k):
            for i in range(d):
                rows.append(("mean", c, str(i), self.estimate["means"][c, i], mse[c, i]))
        cov, cse = self.estimate["covariances"], self.covariances_se
        for idx in np.ndindex(cov.shape):
            if self.covariance_type == "tied":
                comp, where = -1, ",".join(map(str, idx))
            else:
                comp, where = idx[0], ",".join(map(str, idx[1:]))
            rows.append(("covariance", comp, where, cov[idx], cse[idx]))
        return pd.DataFrame(rows, columns=["parameter", "component", "index", "estimate",
                                           "se"])


def _se(replicates: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(replicates.reshape(len(replicates), -1)).any(axis=1)
    if ok.sum() < 2:
        return np.full(replicates.shape[1:], np.nan)
    return np.std(replicates[ok], axis=0, ddof=1)


def _draw(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "nonparametric":
        return rng.integers(0, n, size=n)
    w = rng.standard_exponential(n)
    return n * w / w.sum()


def _replicate(spec: tuple, *, est: Any, X: np.ndarray, kind: str,
               max_retries: int) -> dict[str, Any]:
    """Fit one replicate: a given draw, or draws from its own seed until one fits."""
    seed, draw = spec
    rng = np.random.default_rng(seed)
    failed, last_error = 0, ""
    for _ in range(1 if draw is not None else max_retries + 1):
        current = draw if draw is not None else _draw(rng, X.shape[0], kind)
        try:
            if kind == "nonparametric":
                out = refit(est, X[np.asarray(current, dtype=np.int64)], None)
            else:
                out = refit(est, X, np.asarray(current, dtype=float))
        except FIT_ERRORS as exc:
            failed += 1
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        out["failed"] = failed
        return out
    return {"failed": failed, "error": last_error}


def _check_draws(draws: Any, n: int, kind: str) -> np.ndarray:
    arr = np.asarray(draws)
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"draws must have shape (n_boot, n_samples={n}), got {arr.shape}")
    if kind == "nonparametric":
        if not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= n:
            raise ValueError(f"draws for kind='nonparametric' must be row indices in "
                             f"[0, {n}) (integers)")
    elif not (np.all(np.isfinite(arr)) and np.all(arr >= 0)):
        raise ValueError("draws for kind='weighted' must be finite non-negative weights")
    return arr


def bootstrap(est: Any, X: Any, n_boot: int = 100, kind: str = "nonparametric", *,
              random_state: Any = None, n_jobs: int | None = None, client: Any = None,
              progress: bool = False, max_retries: int = 10,
              draws: Any = None) -> BootstrapResult:
    """Bootstrap standard errors of a fitted Gaussian mixture's weights, means, covariances.

    Parameters
    ----------
    est : GaussianMixture or MclustMixture
        Fitted on ``X``; it is not modified.
    X : array-like of shape (n_samples, n_features)
        The data ``est`` was fitted to.
    n_boot : int, default=100
        Number of replicates.
    kind : {"nonparametric", "weighted"}, default="nonparametric"
        Resampled rows, or Dirichlet(1, ..., 1) * n row weights (the
        weighted-likelihood bootstrap; needs ``fit(X, sample_weight=...)`` or an
        MclustMixture).
    random_state : int, numpy Generator, SeedSequence or None
        Seeds the draws; replicate ``b`` uses the ``b``-th child seed, whatever ``n_jobs``.
    n_jobs : int or None, default=None
        Local processes (None: 1; -1: all cores).
    client : dask.distributed.Client or None
        Run the replicates on this cluster (``n_jobs`` is then ignored).
    progress : bool, default=False
        Show a rich progress bar.
    max_retries : int, default=10
        New draws tried for a replicate whose fit fails.
    draws : array-like of shape (n_boot, n_samples), optional
        Given resamples instead of random ones: row indices for
        ``"nonparametric"``, weights for ``"weighted"`` (e.g. another program's,
        to reproduce its replicates). ``n_boot`` is then its number of rows.

    Returns
    -------
    BootstrapResult
        ``weights_se``, ``means_se``, ``covariances_se``, the replicate arrays and
        ``confidence_interval()``, ``table()``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    check_refittable(est, kind == "weighted")
    Xa = np.asarray(X, dtype=float)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    est_params = fitted_params(est)
    if Xa.ndim != 2 or Xa.shape[1] != est_params["means"].shape[1]:
        raise ValueError(f"X must be 2-D with {est_params['means'].shape[1]} features (those "
                         f"est was fitted on), got shape {Xa.shape}")
    check_n_jobs(n_jobs)
    if isinstance(max_retries, bool) or not isinstance(max_retries, Integral) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    if draws is not None:
        given = _check_draws(draws, Xa.shape[0], kind)
        specs: list[tuple] = [(None, row) for row in given]
    else:
        if isinstance(n_boot, bool) or not isinstance(n_boot, Integral) or n_boot < 2:
            raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
        specs = [(seed, None) for seed in _seeds(random_state, int(n_boot))]
    results = run_tasks(_replicate, specs, {"est": est, "X": Xa, "kind": kind,
                                            "max_retries": int(max_retries)},
                        n_jobs=n_jobs, client=client, progress=progress, label=f"{kind} bootstrap")
    return _collect(results, est_params, covariance_type(est), kind)


def _seeds(random_state: Any, n: int) -> list[np.random.SeedSequence]:
    if isinstance(random_state, np.random.SeedSequence):
        root = random_state
    elif isinstance(random_state, np.random.Generator):
        root = np.random.SeedSequence(int(random_state.integers(2**63)))
    elif isinstance(random_state, np.random.RandomState):
        root = np.random.SeedSequence(int(random_state.randint(2**31)))
    else:
        root = np.random.SeedSequence(random_state)
    return root.spawn(n)


def _collect(results: list[dict], estimate: dict, kind: str, boot_kind: str) -> BootstrapResult:
    b = len(results)
    k = estimate["weights"].shape[0]
    weights = np.full((b, k), np.nan)
    means = np.full((b, *estimate["means"].shape), np.nan)
    covs = np.full((b, *estimate["covariances"].shape), np.nan)
    perms = np.full((b, k), -1, dtype=np.int64)
    loglik = np.full(b, np.nan)
    errors = []
    for i, res in enumerate(results):
        if "error" in res:
            errors.append(res["error"])
            continue
        perm = match_components(estimate, res, kind)
        aligned = permute_params(res, perm, kind)
        weights[i], means[i], covs[i] = aligned["weights"], aligned["means"], \
            aligned["covariances"]
        perms[i], loglik[i] = perm, res["loglik"]
    return BootstrapResult(kind=boot_kind, n_boot=b, estimate=estimate, weights=weights,
                           means=means, covariances=covs, permutations=perms, loglik=loglik,
                           n_failed=int(sum(r["failed"] for r in results)),
                           covariance_type=kind, errors=errors)
