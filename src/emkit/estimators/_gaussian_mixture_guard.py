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

(What ``reg_covar`` may cost a step is the model's ``monotone_slack``: see
:mod:`emkit.gaussian.m_step`.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._gaussian_mixture_checks import COLLAPSE_MESSAGE

__all__ = ["CollapseGuard", "Collapsed", "collapse_reason"]


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
    """

    def __init__(self, model: Any, covariance_type: str, dtype: Any = np.float64):
        self.model = model
        self.covariance_type = covariance_type
        self.eps = float(np.finfo(dtype).eps)
        self.last: tuple[Any, float] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def e_step(self, data: Any, params: dict) -> tuple[Any, float]:
        reason = collapse_reason(params, self.covariance_type, self.eps)
        if reason is not None:
            if self.last is None:
                raise ValueError(f"{COLLAPSE_MESSAGE} ({reason})")
            raise Collapsed(*self.last, reason=reason)
        stats, loglik = self.model.e_step(data, params)
        if not math.isfinite(loglik) and self.last is not None:
            raise Collapsed(*self.last, reason=f"the log-likelihood became {loglik}")
        self.last = (params, float(loglik))
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
    cov = np.asarray(params["covariances"], dtype=np.float64)
    means = np.abs(np.asarray(params["means"], dtype=np.float64))
    if not np.all(np.isfinite(cov)):
        return "a covariance is not finite"
    if covariance_type in ("full", "tied"):
        try:
            pivots = np.diagonal(np.linalg.cholesky(cov), axis1=-2, axis2=-1) ** 2
        except np.linalg.LinAlgError:
            return "a covariance is not positive definite"
        smallest = pivots.min(axis=-1)
    else:
        smallest = cov if covariance_type == "spherical" else cov.min(axis=-1)
        if not np.all(smallest > 0.0):
            return "a variance is zero or negative"
    scale = means.max() if covariance_type == "tied" else means.max(axis=-1)
    floor = (RESOLUTION * eps * scale) ** 2
    small = np.flatnonzero(np.atleast_1d(smallest <= floor))
    if small.size:
        which = "the tied covariance" if covariance_type == "tied" else f"component {small[0]}"
        return (f"{which} has a variance of {float(np.atleast_1d(smallest)[small[0]]):.3g}, "
                "below the rounding of its mean")
    return None
