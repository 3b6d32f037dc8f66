"""What ``GaussianMixture`` makes of a run whose M-step collapses a component.

This module's one job: with ``reg_covar=0`` an M-step can give a component a
singular covariance (all its weight on one point), where the likelihood is
undefined, or a tiny positive variance below the rounding of its mean, where the
likelihood is decided by rounding (:func:`collapse_reason`).
:class:`CollapseGuard` wraps the model; when an M-step gives such parameters,
the run stops and keeps the last parameters whose likelihood is defined
(scikit-learn's gh-18216 test expects such a fit to finish, unconverged). When
the *initial* parameters are already singular there is nothing to keep, and the
error is scikit-learn's ``ValueError``.

Where scikit-learn raises -- a covariance that is not positive definite, or a
variance that is not positive, in the stored precision -- the guard first asks
its :class:`~._gaussian_mixture_reseed.Reseeder` (``degenerate="reseed"``) to
re-seed the collapsed component, or raises scikit-learn's ``ValueError``
(``degenerate="raise"``).

(What ``reg_covar`` may cost a step is the model's ``monotone_slack``: see
:mod:`emkit.gaussian.m_step`.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..gaussian.cholesky_kernels import cholesky_factors
from ..gaussian.compiled_steps import collapse_check
from ._gaussian_mixture_checks import COLLAPSE_MESSAGE
from ._gaussian_mixture_reseed import Reseeder, singular_components

__all__ = ["CollapseGuard", "Collapsed", "collapse_reason", "rounding_components"]


class Collapsed(Exception):
    """Raised by :class:`CollapseGuard` where a run must stop; carries what to keep."""

    def __init__(self, params: Any, loglik: float, reason: str):
        super().__init__(reason)
        self.params = params
        self.loglik = loglik
        self.reason = reason


class CollapseGuard:
    """``model`` with its E-step refused at parameters whose likelihood is undefined.

    Every attribute but ``e_step`` is the model's own (``m_step``,
    ``monotone_rtol``, ``is_feasible``, ...).

    Parameters
    ----------
    model : EMModel
        A Gaussian-mixture model (complete data, missing values, or on Dask).
    covariance_type : str
    dtype : numpy.dtype
        Precision of the model's E-step arithmetic (see :func:`collapse_reason`).
    reseeder : Reseeder or None
        Repairs a component whose covariance is not positive definite
        (``degenerate="reseed"``); None leaves such a step to ``degenerate``.
    degenerate : {"reseed", "raise"}
        ``"raise"``: such a step raises scikit-learn's ``ValueError``.
    """

    def __init__(self, model: Any, covariance_type: str, dtype: Any = np.float64,
                 reseeder: Reseeder | None = None, degenerate: str = "reseed"):
        self.model = model
        self.covariance_type = covariance_type
        self.dtype = np.dtype(dtype)
        self.eps = float(np.finfo(dtype).eps)
        self.last: tuple[Any, float] | None = None
        self.reseeder = reseeder
        self.degenerate = degenerate
        self.n_m_steps = 0
        #: the log-likelihood of every E-step that returned (the start's first)
        self.logliks: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def start(self, params: dict) -> dict:
        """The initial parameters, with collapsed components re-seeded (or refused)."""
        return self._repair(params, iteration=0)

    def m_step(self, stats: Any) -> dict:
        self.n_m_steps += 1
        return self._repair(self.model.m_step(stats), iteration=self.n_m_steps)

    def monotone_slack(self, stats: Any) -> float:
        """The model's slack, or ``inf`` right after a re-seed (no EM step)."""
        if self.reseeder is not None and self.reseeder.slack() > 0.0:
            return float("inf")
        own = getattr(self.model, "monotone_slack", None)
        return 0.0 if own is None else float(own(stats))

    def _singular(self, params: dict) -> list[int]:
        """:func:`singular_components`, after one compiled factorization of all
        covariances says whether there are any (~2 us instead of ~15 us per step)."""
        if self.covariance_type in ("full", "tied"):
            cov = np.asarray(params["covariances"], dtype=np.float64)
            if self.dtype != np.float64:
                cov = cov.astype(self.dtype).astype(np.float64)
            d = cov.shape[-1]
            if cholesky_factors(cov.reshape(-1, d, d))[2] < 0:
                return []
        return singular_components(params, self.covariance_type, self.dtype)

    def _repair(self, params: dict, iteration: int) -> dict:
        bad = self._singular(params)
        if iteration == 0 and self.reseeder is not None:
            # a start below rounding has no earlier parameters to fall back on
            bad = sorted(set(bad) | set(rounding_components(params, self.covariance_type,
                                                            self.eps)))
        if not bad:
            return params
        if self.degenerate == "raise":
            which = ("the tied covariance" if self.covariance_type == "tied"
                     else f"component {bad[0]}")
            when = "the start" if iteration == 0 else f"iteration {iteration}"
            raise ValueError(f"{COLLAPSE_MESSAGE} ({which} at {when} is not positive "
                             "definite; degenerate='reseed' re-seeds it instead)")
        if self.reseeder is None or not self.reseeder.can_repair(bad):
            return params  # the E-step guard stops the run (or refuses the start)
        current = None if self.last is None or iteration == 0 else self.last[0]
        return self.reseeder.repair(params, bad, current, iteration)

    def e_step(self, data: Any, params: dict) -> tuple[Any, float]:
        reason = collapse_reason(params, self.covariance_type, self.eps)
        if (reason is None and self.dtype != np.float64  # float64: collapse_reason factored it
                and self._singular(params)):
            reason = f"a covariance is not positive definite in {self.dtype}"
        if reason is not None:
            if self.last is None:
                raise ValueError(f"{COLLAPSE_MESSAGE} ({reason})")
            raise Collapsed(*self.last, reason=reason)
        stats, loglik = self.model.e_step(data, params)
        if not math.isfinite(loglik) and self.last is not None:
            raise Collapsed(*self.last, reason=f"the log-likelihood became {loglik}")
        self.last = (params, float(loglik))
        self.logliks.append(float(loglik))
        return stats, loglik


