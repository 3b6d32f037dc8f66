"""``emkit.select_hmm``: fit hidden Markov models for a range of state counts and rank them.

The sibling of :func:`emkit.select_model` for sequences. Every number of states
in the grid gets one HMM (with ``n_init`` restarts, the best log-likelihood
kept), scored by its own :meth:`~emkit.estimators.hmm_criteria.HMMCriteria.bic`
and :meth:`~emkit.estimators.hmm_criteria.HMMCriteria.aic` (hmmlearn's parameter
counts; lower is better). A fit that fails (more states than rows, a state
with no data to learn from) stays in the table with its reason in a few words.
With ``sample_weight`` (one weight per sequence) every fit is weighted and so
are the log-likelihood and the row count the criteria use: an integer weight
gives the table of the data with that sequence repeated.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..distributions._base import Distribution
from ..exceptions import ConvergenceWarning
from ._hmm_weights import check_sample_weight
from .hmm_base import BaseHMM
from .mclust_mixture import failure_reason
from .selection import RankedFits, _components

__all__ = ["select_hmm", "HMMSelectionResult", "n_free_parameters", "weighted_criteria",
           "HMM_CRITERIA", "HMM_TABLE_COLUMNS"]

HMM_CRITERIA = ("bic", "aic")
HMM_TABLE_COLUMNS = ("n_components", "loglik", "n_parameters", "bic", "aic", "converged",
                     "error")

#: what a fit may fail with and still leave the other fits of the grid standing
_FIT_FAILURES = (ValueError, ArithmeticError, np.linalg.LinAlgError)


@dataclass
class HMMSelectionResult(RankedFits):
    """What :func:`select_hmm` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per number of states, in increasing order, with columns
        ``n_components, loglik, n_parameters, bic, aic, converged, error``.
        ``loglik`` is the total log-likelihood of the data under the fitted
        model; failed fits have NaN numbers and their reason in ``error``
        (missing, ``table["error"].isna()``, for fits that succeeded).
    best : BaseHMM
        The fitted HMM with the lowest ``criterion``.
    criterion : str
        ``"bic"`` or ``"aic"``.
    """

    table: pd.DataFrame
    best: BaseHMM
    criterion: str


def _factory(emission: Any, n_init: int, random_state: Any,
             hmm_kwargs: dict[str, Any]) -> Any:
    """A function ``k -> unfitted HMM with k states`` for the ``emission`` argument."""
    settings = {"n_init": n_init, "random_state": random_state, **hmm_kwargs}
    if emission is None:
        from .hmm import GaussianHMM

        covariance_type = settings.pop("covariance_type", "diag")
        return lambda k: GaussianHMM(k, covariance_type, **settings)
    if isinstance(emission, Distribution):
        from .hmm_distribution import HMM

        return lambda k: HMM(emission, k, **settings)
    if isinstance(emission, type) and issubclass(emission, BaseHMM):
        return lambda k: emission(n_components=k, **settings)
    if isinstance(emission, BaseHMM):
        # a template keeps its own settings; n_init and random_state replace its
        # values only when given (not the defaults)
        overrides = dict(hmm_kwargs)
        if n_init != 1:
            overrides["n_init"] = n_init
        if random_state is not None:
            overrides["random_state"] = random_state
        return lambda k: clone(emission).set_params(n_components=k, **overrides)
    raise ValueError("emission must be None (a GaussianHMM), an emkit.distributions "
                     "instance, an HMM estimator class or an HMM estimator instance, got "
                     f"{type(emission).__name__}")


def _n_parameters(est: BaseHMM, n_features: int) -> int | None:
    """hmmlearn's count of free parameters of ``est`` for ``n_features`` columns (less
    the entries under ``freeze``)."""
    try:
        return est._n_free_scalars(n_features)
    except (ValueError, AttributeError, TypeError):
        return None  # a count that needs the fitted parameters of a failed fit


def weighted_criteria(est: BaseHMM, X: Any, lengths: Any,
              weights: np.ndarray | None, n_parameters: int | None) -> dict[str, float]:
    """``loglik``, ``bic`` and ``aic`` of the fitted ``est`` on ``X``.

    Parameters
    ----------
    est : BaseHMM
        A fitted HMM estimator.
    X : array-like of shape (n_samples, n_features)
    lengths : array-like of int of shape (n_sequences,) or None
    weights : ndarray of shape (n_sequences,) or None
        Checked weights, one per sequence. With them the log-likelihood is the
        weighted sum over sequences and BIC's ``n_samples`` the weighted number
        of rows, so an integer weight counts as that many copies of the
        sequence; without them, ``est.score``, ``est.bic`` and ``est.aic``.
    n_parameters : int or None
        hmmlearn's count of free parameters of ``est`` (None: unknown, NaN criteria).

    Returns
    -------
    dict
        ``{"loglik": float, "bic": float, "aic": float}``.
    """
    if weights is None:
        return {"loglik": float(est.score(X, lengths)), "bic": float(est.bic(X, lengths)),
                "aic": float(est.aic(X, lengths))}
    model, data, params = est._inference(X, lengths)
    kept = weights > 0  # a left-out sequence adds nothing, even where its density is 0
    per_sequence = model.score_sequences(data, params)
    loglik = float(np.dot(weights[kept], per_sequence[kept]))
    n_rows = float(np.dot(weights, data.lengths))
    p = math.nan if n_parameters is None else float(n_parameters)
    return {"loglik": loglik, "bic": -2.0 * loglik + p * math.log(n_rows),
            "aic": -2.0 * loglik + 2.0 * p}


def n_free_parameters(model: BaseHMM, X: Any, lengths: Any = None) -> int:
    """The ``p`` of ``model.aic(X, lengths)`` and ``model.bic(X, lengths)``.

    Parameters
    ----------
    model : BaseHMM
        A fitted HMM estimator.
    X : array-like of shape (n_samples, n_features)
    lengths : array-like of int of shape (n_sequences,), optional

    Returns
    -------
    int
        hmmlearn's count of free start, transition and emission parameters, less
        the entries under ``freeze`` (not estimated, so not counted).
    """
    n_features = int(model._sequences(X, lengths).X.shape[1])
    return model._n_free_scalars(n_features)


def select_hmm(
    X: Any,
    lengths: Any = None,
    *,
    n_components: int | Iterable[int] = range(1, 7),
    emission: Any = None,
    sample_weight: Any = None,
    criterion: str = "bic",
    n_init: int = 1,
    random_state: Any = None,
    **hmm_kwargs: Any,
) -> HMMSelectionResult:
    """Fit an HMM for every number of states in ``n_components`` and pick the best.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The sequences, back to back (as for the HMMs' ``fit``).
    lengths : array-like of int of shape (n_sequences,), optional
        Rows of each sequence; default: one sequence.
    n_components : int or iterable of int, default range(1, 7)
        Numbers of states to try (each >= 1).
    emission : None, Distribution, HMM class or HMM instance, default None
        What each HMM is: ``None`` a :class:`~emkit.GaussianHMM` (with
        ``covariance_type`` from ``hmm_kwargs``, default ``"diag"``); an
        :mod:`emkit.distributions` instance ``d`` an ``emkit.HMM(d, k)``; an
        estimator class (``emkit.PoissonHMM``, ...) ``cls(n_components=k)``; an
        estimator instance is cloned with ``n_components=k`` and keeps its other
        settings (``n_init`` and ``random_state`` replace them when given).
    sample_weight : array-like of shape (n_sequences,), optional
        Non-negative weight of each sequence, passed to every fit as the HMMs'
        ``fit(X, lengths, sample_weight)``. The table's ``loglik`` is then the
        weighted log-likelihood and BIC's ``n_samples`` the weighted number of
        rows, so an integer weight gives the same table as repeating that
        sequence (0 as dropping it). Default: every sequence counts once.
    criterion : {"bic", "aic"}, default "bic"
        ``bic = -2 loglik + p log(n_samples)``, ``aic = -2 loglik + 2 p`` with
        hmmlearn's count ``p`` of free parameters; lower is better.
    n_init : int, default 1
        Starts per number of states; the best log-likelihood is kept.
    random_state : int, RandomState or None
        Seeds every fit's initialization.
    **hmm_kwargs
        Further constructor arguments of every HMM (``n_iter``, ``tol``,
        ``covariance_type``, ...).

    Returns
    -------
    HMMSelectionResult
        ``.table`` (pandas DataFrame, one row per number of states, failures
        included) and ``.best`` (the fitted winner).

    Raises
    ------
    ValueError
        For bad arguments (naming the argument), input the HMMs refuse, or when
        every fit failed.

    Warns
    -----
    ConvergenceWarning
        Once, naming the numbers of states whose kept fit did not converge
        (``converged`` False in the table).

    Examples
    --------
    >>> import numpy as np
    >>> import emkit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(np.repeat([0.0, 5.0, 0.0, 5.0], 50), 1.0)[:, None]
    >>> result = emkit.select_hmm(X, n_components=[1, 2, 3], n_iter=50, random_state=0)
    >>> result.best_n_components
    2
    """
    ks = _components(n_components)
    if criterion not in HMM_CRITERIA:
        raise ValueError(f"criterion must be one of {HMM_CRITERIA}, got {criterion!r}")
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise ValueError(f"n_init must be an integer >= 1, got {n_init!r}")
    for name in ("n_components", "X", "lengths"):
        if name in hmm_kwargs:
            raise ValueError(f"{name} is select_hmm's own argument, not an HMM setting")
    make = _factory(emission, int(n_init), random_state, hmm_kwargs)
    first = make(ks[0])
    first._check_settings()  # a bad setting would fail every fit the same way
    try:
        # bad data would fail every fit the same way too
        sequences = first._sequences(X, lengths, fitting=True)
    finally:
        first._end_fit()
    n_features = int(sequences.X.shape[1])
    weights = check_sample_weight(sample_weight, sequences.n_sequences)
    records: list[dict] = []
    best: tuple[float, BaseHMM] | None = None
    unconverged: list[str] = []
    for k in ks:
        est = make(k)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                est.fit(X, lengths, sample_weight=weights)
            n_parameters = _n_parameters(est, n_features)
            record: dict[str, Any] = {
                "n_components": k, "n_parameters": n_parameters,
                **weighted_criteria(est, X, lengths, weights, n_parameters),
                "converged": bool(est.monitor_.converged), "error": None}
        except _FIT_FAILURES as exc:
            records.append({"n_components": k, "loglik": math.nan,
                            "n_parameters": _n_parameters(est, n_features), "bic": math.nan,
                            "aic": math.nan, "converged": False,
                            "error": failure_reason(exc)})
            continue
        for w in caught:  # convergence is reported once below, for the kept starts
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if not record["converged"]:
            unconverged.append(str(k))
        records.append(record)
        score = record[criterion]
        if np.isfinite(score) and (best is None or score < best[0]):
            best = (score, est)
    if unconverged:
        warnings.warn(f"EM did not converge for n_components = {', '.join(unconverged)}; "
                      "raise n_iter or loosen tol", ConvergenceWarning, stacklevel=2)
    table = pd.DataFrame.from_records(records, columns=list(HMM_TABLE_COLUMNS))
    table["n_components"] = table["n_components"].astype(int)
    table["n_parameters"] = table["n_parameters"].astype("Int64")
    table["converged"] = table["converged"].astype(bool)
    if best is None:
        raise ValueError("every fit failed; first error: " + str(table["error"].iloc[0]))
    return HMMSelectionResult(table=table, best=best[1], criterion=criterion)
