"""``emkit.select_model``: fit a grid of mclust covariance models and component counts.

Like mclust's ``Mclust()``: every (model, K) pair is fitted by EM from mclust's
model-based hierarchical agglomeration of the data (grown once and cut at each
K, the same partitions as mclust's), and ranked by BIC, AIC or ICL. Fits that
fail (a singular covariance, an empty component) stay in the table with the
reason.

Sign convention: ``bic``, ``aic`` and ``icl`` are scikit-learn's, lower is
better: ``bic = -2 loglik + npar log n``. mclust prints ``2 loglik - npar log n``
(higher is better), i.e. ``-bic``; likewise its ICL is ``-icl``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConvergenceWarning
from ..gaussian.conjugate_prior import as_prior_control
from ..gaussian.constrained import MCLUST_MODELS, check_model_name
from ..models.mixture.mclust import n_mixture_parameters
from ..models.mixture.mclust_init import HC_MODELS, hc_partitions
from ..models.mixture.mclust_start import check_start, start_components
from .mclust_mixture import (
    INIT_METHODS,
    MclustMixture,
    check_data,
    check_spread,
    failure_reason,
)

__all__ = ["select_model", "SelectionResult", "CRITERIA", "TABLE_COLUMNS"]

CRITERIA = ("bic", "aic", "icl")
TABLE_COLUMNS = ("model", "n_components", "loglik", "n_parameters", "bic", "aic", "icl",
                 "converged", "init", "error")


class RankedFits:
    """What every grid of fits offers: the winner's size and the ranked table.

    Subclasses are dataclasses with ``table`` (one row per fit, an ``error``
    column empty where the fit succeeded), ``best`` and ``criterion``.
    """

    table: pd.DataFrame
    best: Any
    criterion: str

    @property
    def best_n_components(self) -> int:
        """Number of components (states) of the winner."""
        return int(self.best.n_components)

    def ranking(self) -> pd.DataFrame:
        """The successful fits sorted by the criterion, best first."""
        ok = self.table[self.table["error"].isna()]
        return ok.sort_values(self.criterion, kind="stable").reset_index(drop=True)


@dataclass
class SelectionResult(RankedFits):
    """What :func:`select_model` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (model, n_components), in fitting order, with columns
        ``model, n_components, loglik, n_parameters, bic, aic, icl, converged,
        init, error``. ``init`` is the start the fit came from (``"hc"``, or
        ``"kmeans"`` where the hc start failed and k-means was tried). Failed
        fits have NaN numbers and in ``error`` the reason in a few words (e.g.
        ``"singular covariance: component 4 (3 points), reciprocal condition
        number 1.4e-13"``); ``error`` is missing (``table["error"].isna()``) for
        fits that succeeded.
    best : MclustMixture
        The fitted estimator with the lowest ``criterion``.
    criterion : str
        ``"bic"``, ``"aic"`` or ``"icl"``.
    """

    table: pd.DataFrame
    best: MclustMixture
    criterion: str

    @property
    def best_model(self) -> str:
        """mclust name of the winner, e.g. ``"EEE"``."""
        return str(self.best.model)

    def pivot(self, value: str | None = None) -> pd.DataFrame:
        """``value`` (default: the criterion) as a K x model grid, like mclust's BIC print."""
        value = value or self.criterion
        grid = self.table.pivot(index="n_components", columns="model", values=value)
        order = [m for m in MCLUST_MODELS if m in grid.columns]
        return grid[order]


def _components(n_components: Any) -> list[int]:
    if isinstance(n_components, Integral) and not isinstance(n_components, bool):
        values = [int(n_components)]
    elif isinstance(n_components, Iterable) and not isinstance(n_components, (str, bytes)):
        values = list(n_components)
    else:
        raise ValueError(f"n_components must be an integer or a sequence of integers, "
                         f"got {n_components!r}")
    if not values:
        raise ValueError("n_components is empty; give at least one component count")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
            raise ValueError(f"n_components must hold integers >= 1, got {v!r}")
    return sorted({int(v) for v in values})


def _models(covariance_models: Sequence[str] | str | None) -> list[str]:
    if covariance_models is None:
        return list(MCLUST_MODELS)
    if isinstance(covariance_models, str):
        covariance_models = [m for m in covariance_models.split(",") if m.strip()]
    names = [check_model_name(m.strip()) for m in covariance_models]
    if not names:
        raise ValueError("covariance_models is empty; give at least one mclust model name")
    return list(dict.fromkeys(names))


def _starts(init: Any) -> dict[int, Any]:
    """A user's start (or a dict of them by K) as {K: start}."""
    if init is None:
        return {}
    if isinstance(init, Mapping) and init and all(
            isinstance(key, Integral) and not isinstance(key, bool) for key in init):
        return {int(key): value for key, value in init.items()}
    return {start_components(init): init}


def _n_jobs(n_jobs: Any, n_cells: int) -> int:
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None, a positive integer or -1, got {n_jobs!r}")
    jobs = int(n_jobs)
    if jobs < 0:
        jobs = max(1, (os.cpu_count() or 1) + 1 + jobs)
    return max(1, min(jobs, n_cells))


def _fit_cells(X: np.ndarray, cells: list[tuple[str, int]], settings: dict,
               rows: np.ndarray | None, parts: dict | None,
               starts: dict) -> list[tuple[dict, MclustMixture | None, list[tuple]]]:
    """Fit each (model, K) cell: its table row, the fitted estimator (None if it
    failed) and the warnings it raised as ``(message, category, filename, lineno)``."""
    n, d = X.shape
    out: list[tuple[dict, MclustMixture | None, list[tuple]]] = []
    for model, k in cells:
        est = MclustMixture(model, k, **settings)
        try:
            if k > n:
                raise ValueError(f"n_components={k} exceeds the number of samples {n}")
            est._validate(X)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if k in starts:
                    est._fit_start(X, *starts[k])
                else:
                    est._fit_partition(X, rows, None if parts is None else parts.get(k))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            out.append((_failed_row(model, k, d, exc), None, []))
            continue
        crit = est.criteria(X)
        record = {"model": model, "n_components": k, "loglik": est.loglik_,
                  "n_parameters": est.n_parameters(), "bic": crit["bic"],
                  "aic": crit["aic"], "icl": crit["icl"], "converged": est.converged_,
                  "init": est.init_used_, "error": None}
        out.append((record, est, [(w.message, w.category, w.filename, w.lineno)
                                  for w in caught]))
    return out


def _failed_row(model: str, k: int, n_features: int, exc: BaseException) -> dict:
    return {"model": model, "n_components": k, "loglik": math.nan,
            "n_parameters": n_mixture_parameters(model, k, n_features), "bic": math.nan,
            "aic": math.nan, "icl": math.nan, "converged": False, "init": None,
            "error": failure_reason(exc)}


def select_model(
    X: Any,
    n_components: int | Iterable[int] = range(1, 10),
    covariance_models: Sequence[str] | str | None = None,
    criterion: str = "bic",
    random_state: Any = None,
    *,
    init_params: str = "hc",
    hc_model: str = "VVV",
    hc_sample_size: int | None = 2000,
    tol: float | str = 1e-8,
    reg_covar: float = 0.0,
    max_iter: int = 1000,
    prior: Any = None,
    init: Any = None,
    n_jobs: int | None = None,
) -> SelectionResult:
    """Fit every (covariance model, K) pair and pick the best by ``criterion``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Complete numeric data.
    n_components : int or iterable of int, default range(1, 10)
        Component counts to try.
    covariance_models : sequence of str, str or None, default None
        mclust names (``"EII"``, ..., ``"VVV"``), or one comma-separated string;
        ``None`` tries all fourteen.
    criterion : {"bic", "aic", "icl"}, default "bic"
        Lower is better (scikit-learn's sign; mclust's BIC is the negative).
    random_state : int, numpy Generator or None
        Seeds the hc subsample and any k-means start.
    init_params : {"hc", "kmeans"}, default "hc"
        ``"hc"``: mclust's model-based agglomeration (``hc(X, "VVV", use =
        "SVD")``, reproduced merge for merge), grown once and cut at each K, so
        the fits start where ``Mclust()`` starts them; ``"kmeans"``: a k-means++
        run per fit.
    hc_model : {"VVV", "EII"}, default "VVV"
    hc_sample_size : int or None, default 2000
    tol, reg_covar, max_iter
        Passed to every :class:`~emkit.estimators.mclust_mixture.MclustMixture`;
        ``tol="mclust"`` stops each fit by mclust's own rule (relative change of
        the log-likelihood at most 1e-5), as ``Mclust()`` does.
    prior : None, "default" or dict, default None
        mclust's conjugate prior for every fit (``"default"``: ``priorControl()``,
        as ``Mclust(x, prior = priorControl())``); the table's ``loglik`` and
        criteria are then those at the MAP fits without the log-prior term, as
        mclust's BIC.
    init : labels, responsibilities, parameters, dict of them by K, or None
        A user's start (as :meth:`MclustMixture.fit`'s ``init``: integer labels
        (n_samples,), responsibilities (n_samples, K) or a dict of ``weights``,
        ``means`` and ``covariances``) for every model at its number of
        components (labels: the largest label + 1), or a dict from K to such a
        start; the other K start from ``init_params``. Their ``init`` in the
        table is ``"user"``. E.g. ``init=mclust_classification`` refits all
        fourteen models from another program's partition.
    n_jobs : int or None, default None
        Fit the grid's cells in this many local processes (joblib; ``-1``: one
        per core). The table is the same as a serial run's (each cell's fit does
        not depend on the others'), except that a k-means fallback seeded by a
        shared NumPy ``Generator`` draws from copies of it. Worth it where the
        fits take seconds (thousands of rows); on Old Faithful starting the
        processes costs more than the fits.

    Returns
    -------
    SelectionResult
        ``.table`` (pandas DataFrame, one row per fit, failures included) and
        ``.best`` (the fitted winner).

    Raises
    ------
    ValueError
        For bad arguments, identical rows with ``reg_covar=0`` (no covariance can
        be estimated), or when every fit failed.

    Warns
    -----
    ConvergenceWarning
        Collected from the individual fits and re-issued once, naming them.
    """
    X = check_data(X)
    ks = _components(n_components)
    models = _models(covariance_models)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if init_params not in INIT_METHODS:
        raise ValueError(f"init_params must be one of {INIT_METHODS}, got {init_params!r}")
    if hc_model not in HC_MODELS:
        raise ValueError(f"hc_model must be one of {HC_MODELS}, got {hc_model!r}")
    if isinstance(reg_covar, bool) or not isinstance(reg_covar, Real) or not reg_covar >= 0:
        raise ValueError(f"reg_covar must be a non-negative number, got {reg_covar!r}")
    as_prior_control(prior)
    check_spread(X, float(reg_covar))  # else every fit would fail, each for the same reason
    n, d = X.shape
    starts = {k: check_start(start, n, d, k, what=f"init (K={k})")
              for k, start in _starts(init).items() if k in ks}
    rows = parts = None
    if init_params == "hc":
        rows, parts = hc_partitions(X, ks, model=hc_model, sample_size=hc_sample_size,
                                    random_state=random_state)
    settings = {"tol": tol, "reg_covar": reg_covar, "max_iter": max_iter,
                "init_params": init_params, "hc_model": hc_model,
                "hc_sample_size": hc_sample_size, "random_state": random_state,
                "prior": prior}
    cells = [(model, k) for model in models for k in ks]
    jobs = _n_jobs(n_jobs, len(cells))
    if jobs == 1:
        outcomes = _fit_cells(X, cells, settings, rows, parts, starts)
    else:
        from joblib import Parallel, delayed  # type: ignore[import-untyped]

        groups = [cells[i::jobs] for i in range(jobs)]
        done = Parallel(n_jobs=jobs)(delayed(_fit_cells)(X, group, settings, rows, parts, starts)
                                     for group in groups)
        by_cell = {(o[0]["model"], o[0]["n_components"]): o for part in done for o in part}
        outcomes = [by_cell[cell] for cell in cells]
    records: list[dict] = []
    best: tuple[float, MclustMixture] | None = None
    unconverged: list[str] = []
    for record, est, caught in outcomes:
        records.append(record)
        for message, category, filename, lineno in caught:
            if issubclass(category, ConvergenceWarning):
                unconverged.append(f"{record['model']},{record['n_components']}")
            else:
                warnings.warn_explicit(message, category, filename, lineno)
        score = record[criterion]
        if est is not None and np.isfinite(score) and (best is None or score < best[0]):
            best = (score, est)
    if unconverged:
        warnings.warn(f"EM hit max_iter={max_iter} for {', '.join(unconverged)}; "
                      "raise max_iter or loosen tol", ConvergenceWarning, stacklevel=2)
    table = pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))
    table["n_components"] = table["n_components"].astype(int)
    table["n_parameters"] = table["n_parameters"].astype(int)
    table["converged"] = table["converged"].astype(bool)
    if best is None:
        raise ValueError("every fit failed; first error: " + str(table["error"].iloc[0]))
    return SelectionResult(table=table, best=best[1], criterion=criterion)
