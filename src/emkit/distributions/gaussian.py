"""Multivariate Gaussian with full, diagonal, spherical or tied covariance.

The density is computed by :mod:`emkit.gaussian.reference` (Cholesky factors
of the precision) and the M-step by
:func:`emkit.models.mixture.gaussian.gaussian_mixture_m_step`, so this class and
:class:`emkit.GaussianMixture` share one implementation of the math.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..gaussian.m_step import gaussian_mixture_m_step
from ..gaussian.reference import COVARIANCE_TYPES, log_gaussian_density, precision_cholesky
from ._base import Distribution, _as_array, as_rng, check_weights

__all__ = ["Gaussian"]


def _stacked_covariances(components: list[Gaussian], kind: str) -> np.ndarray:
    covs = [np.asarray(c.covariance, dtype=float) for c in components]
    return np.stack(covs) if kind != "spherical" else np.array([float(c) for c in covs])


class Gaussian(Distribution):
    """Multivariate normal distribution.

    Parameters
    ----------
    mean : array-like of shape (n_features,) or None
    covariance : array-like or None
        Shape (n_features, n_features) for ``"full"`` and ``"tied"``,
        (n_features,) for ``"diag"`` (the variances), a scalar for
        ``"spherical"``. ``None`` until fitted.
    covariance_type : {"full", "diag", "spherical", "tied"}, default "full"
        ``"tied"`` is ``"full"`` for a single distribution; inside a
        :class:`emkit.MixtureModel` all tied-Gaussian components share one
        covariance (fitted from their pooled scatter, counted once in
        ``n_parameters`` of the mixture).
    reg_covar : float, default 1e-6
        Added to the covariance diagonal in every M-step, as scikit-learn does,
        so a component shrinking onto few points stays positive definite.

    Notes
    -----
    Statistics (the contract of :mod:`emkit.models.mixture.gaussian`, for one
    component), centred on the current mean ``m`` (0 before fitting):
    ``n = sum w``, ``sum = sum w x``, ``centred_sum = sum w (x - m)``,
    ``centred_outer = sum w (x - m)(x - m)^T`` (only its diagonal for diag and
    spherical).
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ("mean", "covariance")

    def __init__(self, mean: Any = None, covariance: Any = None, *,
                 covariance_type: str = "full", reg_covar: float = 1e-6):
        self.mean = _as_array(mean)
        self.covariance = _as_array(covariance)
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar

    @property
    def exact_m_step(self) -> bool:  # type: ignore[override]
        return self.reg_covar == 0

    def _kind(self) -> str:
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"Gaussian: covariance_type must be one of {COVARIANCE_TYPES}, "
                f"got {self.covariance_type!r}"
            )
        return "full" if self.covariance_type == "tied" else self.covariance_type

    def is_feasible(self, params: dict[str, Any]) -> bool:
        if not all(np.all(np.isfinite(v)) for v in params.values()):
            return False
        cov = params["covariance"]
        if self._kind() == "full":
            return bool(np.all(np.linalg.eigvalsh(cov) > 0))
        return bool(np.all(cov > 0))

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        kinds = {c._kind() for c in components}  # type: ignore[attr-defined]
        if len(kinds) != 1:
            return super().log_prob_components(components, X)
        kind = kinds.pop()
        means = np.stack([np.atleast_1d(c.mean) for c in components])
        prec = precision_cholesky(_stacked_covariances(components, kind), kind)
        return log_gaussian_density(X, means, prec, kind)

    def _log_prob(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob_components([self], X)[:, 0]

    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        w = check_weights(weights, X.shape[0])
        centre = np.zeros(X.shape[1]) if self.mean is None else np.atleast_1d(self.mean)
        xc = X - centre
        if self._kind() == "full":
            outer = (xc * w[:, None]).T @ xc
        else:
            outer = w @ (xc * xc)
        return {"n": np.asarray(w.sum()), "sum": w @ X, "centred_sum": w @ xc,
                "centred_outer": outer}

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        kind = self._kind()
        stacked = {k: np.asarray(v)[None] for k, v in stats.items()}
        params = gaussian_mixture_m_step(stacked, kind, self.reg_covar)
        cov = params["covariances"][0]
        return {"mean": params["means"][0], "covariance": np.asarray(cov)}

    def init_from_data(self, X: np.ndarray, weights: Any = None,
                       rng: Any = None) -> Gaussian:
        w = check_weights(weights, X.shape[0])
        # centre the moments on the weighted mean for accuracy (mean is a constant here)
        centre = (w @ X) / (w.sum() + 10 * np.finfo(float).eps)
        return self.from_stats(self.with_parameters({"mean": centre}).stats(X, w))

    def pool_key(self) -> Any:
        return ("Gaussian", "tied", self.reg_covar) if self.covariance_type == "tied" else None

    def from_stats_pooled(self, stats_list: list[dict]) -> list[Distribution]:
        """Tied M-step: one covariance from the pooled scatter of every component."""
        stacked = {k: np.stack([np.asarray(s[k]) for s in stats_list]) for k in stats_list[0]}
        params = gaussian_mixture_m_step(stacked, "tied", self.reg_covar)
        return [self.with_parameters({"mean": m, "covariance": params["covariances"].copy()})
                for m in params["means"]]

    def n_shared_parameters(self) -> int:
        """Parameters shared with the other components of a pool (the tied covariance)."""
        d = self.n_features or 0
        return d * (d + 1) // 2 if self.covariance_type == "tied" else 0

    @property
    def n_parameters(self) -> int:
        self._check_fitted()
        d = int(np.size(self.mean))
        kind = self._kind()
        cov = {"full": d * (d + 1) // 2, "diag": d, "spherical": 1}[kind]
        return d + cov

    def full_covariance(self) -> np.ndarray:
        """The covariance as a (n_features, n_features) matrix whatever its type."""
        self._check_fitted()
        d = int(np.size(self.mean))
        kind = self._kind()
        if kind == "full":
            return np.asarray(self.covariance)
        if kind == "diag":
            return np.diag(self.covariance)
        return float(self.covariance) * np.eye(d)

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        return as_rng(rng).multivariate_normal(np.atleast_1d(self.mean),
                                               self.full_covariance(), size=n)
