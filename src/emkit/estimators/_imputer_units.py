"""Between the data's units and the standardized units EM runs in, for ``EMImputer``.

This module's one job is that affine change of variables: EM runs on columns
centred on their observed means and divided by their observed spreads (one
common scale for spherical covariances), so ``reg_covar`` is relative and
nothing overflows. :meth:`ImputerUnits._set_fitted` maps the fitted parameters
back to the data's units, with the standard errors of the mean from the observed
information (summed over Dask partitions); :meth:`ImputerUnits._standardized_params`
maps stored parameters forward again for ``transform``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import linalg

from .. import backends
from ..exceptions import ConvergenceWarning
from ..models.mixture.missing_information import normal_observed_information
from ..models.mixture.missing_patterns import find_patterns

__all__ = ["ImputerUnits"]


def _weighted_information(X: np.ndarray, weight: np.ndarray, mean: np.ndarray,
                          covariance: np.ndarray) -> np.ndarray:
    return normal_observed_information(find_patterns(X, weight), mean, covariance)


def _summed_information(data: Any, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Observed information of the normal, summed over Dask partitions when ``data`` is Dask
    (a Dask array, or a tuple of the Dask rows and their Dask weights)."""
    if isinstance(data, tuple):
        import dask

        rows, weight = data
        pairs = zip(rows.to_delayed().ravel(), weight.to_delayed().ravel(), strict=True)
        parts = [dask.delayed(_weighted_information)(b, w, mean, covariance) for b, w in pairs]
        return np.sum(dask.compute(*parts), axis=0)
    if not backends.is_dask(data):
        return normal_observed_information(data, mean, covariance)
    import dask

    blocks = data.to_delayed().ravel()
    parts = [dask.delayed(normal_observed_information)(b, mean, covariance) for b in blocks]
    return np.sum(dask.compute(*parts), axis=0)


class ImputerUnits:
    """Scaling methods of ``EMImputer``: set and read the fitted parameters."""

    n_components: int
    covariance_type: str

    if TYPE_CHECKING:  # from ImputerFreeze
        def _free_mean_variances(self, info: np.ndarray, d: int,
                                 variances: Any) -> np.ndarray: ...

    def _column_scale(self, spread: np.ndarray) -> np.ndarray:
        """Positive per-column scales; one common scale for spherical covariances."""
        spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
        if self.covariance_type == "spherical":  # keep the model spherical
            spread = np.full_like(spread, np.exp(np.log(spread).mean()))
        return spread

    def _set_fitted(self, params: dict, data: Any, center: np.ndarray,
                    scale: np.ndarray, n_observed: np.ndarray) -> None:
        """Map standardized parameters back to the data's units and store them."""
        for name in ("mean_", "covariance_", "weights_", "means_", "covariances_"):
            self.__dict__.pop(name, None)
        outer_scale = np.outer(scale, scale)
        cov = np.asarray(params["covariances"])
        if self.n_components > 1:
            self.weights_ = params["weights"]
            self.means_ = center + scale * params["means"]
            if self.covariance_type in ("full", "tied"):
                self.covariances_ = cov * outer_scale
            elif self.covariance_type == "diag":
                self.covariances_ = cov * scale**2
            else:
                self.covariances_ = cov * scale[0] ** 2
            self.standard_errors_ = None
            return
        d = len(scale)
        mean_z = params["means"][0]
        if self.covariance_type in ("full", "tied"):
            cov_z = cov.reshape(d, d)
        elif self.covariance_type == "diag":
            cov_z = np.diag(cov.reshape(d))
        else:
            cov_z = np.eye(d) * float(cov.reshape(-1)[0])
        self.mean_ = center + scale * mean_z
        self.covariance_ = cov_z * outer_scale
        if self.covariance_type in ("full", "tied"):
            info = _summed_information(data, mean_z, cov_z)
            if getattr(self, "_masks", None):
                var_z = self._free_mean_variances(info, d, self._mean_variances)
            else:
                var_z = self._mean_variances(info, d)
        else:  # independent columns: each mean is the mean of its observed values
            var_z = np.diag(cov_z) / n_observed
            frozen = (getattr(self, "_masks", None) or {}).get("means")
            if frozen is not None:
                var_z = np.where(frozen[0], 0.0, var_z)
        self.standard_errors_ = scale * np.sqrt(var_z)

    @staticmethod
    def _mean_variances(info: np.ndarray, d: int) -> np.ndarray:
        """Variances of the mean from the observed information; NaN where undefined.

        The information is positive definite at a maximum of the likelihood. Where
        EM stopped short of one (``max_iter`` reached, a likelihood so flat that
        the tolerance is met early), it need not be: the Cholesky factorization
        fails, and a symmetric solve may give a non-positive (or no) variance for a
        mean. NaN with a :class:`~emkit.ConvergenceWarning` is returned there
        rather than the square root of a negative number.
        """
        unit = np.eye(len(info), d)
        try:  # (info^-1)_jj = |L^-1 e_j|^2 with info = L L^T: one triangular solve
            low = linalg.cholesky(info, lower=True)
            var = np.sum(linalg.solve_triangular(low, unit, lower=True) ** 2, axis=0)
        except linalg.LinAlgError:  # not positive definite: solve, to see which are not
            try:
                var = np.diagonal(linalg.solve(info, unit, assume_a="sym")).copy()
            except linalg.LinAlgError:
                var = np.full(d, np.nan)
        if not np.all(var > 0):
            var[~(var > 0)] = np.nan
            warnings.warn(
                "the observed information is not positive definite at the fitted "
                "parameters (EM stopped before the maximum of the likelihood, or the "
                "maximum is on the boundary): standard_errors_ are NaN where undefined; "
                "raise max_iter or lower tol",
                ConvergenceWarning,
                stacklevel=4,
            )
        return var

    def _standardized_params(self) -> tuple[np.ndarray, np.ndarray, dict]:
        """The fitted parameters in standardized units (centre and scale from themselves)."""
        if self.n_components == 1:
            center, cov = self.mean_, self.covariance_
            scale = self._column_scale(np.sqrt(np.diag(cov)))
            return center, scale, {"weights": np.ones(1), "means": np.zeros((1, len(center))),
                                   "covariances": (cov / np.outer(scale, scale))[None]}
        w, means, cov = self.weights_, self.means_, np.asarray(self.covariances_)
        center = w @ means
        d = means.shape[1]
        if self.covariance_type in ("full", "tied"):
            var = np.diagonal(cov, axis1=-2, axis2=-1)
        elif self.covariance_type == "diag":
            var = cov
        else:
            var = np.repeat(cov[:, None], d, axis=1)
        var = np.broadcast_to(var, means.shape)
        scale = self._column_scale(np.sqrt(w @ (var + (means - center) ** 2)))
        if self.covariance_type in ("full", "tied"):
            cov_z = cov / np.outer(scale, scale)
        elif self.covariance_type == "diag":
            cov_z = cov / scale**2
        else:
            cov_z = cov / scale[0] ** 2
        return center, scale, {"weights": w, "means": (means - center) / scale,
                               "covariances": cov_z}
