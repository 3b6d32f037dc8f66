"""Re-seeding a Gaussian-mixture component whose covariance collapsed.

This module's one job is ``GaussianMixture(degenerate="reseed")`` (the default):
where an M-step (or the drawn start) gives a component a covariance that is not
positive definite, or a variance that is zero or negative, in the precision the
fit is stored in -- exactly where scikit-learn raises "ill-defined empirical
covariance" -- the component is started again instead:

* its **mean** becomes the worst-explained row: the row with the lowest
  log-likelihood ``log sum_j w_j N(x_i; mu_j, S_j)`` under the current fit (the
  parameters of the previous E-step; for the start, its components that did
  not collapse), skipping rows already used by another re-seeded component and
  rows of zero weight (missing entries take their column's mean);
* its **covariance** becomes the data's column variances (a diagonal matrix for
  ``full``, their mean for ``spherical``), each at least ``reg_covar``,
  ``1e-3`` of their average and well above the rounding of the data's scale;
  a collapsed ``tied`` covariance is replaced by the same matrix;
* its **weight** becomes ``max(w_k, 1 / n_samples)``, the weights renormalized.

EM then continues from there. Such a step is not an EM step, so the engine's
monotonicity check allows it (:meth:`Reseeder.slack`). At most
:data:`MAX_RESEEDS_PER_COMPONENT` re-seeds per component and run are made; a
component collapsing again after those stops the run at the last parameters
whose likelihood is defined, as :class:`._gaussian_mixture_guard.CollapseGuard`
does for a collapse it cannot repair.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import logsumexp

__all__ = ["MAX_RESEEDS_PER_COMPONENT", "ReseedEvent", "Reseeder", "singular_components"]

#: Re-seeds of one component in one run before the run is stopped instead.
MAX_RESEEDS_PER_COMPONENT = 5


def singular_components(params: dict, covariance_type: str, dtype: Any) -> list[int]:
    """Components whose covariance, stored in ``dtype``, has no Cholesky factor.

    Parameters
    ----------
    params : dict
        ``covariances`` in scikit-learn's layout for ``covariance_type``.
    covariance_type : {"full", "tied", "diag", "spherical"}
    dtype : numpy.dtype
        Precision of the fitted attributes: the covariances are rounded to it first.

    Returns
    -------
    list of int
        Indices of collapsed components (``[0]`` for a collapsed ``tied``
        covariance); empty when every covariance is positive definite and finite.
    """
    cov = np.asarray(params["covariances"]).astype(dtype).astype(np.float64)
    if covariance_type in ("full", "tied"):
        mats = cov[None] if covariance_type == "tied" else cov
        bad = []
        for k, mat in enumerate(mats):
            if not np.all(np.isfinite(mat)):
                bad.append(k)
                continue
            try:
                np.linalg.cholesky(mat)
            except np.linalg.LinAlgError:
                bad.append(k)
        return bad
    ok = np.isfinite(cov) & (cov > 0.0)
    if covariance_type == "diag":
        return np.flatnonzero(~ok.all(axis=1)).tolist()
    return np.flatnonzero(~ok).tolist()


@dataclass(frozen=True)
class ReseedEvent:
    """One re-seeded component: where (``row``) and when (``iteration``; 0 = the start)."""

    component: int
    iteration: int
    row: int
    row_loglik: float

    def describe(self, covariance_type: str) -> str:
        which = ("the tied covariance" if covariance_type == "tied"
                 else f"component {self.component}")
        where = ("the drawn start" if self.iteration == 0
                 else f"the M-step of iteration {self.iteration}")
        if covariance_type == "tied":
            return f"{which} collapsed at {where}; replaced by the data's column variances"
        return (f"{which} collapsed at {where}; re-seeded at row {self.row} "
                f"(log-likelihood {self.row_loglik:.4g}, the worst-explained row)")


class Reseeder:
    """Repairs collapsed components of Gaussian-mixture parameters.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
        Candidate rows for new means (the training data, or on Dask input the
        sample the start was drawn from); may contain NaN.
    score_rows : callable
        ``score_rows(rows, params)`` -> weighted log-probabilities (n_rows, K).
    covariance_type : str
    reg_covar : float
    dtype : numpy.dtype
        Precision of the fitted attributes.
    sample_weight : ndarray of shape (n_rows,) or None
        Rows of zero weight are never picked.
    """

    def __init__(self, rows: np.ndarray, score_rows: Any, covariance_type: str,
                 reg_covar: float, dtype: Any, sample_weight: np.ndarray | None = None):
        self.rows = rows
        self.score_rows = score_rows
        self.covariance_type = covariance_type
        self.dtype = np.dtype(dtype)
        self.reg_covar = reg_covar
        self.sample_weight = sample_weight
        self.events: list[ReseedEvent] = []
        self.counts: dict[int, int] = {}
        self._since_slack = False

    @cached_property
    def column_means(self) -> np.ndarray:
        """Column means of the candidate rows (NaN ignored), shape (n_features,)."""
        return np.nanmean(np.asarray(self.rows, dtype=np.float64), axis=0)

    @cached_property
    def seed_variances(self) -> np.ndarray:
        """Column variances of a re-seeded component, shape (n_features,)."""
        return _seed_variances(np.asarray(self.rows, dtype=np.float64), self.reg_covar,
                               self.dtype)

    @property
    def eligible(self) -> np.ndarray | None:
        """Rows that may be picked (positive weight), or None for all."""
        return None if self.sample_weight is None else np.asarray(self.sample_weight) > 0

    def can_repair(self, bad: list[int]) -> bool:
        return all(self.counts.get(k, 0) < MAX_RESEEDS_PER_COMPONENT for k in bad)

    def repair(self, params: dict, bad: list[int], current: dict | None,
               iteration: int) -> dict:
        """``params`` with the components ``bad`` re-seeded (see the module notes).

        ``current``: the parameters the worst-explained rows are judged by
        (None: ``params`` without the collapsed components).
        """
        weights = np.array(params["weights"], dtype=np.float64)
        means = np.array(params["means"], dtype=np.float64)
        cov = np.array(params["covariances"], dtype=np.float64)
        seed = self.seed_variances
        self._since_slack = True
        if self.covariance_type == "tied":
            self.counts[0] = self.counts.get(0, 0) + 1
            self.events.append(ReseedEvent(0, iteration, -1, float("nan")))
            return {"weights": weights, "means": means, "covariances": np.diag(seed)}
        losses = self._row_logliks(params, bad, current)
        order = np.argsort(losses, kind="stable")
        taken: set[int] = set()
        for k in bad:
            row = int(next(i for i in order if int(i) not in taken))
            taken.add(row)
            centre = np.asarray(self.rows[row], dtype=np.float64)
            means[k] = np.where(np.isnan(centre), self.column_means, centre)
            if self.covariance_type == "full":
                cov[k] = np.diag(seed)
            elif self.covariance_type == "diag":
                cov[k] = seed
            else:
                cov[k] = seed.mean()
            weights[k] = max(weights[k], 1.0 / len(self.rows))
            self.counts[k] = self.counts.get(k, 0) + 1
            self.events.append(ReseedEvent(k, iteration, row, float(losses[row])))
        weights /= weights.sum()
        return {"weights": weights, "means": means, "covariances": cov}

    def slack(self) -> float:
        """``inf`` once after a re-seed (that step is no EM step), else 0."""
        reseeded, self._since_slack = self._since_slack, False
        return float("inf") if reseeded else 0.0

    def _row_logliks(self, params: dict, bad: list[int], current: dict | None) -> np.ndarray:
        if current is None:
            keep = np.setdiff1d(np.arange(len(np.asarray(params["weights"]))), bad)
            current = _subset(params, keep, self.covariance_type) if keep.size else None
        if current is None:  # every component collapsed: distance to the data's centre
            z = (np.nan_to_num(np.asarray(self.rows, dtype=np.float64) - self.column_means)
                 ** 2 / self.seed_variances)
            losses = -z.sum(axis=1)
        else:
            losses = logsumexp(self.score_rows(self.rows, current), axis=1)
        losses = np.where(np.isfinite(losses), losses, -np.inf)
        if self.eligible is not None:
            losses = np.where(self.eligible, losses, np.inf)
        return losses


def _subset(params: dict, keep: np.ndarray, covariance_type: str) -> dict:
    weights = np.asarray(params["weights"], dtype=np.float64)[keep]
    cov = np.asarray(params["covariances"], dtype=np.float64)
    return {"weights": weights / weights.sum(),
            "means": np.asarray(params["means"], dtype=np.float64)[keep],
            "covariances": cov if covariance_type == "tied" else cov[keep]}


def _seed_variances(rows: np.ndarray, reg_covar: float, dtype: np.dtype) -> np.ndarray:
    """The data's column variances, each at least ``reg_covar``, ``1e-3`` of their
    mean and ``(64 eps max|x|)**2`` (far above the rounding of the data's scale)."""
    with np.errstate(invalid="ignore"):
        var = np.nan_to_num(np.nanvar(rows, axis=0))
    scale = float(np.nanmax(np.abs(rows))) if rows.size else 1.0
    floor = max(reg_covar, 1e-3 * float(var.mean()),
                (64.0 * float(np.finfo(dtype).eps) * scale) ** 2)
    if not floor > 0.0:
        floor = 1.0
    return np.maximum(var, floor)
