"""Multivariate Gaussian with full, diagonal, spherical or tied covariance.

The one Gaussian of :class:`emkit.MixtureModel` components and of HMM states
(:class:`emkit.GaussianHMM` is the HMM whose states are these). The math lives
in :mod:`emkit.gaussian`, shared with :class:`emkit.GaussianMixture`:

* log-densities of K components at once: the compiled kernels of
  :mod:`emkit.gaussian.component_kernels` (tested against the NumPy reference
  :func:`emkit.gaussian.reference.log_gaussian_density`);
* weighted statistics of K components at once: the compiled centred moments
  of the same module;
* the M-step: :func:`emkit.gaussian.m_step.gaussian_mixture_m_step` (maximum
  likelihood, ``reg_covar`` added), or, with a conjugate prior or a variance
  floor, :func:`emkit.gaussian.map_step.map_m_step` for all components of one
  covariance type together.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np

from ..gaussian.component_kernels import (
    centred_diag_moments,
    centred_full_moments,
    diag_gaussian,
    full_gaussian,
    full_gaussian_frame,
)
from ..gaussian.m_step import gaussian_mixture_m_step, regularization_slack
from ..gaussian.map_step import (
    ConjugatePrior,
    covariance_ok,
    map_log_prior,
    map_m_step,
)
from ..gaussian.missing_kernels import pattern_log_densities, pattern_moments
from ..gaussian.reference import COVARIANCE_TYPES, precision_cholesky
from ._base import Distribution, _as_array, as_rng, check_weights, column_sums
from .missing import MissingEntries

__all__ = ["Gaussian"]


def _means_and_full_covariances(components: list[Distribution]) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Means (K, D) and covariances as full matrices (K, D, D), whatever their types."""
    gaussians = cast("list[Gaussian]", components)
    return (np.stack([np.atleast_1d(np.asarray(c.mean)) for c in gaussians]),
            np.stack([c.full_covariance() for c in gaussians]))


def _complete_rows_stats(cls: type[Gaussian], components: list[Distribution],
                         missing: MissingEntries, resp: np.ndarray) -> list[dict]:
    """The complete-data statistics of the complete rows only: the other rows' weights
    are set to 0 for the call and put back (a copy of the few rows with NaN, not of
    ``resp``)."""
    rows = np.flatnonzero(~missing.complete)
    if not resp.flags.writeable:
        return cls.stats_components(components, missing.zero_filled(),
                                    np.where(missing.complete[:, None], resp, 0.0))
    saved = resp[rows]
    resp[rows] = 0.0
    try:
        return cls.stats_components(components, missing.zero_filled(), resp)
    finally:
        resp[rows] = saved


