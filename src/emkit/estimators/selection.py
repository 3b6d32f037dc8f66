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
    records: list[dict] = []
    best: tuple[float, MclustMixture] | None = None
    unconverged: list[str] = []
    for model in models:
        for k in ks:
            est = MclustMixture(model, k, tol=tol, reg_covar=reg_covar, max_iter=max_iter,
                                init_params=init_params, hc_model=hc_model,
                                hc_sample_size=hc_sample_size, random_state=random_state,
                                prior=prior)
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
                records.append(_failed_row(model, k, d, exc))
                continue
            for w in caught:
                if issubclass(w.category, ConvergenceWarning):
                    unconverged.append(f"{model},{k}")
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            crit = est.criteria(X)
            record = {"model": model, "n_components": k, "loglik": est.loglik_,
                      "n_parameters": est.n_parameters(), "bic": crit["bic"],
                      "aic": crit["aic"], "icl": crit["icl"], "converged": est.converged_,
                      "init": est.init_used_, "error": None}
            records.append(record)
            score = record[criterion]
            if np.isfinite(score) and (best is None or score < best[0]):
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