#: A covariance pivot below ``(RESOLUTION * eps * |mean|)**2`` is lost in rounding.
RESOLUTION = 4.0


def collapse_reason(params: dict, covariance_type: str, eps: float) -> str | None:
    """Why some covariance of ``params`` has no defined density, or None.

    A covariance is singular when it is not positive definite, and *numerically*
    singular when a variance (a pivot of its Cholesky factorization, which bounds
    the smallest eigenvalue from above) is below the square of the rounding of
    its component's mean, ``RESOLUTION * eps * max |mean|``: every row's distance
    to that mean is then rounding, and so is its density. (A component that took
    all its weight from one row gets a variance of rounding size, ±1e-45 or
    ±1e-16 depending on how the sums fell.)
    """
    code, comp, smallest = collapse_check(params["covariances"], params["means"],
                                          covariance_type, eps, RESOLUTION)
    if code == 0:
        return None
    if code == 1:
        return "a covariance is not finite"
    if code == 2:
        return ("a covariance is not positive definite" if covariance_type in ("full", "tied")
                else "a variance is zero or negative")
    which = "the tied covariance" if covariance_type == "tied" else f"component {comp}"
    return f"{which} has a variance of {smallest:.3g}, below the rounding of its mean"


def rounding_components(params: dict, covariance_type: str, eps: float) -> list[int]:
    """Components (``[0]``: the tied covariance) whose smallest Cholesky pivot is
    positive but below the rounding of their mean (see :func:`collapse_reason`)."""
    cov = np.asarray(params["covariances"], dtype=np.float64)
    means = np.abs(np.asarray(params["means"], dtype=np.float64))
    if covariance_type in ("full", "tied"):
        mats = cov[None] if covariance_type == "tied" else cov
        lower, _, failed = cholesky_factors(mats)  # all at once (~2 us) when all factor
        if failed < 0:
            smallest = (np.diagonal(lower, axis1=-2, axis2=-1) ** 2).min(axis=-1)
        else:
            smallest = np.full(len(mats), np.inf)
            for k, mat in enumerate(mats):
                try:
                    smallest[k] = (np.diagonal(np.linalg.cholesky(mat)) ** 2).min()
                except np.linalg.LinAlgError:
                    continue
    else:
        smallest = cov if covariance_type == "spherical" else cov.min(axis=-1)
    scale = np.atleast_1d(means.max() if covariance_type == "tied" else means.max(axis=-1))
    floor = (RESOLUTION * eps * scale) ** 2
    return np.flatnonzero((smallest > 0.0) & (smallest <= floor)).tolist()