def _check_pattern(bad: int, masks: np.ndarray) -> None:
    if bad >= 0:
        raise ValueError(
            "a covariance is singular or not positive definite on the observed columns "
            f"{np.flatnonzero(~masks[bad]).tolist()} of some rows; increase reg_covar "
            "(min_covar) or reduce the number of states"
        )


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
    min_covariance : float, default 0
        A floor on every variance (every eigenvalue, for full and tied): the
        M-step is then the exact maximizer under that constraint.
    mean_prior, mean_weight : array-like of shape (n_features,) and float
        Normal prior on the mean: prior mean and pseudo-count (0: no prior).
    covariance_prior, covariance_weight : array-like and float, optional
        Inverse-gamma (diag, spherical: shape (n_features,)) or inverse-Wishart
        (full, tied: (n_features, n_features)) prior on the covariance, in
        hmmlearn's parametrization (``GaussianHMM``'s ``covars_prior`` and
        ``covars_weight``). With any of the prior or the floor set, the M-step
        is the MAP step of :mod:`emkit.gaussian.map_step` (``reg_covar`` is then
        usually 0), and ``log_prior`` its objective term.

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
                 covariance_type: str = "full", reg_covar: float = 1e-6,
                 min_covariance: float = 0.0, mean_prior: Any = None, mean_weight: float = 0.0,
                 covariance_prior: Any = None, covariance_weight: Any = None):
        self.mean = _as_array(mean)
        self.covariance = _as_array(covariance)
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.min_covariance = min_covariance
        self.mean_prior = mean_prior
        self.mean_weight = mean_weight
        self.covariance_prior = covariance_prior
        self.covariance_weight = covariance_weight

    def _is_map(self) -> bool:
        """True when a prior or a variance floor makes the M-step the MAP step."""
        return bool(self.min_covariance > 0 or np.any(np.asarray(self.mean_weight) != 0)
                    or self.covariance_prior is not None or self.covariance_weight is not None)

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
        return covariance_ok(np.asarray(params["covariance"], dtype=float), self._kind(),
                             float(self.min_covariance))

    # ------------------------------------------------- K components at once
    @classmethod
    def _stack(cls, components: list[Distribution]) -> tuple[str, np.ndarray, np.ndarray] | None:
        """(kind, means (K, D), covariances in the kind's layout), or None when mixed."""
        kinds = {c._kind() for c in components}
        if len(kinds) != 1 or any(c.mean is None for c in components):
            return None
        kind = kinds.pop()
        means = np.stack([np.atleast_1d(c.mean) for c in components])
        return kind, means, _stacked_covariances(components, kind)

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        stacked = cls._stack(components)
        if stacked is None:
            return super().log_prob_components(components, X)
        kind, means, covs = stacked
        prec = precision_cholesky(covs, kind)
        if kind == "full":
            return full_gaussian(X, means, prec)
        per_feature = prec if kind == "diag" else np.repeat(prec[:, None], X.shape[1], axis=1)
        return diag_gaussian(X, means, per_feature)[0]

    @classmethod
    def frame_components(cls, components: list[Distribution],
                         X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        stacked = cls._stack(components)
        if stacked is None:
            return None
        kind, means, covs = stacked
        prec = precision_cholesky(covs, kind)
        if kind == "full":
            return full_gaussian_frame(X, means, prec)
        per_feature = prec if kind == "diag" else np.repeat(prec[:, None], X.shape[1], axis=1)
        return diag_gaussian(X, means, per_feature, as_frame=True)

    @classmethod
    def stats_components(cls, components: list[Distribution], X: np.ndarray,
                         resp: np.ndarray) -> list[dict[str, np.ndarray]]:
        stacked = cls._stack(components)
        if stacked is None:
            return super().stats_components(components, X, resp)
        kind, means, _ = stacked
        moments = centred_full_moments if kind == "full" else centred_diag_moments
        obs, second = moments(X, resp, means)
        n = column_sums(resp)
        sums = n[:, None] * means + obs
        return [{"n": np.asarray(n[k]), "sum": sums[k], "centred_sum": obs[k],
                 "centred_outer": second[k]} for k in range(len(components))]

    # ------------------------------------------- rows with missing entries (NaN)
    @classmethod
    def _observed_log_densities(cls, components: list[Distribution],
                                missing: MissingEntries) -> tuple[np.ndarray, np.ndarray]:
        """The partly observed rows (indices) and their observed-block log-densities (n, K)."""
        packed = missing.packed()
        if packed.rows.size == 0:
            return packed.rows, np.zeros((0, len(components)))
        means, covs = _means_and_full_covariances(components)
        log_density, bad = pattern_log_densities(packed.values, packed.bounds, packed.masks,
                                                 means, covs)
        _check_pattern(bad, packed.masks)
        return packed.rows, log_density

    @classmethod
    def log_prob_components_missing(cls, components: list[Distribution], X: np.ndarray,
                                    missing: MissingEntries) -> np.ndarray:
        """The exact marginal log-density of each row's observed entries, (n, K): the
        complete rows by the compiled complete-data path, the partly observed ones by
        the Cholesky factor of their observed block
        (:func:`~emkit.gaussian.missing_kernels.pattern_log_densities`), 0 for rows
        with nothing observed."""
        out = cls.log_prob_components(components, missing.zero_filled())
        rows, log_density = cls._observed_log_densities(components, missing)
        out[rows] = log_density
        out[missing.empty] = 0.0
        return out

    @classmethod
    def frame_components_missing(cls, components: list[Distribution], X: np.ndarray,
                                 missing: MissingEntries
                                 ) -> tuple[np.ndarray, np.ndarray] | None:
        fast = cls.frame_components(components, missing.zero_filled())
        if fast is None:
            return None
        frame, shift = fast
        rows, log_density = cls._observed_log_densities(components, missing)
        if rows.size:
            top = log_density.max(axis=1)
            top = np.where(np.isfinite(top), top, 0.0)
            with np.errstate(under="ignore"):
                frame[rows] = np.exp(log_density - top[:, None])
            shift[rows] = top
        frame[missing.empty] = 1.0
        shift[missing.empty] = 0.0
        return frame, shift

    @classmethod
    def stats_components_missing(cls, components: list[Distribution], X: np.ndarray,
                                 resp: np.ndarray,
                                 missing: MissingEntries) -> list[dict[str, np.ndarray]]:
        """Expected statistics: each partly observed row completed by
        ``E[x_m | x_o, state]``, with the conditional covariance added to the second
        moment (:func:`~emkit.gaussian.missing_kernels.pattern_moments`), as
        :class:`emkit.GaussianMixture` does with NaN; rows with nothing observed
        contribute nothing."""
        stats = _complete_rows_stats(cls, components, missing, resp)
        packed = missing.packed()
        if packed.rows.size == 0:
            return stats
        means, covs = _means_and_full_covariances(components)
        n, first, outer, bad = pattern_moments(packed.values, packed.bounds, packed.masks,
                                               resp[packed.rows], means, covs)
        _check_pattern(bad, packed.masks)
        out = []
        for k, (c, s) in enumerate(zip(cast("list[Gaussian]", components), stats,
                                       strict=True)):
            second = outer[k] if c._kind() == "full" else np.diagonal(outer[k]).copy()
            out.append({"n": np.asarray(s["n"] + n[k]),
                        "sum": s["sum"] + first[k] + n[k] * means[k],
                        "centred_sum": s["centred_sum"] + first[k],
                        "centred_outer": s["centred_outer"] + second})
        return out

    @classmethod
    def fit_components(cls, templates: list[Distribution], stats: list[dict],
                       frozen: list[dict[str, Any]] | None = None) -> list[Distribution]:
        first = templates[0]
        if not (first._is_map() or frozen):
            return super().fit_components(templates, stats, frozen)
        ctype = first.covariance_type
        stacked = {key: np.stack([np.asarray(s[key]) for s in stats]) for key in stats[0]}
        prior = cls._conjugate_prior(templates, stacked["sum"].shape[1])
        keep = frozen or [{}] * len(templates)
        fixed_means = fixed_covs = None
        if all("mean" in z for z in keep):
            fixed_means = np.stack([np.atleast_1d(z["mean"]) for z in keep])
        if all("covariance" in z for z in keep):
            fixed_covs = [np.asarray(z["covariance"], dtype=float) for z in keep]
        means, covs = map_m_step(stacked, ctype, prior, fixed_means,
                                 None if fixed_covs is None else np.stack(fixed_covs))
        if fixed_covs is not None:
            per_component = fixed_covs
        elif ctype == "tied":
            per_component = [covs.copy() for _ in templates]
        else:
            per_component = list(covs)
        return [t.with_parameters({"mean": m, "covariance": np.asarray(c)})
                for t, m, c in zip(templates, means, per_component, strict=True)]

    def m_step_slack(self, stats: dict[str, np.ndarray]) -> float:
        return self.m_step_slack_components([self], [stats])

    @classmethod
    def m_step_slack_components(cls, templates: list[Distribution], stats: list[dict],
                                frozen: list[dict[str, Any]] | None = None) -> float:
        """``reg_covar``'s exact cost (:func:`~emkit.gaussian.m_step.regularization_slack`);
        0 for the MAP step (a prior, a floor or frozen parameters: the exact,
        constrained maximizer, where ``reg_covar`` plays no part)."""
        first = cast(Gaussian, templates[0])
        if first._is_map() or frozen:
            return 0.0
        keys = ("n", "centred_sum", "centred_outer")
        if len(templates) > 1 and first.pool_key() is not None:  # one pooled covariance
            stacked = {k: np.stack([np.asarray(s[k]) for s in stats]) for k in keys}
            return regularization_slack(stacked, "tied", first.reg_covar)
        total = 0.0
        for t, s in zip(cast("list[Gaussian]", templates), stats, strict=True):
            if not t._is_map():
                one = {k: np.asarray(s[k])[None] for k in keys}
                total += regularization_slack(one, t._kind(), t.reg_covar)
        return total

    @classmethod
    def log_prior_components(cls, components: list[Distribution], live: np.ndarray) -> float:
        first = components[0]
        if not first._is_map() or not np.any(live):
            return 0.0
        ctype = first.covariance_type
        stacked = cls._stack(components)
        assert stacked is not None
        _, means, covs = stacked
        if ctype == "tied":
            covs = covs[0]
        prior = cls._conjugate_prior(components, means.shape[1])
        return map_log_prior(means, covs, ctype, prior, np.asarray(live, bool))

    @staticmethod
    def _conjugate_prior(templates: list[Distribution], d: int) -> ConjugatePrior:
        """hmmlearn's conjugate prior of these components, stacked (K first)."""
        first = templates[0]
        ctype = first.covariance_type
        diag_like = ctype in ("diag", "spherical")
        cov_shape = (d,) if diag_like else (d, d)

        def each(name: str, default: float, shape: tuple[int, ...]) -> np.ndarray:
            values = [getattr(t, name) for t in templates]
            return np.stack([np.broadcast_to(np.asarray(default if v is None else v, float),
                                             shape) for v in values])

        covars_prior = each("covariance_prior", 0.0, cov_shape)
        return ConjugatePrior(
            means_prior=each("mean_prior", 0.0, (d,)),
            means_weight=each("mean_weight", 0.0, ()),
            covars_prior=covars_prior[0] if ctype == "tied" else covars_prior,
            covars_weight=each("covariance_weight", 1.0 if diag_like else 0.0, ()),
            min_covar=float(first.min_covariance),
        )

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
        if self._is_map():
            return self.fit_components([self], [stats])[0].parameters()
        kind = self._kind()
        stacked = {k: np.asarray(v)[None] for k, v in stats.items()}
        params = gaussian_mixture_m_step(stacked, kind, self.reg_covar)
        cov = params["covariances"][0]
        return {"mean": params["means"][0], "covariance": np.asarray(cov)}

    def log_prior(self) -> float:
        return self.log_prior_components([self], np.ones(1, bool))

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
        assert self.mean is not None
        d = int(np.size(self.mean))
        kind = self._kind()
        cov = {"full": d * (d + 1) // 2, "diag": d, "spherical": 1}[kind]
        return d + cov

    def full_covariance(self) -> np.ndarray:
        """The covariance as a (n_features, n_features) matrix whatever its type."""
        self._check_fitted()
        assert self.mean is not None and self.covariance is not None
        d = int(np.size(self.mean))
        kind = self._kind()
        if kind == "full":
            return np.asarray(self.covariance)
        if kind == "diag":
            return np.diag(self.covariance)
        return float(self.covariance) * np.eye(d)

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        gen = as_rng(rng)
        cov = self.full_covariance()  # raises when the distribution is not fitted
        assert self.mean is not None
        return gen.multivariate_normal(np.atleast_1d(self.mean), cov, size=n)
