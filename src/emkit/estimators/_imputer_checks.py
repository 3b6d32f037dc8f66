"""Input validation of :class:`~emkit.estimators.imputer.EMImputer`.

This module's one job is to refuse what ``EMImputer`` cannot fit or fill, with
an error that names the remedy: bad constructor parameters, non-numeric or
infinite data, rows or columns with nothing observed, columns with a single
observed value, overflowing spreads, and too few rows (or constant columns) for
the model and ``reg_covar``; and to choose the ``reg_covar`` of the fit when the
caller left it to the default (:meth:`ImputerChecks._regularization`). The checks
are methods of a mixin because the NumPy and Dask fitting paths both call them
on the estimator, the Dask path with summaries computed on its partitions.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils.validation import validate_data

from ..exceptions import RegularizationWarning
from ..gaussian.reference import COVARIANCE_TYPES
from ..validation import check_magnitude

__all__ = ["ImputerChecks", "FALLBACK_REG_COVAR", "warn_regularized"]

#: ``reg_covar`` (relative to each column's variance) that the default
#: ``reg_covar=None`` falls back to where the maximum-likelihood covariance is
#: singular, so that it does not exist.
FALLBACK_REG_COVAR = 1e-6


def warn_regularized(reason: str, stacklevel: int = 4) -> None:
    """Say that the fit falls back to :data:`FALLBACK_REG_COVAR`, and why."""
    warnings.warn(
        f"no maximum-likelihood estimate without regularization ({reason}): "
        f"fitted with reg_covar={FALLBACK_REG_COVAR:g} of each column's variance; "
        "pass reg_covar explicitly to choose the regularization",
        RegularizationWarning,
        stacklevel=stacklevel,
    )


class ImputerChecks:
    """Validation methods of ``EMImputer`` (reads its parameters, sets nothing)."""

    n_components: int
    covariance_type: str
    max_iter: int
    tol: float
    reg_covar: float | None
    accelerate: str | None

    def _check_params(self) -> None:
        def bad(name: str, what: str) -> ValueError:
            return ValueError(f"{name} must be {what}, got {getattr(self, name)!r}")

        if not isinstance(self.n_components, Integral) or self.n_components < 1:
            raise bad("n_components", "an integer >= 1")
        if self.covariance_type not in COVARIANCE_TYPES:
            raise bad("covariance_type", f"one of {COVARIANCE_TYPES}")
        if not isinstance(self.max_iter, Integral) or self.max_iter < 1:
            raise bad("max_iter", "an integer >= 1")
        if not isinstance(self.tol, Real) or not self.tol >= 0:
            raise bad("tol", "a number >= 0")
        if self.reg_covar is not None and (not isinstance(self.reg_covar, Real)
                                           or not self.reg_covar >= 0):
            raise bad("reg_covar", "None or a number >= 0")
        if self.accelerate not in (None, "squarem"):
            raise bad("accelerate", "None or 'squarem'")

    def _validate_X(self, X: Any, reset: bool) -> np.ndarray:
        try:
            X = validate_data(self, X, reset=reset, dtype=np.float64,
                              ensure_all_finite="allow-nan", ensure_min_samples=1)
        except ValueError as exc:
            if "infinity" in str(exc):
                raise ValueError(
                    "X contains infinite values; mark missing entries with NaN"
                ) from exc
            if "convert" in str(exc) or "dtype" in str(exc):
                raise ValueError(f"EMImputer needs numeric data: {exc}") from exc
            raise
        if np.isinf(X).any():
            raise ValueError("X contains infinite values; mark missing entries with NaN")
        empty_rows = np.flatnonzero(np.isnan(X).all(axis=1))
        if empty_rows.size:
            raise ValueError(
                f"{empty_rows.size} row(s) have every entry missing (first: row "
                f"{empty_rows[0]}); there is nothing to condition on: drop them"
            )
        return X

    @staticmethod
    def _check_spread(X: np.ndarray, spread: np.ndarray) -> None:
        """Refuse data whose column spreads overflow (their squares did).

        EM itself runs on standardized columns, so only the covariance in the
        data's units needs the squares: data at 1e150 fit, data whose squares
        overflow get :func:`~emkit.validation.check_magnitude`'s error.
        """
        if not np.all(np.isfinite(spread)):  # overflow, or a column with no value
            check_magnitude(X)

    def _column_name(self, j: int | np.integer) -> str:
        names = getattr(self, "feature_names_in_", None)
        return f"column {j} ({names[j]!r})" if names is not None else f"column {j}"

    def _check_fit_data(self, X: np.ndarray, *, n_rows: int | None = None,
                        n_observed: np.ndarray | None = None,
                        spread: np.ndarray | None = None) -> None:
        """Refuse data the model cannot be fitted to (summaries may be precomputed)."""
        n = X.shape[0] if n_rows is None else n_rows
        d = X.shape[1]
        if n < self.n_components + 1:
            raise ValueError(
                f"EMImputer with n_components={self.n_components} needs at least "
                f"{self.n_components + 1} rows (n_samples = {n} given)"
            )
        observed = (~np.isnan(X)).sum(axis=0) if n_observed is None else n_observed
        for j in np.flatnonzero(observed == 0):
            raise ValueError(f"{self._column_name(j)} is entirely missing; drop it")
        for j in np.flatnonzero(observed < 2):
            raise ValueError(
                f"{self._column_name(j)} has only one observed value; its variance "
                "cannot be estimated"
            )
        if self.reg_covar == 0:
            if n <= d:
                raise ValueError(
                    f"with reg_covar=0 the covariance of {d} columns needs more than {d} "
                    f"rows, got {n}; set reg_covar > 0"
                )
            spread = np.nanstd(X, axis=0) if spread is None else spread
            for j in np.flatnonzero(spread == 0):
                raise ValueError(
                    f"{self._column_name(j)} is constant; with reg_covar=0 its variance "
                    "is zero: set reg_covar > 0 or drop it"
                )

    def _regularization(self, n_rows: int, spread: np.ndarray) -> float:
        """The ``reg_covar`` to fit with (checked data; ``spread`` per column).

        An explicit ``reg_covar`` as given. The default (None) is 0, so the fit is
        the maximum-likelihood estimate, unless that covariance is singular for
        sure (no more rows than columns, a constant column): then
        :data:`FALLBACK_REG_COVAR`, with a :class:`~emkit.exceptions.RegularizationWarning`.
        A covariance that turns out singular during EM (collinear columns, a
        collapsing component) is handled by the fit loop the same way.
        """
        if self.reg_covar is not None:
            return float(self.reg_covar)
        d = len(spread)
        constant = np.flatnonzero(np.asarray(spread) == 0)
        if n_rows <= d:
            warn_regularized(f"{n_rows} rows for {d} columns make the covariance singular")
        elif constant.size:
            warn_regularized(f"{self._column_name(constant[0])} is constant, so the "
                             "covariance is singular")
        else:
            return 0.0
        return FALLBACK_REG_COVAR
