"""Design rows of a linear predictor: a leading 1 and the columns scaled into [-1, 1].

Used by the regression mixture (covariates and concomitant variables) and by
:class:`emkit.MixtureModel` with concomitant variables. The models work on
``x~ = (x - centre) / half_range`` with ``centre`` and ``half_range`` the
midpoint and half the range of each column over the training rows, so
``|x~_ij| <= 1``. That serves twice: the Gram matrices of the Newton and
least-squares steps are well conditioned whatever the columns' offsets and units,
and ``|x~_i' d| <= sum_j |d_j|`` bounds the change of every row's linear predictor
for a step ``d`` (:mod:`emkit.numerics.newton`). The affine change of
columns is undone exactly on the coefficients: the fitted model is the same, only
its parametrization differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Design"]


@dataclass(frozen=True)
class Design:
    """The column scaling of a design matrix.

    Parameters
    ----------
    centre : ndarray of shape (p,)
    half_range : ndarray of shape (p,)
        Positive.
    """

    centre: np.ndarray
    half_range: np.ndarray

    @classmethod
    def identity(cls, p: int) -> Design:
        """No scaling: the design rows are ``[1, x]`` (for models in original units)."""
        return cls(np.zeros(p), np.ones(p))

    @classmethod
    def from_range(cls, low: np.ndarray, high: np.ndarray) -> Design:
        """The scaling of columns whose values lie in ``[low, high]`` (``high > low``)."""
        low = np.asarray(low, dtype=float)
        high = np.asarray(high, dtype=float)
        return cls(0.5 * (low + high), 0.5 * (high - low))

    @property
    def n_columns(self) -> int:
        return int(np.size(self.centre))

    def rows(self, X: np.ndarray) -> np.ndarray:
        """``[1, (X - centre) / half_range]``, shape (n, p + 1)."""
        X = np.asarray(X, dtype=float)
        out = np.empty((X.shape[0], X.shape[1] + 1))
        out[:, 0] = 1.0
        np.subtract(X, self.centre, out=out[:, 1:])
        out[:, 1:] /= self.half_range
        return out

    def to_original(self, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Intercepts (K,) and slopes (K, p) in the columns' own units, from (K, p + 1)."""
        coef = np.atleast_2d(np.asarray(coef, dtype=float))
        slopes = coef[:, 1:] / self.half_range
        return coef[:, 0] - slopes @ self.centre, slopes

    def to_scaled(self, intercept: np.ndarray, slopes: np.ndarray) -> np.ndarray:
        """The (K, p + 1) coefficients on the scaled design, from intercepts and slopes."""
        slopes = np.atleast_2d(np.asarray(slopes, dtype=float))
        intercept = np.asarray(intercept, dtype=float).reshape(-1)
        return np.column_stack([intercept + slopes @ self.centre, slopes * self.half_range])
